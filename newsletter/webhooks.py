"""Tracking events from the ESP (delivered, bounced, complained, opened, ...).

The tracking webhook (/anymail/<esp>/tracking/, newsletter/webhook_views.py) checks
the HTTP basic-auth credentials in ANYMAIL["WEBHOOK_SECRET"], has anymail's view for
the ESP normalise its payload, and hands the post's events to
`delivery_events_record` (the local outbox's played-back events, one at a time, to
`delivery_event_record`), which:

- stores every event once: DeliveryEvent.event_id is unique, so a replayed or
  retried webhook changes nothing (the ESP's event id, or a hash of its payload
  when it gives none, e.g. Postmark's delivery and open events);
- ties it to its Delivery by the `delivery_id` the digest carries in its anymail
  metadata (newsletter/delivery.py), else by the provider's message id;
- keeps the recipient only as its keyed hash (subscribers/suppression.py, email_hash),
  also inside the stored payload; an event that names none is the address its
  delivery went to (subscribers.services.subscriber_address_at: the old one, for a
  digest sent before the reader moved);
- suppresses the address at once on a hard bounce or a spam complaint,
  unsubscribes on the ESP's unsubscribe event, and suppresses after
  SOFT_BOUNCE_THRESHOLD soft bounces within SOFT_BOUNCE_WINDOW;
- on a click (where the ESP tracks links) on one of a digest paper's reading links,
  records a mild "more like this" for that reader and paper
  (digest.digest_paper_clicked, feedback.feedback_click_record).

Which events are which, in anymail's normalised terms
(https://anymail.dev/en/stable/sending/tracking/#event-types):
- "bounced" is permanent; "rejected" with reject_reason "invalid" or "bounced" means
  the ESP itself will not mail the address any more: both are hard bounces.
- "deferred" (the receiving server said "later") is a soft bounce. Some ESPs'
  temporary bounces arrive as "bounced" too, so the ESP's own type is read for
  them (`_TEMPORARY_BOUNCES`): Postmark's "SoftBounce" (anymail: "might also receive
  HardBounce later"), Amazon SES's "Transient" and "Undetermined" bounceType,
  Brevo's "soft_bounce" and SendGrid's bounce of type "blocked". Mailgun's
  temporary failures arrive as "deferred" already. So is Postmark's bounce of a
  message the receiving server's filter refused (SpamNotification, which anymail
  reports as "complained", and VirusNotification): a spam complaint is the
  reader's, this the server's about one message.
- "rejected" because the address is on the ESP's own blocklist (`_BLOCKLISTED`:
  Brevo's "blocked", after an earlier hard bounce, complaint or unsubscribe there)
  is a hard bounce too: the ESP will refuse every digest to it.
- "complained", or "rejected" for "spam": a complaint, unless the ESP's own event
  says it is not one (`_NOT_COMPLAINTS`: Amazon SES's feedback type "not-spam", a
  feedback loop correcting an earlier report), which is stored as NOT_SPAM and
  does nothing.
- "unsubscribed", or "rejected" for "unsubscribed": the reader left via the ESP.
- "bounced" that is the ESP's drop for an earlier complaint or unsubscribe on its own
  lists (`_DROPPED_FOR_COMPLAINT`, `_DROPPED_FOR_UNSUBSCRIBE`: Mailgun's reasons
  "suppress-complaint" and "suppress-unsubscribe") acts as that complaint or unsubscribe.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from subscribers.addresses import email_display, email_normalise_or_given
from subscribers.models import Subscriber, Suppression
from subscribers.services import subscriber_address_at, subscriber_unsubscribe
from subscribers.suppression import (
    address_suppress,
    email_hash,
    suppressions_of,
)

from .digest import DIGEST_TAG, DIGEST_TEST_METADATA, DIGEST_TEST_TAG, digest_paper_clicked
from .feedback import feedback_click_record, feedback_clicks_forget
from .models import Delivery, DeliveryEvent
from .sql import key_from_text

logger = logging.getLogger(__name__)

# A soft bounce (mailbox full, server down) usually clears up; this many within the
# window says the address is dead in practice, and mailing it hurts our reputation.
SOFT_BOUNCE_THRESHOLD = 3
SOFT_BOUNCE_WINDOW = dt.timedelta(days=30)
# How a soft bounce is stored (DeliveryEvent.event_type), whatever the ESP called it,
# so the count is one indexed query (DeliveryEvent index event_rcpt_type_idx).
SOFT_BOUNCED = "soft_bounced"
# ESP bounces anymail reports as "bounced" that the ESP itself calls temporary, by
# anymail's esp_name: what in its raw event (esp_event) says so. A hard bounce
# suppresses at once, so each of these was a reader lost to a full mailbox.
_TEMPORARY_BOUNCES = {
    # postmarkapp.com/developer/api/bounce-api#bounce-types. Also the receiving
    # server's filter refusing this message's content (SpamNotification, which
    # anymail reports as "complained", and VirusNotification): the reader reported
    # nothing and the address works. Until 8 December the first suppressed them for
    # good as a spam complaint (counted in the complaint rate), the second as a hard bounce.
    "Postmark": lambda e: e.get("Type") in ("SoftBounce", "SpamNotification", "VirusNotification"),
    # docs.aws.amazon.com/ses/latest/dg/notification-contents.html#bounce-types: only
    # "Permanent" means "remove this address"; "Undetermined" is SES not knowing why.
    "Amazon SES": lambda e: (e.get("bounce") or {}).get("bounceType") in ("Transient", "Undetermined"),
    # developers.brevo.com/docs/transactional-webhooks
    "Brevo": lambda e: e.get("event") == "soft_bounce",
    # SendGrid's bounce event: type "bounce" (permanent) or "blocked" (the receiver
    # refused for now, e.g. our IP's reputation; SendGrid does not suppress it).
    "SendGrid": lambda e: e.get("event") == "bounce" and e.get("type") == "blocked",
}
# ESP rejections anymail reports as "rejected" ("blocked") that mean the ESP keeps
# the address on its own blocklist and refuses every message to it: the reader was
# sent a digest a day that the ESP blocked, for good.
_BLOCKLISTED = {
    # developers.brevo.com/docs/transactional-webhooks: "blocked", the contact is on
    # the account's blocklist (hard bounce, complaint or unsubscribe there).
    "Brevo": lambda e: e.get("event") == "blocked",
}
# ESP drops anymail reports as "bounced" that the ESP's own event says are for an
# earlier spam report, or an earlier unsubscribe, on its own lists: Mailgun's
# permanent failures of reason "suppress-complaint" and "suppress-unsubscribe" (its
# legacy webhook's codes 607 and 606, which anymail reads). Each suppressed the
# reader as a hard bounce, which an editor may lift, and the unsubscribed one too.
def _mailgun_reason(e: dict) -> object:
    return (e.get("event-data") or {}).get("reason")


_DROPPED_FOR_COMPLAINT = {"Mailgun": lambda e: _mailgun_reason(e) == "suppress-complaint"}
_DROPPED_FOR_UNSUBSCRIBE = {"Mailgun": lambda e: _mailgun_reason(e) == "suppress-unsubscribe"}
# Every such drop ("suppress-bounce" too: an address that bounced before) is no
# digest that bounced but one the ESP never sent: stored as "rejected", as anymail
# reads SendGrid's drops and Mailgun's legacy codes, so the dashboard's bounce rate
# counts bounces only.
_DROPPED = {"Mailgun": lambda e: str(_mailgun_reason(e) or "").startswith("suppress-")}
# Complaints anymail reports as "complained" that the ESP's own event says are not
# one, by anymail's esp_name. Each suppressed the reader and counted as a complaint
# in the figures (which read "complained" events).
_NOT_COMPLAINTS = {
    # docs.aws.amazon.com/ses/latest/dg/notification-contents.html#complaint-object:
    # "not-spam", the reporter "does not consider the message to be spam".
    "Amazon SES": lambda e: (e.get("complaint") or {}).get("complaintFeedbackType") == "not-spam",
}
# How such a report is stored (DeliveryEvent.event_type).
NOT_SPAM = "not_spam"
# DeliveryEvent.event_id is 200 characters; an ESP id longer than this is hashed.
_EVENT_ID_MAX = 200
_REDACTED = "[recipient]"


class Action:
    """What an event does to the address."""

    SUPPRESS_HARD_BOUNCE = "hard_bounce"
    SUPPRESS_COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    SOFT_BOUNCE = "soft_bounce"
    NOT_A_COMPLAINT = "not_a_complaint"
    NOTHING = "nothing"


def _esp_says(rules: dict, event: AnymailTrackingEvent, esp_name: str) -> bool:
    """Whether `esp_name`'s rule in `rules` holds for the ESP's own raw event."""
    rule = rules.get(esp_name)
    if rule is None or not isinstance(event.esp_event, dict):
        return False
    try:
        return bool(rule(event.esp_event))
    except AttributeError:  # a field of the wrong type (a forged body): the rule does not hold
        return False


def _is_soft_bounce(event: AnymailTrackingEvent, esp_name: str) -> bool:
    if event.event_type == EventType.DEFERRED:
        return True
    return (event.event_type in (EventType.BOUNCED, EventType.COMPLAINED)
            and _esp_says(_TEMPORARY_BOUNCES, event, esp_name))


def event_action(event: AnymailTrackingEvent, *, esp_name: str) -> str:
    if _is_soft_bounce(event, esp_name):
        return Action.SOFT_BOUNCE
    kind, reason = event.event_type, event.reject_reason
    if kind == EventType.COMPLAINED and _esp_says(_NOT_COMPLAINTS, event, esp_name):
        return Action.NOT_A_COMPLAINT
    if kind == EventType.BOUNCED and _esp_says(_DROPPED_FOR_COMPLAINT, event, esp_name):
        return Action.SUPPRESS_COMPLAINT
    if kind == EventType.BOUNCED and _esp_says(_DROPPED_FOR_UNSUBSCRIBE, event, esp_name):
        return Action.UNSUBSCRIBE
    if kind == EventType.BOUNCED or (
        kind == EventType.REJECTED and reason in (RejectReason.INVALID, RejectReason.BOUNCED)
    ) or (kind == EventType.REJECTED and _esp_says(_BLOCKLISTED, event, esp_name)):
        return Action.SUPPRESS_HARD_BOUNCE
    if kind == EventType.COMPLAINED or (kind == EventType.REJECTED and reason == RejectReason.SPAM):
        return Action.SUPPRESS_COMPLAINT
    if kind == EventType.UNSUBSCRIBED or (
        kind == EventType.REJECTED and reason == RejectReason.UNSUBSCRIBED
    ):
        return Action.UNSUBSCRIBE
    return Action.NOTHING


def _jsonable(value):
    """The ESP's raw event as JSON (a dict for most ESPs, a QueryDict for some)."""
    if hasattr(value, "lists"):  # QueryDict
        value = {k: v if len(v) > 1 else v[0] for k, v in value.lists()}
    return json.loads(json.dumps(value, default=str))


