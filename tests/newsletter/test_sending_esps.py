"""The operator switches ESP (docs/esp-switch.md, README "Email provider"): digests,
an editor's test and the readers' journey emails go out through anymail's real
backend for Mailgun, Brevo and SendGrid, over HTTP, to a local server speaking that
ESP's send API (tests/chaos/fake_esp.py). What reaches the ESP is what a reader and
the ESP's webhook need; what the ESP answers is read as it means (newsletter/sending.py,
mail/errors.py), as the same answers of Postmark are (tests/chaos, tests/mail)."""

import datetime as dt
import json
from html import unescape

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse

from mail import esp
from mail.building import list_id
from newsletter import delivery
from newsletter.delivery import deliveries_resolve_stale, digests_dispatch
from newsletter.models import Delivery, DeliveryEvent
from subscribers.models import Subscriber
from subscribers.services import EMAIL_CONFIRM, EMAIL_EXPORT
from subscribers.tasks import subscriber_email_send
from tests import webhooks
from tests.conftest import fake_esp_serving
from tests.factories import SubscriberFactory, TopicFactory, export_data
from tests.newsletter import test_delivery
from tests.newsletter.test_delivery import NOW, run_with_retries
from tests.newsletter.test_webhooks_esps import ESPS as EVENT_BODIES
from tests.newsletter.test_webhooks_esps import READER

pytestmark = [
    pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret"),
    # anymail 15 warns that it no longer supports SendGrid officially (README).
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

OTHER = "other@example.com"
# Eight papers of 24 November 2025 on one topic, "Continual learning" (a fixture).
edition = test_delivery.edition


@pytest.fixture(params=["mailgun", "brevo", "sendgrid"])
def esp_api(request, settings):
    """EMAIL_BACKEND is this ESP's anymail backend, ANYMAIL its settings as README
    gives them, its API a local fake that keeps what it took."""
    with fake_esp_serving(settings, request.param) as fake:
        yield fake


def _readers(*emails: str) -> list[Subscriber]:
    """Readers of the edition's topic, due at NOW."""
    topic = TopicFactory._meta.model.objects.get(name="Continual learning")
    readers = []
    for email in emails:
        reader = SubscriberFactory(email=email, delivery_hour=7, time_zone="UTC")
        reader.topics.add(topic)
        readers.append(reader)
    return readers


def _event(fake, kind: str, sent, *, event_id: str, metadata: bool = True) -> str:
    """The ESP's tracking event of `kind` about the message it took (`sent`), with
    what of the message the ESP posts back (FakeEsp's api.echo), as JSON."""
    body, _ = EVENT_BODIES[fake.api.backend][0](kind, delivery_id="", event_id=event_id)
    event = {"mailgun": lambda: body["event-data"], "sendgrid": lambda: body[0]}.get(fake.api.backend, lambda: body)()
    event.pop("delivery_id", None)  # SendGrid's custom arg, given again by the echo
    event.update(fake.api.echo(sent, metadata=metadata))
    return json.dumps(body)


def test_a_digest_reaches_the_esp_whole_once_per_reader_and_the_esps_events_find_it(
    esp_api, edition, client, admin_client, settings, django_capture_on_commit_callbacks,
):
    reader, other = _readers(READER, OTHER)

    # Beat's dispatcher, and again a run later (a double tick): one digest each.
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW + dt.timedelta(minutes=15)) == 0

    assert dict(esp_api.accepted) == {READER: 1, OTHER: 1}
    unsubscribe = {}
    for who in (reader, other):
        [sent] = esp_api.sent_to(who.email)
        row = Delivery.objects.get(subscriber=who, edition=edition)
        assert row.status == Delivery.Status.SENT
        assert sent.subject.startswith("Daily Papers Digest, 24 Nov 2025: Paper number 0")
        assert "Paper number 0" in sent.text and "Paper number 0" in sent.html
        assert sent.html.lstrip().lower().startswith("<!doctype html")
        assert sent.header("List-Id") == list_id()
        assert sent.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        unsubscribe[who.email] = sent.header("List-Unsubscribe")
        assert sent.metadata == {"delivery_id": str(row.pk), "edition": "2025-11-24"}
        assert sent.tags == ["digest"]
        # The ledger keeps the id the ESP answered with; the admin shows it and finds by it.
        assert row.provider_message_id and row.provider_message_id == sent.message_id
        page = unescape(admin_client.get(reverse("admin:newsletter_delivery_change", args=[row.pk])).content.decode())
        assert row.provider_message_id in page
        found = admin_client.get(reverse("admin:newsletter_delivery_changelist"), {"q": row.provider_message_id})
        assert [d.pk for d in found.context["cl"].result_list] == [row.pk]

    # Each reader's own one-click unsubscribe (a mail client's POST to the header's URL).
    assert unsubscribe[READER] != unsubscribe[OTHER]
    link = unsubscribe[OTHER].strip("<>").removeprefix(settings.SITE_URL)
    assert client.post(link, {"List-Unsubscribe": "One-Click"}).status_code == 200
    other.refresh_from_db()
    assert other.status == Subscriber.Status.UNSUBSCRIBED

    # The ESP's events carry back what it was sent: the hard bounce finds its digest
    # by our metadata and suppresses the reader; an event that lost the metadata
    # finds it by the message id the ledger kept.
    [sent] = esp_api.sent_to(READER)
    url = webhooks.esp_route(settings, esp_api.api.backend)
    row = Delivery.objects.get(subscriber=reader)
    for kind, event_id, metadata in (("delivered", "a1b2c3d4e5f60101", False), ("hard", "a1b2c3d4e5f60102", True)):
        body = _event(esp_api, kind, sent, event_id=event_id, metadata=metadata)
        response = client.post(url, body, content_type="application/json", **webhooks.auth())
        assert response.status_code == 200, response.content
    assert DeliveryEvent.objects.filter(delivery=row).count() == 2
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


