"""Everything that changes a subscriber (STYLE.md: services write). Views, admin
actions and tasks only parse input and call one of these.

Each consent event writes a ConsentRecord through subscribers/consent.py
(consent_record); suppression goes through subscribers/suppression.py."""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import logging
import re
import secrets
import threading
import weakref
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from mail.building import email_send
from newsletter.due import next_digest
from newsletter.models import DeliveryEvent, Paper, Topic
from newsletter.tallies import edition_tallies_rows_deleting, edition_tallies_stale

from .addresses import email_display, email_masked, email_normalise
from .consent import consent_record, consent_version_shown
from .models import (
    DEFAULT_PAPERS_PER_DIGEST,
    BlockedDomain,
    ConsentRecord,
    LeftReadersErased,
    OwedEmail,
    Subscriber,
    Suppression,
)
from .suppression import (
    DATA_REQUESTS_ANSWERED,
    LIFTED_BY_OWN_CONFIRMATION,
    address_suppress,
    address_unsuppress_on_confirmation,
    email_hash,
    email_is_suppressed,
    mailbox_hash,
    suppression_reason_of,
)
from .tasks import public_form_request_carry_out as public_form_request_task
from .tasks import subscriber_email_send
from .throttling import (
    rate_limit_client,
    rate_limit_exceeded,
    rate_limit_forget,
    rate_limit_take_back,
)
from .tokens import (
    CONFIRM_LINK_MAX_AGE,
    EMAIL_CHANGE_LINK_MAX_AGE,
    confirm_url,
    email_change_approval_url,
    email_change_url,
    subscriber_links_retire,
    subscriber_manage_url,
    subscriber_resubscribe_url,
    subscriber_unsubscribe_url,
)

logger = logging.getLogger(__name__)

# The lengths of pause the preference centre offers.
PAUSE_WEEKS = (1, 2, 4)
# Fields the preference centre edits; consent records list the ones that changed.
PREFERENCE_FIELDS = (
    "keywords", "exclude_keywords", "only_with_code", "frequency", "weekday",
    "delivery_hour", "time_zone", "papers_per_digest", "skip_empty",
)
# The journey's emails (templates/emails/NAME.*), sent by subscribers/tasks.py.
EMAIL_CONFIRM = "confirm"
EMAIL_ALREADY_SUBSCRIBED = "already_subscribed"
EMAIL_GOODBYE = "goodbye"
EMAIL_EXPORT = "export"
EMAIL_LINKS = "links"  # "email me my link": the preference-centre link, asked for
# EMAIL_LINKS's words to a reader whose address is suppressed after a complaint
# (DATA_REQUESTS_ANSWERED): their link opens only their data (export, delete). A
# template of EMAIL_LINKS, not a kind queued.
EMAIL_LINKS_DATA = "links_data"
# "Change my address": the link to the new address that proves it is theirs (or,
# when another reader holds that address, _email_change_taken, EMAIL_CHANGE_TAKEN's
# words instead); once pressed, the link to the current address that approves the move
# (EMAIL_CHANGE_APPROVAL); and the notice to the old address once it moved.
EMAIL_CHANGE = "email_change"
EMAIL_CHANGE_TAKEN = "email_change_taken"  # a template of EMAIL_CHANGE, not a kind queued
EMAIL_CHANGE_APPROVAL = "email_change_approval"
EMAIL_CHANGED = "email_changed"
# Each kind as an editor reads it: the dashboard's bounces and complaints of the
# emails that are not digests (newsletter.dashboard.other_emails_events).
EMAIL_NAMES = {
    EMAIL_CONFIRM: "Confirmation", EMAIL_ALREADY_SUBSCRIBED: "“You're already subscribed”",
    EMAIL_GOODBYE: "Goodbye", EMAIL_EXPORT: "A reader's data", EMAIL_LINKS: "“Email me my link”",
    EMAIL_CHANGE: "Address change: to the new address", EMAIL_CHANGE_APPROVAL: "Address change: approval",
    EMAIL_CHANGED: "Address change: notice to the old address",
}
# One data export emailed per reader in this window: the button can be pressed by
# whoever holds their link, and each press is an email to their inbox.
EXPORT_WINDOW_SECONDS = 10 * 60
# The export is JSON in a zip: some ESPs take attachments of listed extensions only,
# and Brevo's list has no .json (its API refused the email, so a reader on a
# Brevo deploy never got their data); every ESP takes a .zip.
EXPORT_FILE_NAME = "daily-papers-digest-my-data.zip"
EXPORT_DATA_NAME = "daily-papers-digest-my-data.json"  # inside the zip


class SubscribeRateLimited(Exception):
    """Too many submissions from one IP or for one address within the window."""


def _domain_and_parents(email: str) -> list[str]:
    """mail.example.com, example.com, com: the domains whose block blocks `email`."""
    parts = email.rpartition("@")[2].lower().split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def email_domain_is_blocked(email: str) -> bool:
    """True when the domain or any parent of it is on the blocked list
    (blocking example.com also blocks mail.example.com)."""
    return BlockedDomain.objects.filter(domain__in=_domain_and_parents(email)).exists()


def emails_at_blocked_domains(emails: Iterable[str]) -> set[str]:
    """Which of these addresses email_domain_is_blocked: one query for a whole batch
    (an import's file)."""
    emails = list(emails)
    candidates = {email: _domain_and_parents(email) for email in emails}
    blocked = set(BlockedDomain.objects.filter(
        domain__in={d for domains in candidates.values() for d in domains}).values_list("domain", flat=True))
    return {email for email, domains in candidates.items() if blocked.intersection(domains)}


def _status_set(*, subscriber: Subscriber, status: str, now: dt.datetime) -> None:
    if subscriber.status != status:
        subscriber.status = status
        subscriber.status_changed_at = now


class AddressUnmailable(Exception):
    """The address is on the suppression list: no email of ours reaches it, so what
    was asked to be emailed to it is not sent (subscriber_journey_email_send drops it)."""


class JourneyEmailNotQueued(Exception):
    """The task queue (Redis) could not take a journey email. Its claim on the
    email window was given back, so the reader's next try sends it."""


def _task_queue(task, *args, what: str) -> None:
    """Hand `task` to the worker; JourneyEmailNotQueued when the broker cannot be
    reached (kombu wraps every connection error in OperationalError). `what` names
    it in the log line, with no address."""
    try:
        task.delay(*args)
    except KombuOperationalError as exc:
        logger.error("%s not queued: %s", what, exc)
        raise JourneyEmailNotQueued(what) from exc


def _email_task_queue(*, subscriber_id: int, kind: str) -> None:
    """Hand one journey email to the worker (_task_queue)."""
    _task_queue(subscriber_email_send, subscriber_id, kind, what=f"journey email {kind} for subscriber {subscriber_id}")


@dataclass(eq=False)
class _JourneyClaims:
    """The journey emails claimed at one moment in one transaction and not queued yet
    (an import, a resend to many): by subscriber id, the window each claim took."""

    now: dt.datetime
    unqueued: dict[int, dt.datetime | None] = field(default_factory=dict)

    def give_back(self) -> None:
        for subscriber_id, previous in self.unqueued.items():
            Subscriber.objects.filter(pk=subscriber_id, confirmation_sent_at=self.now).update(
                confirmation_sent_at=previous
            )


# This thread's claims, by (database alias, moment); an entry goes with the last
# commit hook holding it (run, or dropped by a rollback).
_journey_claims = threading.local()