def _redact(value, pattern: re.Pattern | None):
    """The payload with every mention of the recipient's address replaced."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(_REDACTED, value)
    if isinstance(value, list):
        return [_redact(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, pattern) for k, v in value.items()}
    return value


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def tracking_event_problem(event: AnymailTrackingEvent) -> str | None:
    """Why `event` cannot be recorded as sent (the webhook answers 400 with it), or
    None. The ESP's parser copies fields from the body as they are, so a forged or
    broken body gives a number or a list where an address belongs; and the stored
    payload must be standard JSON without NUL characters, which neither SQLite's
    JSON_VALID nor PostgreSQL's jsonb and text accept (json.loads reads NaN and
    Infinity, which are not JSON)."""
    for name in ("recipient", "description", "mta_response", "message_id", "click_url"):
        if not isinstance(getattr(event, name), str | None):
            return f"The event's {name} is not text."
    if event.event_type == EventType.UNKNOWN and not event.recipient and not event.message_id:
        # An ESP's event of a kind anymail does not map still names its message or
        # recipient; {"x": 1} was stored as an "unknown" event and answered 200.
        return "The body is not an event: no type, recipient or message id."
    if not isinstance(event.event_id, str | int | None):
        return "The event's id is not text."
    if not isinstance(event.metadata, dict | None):
        return "The event's metadata is not an object."
    raw = event.esp_event.dict() if hasattr(event.esp_event, "lists") else event.esp_event
    try:
        json.dumps(raw, default=str, allow_nan=False)
    except ValueError:
        return "The body holds NaN or Infinity, which JSON does not allow."
    if _has_nul(raw) or _has_nul([event.recipient, event.description, event.mta_response, event.message_id]):
        return "The body holds NUL characters."
    return None


def event_reason(event: AnymailTrackingEvent) -> str:
    """What the ESP said of the event, as the admin shows it: anymail's description
    (Postmark's, Amazon SES's "Permanent: General"), else the receiving server's
    answer (mta_response), the only reason Mailgun's and Brevo's bounces carry."""
    return (event.description or "").strip() or (event.mta_response or "").strip()


def event_id_for(event: AnymailTrackingEvent, esp_name: str) -> str:
    """The ESP's event id, else a stable hash of its payload (a replay of the same
    webhook body hashes the same), prefixed by the ESP so ids never collide."""
    if event.event_id:
        event_id = f"{esp_name.lower()}:{event.event_id}"
        if len(event_id) <= _EVENT_ID_MAX:
            return event_id
        raw = event_id
    else:
        raw = json.dumps(_jsonable(event.esp_event), sort_keys=True, separators=(",", ":"))
    return f"{esp_name.lower()}:sha256:{hashlib.sha256(raw.encode()).hexdigest()}"


def _deliveries_find(events: list[AnymailTrackingEvent]) -> list[Delivery | None]:
    """Each event's Delivery, in the events' order (None where none is found): by the
    `delivery_id` of its metadata, else by the provider's message id. Two queries for
    a whole post, whatever its length."""
    keys = [key_from_text((event.metadata or {}).get("delivery_id", "")) for event in events]
    by_pk = Delivery.objects.select_related("subscriber").in_bulk([key for key in keys if key is not None])
    found = [by_pk.get(key) if key is not None else None for key in keys]
    message_ids = {str(event.message_id) for event, delivery in zip(events, found, strict=True)
                   if delivery is None and event.message_id}
    by_message_id: dict[str, Delivery] = {}
    if message_ids:
        # Events without our metadata: rare with Postmark, Mailgun or Brevo; every
        # Amazon SES event when its SNS notifications leave out the original headers
        # (README, "Email provider"). By index delivery_provider_msgid_idx; of two
        # deliveries with the same id, the newest (the ledger's order), as before.
        for delivery in (Delivery.objects.select_related("subscriber")
                         .filter(provider_message_id__in=message_ids).order_by("created_at", "pk")):
            by_message_id[delivery.provider_message_id] = delivery
    return [delivery if delivery is not None else by_message_id.get(str(event.message_id or ""))
            for event, delivery in zip(events, found, strict=True)]


def _tags(event: AnymailTrackingEvent) -> list[str]:
    """The tags the ESP reported back, as a list of text. anymail passes some on as
    they came: SendGrid's "category" is a string when a single one was sent (it was
    read as a list of its characters) and may be anything in a forged body (a
    number was a 500)."""
    tags = event.tags
    if isinstance(tags, str):
        return [tags]
    return [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list | tuple) else []


def _of_test_send(event: AnymailTrackingEvent) -> bool:
    """Whether the event is about an editor's test send (digest.DIGEST_TEST_TAG): by
    its metadata or its tags, whichever the ESP reports back."""
    metadata = event.metadata or {}
    return (all(str(metadata.get(key, "")) == value for key, value in DIGEST_TEST_METADATA.items())
            or DIGEST_TEST_TAG in _tags(event))


def _email_of(event: AnymailTrackingEvent, delivery: Delivery | None) -> str:
    """Which email the event is about (DeliveryEvent.email): a digest when the ledger
    matched it to one, else the first tag the ESP reported back (the kind a journey
    email is sent with, mail.building), else ""."""
    if delivery is not None:
        return DIGEST_TAG
    return next(iter(_tags(event)), "")[:DeliveryEvent._meta.get_field("email").max_length]


# No email event is older: a timestamp of 0 (or before) is one the ESP left out.
_EARLIEST_EVENT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def event_occurred_at(event: AnymailTrackingEvent, *, now: dt.datetime) -> dt.datetime:
    """When the event happened (DeliveryEvent.occurred_at): the ESP's time, unless it
    cannot be: after `now`, when it came (the ESP's clock is ahead, or the body is
    forged), or not after 1970. Then `now`. Taken as it was until 8 December: one of
    9999-12-31T23:59:59-12:00 was stored as the year 10000 in UTC, which every read
    of the events then failed on (the dashboard answered 500 for good); a soft
    bounce of the year 1 crashed its window's start; one of 2099 counted towards
    SOFT_BOUNCE_THRESHOLD in every window from then on. A time without an offset
    is UTC's, as the ESPs write them."""
    at = event.timestamp
    if at is None:
        return now
    if timezone.is_naive(at):
        at = at.replace(tzinfo=dt.UTC)
    return at if _EARLIEST_EVENT < at <= now else now


