"""Tracking webhooks (newsletter/webhooks.py): real Postmark payloads posted to
anymail's Postmark tracking endpoint, with and without the basic-auth secret."""

import datetime as dt
import json
import re

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.editions import edition_assemble
from newsletter.feedback import feedback_record, feedback_summary
from newsletter.models import Delivery, DeliveryEvent, Edition, Feedback, Paper
from newsletter.webhooks import SOFT_BOUNCE_THRESHOLD, SOFT_BOUNCED
from subscribers.models import ConsentRecord, Subscriber, Suppression
from subscribers.suppression import email_hash, email_is_suppressed
from tests import webhooks
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]
URL, SECRET = webhooks.URL, webhooks.SECRET

def post(client, payload: dict, *, credentials: str | None = SECRET):
    headers = webhooks.auth(credentials) if credentials else {}
    return client.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def delivery_for(subscriber, *, message_id="883953f4-6105-42a2-a16a-77a8eac79483", day=24):
    edition, _ = Edition.objects.get_or_create(date=dt.date(2025, 11, day))
    return Delivery.objects.create(
        subscriber=subscriber, edition=edition, status=Delivery.Status.SENT,
        provider_message_id=message_id, sent_at=timezone.now(),
    )


def bounce(email: str, *, event_id=4323372036854775807, kind="HardBounce", delivery=None,
           message_id="883953f4-6105-42a2-a16a-77a8eac79483", at="2025-11-24T07:03:54.9070259Z"):
    """Postmark's bounce webhook body (postmarkapp.com/developer/webhooks/bounce-webhook)."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": event_id,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096}[kind],
        "Name": {"HardBounce": "Hard bounce", "SoftBounce": "Soft bounce/Undeliverable"}[kind],
        "Tag": "digest",
        "MessageID": message_id,
        "Metadata": {"delivery_id": str(delivery.pk)} if delivery else {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": f"smtp;550 5.1.1 The email account {email} does not exist.",
        "Email": email,
        "From": "digest@example.com",
        "BouncedAt": at,
        "DumpAvailable": True,
        "Inactive": kind == "HardBounce",
        "CanActivate": True,
        "Subject": "A Study of Things and 4 more trending papers",
        "Content": "",
    }


def test_a_hard_bounce_with_the_right_credentials_suppresses_the_address(client):
    reader = SubscriberFactory(email="Gone.Reader@example.com")
    delivery = delivery_for(reader)

    response = post(client, bounce("gone.reader@example.com", delivery=delivery))

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert email_is_suppressed("Gone.Reader@example.com")
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE
    event = DeliveryEvent.objects.get()
    assert event.delivery == delivery
    assert event.event_type == "bounced"
    assert event.event_id == "postmark:4323372036854775807"


def test_the_stored_event_keeps_the_recipient_only_as_a_hash(client):
    reader = SubscriberFactory(email="private@example.com")
    payload = bounce("private@example.com", delivery=delivery_for(reader))
    # The receiving server's answer may write the address in its own case.
    payload["Details"] = "smtp;550 5.1.1 <Private@EXAMPLE.com>: mailbox not found"
    post(client, payload)

    event = DeliveryEvent.objects.get()
    assert event.recipient_hash == email_hash("private@example.com")
    stored = json.dumps(event.payload) + event.description + Suppression.objects.get().note
    assert "private@example.com" not in stored.lower()
    assert event.payload["Type"] == "HardBounce"  # the rest of the ESP's event is kept


def test_an_international_address_is_kept_out_of_the_stored_event_in_either_form(client):
    """The digest went to the address's stored form (user@xn--bcher-kva.de); the
    receiving server's answer may write it as its owner does (user@bücher.de), which
    was kept in the event's payload and description, and in the suppression's note,
    though the address is otherwise kept only as a hash (helper hC's review)."""
    reader = SubscriberFactory(email="leser@xn--bcher-kva.de")
    payload = bounce("leser@xn--bcher-kva.de", delivery=delivery_for(reader))
    payload["Details"] = "smtp;550 5.1.1 <Leser@Bücher.de>: mailbox not found"
    post(client, payload)

    event = DeliveryEvent.objects.get()
    stored = json.dumps(event.payload, ensure_ascii=False) + event.description + Suppression.objects.get().note
    assert "leser@bücher.de" not in stored.lower() and "leser@xn--bcher-kva.de" not in stored.lower()
    assert "mailbox not found" in event.payload["Details"]


@pytest.mark.parametrize("credentials", [None, "postmark-hook:wrong", "someone:" + SECRET])
def test_without_the_right_credentials_the_webhook_is_refused_and_nothing_changes(client, credentials):
    reader = SubscriberFactory(email="reader@example.com")
    delivery = delivery_for(reader)

    response = post(client, bounce("reader@example.com", delivery=delivery), credentials=credentials)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not Suppression.objects.exists()
    assert not DeliveryEvent.objects.exists()


def test_with_no_secret_configured_events_change_nothing(client, settings):
    settings.ANYMAIL = {}
    reader = SubscriberFactory(email="reader@example.com")

    # anymail alone would accept anyone; an unauthenticated POST must never act.
    assert post(client, bounce("reader@example.com"), credentials=None).status_code == 401

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not Suppression.objects.exists()


def test_a_replayed_event_changes_nothing(client):
    reader = SubscriberFactory(email="reader@example.com")
    payload = bounce("reader@example.com", kind="SoftBounce", delivery=delivery_for(reader))

    assert post(client, payload).status_code == 200
    assert post(client, payload).status_code == 200  # the ESP retried: still a 200

    assert DeliveryEvent.objects.count() == 1


def test_an_event_id_longer_than_the_ledger_holds_is_kept_by_its_hash(client):
    """DeliveryEvent.event_id holds 200 characters: a longer id from the ESP is
    stored as its hash (it was a 500 on PostgreSQL, retried by the ESP for ever),
    and its replay is still recognised."""
    reader = SubscriberFactory(email="reader@example.com")
    payload = bounce("reader@example.com", event_id="7" * 300, delivery=delivery_for(reader))

    assert post(client, payload).status_code == 200
    assert post(client, payload).status_code == 200

    assert DeliveryEvent.objects.get().event_id.startswith("postmark:sha256:")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_a_spam_complaint_suppresses_at_once(client):
    reader = SubscriberFactory(email="annoyed@example.com")
    delivery = delivery_for(reader)
    payload = {
        **bounce("annoyed@example.com", delivery=delivery, event_id=42),
        "RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512,
        "Name": "Spam complaint", "Description": "The subscriber explicitly marked this message as spam.",
    }

    post(client, payload)

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert DeliveryEvent.objects.get().event_type == "complained"


def unsubscribe_event(email: str, *, delivery) -> dict:
    """Postmark's subscription change webhook body (postmarkapp.com/developer/webhooks/subscription-change-webhook)."""
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2025-11-24T08:53:34.416071Z",
        "Recipient": email,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "digest",
        "Metadata": {"delivery_id": str(delivery.pk)},
    }