def journey_email_queue(*, subscriber: Subscriber, kind: str, now: dt.datetime, asked_by_anyone: bool = False) -> bool:
    """Queue one journey email unless one went to this address within the window.
    The conditional UPDATE is the claim: of many concurrent submissions exactly one
    matches the row, so at most one email per address per window goes out. After
    commit the email is queued; if the queue cannot take it, JourneyEmailNotQueued
    is raised and the claims of the emails not queued are given back (this one's,
    and those of the others claimed at `now` in the transaction whose hooks Django
    drops after one that raises), so that trying again in a moment sends them
    instead of waiting out the window. The emails queued before it keep theirs:
    trying again sends them nothing twice. True when this one is claimed (to be
    queued at commit), False when one went to the address within the window.

    `asked_by_anyone` (the public forms, where anyone can type any address): the
    spellings of one mailbox (dots, "+tags") are addresses of their own, each with
    its window, so the mailbox is also capped at SUBSCRIBE_EMAILS_PER_MAILBOX emails
    per window, whoever asked (False when that cap is reached). Capping the emails,
    not the requests, is what keeps a stranger from locking a reader out of the form."""
    window = dt.timedelta(seconds=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS)
    previous = subscriber.confirmation_sent_at
    claimed = Subscriber.objects.filter(
        Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lte=now - window),
        pk=subscriber.pk,
    ).update(confirmation_sent_at=now)
    if not claimed:
        return False
    if asked_by_anyone and _mailbox_capped(email=subscriber.email):
        Subscriber.objects.filter(pk=subscriber.pk).update(confirmation_sent_at=previous)
        return False
    _journey_claimed_queue(subscriber_id=subscriber.pk, previous=previous, kind=kind, now=now)
    return True


DAY_SECONDS = 24 * 3600


def _mailbox_capped(*, email: str) -> bool:
    """Count one email to `email`'s mailbox asked for on a public form; True once the
    mailbox has had SUBSCRIBE_EMAILS_PER_MAILBOX in the window or
    SUBSCRIBE_EMAILS_PER_MAILBOX_DAY in the day. With the window's cap alone, one
    client trying three spellings every ten minutes sent a mailbox 432 emails a day
    (a security review, 7 December 2026). Keyed by the mailbox's hash."""
    window_key, day_key = _mailbox_cap_keys(email)
    return rate_limit_exceeded(
        key=window_key, limit=settings.SUBSCRIBE_EMAILS_PER_MAILBOX,
        window_seconds=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS,
    ) or rate_limit_exceeded(
        key=day_key, limit=settings.SUBSCRIBE_EMAILS_PER_MAILBOX_DAY,
        window_seconds=DAY_SECONDS,
    )


def _mailbox_cap_keys(email: str) -> tuple[str, str]:
    """The keys _mailbox_capped counts `email`'s mailbox under: its window's, its day's."""
    mailbox = mailbox_hash(email)
    return f"journey:mailbox:{mailbox}", f"journey:mailbox-day:{mailbox}"


def _mailbox_capped_take_back(*, email: str) -> None:
    """Give back the email a _mailbox_capped that said False counted (on both its
    keys): one that could not be queued, and so was not sent."""
    for key in _mailbox_cap_keys(email):
        rate_limit_take_back(key=key)


def journey_emails_queue_new(*, subscribers: Sequence[Subscriber], kind: str, now: dt.datetime) -> None:
    """Queue at commit a journey email to each of `subscribers`: rows written in this
    transaction with confirmation_sent_at = `now`, their window claimed as they were
    made (no one else can have claimed it). An import's confirmation emails, with no
    query a row (journey_email_queue's claim was one UPDATE a row: 10,000 of them
    in an editor's form post)."""
    for subscriber in subscribers:
        _journey_claimed_queue(subscriber_id=subscriber.pk, previous=None, kind=kind, now=now)


def _journey_claimed_queue(*, subscriber_id: int, previous: dt.datetime | None, kind: str, now: dt.datetime) -> None:
    """Queue at commit the journey email whose window this transaction claimed at
    `now` (`previous`: the claim it replaced), giving the claims back if the queue
    cannot take it (journey_email_queue)."""
    by_moment = getattr(_journey_claims, "by_moment", None)
    if by_moment is None:
        by_moment = _journey_claims.by_moment = weakref.WeakValueDictionary()
    key = (transaction.get_connection().alias, now)
    claims = by_moment.get(key)
    if claims is None:
        claims = by_moment[key] = _JourneyClaims(now)
    claims.unqueued[subscriber_id] = previous

    def queue() -> None:
        try:
            _email_task_queue(subscriber_id=subscriber_id, kind=kind)
        except JourneyEmailNotQueued:
            claims.give_back()
            raise
        claims.unqueued.pop(subscriber_id, None)

    transaction.on_commit(queue)


def _public_form_limits(*, email: str, ip: str | None) -> None:
    """The public forms' limits (subscribe, "email me my link"), counted together:
    per client address, and per mailbox asked for from that client. Counted per
    mailbox alone, five requests from anywhere for a victim's address refused the
    victim's own ("That was a lot of tries"), window after window; the emails a
    mailbox gets are capped in journey_email_queue instead, whoever asks. Raises
    SubscribeRateLimited."""
    window = settings.SUBSCRIBE_RATE_WINDOW_SECONDS
    client = rate_limit_client(ip) if ip else "-"
    if ip and rate_limit_exceeded(
        key=f"subscribe:ip:{client}", limit=settings.SUBSCRIBE_RATE_LIMIT_PER_IP, window_seconds=window
    ):
        raise SubscribeRateLimited
    # Keyed by the address's hash: no addresses in Redis.
    if rate_limit_exceeded(
        key=f"subscribe:address:{mailbox_hash(email)}:{client}",
        limit=settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS,
        window_seconds=window,
    ):
        raise SubscribeRateLimited


# The public forms' requests (subscriber_subscribe_request, subscriber_links_request)
# do the same work in the request whatever the address: their limits, then one task
# carrying the address (public_form_request_carry_out), in which the worker looks it
# up and sends what it calls for. Until 7 December the request did that itself, and
# its time told who was on the list (a security review, 7 December 2026; medians of
# 200 requests: "email me my link" 1.8 ms for an unknown or suppressed address, 4.4 ms
# for a reader; subscribe 10.3 ms unknown, 7.4 ms a reader, 4.2 ms suppressed).
FORM_SUBSCRIBE = "subscribe"
FORM_LINKS = "links"


def _public_form_request_queue(*, form: str, email: str, fields: dict | None = None) -> None:
    """Queue the worker's half of a public form's request: JourneyEmailNotQueued (for
    every address alike) when the broker cannot be reached."""
    _task_queue(public_form_request_task, form, email, fields or {}, what=f"{form} form request")


def public_form_request_carry_out(*, form: str, email: str, fields: dict) -> None:
    """In the worker: what a public form's request calls for, for the address asked
    (subscriber_subscribe, subscriber_links_send); their emails go through
    journey_email_queue, its window and the mailbox's caps."""
    if form == FORM_LINKS:
        subscriber_links_send(email=email)
        return
    fields = dict(fields)
    topics = Topic.objects.filter(pk__in=fields.pop("topics", []))
    # A request queued by a release before asked_at travelled has none: now, as then.
    if asked_at := fields.pop("asked_at", None):
        fields["asked_at"] = dt.datetime.fromisoformat(asked_at)
    try:
        subscriber_subscribe(email=email, topics=topics, **fields)
    except ValidationError:
        logger.info("subscribe request dropped: its domain was blocked after the form checked it")


def subscriber_links_request(*, email: str, ip: str | None) -> None:
    """Someone asks for the links of an address (the "lost your link?" form, the used
    confirm link's button): the subscribe form's limits, shared, then the lookup and
    email in the worker (subscriber_links_send). Returns nothing on purpose, as
    subscribe does: the page, and the time it takes, are the same whether the
    address is on the list or not. Raises SubscribeRateLimited, or
    JourneyEmailNotQueued when the queue is away."""
    email = email_normalise(email)
    _public_form_limits(email=email, ip=ip)
    _public_form_request_queue(form=FORM_LINKS, email=email)


# A reader suppressed after a complaint gets at most one link to their data a day,
# whoever asks: anyone can type their address into the form, and each email to an
# address that reported us as spam risks another report.
DATA_LINK_WINDOW_SECONDS = DAY_SECONDS