def soft_bounces_recent(*, recipient_hash: str, now: dt.datetime) -> int:
    """Soft bounces of one address within SOFT_BOUNCE_WINDOW, one per delivery: an
    ESP may report each retry of the same message ("deferred" several times). Not
    those of a digest the ESP reported delivered since: it tried again after the
    receiving server's "later" and the reader got it. A server that greylists
    answers each first attempt so; until 8 December its reader, every digest of
    whom arrived, was suppressed on the third day."""
    events = DeliveryEvent.objects.filter(
        recipient_hash=recipient_hash, event_type=SOFT_BOUNCED,
        occurred_at__gte=now - SOFT_BOUNCE_WINDOW,
    )
    delivered_since = DeliveryEvent.objects.filter(
        delivery=OuterRef("delivery_id"), event_type=EventType.DELIVERED, occurred_at__gte=OuterRef("occurred_at"),
    )
    with_delivery = (events.filter(delivery__isnull=False).exclude(Exists(delivered_since))
                     .values("delivery_id").distinct().count())
    return with_delivery + events.filter(delivery__isnull=True).count()


def _soft_bounces_one_at_a_time(*, recipient_hash: str) -> None:
    """Until the transaction ends, no other soft bounce of this address is counted
    (soft_bounces_recent): two the ESP posts at once (its backlog after our
    downtime, on two web workers) each counted the ones before it and itself, not
    the other, uncommitted, and the third never suppressed. A PostgreSQL advisory
    lock by the address's hash; SQLite runs one writer at a time already."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(recipient_hash[:15], 16)])


def _unsubscribe(*, subscriber: Subscriber) -> None:
    # The reader asked their ESP or mail client, not our form: no goodbye email.
    subscriber_unsubscribe(
        subscriber=subscriber, ip=None, user_agent="ESP unsubscribe event",
        source=Subscriber.Source.ESP, one_click=True,
    )


# Mail scanners (Microsoft Defender's Safe Links, Mimecast, Proofpoint, Barracuda)
# open every link of an email as it arrives, or when it is first opened, and the ESP
# reports each as the recipient's click: every paper of the digest would read as
# opened by its reader, and the ranking would lean on all of them. A click teaches
# the reader only when it comes CLICK_NOT_BEFORE after the digest went out and is
# not one of CLICK_BURST or more clicks on its links within CLICK_BURST_WINDOW either
# side (nobody opens five links in five seconds; a scanner opens them all in one).
CLICK_NOT_BEFORE = dt.timedelta(seconds=60)
CLICK_BURST = 5
CLICK_BURST_WINDOW = dt.timedelta(seconds=5)


def _event_type_stored(event: AnymailTrackingEvent, esp_name: str, action: str | None) -> str:
    """The event's type as stored and counted: anymail's, but for the two kinds of
    ours (SOFT_BOUNCED, NOT_SPAM) and an ESP's drop anymail calls a bounce (_DROPPED)."""
    if event.event_type == EventType.BOUNCED and _esp_says(_DROPPED, event, esp_name):
        return str(EventType.REJECTED)
    return {Action.SOFT_BOUNCE: SOFT_BOUNCED, Action.NOT_A_COMPLAINT: NOT_SPAM}.get(action, str(event.event_type))