def test_an_esp_unsubscribe_event_unsubscribes_the_reader(client):
    reader = SubscriberFactory(email="leaving@example.com")
    delivery = delivery_for(reader)

    post(client, unsubscribe_event("leaving@example.com", delivery=delivery))

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    (consent,) = reader.consents.filter(action=ConsentRecord.Action.UNSUBSCRIBE)
    assert consent.source == Subscriber.Source.ESP  # the record says where it came from
    assert not Suppression.objects.exists()  # unsubscribed, not suppressed: may come back
    event = DeliveryEvent.objects.get()
    assert event.event_type == "unsubscribed" and event.delivery == delivery
    assert event.event_id.startswith("postmark:sha256:")  # Postmark gives this event no id


def test_soft_bounces_suppress_only_from_the_threshold_within_the_window(client):
    reader = SubscriberFactory(email="full.inbox@example.com")
    long_ago = delivery_for(reader, message_id="m-old", day=1)
    post(client, bounce("full.inbox@example.com", kind="SoftBounce", delivery=long_ago,
                        event_id=1, message_id="m-old", at="2025-10-01T07:00:00Z"))
    for n in range(1, SOFT_BOUNCE_THRESHOLD):
        delivery = delivery_for(reader, message_id=f"m-{n}", day=20 + n)
        post(client, bounce("full.inbox@example.com", kind="SoftBounce", delivery=delivery,
                            event_id=100 + n, message_id=f"m-{n}", at=f"2025-11-{20 + n}T07:00:00Z"))
        # The same message bounced twice counts once.
        post(client, bounce("full.inbox@example.com", kind="SoftBounce", delivery=delivery,
                            event_id=200 + n, message_id=f"m-{n}", at=f"2025-11-{20 + n}T09:00:00Z"))

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE  # 1 too old + 2 recent < 3
    assert DeliveryEvent.objects.filter(event_type=SOFT_BOUNCED).count() == 1 + 2 * (SOFT_BOUNCE_THRESHOLD - 1)

    last = delivery_for(reader, message_id="m-last", day=28)
    post(client, bounce("full.inbox@example.com", kind="SoftBounce", delivery=last,
                        event_id=999, message_id="m-last", at="2025-11-28T07:00:00Z"))

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.SOFT_BOUNCES


def test_soft_bounces_that_name_no_digest_of_ours_still_suppress_at_the_third(client):
    """Soft bounces without our metadata whose message id is not on the ledger (an
    ESP that leaves the headers out, a delivery already deleted): each is one
    bounce of the address, and the third within the window suppresses it, as
    docs/esp-switch.md says."""
    reader = SubscriberFactory(email="full.inbox@example.com")
    for n in (1, 2):
        post(client, bounce("full.inbox@example.com", kind="SoftBounce", event_id=n,
                            message_id=f"not-on-the-ledger-{n}", at=f"2025-11-2{n}T07:00:00Z"))
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE

    post(client, bounce("full.inbox@example.com", kind="SoftBounce", event_id=3,
                        message_id="not-on-the-ledger-3", at="2025-11-23T07:00:00Z"))

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().note == "3 soft bounces in 30 days"
    assert not DeliveryEvent.objects.filter(delivery__isnull=False).exists()


def test_a_replayed_unsubscribe_does_not_unsubscribe_a_reader_who_came_back(client):
    """The ESP retries a webhook it thinks failed, hours later: the reader who
    subscribed again meanwhile stays subscribed."""
    reader = SubscriberFactory(email="leaving@example.com")
    payload = unsubscribe_event("leaving@example.com", delivery=delivery_for(reader))
    assert post(client, payload).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    reader.status = Subscriber.Status.ACTIVE  # came back through the form
    reader.save()

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert reader.consents.filter(action=ConsentRecord.Action.UNSUBSCRIBE).count() == 1


def test_an_unsubscribe_naming_another_address_unsubscribes_that_reader_not_the_deliverys(client):
    """As with clicks: the delivery id in the metadata is trusted only with the
    recipient the ESP names. The event names a reader of ours: they leave; the
    reader the delivery was for stays."""
    reader, other = SubscriberFactory(email="reader@example.com"), SubscriberFactory(email="other@example.com")
    payload = unsubscribe_event("other@example.com", delivery=delivery_for(reader))

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    other.refresh_from_db()
    assert (reader.status, other.status) == (Subscriber.Status.ACTIVE, Subscriber.Status.UNSUBSCRIBED)