def subscriber_links_send(*, email: str) -> None:
    """In the worker, for subscriber_links_request: a reader whose confirmation link
    was used, or whose emails are gone, had no way back to their preferences. A
    reader on the list (active, paused or unsubscribed) gets an email with their
    preference-centre link; one who has not confirmed gets the confirmation again;
    one whose address is suppressed after a complaint (DATA_REQUESTS_ANSWERED) a link
    that opens only their data, at most once per DATA_LINK_WINDOW_SECONDS; anyone
    else, and any other suppressed address, nothing. At most one email per address
    per SUBSCRIBE_EMAIL_WINDOW_SECONDS, and the mailbox's caps."""
    email = email_normalise(email)
    subscriber = Subscriber.objects.filter(email__iexact=email).first()
    if subscriber is None:
        return
    reason = suppression_reason_of(subscriber.email)
    data_link_key = ""
    if reason or subscriber.status == Subscriber.Status.SUPPRESSED:
        if subscriber.status != Subscriber.Status.SUPPRESSED or reason not in DATA_REQUESTS_ANSWERED:
            return
        data_link_key = f"journey:data-link:{email_hash(subscriber.email)}"
        if rate_limit_exceeded(key=data_link_key, limit=1, window_seconds=DATA_LINK_WINDOW_SECONDS):
            return
    kind = EMAIL_CONFIRM if subscriber.status == Subscriber.Status.PENDING else EMAIL_LINKS
    queued = False
    try:
        with transaction.atomic():
            claimed = journey_email_queue(subscriber=subscriber, kind=kind, now=timezone.now(), asked_by_anyone=True)
        queued = claimed
    finally:
        # The day's one data link is used only by an email that went: one the
        # email's window or the mailbox's cap stopped, or the queue could not
        # take, leaves it for the reader's next request.
        if data_link_key and not queued:
            rate_limit_take_back(key=data_link_key)


def subscriber_subscribe_request(
    *, email: str, topics: Iterable[Topic], ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM, consent_shown: str = "", **preferences,
) -> None:
    """The subscribe form's request: its limits and the domain's block, then the
    rest in the worker (subscriber_subscribe), so that what the visitor sees, and
    how long it takes, does not depend on the address's state. `preferences` takes
    subscriber_subscribe's. `consent_shown`: the form's signed consent_version
    (consent.consent_version_shown; without it, the current version). Raises ValidationError (a blocked domain: the same for
    every address at it), SubscribeRateLimited, or JourneyEmailNotQueued when the
    queue is away (nothing is saved then)."""
    unknown = set(preferences) - set(PREFERENCE_FIELDS)
    if unknown:
        raise TypeError(f"unknown preferences: {sorted(unknown)}")
    email = email_normalise(email)
    _public_form_limits(email=email, ip=ip)
    _domain_blocked_refuse(email)
    # What the consent record keeps of the request travels with it: the worker may
    # get to it an hour later (it was down), or after a release with new wording.
    _public_form_request_queue(form=FORM_SUBSCRIBE, email=email, fields={
        "topics": [topic.pk for topic in topics], "ip": ip, "user_agent": user_agent, "source": source,
        "asked_at": timezone.now().isoformat(), "consent_text_version": consent_version_shown(consent_shown),
        **preferences,
    })


def _domain_blocked_refuse(email: str) -> None:
    if email_domain_is_blocked(email):
        raise ValidationError(
            {"email": "We cannot accept addresses at this domain. Please use another address."}
        )


def subscriber_subscribe(
    *,
    email: str,
    topics: Iterable[Topic],
    keywords: str = "",
    exclude_keywords: str = "",
    only_with_code: bool = False,
    frequency: str = Subscriber.Frequency.DAILY,
    weekday: int = 0,
    delivery_hour: int = 7,
    time_zone: str = "UTC",
    papers_per_digest: int = DEFAULT_PAPERS_PER_DIGEST,
    skip_empty: bool = False,
    ip: str | None,
    user_agent: str,
    source: str = Subscriber.Source.FORM,
    asked_at: dt.datetime | None = None,
    consent_text_version: str | None = None,
) -> None:
    """Handle a subscribe request. Returns nothing on purpose: what the visitor sees
    must not depend on whether the address is new, pending, active or unsubscribed.

    New: stored as pending with these preferences, and a confirmation email is sent.
    Pending or unsubscribed: nothing of the reader changes, status included (the
    visitor might not own the address); these preferences are kept as a request
    (Subscriber.requested, with an id) only when a confirmation email goes out for
    it, and only that email's link applies them (subscriber_confirm). Until 5
    December a stranger's submission replaced an unsubscribed reader's preferences,
    then made them pending (their own "resubscribe" button stopped working), and a
    pending reader's own link applied the stranger's choices. Active or paused: preferences are left alone (the
    visitor might not own the address) and an "already subscribed" email with the
    manage link is sent. Suppressed: nothing happens, unless the suppression is one
    the person may lift (they deleted their data: LIFTED_BY_OWN_CONFIRMATION), in
    which case it is a new address: a confirmation email, and confirming lifts it.
    Either email goes out at most once per address per SUBSCRIBE_EMAIL_WINDOW_SECONDS.

    The form's request runs it in the worker (subscriber_subscribe_request counted
    the limits), with `asked_at`, when the person asked, and `consent_text_version`,
    the consent text their form showed: the consent record and a new reader's row
    are dated by the request, not by when the worker got to it; the email's window
    (confirmation_sent_at) by its sending. Raises ValidationError (a blocked domain)."""
    email = email_normalise(email)
    _domain_blocked_refuse(email)
    if email_is_suppressed(email, unless_reasons=LIFTED_BY_OWN_CONFIRMATION):
        return

    now = timezone.now()
    asked_at = asked_at or now
    with transaction.atomic():
        # Lookups with "__" are left out of the create, so this creates with the
        # normalised address and finds an existing one case-insensitively
        # (subscriber_email_ci_unique); a concurrent create makes it retry the get.
        subscriber, created = Subscriber.objects.get_or_create(
            email__iexact=email, defaults={"email": email, "source": source}
        )
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status == Subscriber.Status.SUPPRESSED:
            return
        if subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
            journey_email_queue(subscriber=subscriber, kind=EMAIL_ALREADY_SUBSCRIBED, now=now, asked_by_anyone=True)
            return

        topics = list(topics)
        preferences = {
            "keywords": keywords, "exclude_keywords": exclude_keywords, "only_with_code": only_with_code,
            "frequency": frequency, "weekday": weekday, "delivery_hour": delivery_hour,
            "time_zone": time_zone, "papers_per_digest": papers_per_digest, "skip_empty": skip_empty,
        }
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.SUBSCRIBE, ip=ip,
            user_agent=user_agent, source=source, at=asked_at, text_version=consent_text_version,
            detail={"topics": sorted(t.slug for t in topics)},
        )
        if created:
            for name, value in preferences.items():
                setattr(subscriber, name, value)
            subscriber.save()
            # Both auto_now_add: written with the INSERT's time, set to the request's.
            Subscriber.objects.filter(pk=subscriber.pk).update(created_at=asked_at, status_changed_at=asked_at)
            subscriber.topics.set(topics)
            journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now, asked_by_anyone=True)
            return
        earlier = subscriber.requested
        subscriber.requested = {**preferences, "topics": [t.pk for t in topics], "id": secrets.token_urlsafe(9)}
        Subscriber.objects.filter(pk=subscriber.pk).update(requested=subscriber.requested)
        if not journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now, asked_by_anyone=True):
            # No email carries this request: the one mailed within the window keeps its own.
            Subscriber.objects.filter(pk=subscriber.pk).update(requested=earlier)


def subscriber_confirm(
    *, subscriber: Subscriber, ip: str | None, user_agent: str, source: str = Subscriber.Source.FORM
) -> bool:
    """Make a pending subscriber active, or an unsubscribed one who asked again on the
    form by the link mailed for that request; True if this call did. Confirming twice
    is harmless (False), and an old confirm link does not undo a later unsubscribe.
    The preferences the form asked for are applied only by the link mailed for them
    (`subscriber.confirm_request_id`, set by tokens.subscriber_from_confirm_token),
    also to a reader who came back meanwhile by the goodbye email's Resubscribe
    (subscriber_confirmable): they get the form's choices, and a pause they took
    since stays."""
    request_id = getattr(subscriber, "confirm_request_id", None)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if not subscriber_confirmable(subscriber=subscriber, request_id=request_id):
            return False
        now = timezone.now()
        if subscriber.status != Subscriber.Status.PAUSED:
            _status_set(subscriber=subscriber, status=Subscriber.Status.ACTIVE, now=now)
        subscriber.confirmed_at = now
        subscriber.unsubscribed_at = None
        if confirm_request_matches(subscriber=subscriber, request_id=request_id):
            requested_apply(subscriber=subscriber)
        subscriber.requested = None  # another's request, or an older one, is not applied
        subscriber.save()
        # A reader who once deleted their data and subscribed again: their own
        # confirmation takes the address off the do-not-mail list.
        address_unsuppress_on_confirmation(email=subscriber.email)
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.CONFIRM, ip=ip,
            user_agent=user_agent, source=source,
        )
    return True