def _click_by_a_person(delivery: Delivery, clicked_at: dt.datetime) -> bool:
    """Whether a click on `delivery`'s digest (stored already) is its reader's, not a
    mail scanner's (CLICK_NOT_BEFORE, CLICK_BURST). The click that makes a burst takes
    back what the burst's earlier clicks taught (feedback_clicks_forget)."""
    if delivery.sent_at and clicked_at - delivery.sent_at < CLICK_NOT_BEFORE:
        return False
    arrived = sorted(DeliveryEvent.objects.filter(
        delivery=delivery, event_type=EventType.CLICKED,
        occurred_at__range=(clicked_at - CLICK_BURST_WINDOW, clicked_at + CLICK_BURST_WINDOW),
    ).values_list("created_at", flat=True))
    if len(arrived) < CLICK_BURST:
        return True
    feedback_clicks_forget(subscriber=delivery.subscriber, paper_ids=[
        pk for pk in delivery.paper_ids or () if isinstance(pk, int)], since=arrived[0])
    return False


@dataclass(frozen=True)
class _Reading:
    """What one event says, before it is stored: whose delivery it is, the address it
    is about ("" when it names none and has no delivery), whether that is the
    delivery's reader's, and what it does to the address."""

    event: AnymailTrackingEvent
    esp_name: str
    delivery: Delivery | None
    recipient: str
    of_reader: bool
    action: str

    @property
    def stored_only(self) -> bool:
        """Whether recording it is storing it and nothing more: it does nothing to an
        address, and it is no click (which may teach its reader). Most of a post:
        "delivered", "opened", "queued"."""
        return (self.event.event_type != EventType.CLICKED
                and (not self.recipient or self.action in (Action.NOTHING, Action.NOT_A_COMPLAINT)))