# The ESP's answers that mean "later", as the fake gives them.
ANSWERS = {
    "429": ("status", 429),
    "408": ("status", 408),  # the ESP's server timed out waiting for the request
    "503": ("status", 503),
    "500": ("status", 500),
    "timeout": ("hang", 2.0),
}


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_esps_answers_that_mean_later_are_tried_again_and_each_reader_gets_one_digest(
    esp_api, edition, settings, monkeypatch, answer,
):
    """429 is absorbed by the shared rate (it halves, the call goes again after the
    next slot); a 5xx or no answer in time stops the batch, which the task retries."""
    settings.ESP_MAX_PER_SECOND = 100
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.5}
    esp.esp_connection_close()  # the next call reads the timeout
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.1)
    readers = _readers(READER, OTHER)
    ids = delivery.deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=NOW)
    esp_api.fail_next(ANSWERS[answer])

    retries = run_with_retries(ids)

    assert dict(esp_api.accepted) == {READER: 1, OTHER: 1}
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    if answer == "429":
        assert retries == 0 and esp_api.throttled == 1
        assert float(redis.Redis.from_url(django_settings.REDIS_URL).hget(esp._keys()[0], "rate")) < 100
    else:
        assert retries == 1  # the batch's task, once, with its backoff
        assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [1, 2]


# Each ESP's own words for an address it refuses (EspApi.refused).
REFUSALS = {"mailgun": "not a valid address", "brevo": "email is not valid in to",
            "sendgrid": "Does not contain a valid address"}