def test_an_event_without_metadata_finds_its_delivery_by_message_id(client):
    reader = SubscriberFactory(email="reader@example.com")
    delivery = delivery_for(reader, message_id="pm-abc-123")
    payload = {  # postmarkapp.com/developer/webhooks/delivery-webhook
        "RecordType": "Delivery", "ServerID": 23, "MessageStream": "broadcast",
        "MessageID": "pm-abc-123", "Recipient": "reader@example.com", "Tag": "digest",
        "DeliveredAt": "2025-11-24T07:01:02Z", "Details": "Test delivery webhook details",
        "Metadata": {},
    }

    post(client, payload)

    event = DeliveryEvent.objects.get()
    assert event.delivery == delivery and event.event_type == "delivered"
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_a_bounce_of_an_address_with_no_subscriber_still_lands_on_the_suppression_list(client):
    post(client, bounce("deleted.long.ago@example.com"))

    assert email_is_suppressed("deleted.long.ago@example.com")
    assert DeliveryEvent.objects.get().delivery is None


def test_a_bounce_that_names_no_recipient_acts_on_the_reader_its_digest_went_to(client):
    """An ESP's event may leave the address out and carry only our metadata: the
    digest it names says whose address bounced."""
    reader = SubscriberFactory(email="gone.reader@example.com")
    payload = bounce("gone.reader@example.com", delivery=delivery_for(reader))
    del payload["Email"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert email_is_suppressed("gone.reader@example.com")
    assert DeliveryEvent.objects.get().recipient_hash == email_hash("gone.reader@example.com")


def _moved_after_a_digest(client, capture) -> tuple[Subscriber, Delivery]:
    """A reader sent a digest at their old address an hour ago, who moved to a new
    one since (both inboxes said yes: subscribers.services.subscriber_email_change_approve)."""
    from tests.subscribers.test_email_change import _move

    reader = SubscriberFactory(email="ada@oldjob.example")
    delivery = delivery_for(reader)
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now() - dt.timedelta(hours=1))
    _move(client, capture, reader, "ada@newjob.example")
    reader.refresh_from_db()
    assert reader.email == "ada@newjob.example"
    return reader, Delivery.objects.get(pk=delivery.pk)


def test_a_late_bounce_naming_no_recipient_of_a_digest_sent_before_a_move_spares_the_new_address(
        client, django_capture_on_commit_callbacks):
    """The digest went to the old address: its bounce, arriving after the move and
    naming only our delivery, suppressed the reader's NEW address (the fallback read
    the reader's current one). It is the old address's: that is suppressed (nobody
    is mailed there again), the new one and the reader are untouched."""
    reader, delivery = _moved_after_a_digest(client, django_capture_on_commit_callbacks)
    payload = bounce("ada@oldjob.example", delivery=delivery)
    del payload["Email"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not email_is_suppressed("ada@newjob.example")
    assert email_is_suppressed("ada@oldjob.example")
    event = DeliveryEvent.objects.get()
    assert event.delivery == delivery and event.recipient_hash == email_hash("ada@oldjob.example")


def test_a_bounce_naming_no_recipient_of_a_digest_sent_after_a_move_suppresses_the_new_address(
        client, django_capture_on_commit_callbacks):
    reader, _ = _moved_after_a_digest(client, django_capture_on_commit_callbacks)
    payload = bounce("ada@newjob.example", delivery=delivery_for(reader, message_id="m-after", day=25))
    del payload["Email"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED and email_is_suppressed("ada@newjob.example")
    assert not email_is_suppressed("ada@oldjob.example")


def test_a_late_bounce_naming_the_old_address_suppresses_that_address_only(
        client, django_capture_on_commit_callbacks):
    reader, delivery = _moved_after_a_digest(client, django_capture_on_commit_callbacks)

    assert post(client, bounce("ada@oldjob.example", delivery=delivery)).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not email_is_suppressed("ada@newjob.example")
    assert email_is_suppressed("ada@oldjob.example")


# --- Clicks: opening a paper from the digest is a mild "more like this" ------------------


def test_a_late_bounce_naming_no_recipient_of_a_digest_sent_before_two_moves_is_the_first_addresss(
        client, django_capture_on_commit_callbacks):
    """The reader moved twice since the digest: it went to the address the first
    move left, not the one the second move left."""
    from tests.subscribers.test_email_change import _move

    reader, delivery = _moved_after_a_digest(client, django_capture_on_commit_callbacks)
    _move(client, django_capture_on_commit_callbacks, reader, "ada@home.example")
    payload = bounce("ada@oldjob.example", delivery=delivery)
    del payload["Email"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.email == "ada@home.example" and reader.status == Subscriber.Status.ACTIVE
    assert email_is_suppressed("ada@oldjob.example")
    assert not email_is_suppressed("ada@newjob.example") and not email_is_suppressed("ada@home.example")


def test_a_bounce_naming_no_recipient_of_a_digest_queued_before_a_move_and_sent_after_is_the_new_addresss(
        client, django_capture_on_commit_callbacks):
    """Queued before the reader moved, sent by a retry after it (the provider was
    down): the digest went to the new address, and its bounce stops that one."""
    from tests.subscribers.test_email_change import _move

    reader = SubscriberFactory(email="ada@oldjob.example")
    delivery = delivery_for(reader)
    Delivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - dt.timedelta(days=1), sent_at=None, status=Delivery.Status.PENDING)
    _move(client, django_capture_on_commit_callbacks, reader, "ada@newjob.example")
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now(), status=Delivery.Status.SENT)
    payload = bounce("ada@newjob.example", delivery=delivery)
    del payload["Email"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED and email_is_suppressed("ada@newjob.example")
    assert not email_is_suppressed("ada@oldjob.example")


def click(*, link: str, message, at="2025-11-24T08:12:31.0000000Z") -> dict:
    """Postmark's click webhook body (postmarkapp.com/developer/webhooks/click-webhook)
    for a link of a digest we sent: its metadata as the ESP echoes it back."""
    return {
        "RecordType": "Click", "MessageStream": "broadcast", "ClickLocation": "HTML",
        "Client": {"Name": "Firefox 133", "Company": "Mozilla", "Family": "Firefox"},
        "OS": {"Name": "Linux", "Company": "-", "Family": "Linux"}, "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "OriginalLink": link, "Geo": {"CountryISOCode": "GB", "Country": "United Kingdom"},
        "MessageID": "0a2c44c0-1b36-4b71-9a3f-4a3d0e0b7d11", "Tag": "digest",
        "Metadata": {k: str(v) for k, v in message.metadata.items()},
        "ReceivedAt": at, "Recipient": message.to[0],
    }


def agents_digests_sent(*, papers: int, readers: int) -> list[tuple]:
    """Readers of "Agents" sent a digest of `papers` papers at 07:05:00: for each,
    (reader, the email sent, the links of its HTML part)."""
    agents = TopicFactory(name="Agents")
    for n in range(papers):
        PaperTopicFactory(paper=PaperFactory(title=f"Agents paper {n}", upvotes=50 - n), topic=agents,
                          score=0.9, matched_terms=["agent"])
    edition = edition_assemble(date=dt.date(2025, 11, 24))
    subscribers = [SubscriberFactory(email=f"reader{n or ''}@example.com", delivery_hour=7) for n in range(readers)]
    for reader in subscribers:
        reader.topics.add(agents)
    now = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)
    digest_send_batch(delivery_ids=deliveries_create(
        edition=edition, subscriber_ids=[reader.id for reader in subscribers], now=now), now=now)
    sent = {message.to[0]: message for message in mail.outbox}
    return [(reader, sent[reader.email], re.findall(r'href="([^"]+)"', next(
        body for body, mime in sent[reader.email].alternatives if mime == "text/html")))
        for reader in subscribers]


def digest_of_two_agents_papers_sent():
    """One reader of "Agents" sent a digest of two papers: (reader, the first paper,
    the email sent, the links of its HTML part)."""
    ((reader, message, links),) = agents_digests_sent(papers=2, readers=1)
    return reader, Paper.objects.get(title="Agents paper 0"), message, links


def test_a_click_on_a_papers_link_in_the_digest_teaches_a_mild_more_for_that_reader(client):
    reader, opened, message, links = digest_of_two_agents_papers_sent()
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)
    less_link = next(link for link in links if "/feedback/" in link)
    masthead = next(link for link in links if link.rstrip("/") == settings.SITE_URL.rstrip("/"))

    # The feedback links and the masthead are links too: a click on them teaches nothing here.
    for link in (less_link, masthead):
        assert post(client, click(link=link, message=message)).status_code == 200
    assert not Feedback.objects.exists()

    assert post(client, click(link=arxiv_link, message=message, at="2025-11-24T08:13:00Z")).status_code == 200
    row = Feedback.objects.get()
    assert (row.subscriber, row.paper, row.vote, row.source) == (reader, opened, 1, "click")
    summary = feedback_summary(subscriber=reader)
    assert summary["opened"] == [opened.title] and summary["more_like"] == [] and summary["clicks"] == 1

    # Opening it again changes nothing; a vote says more than a click and replaces it,
    # and a later click never turns the reader's "less" into a "more".
    post(client, click(link=arxiv_link, message=message, at="2025-11-24T09:00:00Z"))
    assert Feedback.objects.count() == 1
    feedback_record(subscriber=reader, paper=opened, vote=-1)
    post(client, click(link=arxiv_link, message=message, at="2025-11-24T10:00:00Z"))
    assert Feedback.objects.get().vote == -1 and Feedback.objects.get().source == "vote"