def _reading(event: AnymailTrackingEvent, esp_name: str, delivery: Delivery | None) -> _Reading:
    # Compared in the stored form: an ESP may report user@bücher.de for
    # user@xn--bcher-kva.de.
    named = email_normalise_or_given(event.recipient or "")
    recipient = named
    # Whether the event is the delivery's reader's: it names the address they hold,
    # or the one the digest went to (the address they left since), or none. An event
    # naming another is that address's only (a delivery id in the metadata that does
    # not belong to it): it teaches and unsubscribes no one else. Until 8 December
    # one naming the address a reader had moved from was nobody's: their ESP
    # unsubscribe from a digest in the old inbox left them subscribed.
    of_reader = False
    if delivery is not None:
        of_reader = bool(named) and email_hash(named) == email_hash(delivery.subscriber.email)
        if not of_reader:
            # The address the digest went to, which the Delivery does not keep: the
            # reader's, unless they moved since it was sent. Until 7 December the
            # current one: a late bounce of a digest to the old address suppressed the new.
            sent = delivery.sent_at or delivery.claimed_at or delivery.created_at
            sent_to = subscriber_address_at(subscriber=delivery.subscriber, at=sent)
            of_reader = not named or email_hash(named) == email_hash(sent_to)
            recipient = named or sent_to
    return _Reading(event=event, esp_name=esp_name, delivery=delivery, recipient=recipient,
                    of_reader=of_reader, action=event_action(event, esp_name=esp_name))