def confirm_request_matches(*, subscriber: Subscriber, request_id: str | None) -> bool:
    """The confirm link was mailed for the request the subscriber holds."""
    return bool(request_id) and bool(subscriber.requested) and subscriber.requested.get("id") == request_id


# Who a confirm link mailed for a request (Subscriber.requested) still serves: an
# unsubscribed reader who asked again on the form, and one who then came back by the
# goodbye email's Resubscribe before pressing it (subscriber_resubscribe leaves the
# request): until 7 December that link said "This link was already used … Nothing was
# changed", and the topics they had just chosen were lost.
REQUEST_CONFIRMABLE = (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)


def subscriber_confirmable(*, subscriber: Subscriber, request_id: str | None) -> bool:
    """A confirm link with this request id would confirm the subscriber now."""
    if subscriber.status == Subscriber.Status.PENDING:
        return True
    return subscriber.status in REQUEST_CONFIRMABLE and confirm_request_matches(
        subscriber=subscriber, request_id=request_id)


def requested_apply(*, subscriber: Subscriber) -> None:
    """Give a reader the preferences the subscribe form asked for (Subscriber.requested),
    now that the address's owner confirmed; the caller saves. Topics switched off
    meanwhile are left out."""
    requested = subscriber.requested
    if not requested:
        return
    for name in PREFERENCE_FIELDS:
        if name in requested:
            setattr(subscriber, name, requested[name])
    subscriber.topics.set(Topic.objects.filter(pk__in=requested.get("topics", []), is_active=True))
    subscriber.requested = None


def subscriber_preferences_update(
    *,
    subscriber: Subscriber,
    topics: Iterable[Topic],
    ip: str | None,
    user_agent: str,
    source: str = Subscriber.Source.FORM,
    **preferences,
) -> list[str]:
    """Apply the preference centre's form; return the names of what changed.
    `preferences` takes the names in PREFERENCE_FIELDS."""
    unknown = set(preferences) - set(PREFERENCE_FIELDS)
    if unknown:
        raise TypeError(f"unknown preferences: {sorted(unknown)}")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        changed = {}
        for name, value in preferences.items():
            if getattr(subscriber, name) != value:
                changed[name] = value
                setattr(subscriber, name, value)
        new_topics = sorted(t.slug for t in topics)
        if sorted(subscriber.topics.values_list("slug", flat=True)) != new_topics:
            changed["topics"] = new_topics
            subscriber.topics.set(list(topics))
        if not changed:
            return []
        if subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
            # A form's request a reader back by Resubscribe still held (REQUEST_CONFIRMABLE)
            # is older than these choices: its confirmation must not undo them.
            subscriber.requested = None
        subscriber.save()
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.PREFERENCES, ip=ip,
            user_agent=user_agent, source=source, detail=changed,
        )
    return sorted(changed)


def subscriber_pause(
    *, subscriber: Subscriber, weeks: int, ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM, now: dt.datetime | None = None,
) -> Subscriber:
    """Pause an active (or already paused) subscription for 1, 2 or 4 weeks, counted
    in the reader's own dates: the dispatcher sends again from `paused_until` on,
    where they are (newsletter/due.py)."""
    if weeks not in PAUSE_WEEKS:
        raise ValidationError(f"A pause lasts {', '.join(map(str, PAUSE_WEEKS))} weeks.")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status not in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
            return subscriber
        now = now or timezone.now()
        _status_set(subscriber=subscriber, status=Subscriber.Status.PAUSED, now=now)
        subscriber.paused_until = timezone.localdate(now, timezone=subscriber.zone) + dt.timedelta(weeks=weeks)
        subscriber.save()
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.PAUSE, ip=ip,
            user_agent=user_agent, source=source,
            detail={"weeks": weeks, "until": subscriber.paused_until.isoformat()},
        )
    return subscriber


def subscriber_resume(
    *, subscriber: Subscriber, ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM,
) -> Subscriber:
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status != Subscriber.Status.PAUSED:
            return subscriber
        _status_set(subscriber=subscriber, status=Subscriber.Status.ACTIVE, now=timezone.now())
        subscriber.paused_until = None
        subscriber.save()
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.RESUME, ip=ip,
            user_agent=user_agent, source=source,
        )
    return subscriber


def subscriber_unsubscribe(
    *, subscriber: Subscriber, ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM, one_click: bool = False, notify: bool = False,
) -> bool:
    """Unsubscribe at once; True if this call changed anything. Idempotent: a second
    call changes nothing, writes no record and sends nothing. With `notify`, one
    goodbye email confirms it (the visible page); the RFC 8058 one-click POST from a
    mail client sends none, since the mail client already told the reader."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status in (Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.SUPPRESSED):
            return False
        now = timezone.now()
        _status_set(subscriber=subscriber, status=Subscriber.Status.UNSUBSCRIBED, now=now)
        subscriber.unsubscribed_at = now
        subscriber.paused_until = None
        # The window of one journey email per address (journey_email_queue) starts
        # again: the person who just left may come back through the form at once and
        # is owed a confirmation; until 5 December they got "check your inbox" and
        # nothing, for up to the window. Only the address's owner can unsubscribe
        # (the signed link), so the window still holds for anyone else.
        subscriber.confirmation_sent_at = None
        subscriber.save()
        # A new secret (tokens.py): every email sent before now, a forwarded digest
        # included, can unsubscribe and nothing else. Its preference centre
        # resubscribed the reader with one press, nothing sent to them, and deleted
        # their data. The goodbye email, built after this, carries the way back.
        subscriber_links_retire(subscriber_ids=[subscriber.pk])
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.UNSUBSCRIBE, ip=ip,
            user_agent=user_agent, source=source, detail={"one_click": one_click},
        )
        # At most GOODBYE_EMAILS_PER_READER_DAY a day: their link, Resubscribe, their
        # link again … was a goodbye each time, as often as anyone holding the link
        # (every digest carries it) pressed them. Counted here when Redis is away: the
        # unsubscribe never waits on it.
        if notify and not rate_limit_exceeded(
            key=f"journey:goodbye:{subscriber.pk}", limit=settings.GOODBYE_EMAILS_PER_READER_DAY,
            window_seconds=DAY_SECONDS, local_when_away=True,
        ):
            # The unsubscribe stands whether or not the queue takes the email; if it
            # cannot, the email is owed and beat queues it once Redis is back.
            subscriber_id = subscriber.pk

            def goodbye() -> None:
                owed = OwedEmail.objects.filter(subscriber_id=subscriber_id, kind=EMAIL_GOODBYE)
                try:
                    _email_task_queue(subscriber_id=subscriber_id, kind=EMAIL_GOODBYE)
                except JourneyEmailNotQueued:
                    OwedEmail.objects.get_or_create(subscriber_id=subscriber_id, kind=EMAIL_GOODBYE)
                    return
                owed.delete()  # one owed from an earlier unsubscribe is this same goodbye

            transaction.on_commit(goodbye, robust=True)
    return True


def owed_emails_queue(*, limit: int = 500) -> int:
    """Queue the journey emails owed since Redis was away (OwedEmail), oldest first,
    each row deleted once its email is queued; stops at the first the queue cannot
    take (JourneyEmailNotQueued), keeping it and the rest for the next run. Returns
    how many were queued."""
    queued = 0
    for owed in OwedEmail.objects.order_by("created_at", "pk")[:limit]:
        _email_task_queue(subscriber_id=owed.subscriber_id, kind=owed.kind)
        owed.delete()
        queued += 1
    return queued


def subscriber_resubscribe(
    *, subscriber: Subscriber, ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM,
) -> Subscriber:
    """Undo an unsubscribe from the link in an email. The signed link reached the
    reader's mailbox, which is the proof double opt-in asks for, so no new
    confirmation is needed."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.status != Subscriber.Status.UNSUBSCRIBED or email_is_suppressed(
            subscriber.email
        ):
            return subscriber
        now = timezone.now()
        _status_set(subscriber=subscriber, status=Subscriber.Status.ACTIVE, now=now)
        subscriber.unsubscribed_at = None
        subscriber.confirmed_at = subscriber.confirmed_at or now
        subscriber.save()
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.RESUBSCRIBE, ip=ip,
            user_agent=user_agent, source=source,
        )
    return subscriber


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _delivered_papers(delivery, titles: dict[int, tuple[str | None, str]]) -> list[dict]:
    """What one digest held, as a person reads it: each paper by its arXiv id (else
    its title), whether it was a pick, and the "why" line it came with."""
    reasons = delivery.reasons or []
    papers = []
    for n, pk in enumerate(delivery.paper_ids or []):
        arxiv_id, title = titles.get(pk, (None, "(no longer on the site)"))
        papers.append({
            "paper": arxiv_id or title, "title": title,
            "picked": None if delivery.picked is None else n < delivery.picked,
            "why": reasons[n] if n < len(reasons) else "",
        })
    return papers