def test_a_mail_scanner_opening_every_link_of_the_digest_teaches_its_reader_nothing(client):
    """Mail scanners (Safe Links and the like) open every link of an email as it
    arrives, or all at once when it is first opened, and the ESP reports each as the
    reader's click. Before, every paper of the digest was then "opened" by its
    reader: the panel listed them under "you opened them" and the ranking leaned on
    them all. Clicks within a minute of the send, and a burst of five or more within
    seconds, teach nothing; what a burst's first clicks taught is taken back. A
    person's clicks, a paper now and another later, still teach."""
    reader, _opened, message, links = digest_of_two_agents_papers_sent()
    paper_of = {link: paper for link in links for paper in Paper.objects.all() if paper.arxiv_id in link}
    paper_links = list(paper_of)
    # On arrival (the digest went out at 07:05:00): a scanner that opens each paper's
    # link, seconds apart, fewer than a burst.
    for n, link in enumerate(paper_links):
        assert post(client, click(link=link, message=message, at=f"2025-11-24T07:05:{10 + 7 * n}Z")).status_code == 200
    assert not Feedback.objects.exists()

    # At the first opening, hours later: the papers' links first, then the rest, within 2 seconds.
    for n, link in enumerate(paper_links + [link for link in links if link not in paper_of]):
        post(client, click(link=link, message=message, at=f"2025-11-24T09:30:0{min(n, 2)}Z"))
    assert not Feedback.objects.exists()
    assert feedback_summary(subscriber=reader)["opened"] == []

    # The reader, later that day: one paper, then, minutes on, the other.
    post(client, click(link=paper_links[0], message=message, at="2025-11-24T12:00:00Z"))
    other = next(link for link in paper_links if paper_of[link] != paper_of[paper_links[0]])
    post(client, click(link=other, message=message, at="2025-11-24T12:04:00Z"))
    assert Feedback.objects.filter(subscriber=reader, source="click").count() == 2


def paper_links_of(links: list[str]) -> dict[str, str]:
    """A digest's links to each of its papers, one a paper: {title: link}."""
    return {paper.title: link for link in links for paper in Paper.objects.all() if paper.arxiv_id in link}


def opened(reader) -> list[str]:
    return sorted(Feedback.objects.filter(subscriber=reader, source="click").values_list("paper__title", flat=True))