def test_an_address_the_esp_refuses_fails_that_digest_once_and_the_others_go(esp_api, edition):
    refused, other = _readers(READER, OTHER)
    ids = delivery.deliveries_create(edition=edition, subscriber_ids=[refused.id, other.id], now=NOW)
    esp_api.reject[READER] = 300

    assert run_with_retries(ids) == 0

    failed = Delivery.objects.get(subscriber=refused)
    assert failed.status == Delivery.Status.FAILED and failed.attempts == 1
    assert "400" in failed.error and REFUSALS[esp_api.api.backend] in failed.error
    assert READER not in failed.error  # the ledger masks addresses
    assert Delivery.objects.get(subscriber=other).status == Delivery.Status.SENT
    # Nothing takes it up again: not the sweep, not the next runs.
    deliveries_resolve_stale(now=NOW + dt.timedelta(hours=2))
    digests_dispatch(now=NOW + dt.timedelta(minutes=15))
    assert esp_api.received[READER] == 1 and esp_api.accepted == {OTHER: 1}


def test_an_editors_test_send_and_a_confirmation_go_through(esp_api, edition, editor_client):
    response = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "test-send"]), follow=True)
    [shown] = [str(m) for m in response.context["messages"]]
    assert shown.startswith("Test sent to editor@example.org")
    [test] = esp_api.sent_to("editor@example.org")
    assert test.subject.startswith("[Test]") and test.tags == ["digest-test"]
    assert "Paper number 0" in test.text and "Paper number 0" in test.html
    assert test.header("List-Id") == list_id() and test.header("List-Unsubscribe") is None

    reader = SubscriberFactory(email="new@example.com", status=Subscriber.Status.PENDING)
    subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    [confirm] = esp_api.sent_to("new@example.com")
    assert "/confirm/" in confirm.text and "/confirm/" in confirm.html
    assert confirm.tags == [EMAIL_CONFIRM]


def test_a_readers_data_export_reaches_them_through_each_esp(esp_api, caplog):
    """"Email me my data" attached a .json file, an extension Brevo's API refuses
    (its attachments take a listed set, json not among them): with Brevo the task
    logged "refused by the ESP, not retried" and the reader never got their data."""
    reader = SubscriberFactory(email="me@example.com")
    subscriber_email_send.apply(args=(reader.id, EMAIL_EXPORT), throw=True)

    [export] = esp_api.sent_to("me@example.com")
    [(name, content)] = export.attachments.items()
    assert name.endswith(".zip") and export_data(content)["email"] == "me@example.com"
    assert name in export.text and name in export.html  # the email names the file it carries
    assert "not retried" not in caplog.text


@pytest.mark.parametrize("answer", ["503", "timeout", "refused"])
def test_a_confirmation_the_esp_cannot_take_now_is_retried_and_one_it_refuses_is_not(esp_api, settings, answer):
    from celery.exceptions import Retry

    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.5}
    esp.esp_connection_close()  # the next call reads the timeout
    reader = SubscriberFactory(email="new@example.com", status=Subscriber.Status.PENDING)
    if answer == "refused":
        esp_api.reject["new@example.com"] = 300
        assert subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True).successful()
        assert esp_api.received["new@example.com"] == 1 and not esp_api.accepted  # not retried
        return
    esp_api.fail_next(ANSWERS[answer])
    with pytest.raises(Retry):
        subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)  # the retry
    assert esp_api.accepted == {"new@example.com": 1}


def test_a_confirmation_sent_while_redis_is_away_is_retried_not_dropped(esp_api, settings, monkeypatch):
    """The ESP's shared rate lives in Redis (mail/esp.py): with Redis away the email
    cannot be paced, and the task tries again later; it was logged as "refused by
    the ESP" and the reader never got their confirmation."""
    from celery.exceptions import Retry

    from tests.own_redis import free_port

    settings.ESP_MAX_PER_SECOND = 100  # paced: each call takes a slot in Redis
    reader = SubscriberFactory(email="new@example.com", status=Subscriber.Status.PENDING)
    here = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    monkeypatch.setattr(esp, "_client", None)
    monkeypatch.setattr(esp, "_scripts", {})
    try:
        with pytest.raises(Retry):
            subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    finally:
        settings.REDIS_URL = here  # back
        esp._client, esp._scripts = None, {}
    assert esp_api.received == {}

    subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)  # the retry
    assert esp_api.accepted == {"new@example.com": 1}