# Who may move their subscription to another address: not a pending one (its
# address is not confirmed yet: subscribe again instead) nor a suppressed one (its
# state belongs to the address it bounced from).
EMAIL_CHANGEABLE = (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED, Subscriber.Status.UNSUBSCRIBED)


def subscriber_email_change_request(*, subscriber: Subscriber, email: str, ip: str | None) -> None:
    """The preference centre's "Change my address": nothing changes yet; a link goes
    to the new address (EMAIL_CHANGE), whose owner's click asks the current address
    (subscriber_email_change_confirm), whose owner's click moves it
    (subscriber_email_change_approve). Returns nothing on
    purpose: what the page says must not depend on whether the new address has a
    subscription of its own (its email says so instead; subscriber_journey_email_send).
    The public forms' limits, shared with them (whoever holds a reader's link may
    type any address here): per client, per mailbox asked for from it, and the new
    mailbox's cap of emails (_mailbox_capped, beyond which nothing is sent, as on
    the forms); and SUBSCRIBE_EMAILS_PER_MAILBOX requests per reader per window,
    whatever address they name. A suppressed new address gets nothing, as on the
    subscribe form, and the request does the same work for it as for any other.

    Raises ValidationError (a blocked domain, the reader's own address),
    SubscribeRateLimited, or JourneyEmailNotQueued (the request before stays, and
    the reader's count of links is given back, so trying again sends it)."""
    email = email_normalise(email)
    _public_form_limits(email=email, ip=ip)
    if email_domain_is_blocked(email):
        raise ValidationError(
            {"email": "We cannot accept addresses at this domain. Please use another address."}
        )
    if email.lower() == subscriber.email.lower():
        raise ValidationError({"email": "This is the address your digest goes to already."})
    if subscriber.status not in EMAIL_CHANGEABLE:
        return
    reader_key = f"journey:email-change:{subscriber.pk}"
    if rate_limit_exceeded(key=reader_key, limit=settings.SUBSCRIBE_EMAILS_PER_MAILBOX,
                           window_seconds=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS):
        raise SubscribeRateLimited
    # A newer request replaces the one before: only the latest link moves anything.
    # "at": when it was asked (UTC, ISO), for email_change_requests_forget. The same
    # work for every address typed: a suppressed one is left to the worker
    # (_email_change_mail_send sends it nothing; a suppression the person may lift,
    # LIFTED_BY_OWN_CONFIRMATION, is lifted by their click), and a mailbox over its
    # cap is marked "quiet" (no email). Until 7 December both returned here: a
    # stranger's complaint or bounce was told by the reader's count (the next request
    # a 303, not a 429), by the link mailed before still working, and by the clock.
    change = {"to": email, "id": secrets.token_urlsafe(9), "at": _change_moment(timezone.now())}
    if _mailbox_capped(email=email):
        change["quiet"] = True
    Subscriber.objects.filter(pk=subscriber.pk).update(email_change=change)
    try:
        _email_task_queue(subscriber_id=subscriber.pk, kind=EMAIL_CHANGE)
    except JourneyEmailNotQueued:
        # No email carries this request: the link mailed before keeps working, and
        # neither the reader's count nor the new mailbox's keeps it (the page asks to
        # try again; each try counted one email to the mailbox, so after its cap of
        # tries the one once the queue was back was "quiet" and mailed nothing).
        Subscriber.objects.filter(pk=subscriber.pk).update(email_change=subscriber.email_change)
        rate_limit_take_back(key=reader_key)
        if not change.get("quiet"):
            _mailbox_capped_take_back(email=email)
        raise


def _change_moment(moment: dt.datetime) -> str:
    """A moment as an address change keeps it in Subscriber.email_change (JSON): UTC
    ISO text, which orders as the time, so the expiry compares text (in Python and,
    in email_change_requests_forget, in the database)."""
    return moment.astimezone(dt.UTC).isoformat()


def email_change_requests_forget(*, now: dt.datetime) -> int:
    """Forget the address changes asked for over EMAIL_CHANGE_LINK_MAX_AGE ago and
    never confirmed: their link is dead, and the address (which whoever held the
    reader's link may have typed) has no reason to stay. How many. One statement, a
    scan of the readers (a few ms at 10,000; no index for a daily sweep of rare rows);
    "at" is UTC ISO, so its text orders as the time."""
    cutoff = _change_moment(now - EMAIL_CHANGE_LINK_MAX_AGE)
    return Subscriber.objects.filter(email_change__at__lt=cutoff).update(email_change=None)


def _email_change_taken(*, subscriber: Subscriber, email: str) -> bool:
    """Whether another reader holds `email`, so `subscriber` cannot move there: a row
    at it, unless nobody ever confirmed it (NEVER_CONFIRMED). Anyone may type any
    address into the subscribe form, and until 7 December the pending row it made
    blocked its owner's move there until retention deleted it (UNCONFIRMED_KEPT);
    the owner's click on the new address's link shows the inbox is theirs, and the
    move takes that row away (subscriber_email_change_approve)."""
    return (Subscriber.objects.filter(email__iexact=email).exclude(pk=subscriber.pk)
            .exclude(NEVER_CONFIRMED).exists())


class EmailChange(enum.Enum):
    """What an address-change link did, or why it did nothing."""

    ASKED = "asked"  # the new address confirmed: the current one is asked to approve
    MOVED = "moved"
    TAKEN = "taken"  # the new address has a subscription of its own: nothing merged
    UNMAILABLE = "unmailable"  # the new address was suppressed since the link was sent
    STALE = "stale"  # used already, replaced by a newer request, or the reader left meanwhile
    EXPIRED = "expired"  # asked for over EMAIL_CHANGE_LINK_MAX_AGE ago


def email_change_state(*, subscriber: Subscriber, change_id: str, approval: bool = False) -> EmailChange | None:
    """Why the address-change link with this request id would do nothing now, or None
    when it would: confirm the new address, or (`approval`, the current address's
    link) move the subscription. A change whose new address confirmed already says
    so to the new address's link (ASKED), and only then can be approved. The approval
    link expires with the change, however late the new address confirmed."""
    change = subscriber.email_change or {}
    if not change_id or change.get("id") != change_id or subscriber.status not in EMAIL_CHANGEABLE:
        return EmailChange.STALE
    if approval and not change.get("confirmed"):
        return EmailChange.STALE
    if change.get("at", "") < _change_moment(timezone.now() - EMAIL_CHANGE_LINK_MAX_AGE):
        return EmailChange.EXPIRED
    if _email_change_taken(subscriber=subscriber, email=change["to"]):
        return EmailChange.TAKEN
    if email_is_suppressed(change["to"], unless_reasons=LIFTED_BY_OWN_CONFIRMATION):
        return EmailChange.UNMAILABLE
    if not approval and change.get("confirmed"):
        return EmailChange.ASKED
    return None