def test_four_papers_opened_within_seconds_are_a_readers_and_a_fifth_makes_a_scanners_burst(client):
    """A burst is five clicks or more on one digest's links within seconds (CLICK_BURST):
    four papers opened in tabs as quickly are still the reader's, the fifth takes them
    back. Another reader's clicks in the same seconds, on their own digest, are theirs
    and count towards no one else's burst."""
    (first, first_message, first_links), (other, other_message, other_links) = agents_digests_sent(
        papers=5, readers=2)
    papers = paper_links_of(first_links)
    post(client, click(link=paper_links_of(other_links)["Agents paper 0"], message=other_message,
                       at="2025-11-24T12:00:00Z"))
    for n in range(4):
        post(client, click(link=papers[f"Agents paper {n}"], message=first_message, at=f"2025-11-24T12:00:0{n}Z"))
    assert opened(first) == [f"Agents paper {n}" for n in range(4)]
    assert opened(other) == ["Agents paper 0"]

    post(client, click(link=papers["Agents paper 4"], message=first_message, at="2025-11-24T12:00:04Z"))
    assert opened(first) == []
    assert opened(other) == ["Agents paper 0"]


def test_a_readers_clicks_seconds_apart_teach_whatever_opens_come_with_them(client):
    """A reader who opens the digest a minute after it went out and opens a paper at
    once, then papers ten seconds apart, is taught each: clicks within five seconds
    either side make a burst (CLICK_BURST_WINDOW), and the opens the ESP reports
    around them (the pixel loaded again as they scroll) are no clicks."""
    ((reader, message, links),) = agents_digests_sent(papers=6, readers=1)
    papers = paper_links_of(links)
    post(client, click(link=papers["Agents paper 0"], message=message, at="2025-11-24T07:06:00Z"))
    assert opened(reader) == ["Agents paper 0"]

    for n in range(4):
        open_event = click(link="", message=message, at=f"2025-11-24T12:00:0{n}Z") | {
            "RecordType": "Open", "FirstOpen": n == 0, "ReadSeconds": 3}
        assert post(client, open_event).status_code == 200
    assert DeliveryEvent.objects.filter(event_type="opened").count() == 4
    for n in range(1, 6):
        post(client, click(link=papers[f"Agents paper {n}"], message=message, at=f"2025-11-24T12:00:{n - 1}4Z"))
    assert opened(reader) == [f"Agents paper {n}" for n in range(6)]


def test_a_scanners_burst_reported_newest_first_is_found_and_a_readers_earlier_click_stays(client):
    """An ESP posts a batch of events in no set order: a scanner's five clicks of one
    second each, reported newest first, are a burst all the same once the fifth comes,
    which takes back what the first four taught, and only that: the paper the reader
    opened themselves an hour and a half before stays opened."""
    ((reader, message, links),) = agents_digests_sent(papers=5, readers=1)
    papers = paper_links_of(links)
    post(client, click(link=papers["Agents paper 0"], message=message, at="2025-11-24T08:00:00Z"))
    assert opened(reader) == ["Agents paper 0"]

    for n in reversed(range(5)):
        post(client, click(link=papers[f"Agents paper {n}"], message=message, at=f"2025-11-24T09:30:0{n}Z"))
    assert DeliveryEvent.objects.filter(event_type="clicked").count() == 6
    assert opened(reader) == ["Agents paper 0"]


def test_a_click_reported_for_another_address_teaches_the_delivery_s_reader_nothing(client):
    """The metadata's delivery id is ours to trust only with the recipient the ESP
    names: a click event whose recipient is someone else is kept, and changes no
    reader's digest."""
    reader, opened, message, links = digest_of_two_agents_papers_sent()
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)

    forged = click(link=arxiv_link, message=message) | {"Recipient": "someone.else@example.com"}
    assert post(client, forged).status_code == 200
    assert DeliveryEvent.objects.get().event_type == "clicked"
    assert not Feedback.objects.exists()

    # The same click under the reader's own address (as the ESP may case it) teaches.
    own = click(link=arxiv_link, message=message, at="2025-11-24T08:20:00Z") | {"Recipient": "Reader@Example.com"}
    assert post(client, own).status_code == 200
    assert Feedback.objects.get().subscriber == reader


def test_a_reader_who_erases_their_data_leaves_no_esp_event_saying_what_they_opened_with_and_where(client):
    """The ESP's events stay after an erasure (the bounce and complaint figures count
    them; the recipient is a keyed hash), and their stored payloads kept what the ESP
    said of the reader: the browser, system and country they opened the digest with,
    the links they clicked (a data-protection reviewer's walkthrough). Erasure now
    empties those payloads, of events tied to the reader's digests or to their address."""
    from subscribers import tokens

    reader, opened, message, links = digest_of_two_agents_papers_sent()
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)
    post(client, click(link=arxiv_link, message=message))
    unmatched = click(link=arxiv_link, message=message) | {"Metadata": {}, "MessageID": "lost", "ID": 2}
    post(client, unmatched | {"ReceivedAt": "2025-11-24T09:12:31.0000000Z"})
    assert DeliveryEvent.objects.filter(payload__UserAgent__icontains="Firefox").count() == 2

    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    assert client.post(f"{manage}delete/").status_code == 200

    events = list(DeliveryEvent.objects.all())
    assert [(e.event_type, e.recipient_hash) for e in events] == [("clicked", email_hash("reader@example.com"))] * 2
    assert [e.payload for e in events] == [{}, {}]


def test_an_events_payload_is_kept_thirty_days_then_emptied(db):
    """What the ESP said (the reader's browser, country, the link clicked) stays
    for EVENT_PAYLOAD_KEPT, 30 days, for the editors reading a bounce; then only
    the event is kept."""
    from newsletter.webhooks import delivery_event_payloads_forget

    now = timezone.now()
    for age in (29, 31):
        DeliveryEvent.objects.create(event_id=f"aged-{age}", event_type="clicked", occurred_at=now,
                                     payload={"Geo": {"Country": "United Kingdom"}})
        DeliveryEvent.objects.filter(event_id=f"aged-{age}").update(created_at=now - dt.timedelta(days=age))

    assert delivery_event_payloads_forget(now=now) == 1

    assert dict(DeliveryEvent.objects.values_list("event_id", "payload")) == {
        "aged-29": {"Geo": {"Country": "United Kingdom"}}, "aged-31": {}}