def _row(reading: _Reading, *, erased: bool, now: dt.datetime) -> DeliveryEvent:
    """The event as stored (not saved yet). `erased`: its address's reader erased their
    data (their suppression says so); it is kept for the figures without what the ESP
    said of them (their browser, country, the link), as erasure empties the events
    before it. The digest stays in their mailbox, and each later open or click was
    stored whole for 30 days."""
    event, recipient = reading.event, reading.recipient
    # In both forms: the stored (IDNA) one we sent to, and the one a receiving
    # server may write in its answer (user@bücher.de for user@xn--bcher-kva.de).
    pattern = re.compile("|".join(re.escape(form) for form in {recipient, email_display(recipient)}),
                         re.IGNORECASE) if recipient else None
    return DeliveryEvent(
        event_id=event_id_for(event, reading.esp_name),
        delivery=reading.delivery,
        event_type=_event_type_stored(event, reading.esp_name, reading.action),
        recipient_hash=email_hash(recipient) if recipient else "",
        description=_redact(event_reason(event), pattern)[:2000],
        payload={} if erased else _redact(_jsonable(event.esp_event), pattern),
        occurred_at=event_occurred_at(event, now=now),
        of_test_send=_of_test_send(event),
        email=_email_of(event, reading.delivery),
    )


def _row_record(reading: _Reading, row: DeliveryEvent) -> DeliveryEvent | None:
    """Store `row` once and act on what `reading` says (module docstring), in one
    transaction. Returns the stored event, or None when it was already recorded."""
    delivery, recipient, recipient_hash, action = reading.delivery, reading.recipient, row.recipient_hash, reading.action
    with transaction.atomic():
        stored, created = DeliveryEvent.objects.get_or_create(
            event_id=row.event_id,
            defaults={field.attname: getattr(row, field.attname) for field in DeliveryEvent._meta.concrete_fields
                      if not field.primary_key and field.attname != "event_id"},
        )
        if not created:
            logger.info("tracking event %s already recorded; ignored", row.event_id)
            return None
        # A click teaches the delivery's reader only when the ESP says it was theirs
        # (of_reader): one naming another address is stored, and teaches no one.
        if (reading.event.event_type == EventType.CLICKED and reading.of_reader
                and _click_by_a_person(delivery, stored.occurred_at)):
            paper = digest_paper_clicked(delivery=delivery, url=reading.event.click_url or "")
            if paper is not None:
                feedback_click_record(subscriber=delivery.subscriber, paper=paper)
        if not recipient:
            return stored
        note = f"{reading.esp_name} {reading.event.event_type}: {stored.description}"
        if action == Action.SUPPRESS_HARD_BOUNCE:
            address_suppress(email=recipient, reason=Suppression.Reason.HARD_BOUNCE, note=note)
        elif action == Action.SUPPRESS_COMPLAINT:
            address_suppress(email=recipient, reason=Suppression.Reason.COMPLAINT, note=note)
        elif action == Action.SOFT_BOUNCE:
            _soft_bounces_one_at_a_time(recipient_hash=recipient_hash)
            count = soft_bounces_recent(recipient_hash=recipient_hash, now=stored.occurred_at)
            if count >= SOFT_BOUNCE_THRESHOLD:
                address_suppress(
                    email=recipient, reason=Suppression.Reason.SOFT_BOUNCES,
                    note=f"{count} soft bounces in {SOFT_BOUNCE_WINDOW.days} days",
                )
        elif action == Action.UNSUBSCRIBE:
            subscriber = (delivery.subscriber if reading.of_reader
                          else Subscriber.objects.filter(email__iexact=recipient).first())
            if subscriber is not None:
                _unsubscribe(subscriber=subscriber)
    return stored