def subscriber_email_change_confirm(*, subscriber: Subscriber, change_id: str) -> EmailChange:
    """The new address's owner pressed its link: it is theirs and typed right. Nothing
    moves yet: whoever holds a reader's link (a forwarded digest) could name their
    own address and press this, then ask for the reader's data. The change is marked
    confirmed and the current address is asked (EMAIL_CHANGE_APPROVAL); its owner's
    click moves it (subscriber_email_change_approve). Pressed again, nothing more is
    sent (ASKED): the reader's inbox is not to be filled by the link's holder."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        refused = email_change_state(subscriber=subscriber, change_id=change_id)
        if refused is not None:
            return refused
        Subscriber.objects.filter(pk=subscriber.pk).update(
            email_change={**subscriber.email_change, "confirmed": _change_moment(timezone.now())})
        subscriber_id = subscriber.pk
        transaction.on_commit(
            lambda: _email_queue_or_owe(subscriber_id=subscriber_id, kind=EMAIL_CHANGE_APPROVAL), robust=True)
    return EmailChange.ASKED


def subscriber_email_change_approve(
    *, subscriber: Subscriber, change_id: str, ip: str | None, user_agent: str,
    source: str = Subscriber.Source.FORM,
) -> EmailChange:
    """The current address approved the change its new address confirmed: move the
    subscription there, keeping the row (topics, votes, deliveries, consent history).
    A ConsentRecord EMAIL_CHANGE with both addresses, which the notice to the old one
    (EMAIL_CHANGED) reads. An address another reader holds is never merged into; a
    row there that nobody confirmed is no reader, and goes (_email_change_taken)."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        refused = email_change_state(subscriber=subscriber, change_id=change_id, approval=True)
        if refused is not None:
            return refused
        old, new = subscriber.email, subscriber.email_change["to"]
        subscriber.email, subscriber.email_change = new, None
        # A form's request (Subscriber.requested) was confirmable only by the link
        # mailed to the old address: pressed there after the move, it brought digests
        # to the new one, which confirmed no such thing.
        subscriber.requested = None
        try:
            with transaction.atomic():  # another reader took the address a moment ago
                # A row at the new address nobody confirmed is no reader
                # (_email_change_taken): it goes as retention would take it
                # (subscribers_unconfirmed_forget: its consent records with it, no
                # suppression). Locked and read again: one confirmed since stays, and
                # the save fails on it (IntegrityError: TAKEN, nothing forgotten).
                unconfirmed = Subscriber.objects.select_for_update().filter(NEVER_CONFIRMED, email__iexact=new)
                for row in unconfirmed.exclude(pk=subscriber.pk):
                    _subscriber_forget(subscriber=row)
                subscriber.save(update_fields=["email", "email_change", "requested", "updated_at"])
        except IntegrityError:
            return EmailChange.TAKEN
        # A new secret (tokens.py), as at an unsubscribe: the links in the old inbox's
        # emails (every digest's manage, vote and delete links) act no more; the old
        # inbox may be an employer's or a shared one the reader is leaving. Its
        # digests' unsubscribe links still unsubscribe (RetiredToken); the emails from
        # now on, to the new address, carry the new secret.
        subscriber_links_retire(subscriber_ids=[subscriber.pk])
        address_unsuppress_on_confirmation(email=new)
        consent_record(
            subscriber=subscriber, action=ConsentRecord.Action.EMAIL_CHANGE, ip=ip,
            user_agent=user_agent, source=source, detail={"from": old, "to": new},
        )
        subscriber_id = subscriber.pk
        transaction.on_commit(
            lambda: _email_queue_or_owe(subscriber_id=subscriber_id, kind=EMAIL_CHANGED), robust=True)
    return EmailChange.MOVED


def subscriber_address_at(*, subscriber: Subscriber, at: dt.datetime) -> str:
    """The address `subscriber`'s email of `at` went to: the one their first move
    after it left (its ConsentRecord EMAIL_CHANGE's "from"), else their current one.
    Nothing else changes a reader's address (the admin shows it read-only). For what
    names no address of its own: an ESP's event about a digest
    (newsletter.webhooks.delivery_event_record), whose Delivery keeps none."""
    moved = (subscriber.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE, created_at__gt=at)
             .order_by("created_at", "id").values_list("detail", flat=True).first())
    return moved["from"] if moved else subscriber.email


def _email_queue_or_owe(*, subscriber_id: int, kind: str) -> None:
    """Queue a journey email whose cause stands whether or not the queue takes it; if
    it cannot, the email is owed and beat queues it once Redis is back (as goodbye)."""
    try:
        _email_task_queue(subscriber_id=subscriber_id, kind=kind)
    except JourneyEmailNotQueued:
        OwedEmail.objects.get_or_create(subscriber_id=subscriber_id, kind=kind)


def subscriber_export_send(*, subscriber: Subscriber) -> bool:
    """Email the reader everything held about them (subscriber_export), to their own
    address: a preference-centre link travels in every digest (a forwarded email, a
    shared screen), and whoever holds it must not get the reader's consent records,
    IP addresses and history. False when one was sent within EXPORT_WINDOW_SECONDS.
    JourneyEmailNotQueued or RedisError when the queue or the limits are away (the
    window is not taken then). AddressUnmailable for a suppressed address: the page
    said "On its way" to a reader whose address had bounced, and nothing came; not
    for one who complained (DATA_REQUESTS_ANSWERED): it answers their own request."""
    if email_is_suppressed(subscriber.email, unless_reasons=DATA_REQUESTS_ANSWERED):
        raise AddressUnmailable
    key = f"export:{subscriber.pk}"
    if rate_limit_exceeded(key=key, limit=1, window_seconds=EXPORT_WINDOW_SECONDS):
        return False
    try:
        _email_task_queue(subscriber_id=subscriber.pk, kind=EMAIL_EXPORT)
    except JourneyEmailNotQueued:
        rate_limit_forget(key=key)
        raise
    return True