@pytest.mark.postgresql
def test_the_daily_forgetting_of_payloads_reads_only_the_events_still_holding_one(db):
    """delivery_event_payloads_forget finds the old events that still hold a payload
    by an index of those alone: it read every event daily (210 ms at 900,000 events
    to find the day's few, docs/benchmarks.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.webhooks import EVENT_PAYLOAD_KEPT, delivery_event_payloads_forget

    now = timezone.now()
    for n, payload in enumerate([{"ip": "192.0.2.1"}, {}]):
        DeliveryEvent.objects.create(event_id=f"e{n}", event_type="opened", payload=payload, occurred_at=now)
    DeliveryEvent.objects.update(created_at=now - EVENT_PAYLOAD_KEPT - dt.timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        assert delivery_event_payloads_forget(now=now) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[-1]["sql"].replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "event_payload_kept_idx" in plan, plan


@pytest.mark.parametrize(("tag", "metadata", "of_test_send"), [
    ("digest-test", {"edition": "2025-11-24", "test_send": "1"}, True),  # as it was sent
    ("digest-test", {}, True),  # an ESP that reports back the tag only
    ("", {"test_send": "1"}, True),  # or the metadata only
    ("digest", {}, False),  # a reader's digest, matched to no row
], ids=["tag and metadata", "tag", "metadata", "a digest"])
def test_a_bounce_of_an_editors_test_send_is_marked_so_and_still_suppresses(client, tag, metadata, of_test_send):
    """"Send a test to me" is in no ledger row: by what it carries (digest.DIGEST_TEST_TAG,
    DIGEST_TEST_METADATA) its events are kept out of the dashboard's figures."""
    body = {**bounce("editor@example.org"), "Tag": tag, "Metadata": metadata}

    assert post(client, body).status_code == 200

    assert DeliveryEvent.objects.get().of_test_send is of_test_send
    assert email_is_suppressed("editor@example.org")


def test_a_click_naming_no_recipient_on_a_digest_sent_before_a_move_still_teaches_its_reader(
        client, django_capture_on_commit_callbacks):
    """The digest went to the reader's old address: a click the ESP reports without
    the address is still their click (newsletter.webhooks keeps the click's check to
    an address the ESP names)."""
    from tests.subscribers.test_email_change import _move

    reader, opened, message, links = digest_of_two_agents_papers_sent()
    _move(client, django_capture_on_commit_callbacks, reader, "reader@newjob.example")
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)
    payload = click(link=arxiv_link, message=message)
    del payload["Recipient"]

    assert post(client, payload).status_code == 200
    assert Feedback.objects.get().subscriber == reader
    assert DeliveryEvent.objects.get().recipient_hash == email_hash("reader@example.com")


@pytest.mark.parametrize(("tag", "matched", "email"), [
    ("confirm", False, "confirm"), ("goodbye", False, "goodbye"), ("digest", False, "digest"),
    ("", False, ""), ("confirm", True, "digest"), ("x" * 300, False, "x" * 40), (5, False, ""),
])
def test_an_event_says_which_email_it_is_about_by_its_tag_or_its_ledger_row(client, tag, matched, email):
    """A bounce of a journey email (Postmark's Tag is the kind it was sent with) is
    kept as that email's, so the dashboard leaves it out of the digests' figures; one
    the ledger matches is a digest's whatever its tag; a tag longer than the column
    is cut, not refused (the event still suppresses)."""
    reader = SubscriberFactory(email="typo@example.org")
    body = {**bounce(reader.email, delivery=delivery_for(reader) if matched else None), "Tag": tag}

    assert post(client, body).status_code == 200

    assert DeliveryEvent.objects.get().email == email
    assert email_is_suppressed(reader.email)