def _readings(events: list[AnymailTrackingEvent], esp_name: str) -> list[tuple[_Reading, DeliveryEvent]]:
    """Each event read (_reading) with its row to store (_row), in the events' order:
    their deliveries, and the suppressions of the addresses they are about (whose
    reader erased their data), read once for all of them."""
    now = timezone.now()
    readings = [_reading(event, esp_name, delivery)
                for event, delivery in zip(events, _deliveries_find(events), strict=True)]
    reasons = suppressions_of({reading.recipient for reading in readings if reading.recipient})
    erased = {email for email, found in reasons.items() if found.reason == Suppression.Reason.DELETED}
    return [(reading, _row(reading, erased=reading.recipient in erased, now=now)) for reading in readings]


def delivery_events_record(*, events: list[AnymailTrackingEvent], esp_name: str) -> None:
    """Store each event of an ESP's post once and act on it (module docstring), in
    the post's order. The events that are only stored (_Reading.stored_only: most of
    a post) go in by one INSERT per run of them, skipping those stored already; the
    others each in a transaction of its own, as before. Until 8 December each event
    was eight queries: a SendGrid post of 768 KB (about 2,000 events) took 10 to 15 s
    to answer, past the time SendGrid waits (it posts it again), holding a web worker
    all along (bench/webhook.py)."""
    only_stored: list[DeliveryEvent] = []
    for reading, row in _readings(events, esp_name):
        if reading.stored_only:
            only_stored.append(row)
            continue
        # What is acted on counts what came before it (a "delivered" cancels the
        # soft bounce of its digest: soft_bounces_recent): stored first.
        DeliveryEvent.objects.bulk_create(only_stored, ignore_conflicts=True)
        only_stored = []
        _row_record(reading, row)
    DeliveryEvent.objects.bulk_create(only_stored, ignore_conflicts=True)


def delivery_event_record(*, event: AnymailTrackingEvent, esp_name: str) -> DeliveryEvent | None:
    """Store one tracking event and act on it (module docstring): the local outbox's
    played-back events (newsletter/outbox.py). Returns the stored event, or None when
    it was already recorded (a replay changes nothing)."""
    [(reading, row)] = _readings([event], esp_name)
    return _row_record(reading, row)


# How long an event's payload (what the ESP said: the reader's browser, system,
# country, the link clicked) is kept; the event itself stays, for the figures and the
# soft-bounce count (SOFT_BOUNCE_WINDOW), which read no payload.
EVENT_PAYLOAD_KEPT = dt.timedelta(days=30)


def delivery_event_payloads_forget(*, now: dt.datetime) -> int:
    """Empty the payloads of the events stored over EVENT_PAYLOAD_KEPT ago: kept for
    good until 5 December (a data-protection reviewer's walkthrough). How many."""
    return DeliveryEvent.objects.filter(created_at__lt=now - EVENT_PAYLOAD_KEPT).exclude(payload={}).update(payload={})