def subscriber_export(*, subscriber: Subscriber) -> dict:
    """Everything held about one subscriber (GDPR art. 15 and 20), as JSON-ready data."""
    deliveries = list(subscriber.deliveries.select_related("edition").order_by("created_at", "id"))
    titles = {pk: (arxiv_id, title) for pk, arxiv_id, title in Paper.objects.filter(
        pk__in={pk for d in deliveries for pk in d.paper_ids or [] if isinstance(pk, int)},
    ).values_list("pk", "arxiv_id", "title")}
    return {
        "email": subscriber.email,
        "status": subscriber.status,
        "status_changed_at": _iso(subscriber.status_changed_at),
        "paused_until": _iso(subscriber.paused_until),
        "source": subscriber.source,
        "created_at": _iso(subscriber.created_at),
        "updated_at": _iso(subscriber.updated_at),
        "confirmation_sent_at": _iso(subscriber.confirmation_sent_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
        "unsubscribed_at": _iso(subscriber.unsubscribed_at),
        "preferences": {
            "topics": [
                {"slug": t.slug, "name": t.name} for t in subscriber.topics.order_by("position", "name")
            ],
            **{name: getattr(subscriber, name) for name in PREFERENCE_FIELDS},
        },
        # Asked for on the subscribe form, applied if the address is confirmed.
        "requested_preferences": subscriber.requested,
        # Asked for in the preference centre, moved to if confirmed from that address.
        "address_change_requested": (subscriber.email_change or {}).get("to"),
        "consent_records": [
            {
                "action": c.action,
                "at": _iso(c.created_at),
                "source": c.source,
                "ip_address": c.ip_address,
                "user_agent": c.user_agent,
                "consent_text_version": c.consent_text_version,
                "detail": c.detail,
            }
            for c in subscriber.consents.order_by("created_at", "id")
        ],
        # Said in the file itself: a reader of some months finds only the last ones.
        "deliveries_kept": (f"The digests of the last {settings.LEDGER_KEPT_DAYS} days after their edition's date: "
                            "we delete older records of what we sent (data retention)."
                            if settings.LEDGER_KEPT_DAYS else "Every digest we sent you."),
        "deliveries": [
            {
                "edition": _iso(d.edition.date),
                "status": d.status,
                "sent_at": _iso(d.sent_at),
                "papers": _delivered_papers(d, titles),
            }
            for d in deliveries
        ],
        "feedback": [
            {
                "paper": f.paper.arxiv_id or f.paper.title,
                # A paper opened from the digest (a click the ESP reported) is no vote:
                # the export called it "More like this".
                "vote": f.get_vote_display() if f.source == f.Source.VOTE else None,
                "source": f.get_source_display(),
                "at": _iso(f.created_at),
            }
            for f in subscriber.feedback.select_related("paper").order_by("created_at", "id")
        ],
    }


def subscriber_export_archive(*, subscriber: Subscriber) -> bytes:
    """subscriber_export as the file the data export email attaches: EXPORT_FILE_NAME,
    a zip holding the JSON as EXPORT_DATA_NAME."""
    data = json.dumps(subscriber_export(subscriber=subscriber), indent=2, ensure_ascii=False)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(EXPORT_DATA_NAME, data)
    return archive.getvalue()


# What the admin's history says in place of an erased reader's address.
ERASED_READER = "[erased reader]"


def subscriber_delete(*, subscriber: Subscriber, note: str = "") -> None:
    """Erase a subscriber (GDPR art. 17). Only a keyed hash of the address stays, on
    the suppression list, so the address is never mailed again by accident; the
    admin's history keeps who did what and when, without the address
    (_address_mentions_erase). `note`: why, on a suppression this one records."""
    with transaction.atomic():
        address_suppress(email=subscriber.email, reason=Suppression.Reason.DELETED, note=note)
        _subscriber_forget(subscriber=subscriber)


def _subscriber_forget(*, subscriber: Subscriber) -> None:
    """Delete the reader and what names them elsewhere, in a transaction: the
    admin's history says "Reader 7 (erased)" (_address_mentions_erase), and the ESP's
    events stay, for the bounce and complaint figures (by type, time and the
    address's keyed hash), without what the ESP said of the reader: the browser,
    system and country they opened with, the links they clicked."""
    _address_mentions_erase(subscriber=subscriber)
    # Two statements, each by an index (the deliveries' subscriber_id, the events'
    # recipient_hash): one OR across the join read every event (1 to 1.5 s a reader
    # at 900,000 events, so the daily forgetting of 2,000 unconfirmed took ~50 min).
    for events in (Q(delivery__subscriber=subscriber), Q(recipient_hash=email_hash(subscriber.email))):
        DeliveryEvent.objects.filter(events).exclude(payload={}).update(payload={})
    # Consent records, deliveries and feedback go with it (on_delete=CASCADE); its
    # rows stay counted in its editions' figures, as in the dashboard's kept counts
    # (newsletter/tallies.py, the rule).
    editions = edition_tallies_rows_deleting(deliveries=subscriber.deliveries.all())
    subscriber.delete()
    edition_tallies_stale(edition_ids=editions)


# How long an address that never confirmed is kept after its last confirmation email
# (or since it was added): its link is dead after CONFIRM_LINK_MAX_AGE, and an editor
# may send it again meanwhile.
UNCONFIRMED_KEPT = dt.timedelta(days=30)
# A row nobody ever confirmed: no consent behind it, whoever typed the address.
NEVER_CONFIRMED = Q(status=Subscriber.Status.PENDING, confirmed_at__isnull=True)


def subscribers_unconfirmed_forget(*, now: dt.datetime) -> int:
    """Delete the readers who never confirmed within UNCONFIRMED_KEPT of their last
    confirmation email: an address anyone typed into the form, or an editor imported,
    with no consent behind it, kept for good until 5 December (a data-protection
    reviewer's walkthrough). Not suppressed: they may subscribe later. How many."""
    stale = Subscriber.objects.filter(NEVER_CONFIRMED).filter(
        Q(confirmation_sent_at__lt=now - UNCONFIRMED_KEPT)
        | Q(confirmation_sent_at__isnull=True, created_at__lt=now - UNCONFIRMED_KEPT)
    )
    count = 0
    for subscriber in stale.iterator():
        with transaction.atomic():
            _subscriber_forget(subscriber=subscriber)
        count += 1
    return count


def _left_before(cutoff: dt.datetime) -> Q:
    """Readers who left the list before `cutoff`: unsubscribed then (a row from
    before unsubscribed_at was kept: by its last change of state), with no request
    to come back mailed since (an unsubscribed reader who asked again on the form
    holds a confirmation link), or suppressed then (a bounce, a complaint, an
    editor)."""
    unsubscribed = Q(status=Subscriber.Status.UNSUBSCRIBED) & (
        Q(unsubscribed_at__lt=cutoff) | Q(unsubscribed_at__isnull=True, status_changed_at__lt=cutoff)
    ) & (Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lt=cutoff))
    return unsubscribed | Q(status=Subscriber.Status.SUPPRESSED, status_changed_at__lt=cutoff)


def _left_reader_counted(*, subscriber: Subscriber) -> None:
    """Count a reader who left, about to be erased, on LeftReadersErased: the
    dashboard's readers by status keep them (newsletter/dashboard.py)."""
    left_at = (subscriber.unsubscribed_at if subscriber.status == Subscriber.Status.UNSUBSCRIBED else None)
    day = timezone.localdate(left_at or subscriber.status_changed_at)
    LeftReadersErased.objects.get_or_create(left_on=day, status=subscriber.status)
    LeftReadersErased.objects.filter(left_on=day, status=subscriber.status).update(erased=F("erased") + 1)


def subscribers_left_erase(*, now: dt.datetime, kept: dt.timedelta, batch_size: int,
                           progress: Callable[[int], None] | None = None) -> int:
    """Erase the readers who left the list over `kept` ago (docs/data-retention.md),
    each through subscriber_delete, as if they had asked: the address stays only as
    a keyed hash on the suppression list (a bounce's or a complaint's reason kept,
    else DELETED, which the person lifts by subscribing again and confirming), and
    nothing else of them. Read `batch_size` readers at a time; each is locked and
    checked again before it goes, so one who came back meanwhile (the resubscribe
    link) stays. `progress(erased so far)` after each batch. How many."""
    cutoff = now - kept
    note = f"Left the list over {kept.days} days ago: erased (data retention)"
    erased, after = 0, 0
    while batch := list(Subscriber.objects.filter(_left_before(cutoff), pk__gt=after)
                        .order_by("pk").values_list("pk", flat=True)[:batch_size]):
        for pk in batch:
            with transaction.atomic():
                subscriber = Subscriber.objects.select_for_update().filter(_left_before(cutoff), pk=pk).first()
                if subscriber is not None:
                    _left_reader_counted(subscriber=subscriber)
                    subscriber_delete(subscriber=subscriber, note=note)
                    erased += 1
        after = batch[-1]
        if progress:
            progress(erased)
    return erased


def _address_mentions_erase(*, subscriber: Subscriber) -> None:
    """The admin's history (LogEntry) without the reader's address: their own lines are
    named "Reader 7 (erased)" (Django writes the object's str(), the address, also
    for the deletion, logged before delete_model), and any line mentioning the
    address (an edition's "Test sent … as reader@… gets it", an editor's reason)
    says ERASED_READER instead; so does the note of the address's suppression (an
    editor's reason), whose row stays. Until 5 December an erased reader's address
    stayed in every admin page's "Recent actions" (a data-protection reviewer's
    walkthrough)."""
    addresses = {subscriber.email, subscriber.email_display}
    pattern = re.compile("|".join(map(re.escape, addresses)), re.IGNORECASE)
    for row in Suppression.objects.filter(email_hash=email_hash(subscriber.email)):
        Suppression.objects.filter(pk=row.pk).update(note=pattern.sub(ERASED_READER, row.note)[:300])
    readers = ContentType.objects.get_for_model(Subscriber)
    own = Q(content_type=readers, object_id=str(subscriber.pk))
    mentions = Q()
    for address in addresses:
        mentions |= Q(object_repr__icontains=address) | Q(change_message__icontains=address)
    for entry in LogEntry.objects.filter(own | mentions):
        is_own = entry.content_type_id == readers.pk and entry.object_id == str(subscriber.pk)
        entry.object_repr = (f"Reader {subscriber.pk} (erased)" if is_own
                             else pattern.sub(ERASED_READER, entry.object_repr))
        entry.change_message = pattern.sub(ERASED_READER, entry.change_message)
        entry.save(update_fields=["object_repr", "change_message"])