@pytest.mark.parametrize(("kind", "at"), [
    # Ahead of every clock: after midnight of 31 December 9999 in UTC, a year
    # PostgreSQL stores and Python cannot read back.
    ("HardBounce", "9999-12-31T23:59:59-12:00"),
    ("SoftBounce", "2099-01-01T00:00:00Z"),  # a soft bounce that would count for good
    ("SoftBounce", "0001-01-01T00:00:00Z"),  # its window began before the year 1
    ("HardBounce", "1970-01-01T00:00:00Z"),  # an epoch of 0: a time the ESP left out
])
def test_an_event_dated_in_the_future_or_before_email_is_dated_when_it_came(admin_client, client, kind, at):
    """The ESP's clock is ahead, or the body is forged: an event cannot be reported
    before it happens, nor have happened before 1970. Stored with its own time, the
    one dated after 9999 in UTC made every read of the events fail (the dashboard
    and the digest's page in the ledger answered 500 for good), one before the year
    1 crashed the webhook (a 500 the ESP retries for days), and a soft bounce of
    2099 counted towards the threshold in every window from then on."""
    from django.urls import reverse

    reader = SubscriberFactory(email="dated@example.com")
    delivery = delivery_for(reader)
    before = timezone.now()

    assert post(client, bounce(reader.email, kind=kind, delivery=delivery, at=at)).status_code == 200

    assert admin_client.get(reverse("admin:newsletter_dashboard")).status_code == 200
    page = admin_client.get(reverse("admin:newsletter_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert before <= DeliveryEvent.objects.get().occurred_at <= timezone.now()


def test_an_open_or_click_reported_after_the_reader_erased_their_data_keeps_nothing_of_them(client):
    """The digest stays in the reader's mailbox after they erase their data, and the
    ESP reports each later open and click of it. Such an event was stored with what
    the ESP said of the reader (browser, system, country, the link), kept 30 days,
    against what erasure promises (README, "Personal data"): only the erasure's own
    emptying of the events before it held. It is stored for the figures, empty."""
    from subscribers import tokens

    reader, opened, message, links = digest_of_two_agents_papers_sent()
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)
    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    assert client.post(f"{manage}delete/").status_code == 200

    assert post(client, click(link=arxiv_link, message=message, at="2025-11-25T08:00:00Z")).status_code == 200

    event = DeliveryEvent.objects.get()
    assert (event.event_type, event.recipient_hash) == ("clicked", email_hash("reader@example.com"))
    assert event.payload == {}


@pytest.mark.parametrize("at", ["2025-11-24T07:03:54", None])
def test_an_event_time_without_an_offset_is_utc_and_one_left_out_is_when_it_came(client, settings, at):
    """Postmark writes BouncedAt with or without its offset, and leaves it out of some
    events. A time without an offset is UTC's whatever the site's TIME_ZONE (read in
    the site's zone, a bounce at 07:03 was stored five hours later in New York, and
    counted in the soft-bounce window from then); an event without one is dated when
    it came (it was a TypeError, a 500 the ESP retries for days)."""
    settings.TIME_ZONE = "America/New_York"
    reader = SubscriberFactory(email="dated@example.com")
    payload = bounce(reader.email, delivery=delivery_for(reader))
    if at is None:
        del payload["BouncedAt"]
    else:
        payload["BouncedAt"] = at
    before = timezone.now()

    assert post(client, payload).status_code == 200

    occurred = DeliveryEvent.objects.get().occurred_at
    if at is None:
        assert before <= occurred <= timezone.now()
    else:
        assert occurred == dt.datetime(2025, 11, 24, 7, 3, 54, tzinfo=dt.UTC)


def test_a_delivery_id_of_one_ascii_digit_is_ours_and_the_same_number_in_other_digits_is_not(client):
    """The ledger's first deliveries have ids of one digit: "7" is delivery 7. The same
    number in Arabic-Indic digits ("\u0667", which int() reads as 7) is not an id of
    ours: the event is matched to nothing rather than to a digest it does not name."""
    reader = SubscriberFactory(email="reader@example.com")
    edition, _ = Edition.objects.get_or_create(date=dt.date(2025, 11, 24))
    Delivery.objects.create(pk=7, subscriber=reader, edition=edition, status=Delivery.Status.SENT,
                            provider_message_id="on-the-ledger", sent_at=timezone.now())

    for n, spelled in enumerate(["7", "\u0667"]):
        payload = bounce(reader.email, event_id=n + 1, message_id="not-on-the-ledger")
        assert post(client, payload | {"Metadata": {"delivery_id": spelled}}).status_code == 200

    assert [event.delivery_id for event in DeliveryEvent.objects.order_by("id")] == [7, None]


@pytest.mark.parametrize("names", ["the old address", "no address"])
def test_an_esp_unsubscribe_from_a_digest_sent_before_a_move_unsubscribes_its_reader(
        client, django_capture_on_commit_callbacks, names):
    """The reader moved to a new address, then unsubscribed through the ESP from a
    digest still in the old inbox. The event names the old address (or none): it was
    matched to no reader (nobody holds the old address now), and the reader who asked
    to leave was sent a digest every day at the new one."""
    reader, delivery = _moved_after_a_digest(client, django_capture_on_commit_callbacks)
    payload = unsubscribe_event("ada@oldjob.example", delivery=delivery)
    if names == "no address":
        del payload["Recipient"]

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert not Suppression.objects.exists()


def test_a_click_naming_the_old_address_on_a_digest_sent_before_a_move_still_teaches_its_reader(
        client, django_capture_on_commit_callbacks):
    """As when the ESP names no address: the address it names is the one the digest
    went to, the reader's before they moved; their click taught no one."""
    from tests.subscribers.test_email_change import _move

    reader, opened, message, links = digest_of_two_agents_papers_sent()
    _move(client, django_capture_on_commit_callbacks, reader, "reader@newjob.example")
    arxiv_link = next(link for link in links if opened.arxiv_id in link and "/abs/" in link)

    assert post(client, click(link=arxiv_link, message=message)).status_code == 200
    assert Feedback.objects.get().subscriber == reader


@pytest.mark.parametrize(("kind", "code", "details"), [
    ("SpamNotification", 512, "smtp;550 5.7.1 Message rejected: classified as bulk mail by the content filter"),
    ("VirusNotification", 8192, "smtp;554 5.7.0 Message rejected: the antivirus gateway refused its content"),
])
def test_a_receiving_servers_filter_refusing_a_digest_is_a_soft_bounce_not_a_complaint(client, kind, code, details):
    """Postmark reports a bounce whose server says its filter refused the message's
    content as Type SpamNotification or VirusNotification; anymail calls the first
    "complained" and the second "bounced". The reader reported nothing and the
    address works: it was suppressed for good as a spam complaint (no editor may
    lift one, and it counted in the complaint rate), or as a hard bounce. It is a
    soft bounce: three in 30 days suppress it, for a reason an editor can lift."""
    from newsletter.dashboard import sends_per_day

    reader = SubscriberFactory(email="filtered@example.com")
    payload = bounce(reader.email, kind="SoftBounce", delivery=delivery_for(reader),
                     at=timezone.now().isoformat()) | {
        "Type": kind, "TypeCode": code, "Name": kind, "Details": details, "Inactive": False}

    assert post(client, payload).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not Suppression.objects.exists()
    assert DeliveryEvent.objects.get().event_type == SOFT_BOUNCED
    sends = sends_per_day(days=[timezone.localdate()])
    assert (sends["Bounced"], sends["Complained"]) == ([0], [0])


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_soft_bounces_arriving_at_once_are_both_counted(monkeypatch):
    """The ESP posts two soft bounces of one address at once (its backlog after our
    downtime, two web workers): each counted the bounces before it and itself, not
    the other's, still uncommitted. With one earlier, each counted two of three,
    and the address that bounced three times was mailed on."""
    import contextlib
    import threading

    from django.db import connections
    from django.test import Client

    from newsletter import webhooks as hooks

    reader = SubscriberFactory(email="full.inbox@example.com")
    deliveries = [delivery_for(reader, message_id=f"m-{n}", day=20 + n) for n in range(SOFT_BOUNCE_THRESHOLD)]

    def soft_bounce(n: int) -> int:
        return post(Client(), bounce(reader.email, kind="SoftBounce", delivery=deliveries[n], event_id=n + 1,
                                     message_id=f"m-{n}", at=f"2025-11-{20 + n}T07:00:00Z")).status_code

    assert soft_bounce(0) == 200
    # The two that come at once each wait for the other before counting, as long as
    # the other can get there (a few seconds).
    both = threading.Barrier(2, timeout=3)
    counted = hooks.soft_bounces_recent

    def at_once(**kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait()
        return counted(**kwargs)

    monkeypatch.setattr(hooks, "soft_bounces_recent", at_once)
    statuses = []

    def worker(n: int) -> None:
        try:
            statuses.append(soft_bounce(n))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, SOFT_BOUNCE_THRESHOLD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses == [200] * (SOFT_BOUNCE_THRESHOLD - 1)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.SOFT_BOUNCES


@pytest.mark.parametrize("delivery_id", ["\u00b2", "9" * 5000])
def test_a_delivery_id_in_the_metadata_that_is_no_number_of_ours_is_matched_to_nothing(client, delivery_id):
    """Digits Python will not read as an int: a superscript two ("²".isdigit() is
    true) or more than 4,300 of them. Either was a 500 (ValueError), which the ESP
    retries for days, and the bounce it carried suppressed no one. As any other
    delivery id that is not ours: the event is stored without a delivery, and acts."""
    reader = SubscriberFactory(email="reader@example.com")
    payload = bounce(reader.email, message_id="not-on-the-ledger") | {"Metadata": {"delivery_id": delivery_id}}

    assert post(client, payload).status_code == 200

    assert DeliveryEvent.objects.get().delivery is None
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_an_event_played_back_one_at_a_time_for_an_erased_reader_keeps_nothing_the_esp_said():
    """The local outbox plays an event back one at a time (delivery_event_record), as
    the webhook once did: of an address whose reader erased their data, the event is
    kept for the figures without what the ESP said of them, as a post's events are;
    of another suppressed address (a hard bounce), whole."""
    from anymail.signals import AnymailTrackingEvent

    from newsletter.webhooks import delivery_event_record
    from subscribers.suppression import address_suppress

    address_suppress(email="erased@example.com", reason=Suppression.Reason.DELETED)
    address_suppress(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    for n, email in enumerate(("erased@example.com", "bounced@example.com")):
        delivery_event_record(event=AnymailTrackingEvent(
            event_type="opened", event_id=f"played-{n}", timestamp=timezone.now(), recipient=email,
            esp_event={"browser": "Firefox"}), esp_name="Outbox")

    payloads = dict(DeliveryEvent.objects.values_list("recipient_hash", "payload"))
    assert payloads == {email_hash("erased@example.com"): {}, email_hash("bounced@example.com"): {"browser": "Firefox"}}


def test_a_long_answer_of_a_receiving_server_is_kept_for_the_editor_up_to_2000_characters():
    """What the receiving server answered is the editor's reason for a bounce; a long
    one (a provider's policy text, 1,200 characters) is kept whole, and one past
    2,000 characters is cut there, never refused."""
    from anymail.signals import AnymailTrackingEvent

    from newsletter.webhooks import delivery_events_record

    answers = {"long": "550 5.7.1 " + "policy " * 170, "longer": "550 5.7.1 " + "x" * 3000}
    delivery_events_record(events=[AnymailTrackingEvent(
        event_type="deferred", event_id=key, timestamp=timezone.now(), recipient=f"{key}@example.com",
        mta_response=answer, esp_event={}) for key, answer in answers.items()], esp_name="SendGrid")

    stored = dict(DeliveryEvent.objects.values_list("event_id", "description"))
    assert stored["sendgrid:long"] == answers["long"].strip()
    assert stored["sendgrid:longer"] == answers["longer"][:2000]


def test_a_scanners_burst_of_clicks_in_one_post_among_deliveries_teaches_its_reader_nothing():
    """An ESP that posts its events in batches (SendGrid) may carry a scanner's burst
    of clicks in one post, between the morning's "delivered" and "opened" events,
    which are stored together: each click is still judged after the ones before it,
    and the burst teaches nothing; the reader's own click in a later post teaches."""
    from anymail.signals import AnymailTrackingEvent

    from newsletter.webhooks import delivery_events_record

    reader, _opened, message, links = digest_of_two_agents_papers_sent()
    paper_links = [link for link in links if any(p.arxiv_id in link for p in Paper.objects.all())]
    at = dt.datetime(2025, 11, 24, 9, 30, tzinfo=dt.UTC)

    def event(kind: str, n: int, *, link: str | None = None, seconds: int = 0) -> AnymailTrackingEvent:
        return AnymailTrackingEvent(event_type=kind, event_id=f"{kind}-{n}", timestamp=at + dt.timedelta(seconds=seconds),
                                    recipient=message.to[0], metadata=dict(message.metadata), click_url=link,
                                    esp_event={"n": n})

    burst = [event("clicked", n, link=link, seconds=n % 3) for n, link in enumerate((paper_links + links)[:6])]
    delivery_events_record(events=[event("delivered", 0), *burst[:2], event("opened", 0), *burst[2:]],
                           esp_name="SendGrid")
    assert not Feedback.objects.exists()
    assert DeliveryEvent.objects.count() == 8

    delivery_events_record(events=[event("clicked", 9, link=paper_links[0], seconds=3600)], esp_name="SendGrid")
    assert Feedback.objects.get(source="click").subscriber == reader