def subscriber_journey_email_send(*, subscriber_id: int, kind: str) -> str | None:
    """Send one email of the journey (confirm, already subscribed, goodbye) through
    the one email builder. Nothing when the subscriber is gone or its state no
    longer calls for it (e.g. confirmed before the queue got to it)."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).prefetch_related("topics").first()
    if subscriber is None:
        return None
    wanted = {
        # An unsubscribed reader who asked again on the form stays unsubscribed until
        # they confirm: their request's email (still, if they came back meanwhile by
        # the goodbye's Resubscribe: it brings what they chose on the form).
        EMAIL_CONFIRM: (Subscriber.Status.PENDING,) + (REQUEST_CONFIRMABLE if subscriber.requested else ()),
        EMAIL_ALREADY_SUBSCRIBED: (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED),
        EMAIL_GOODBYE: (Subscriber.Status.UNSUBSCRIBED,),
        # Asked for from the preference centre, whatever the reader's state.
        EMAIL_EXPORT: tuple(Subscriber.Status),
        EMAIL_LINKS: (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED, Subscriber.Status.UNSUBSCRIBED,
                      Subscriber.Status.SUPPRESSED),
        EMAIL_CHANGE: EMAIL_CHANGEABLE,
        EMAIL_CHANGE_APPROVAL: EMAIL_CHANGEABLE,
        # Once it moved, whatever the reader did since.
        EMAIL_CHANGED: tuple(Subscriber.Status),
    }[kind]
    if subscriber.status not in wanted:
        return None
    if kind in (EMAIL_CHANGE, EMAIL_CHANGE_APPROVAL, EMAIL_CHANGED):
        return _email_change_mail_send(subscriber=subscriber, kind=kind)
    # Suppressed addresses never get mail of any kind, but for the confirmation a
    # reader who deleted their data asked for by subscribing again, and the answers
    # to a complainer's own requests about their data (DATA_REQUESTS_ANSWERED).
    lifted = {EMAIL_CONFIRM: LIFTED_BY_OWN_CONFIRMATION, EMAIL_LINKS: DATA_REQUESTS_ANSWERED,
              EMAIL_EXPORT: DATA_REQUESTS_ANSWERED}.get(kind, ())
    if email_is_suppressed(subscriber.email, unless_reasons=lifted):
        logger.info("email not sent: address suppressed (template=%s)", kind)
        return None
    template = kind
    context = {
        "subscriber": subscriber,
        # A confirmation says the topics confirming gives: the request's, when there is one.
        "topics": (list(Topic.objects.filter(pk__in=subscriber.requested.get("topics", []), is_active=True))
                   if kind == EMAIL_CONFIRM and subscriber.requested else list(subscriber.topics.all())),
        "manage_url": subscriber_manage_url(subscriber=subscriber),
    }
    unsubscribe_url = None
    attachments = ()
    if kind == EMAIL_EXPORT:
        attachments = ((EXPORT_FILE_NAME, subscriber_export_archive(subscriber=subscriber), "application/zip"),)
        context["file_name"], context["data_name"] = EXPORT_FILE_NAME, EXPORT_DATA_NAME
        context["ledger_kept_days"] = settings.LEDGER_KEPT_DAYS
    elif kind == EMAIL_CONFIRM:
        context["confirm_url"] = confirm_url(subscriber=subscriber)
        context["confirm_days"] = CONFIRM_LINK_MAX_AGE.days
        # Not subscribed yet: no manage link, no unsubscribe header.
        context["manage_url"] = None
    elif kind == EMAIL_LINKS and subscriber.status == Subscriber.Status.SUPPRESSED:
        # A reply to their own request, to an address we send nothing else: no
        # List-Unsubscribe (there is nothing to leave), and a link to their data only
        # (the preference centre's page for them: views._manage_page, data_only).
        template = EMAIL_LINKS_DATA
        context["data_url"], context["manage_url"] = context["manage_url"], None
    elif kind in (EMAIL_ALREADY_SUBSCRIBED, EMAIL_LINKS):
        if subscriber.status != Subscriber.Status.UNSUBSCRIBED:
            unsubscribe_url = subscriber_unsubscribe_url(subscriber=subscriber)
        context["next_digest"] = next_digest(subscriber=subscriber)
    elif kind == EMAIL_GOODBYE:
        # A page with a "Resubscribe" button, for a reader who changes their mind.
        context["resubscribe_url"] = subscriber_resubscribe_url(subscriber=subscriber)
        # Until the retention erases them (subscribers_left_erase); 0 keeps them for ever.
        context["left_kept_days"] = settings.UNSUBSCRIBED_KEPT_DAYS
        context["manage_url"] = None
    return email_send(
        to=subscriber.email,
        template=template,
        context=context,
        unsubscribe_url=unsubscribe_url,
        tags=[kind],
        metadata={"subscriber_id": subscriber.pk},
        attachments=attachments,
    )


def _email_change_mail_send(*, subscriber: Subscriber, kind: str) -> str | None:
    """The address change's emails, which go to an address the reader's row no
    longer (EMAIL_CHANGED: the old one, from the change's consent record) or not yet
    (EMAIL_CHANGE: the new one) holds, or to the current one (EMAIL_CHANGE_APPROVAL,
    once the new one confirmed). EMAIL_CHANGE to an address with a subscription
    of its own says so and carries no link (EMAIL_CHANGE_TAKEN): its owner learns why
    nothing can move there, and the page that asked learned nothing. None carries
    a manage or unsubscribe link: the old inbox may no longer be the reader's, the
    new one is not subscribed yet, and the approval is not a digest."""
    context = {"subscriber": subscriber}
    if kind == EMAIL_CHANGE:
        change = subscriber.email_change
        if not change:  # moved, or replaced by a newer request's email, before the queue got here
            return None
        if change.get("quiet"):  # the mailbox's cap was reached (subscriber_email_change_request)
            logger.info("email not sent: the mailbox's cap of emails was reached (template=%s)", kind)
            return None
        to, template = change["to"], EMAIL_CHANGE
        if _email_change_taken(subscriber=subscriber, email=to):
            template = EMAIL_CHANGE_TAKEN
        else:
            context["email_change_url"] = email_change_url(subscriber=subscriber)
        context["change_days"] = EMAIL_CHANGE_LINK_MAX_AGE.days
        context["new_email"] = email_display(to)
    elif kind == EMAIL_CHANGE_APPROVAL:
        change = subscriber.email_change
        if not change or not change.get("confirmed"):  # moved or replaced before the queue got here
            return None
        to, template = subscriber.email, EMAIL_CHANGE_APPROVAL
        context["approval_url"] = email_change_approval_url(subscriber=subscriber)
        context["new_masked"] = email_masked(change["to"])
        context["change_days"] = EMAIL_CHANGE_LINK_MAX_AGE.days
    else:
        record = subscriber.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE).order_by("-created_at", "-id").first()
        if record is None:
            return None
        to, template = record.detail["from"], EMAIL_CHANGED
        context["old_email"], context["new_masked"] = email_display(to), email_masked(record.detail["to"])
    if email_is_suppressed(to, unless_reasons=LIFTED_BY_OWN_CONFIRMATION if kind == EMAIL_CHANGE else ()):
        logger.info("email not sent: address suppressed (template=%s)", template)
        return None
    return email_send(to=to, template=template, context=context, tags=[kind],
                      metadata={"subscriber_id": subscriber.pk})


# The demo reader `manage.py bootstrap` makes for local development lives in a time
# zone other than the server's, so what they see shows times in the reader's own.
DEMO_READER_TIME_ZONE = "America/New_York"


def demo_reader_ensure(*, email: str, topics: Iterable[Topic]) -> Subscriber:
    """A confirmed reader at `email` following `topics` (kept as it is when it
    exists), with consent records that say it was made for the demo."""
    email = email_normalise(email)
    existing = Subscriber.objects.filter(email__iexact=email).first()
    if existing is not None:
        return existing
    now = timezone.now()
    topics = list(topics)
    with transaction.atomic():
        subscriber = Subscriber.objects.create(
            email=email, source=Subscriber.Source.ADMIN, status=Subscriber.Status.ACTIVE,
            status_changed_at=now, confirmed_at=now, time_zone=DEMO_READER_TIME_ZONE,
        )
        subscriber.topics.set(topics)
        detail = {"demo": "made by manage.py bootstrap for local development",
                  "topics": sorted(t.slug for t in topics)}
        for action in (ConsentRecord.Action.SUBSCRIBE, ConsentRecord.Action.CONFIRM):
            consent_record(subscriber=subscriber, action=action, ip=None, user_agent="",
                            source=Subscriber.Source.ADMIN, detail=detail)
    return subscriber
