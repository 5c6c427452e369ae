"""The emails one person waits for (confirmation, already subscribed, goodbye, an
editor's test send) go through the same provider path as the digests (mail/esp.py):
the shared rate and in-flight cap every worker keeps, and a 429 ridden out instead
of failing. Against anymail's real Postmark backend and a local fake of its API."""

import re
import time

import pytest
import redis
from django.conf import settings as django_settings

from mail import building, esp
from subscribers.models import Subscriber
from subscribers.services import (
    EMAIL_ALREADY_SUBSCRIBED,
    EMAIL_CONFIRM,
    subscriber_journey_email_send,
)
from subscribers.tasks import subscriber_email_send
from tests.conftest import REDIS_NOWHERE
from tests.factories import SubscriberFactory


def test_a_confirmation_email_rides_out_a_429_instead_of_failing(db, postmark, settings, monkeypatch):
    settings.ESP_MAX_PER_SECOND = 100
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.1)
    reader = SubscriberFactory(status=Subscriber.Status.PENDING, email="new@example.com")
    postmark.fail_next(("status", 429))

    message_id = subscriber_journey_email_send(subscriber_id=reader.id, kind=EMAIL_CONFIRM)

    assert message_id  # Postmark's id of the message it took
    assert postmark.throttled == 1
    assert postmark.received["new@example.com"] == 2
    assert postmark.accepted["new@example.com"] == 1  # one email in the inbox
    # The 429 slowed every worker down: the shared rate was halved (it climbs back).
    assert float(redis.Redis.from_url(django_settings.REDIS_URL).hget(esp._keys()[0], "rate")) < 100


def test_journey_emails_keep_to_the_rate_the_digests_share(db, postmark, settings):
    settings.ESP_MAX_PER_SECOND = 4
    readers = [SubscriberFactory(email=f"r{n}@example.com") for n in range(7)]
    started = time.monotonic()
    for reader in readers:
        subscriber_journey_email_send(subscriber_id=reader.id, kind=EMAIL_ALREADY_SUBSCRIBED)
    assert postmark.total_accepted() == 7
    assert postmark.max_per_second() <= 4
    assert time.monotonic() - started >= 1.0  # 7 calls at 4 a second


def test_a_429_that_lasts_fails_the_email_after_a_short_wait(db, postmark, monkeypatch):
    from anymail.exceptions import AnymailAPIError

    monkeypatch.setattr(building, "TRANSACTIONAL_THROTTLE_SECONDS", 0.5)
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.1)
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    postmark.storm(30)
    started = time.monotonic()
    with pytest.raises(AnymailAPIError) as raised:
        subscriber_journey_email_send(subscriber_id=reader.id, kind=EMAIL_CONFIRM)
    assert raised.value.status_code == 429
    assert time.monotonic() - started < 5  # not the digests' minute
    assert postmark.total_accepted() == 0


def test_the_confirmation_task_retries_when_the_shared_limits_cannot_be_read(db, postmark, settings, monkeypatch):
    # Redis (where the shared rate lives) is away: the email waits for a retry with
    # backoff, it is not lost and not sent around the limits.
    from celery.exceptions import Retry

    settings.ESP_MAX_IN_FLIGHT = 8
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    with monkeypatch.context() as patch:
        patch.setattr(esp, "_client", None)
        patch.setattr(esp, "_scripts", {})
        patch.setattr(django_settings, "REDIS_URL", REDIS_NOWHERE)
        with pytest.raises(Retry):
            subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    assert postmark.total_accepted() == 0


@pytest.mark.parametrize(("retries", "longest"), [(3, 240), (5, 600)])
def test_an_outage_that_lasts_is_tried_less_and_less_often_up_to_ten_minutes(db, postmark, monkeypatch, caplog,
                                                                               retries, longest):
    """Each failed try doubles the longest wait before the next (30 s, 60, 120, 240,
    ...), up to 10 minutes: an ESP away for an hour is not asked every 30 s, and a
    reader's confirmation is never left an hour behind. The jitter is held at its
    longest here (Celery draws the wait with random.randrange)."""
    import random

    from celery.exceptions import Retry

    monkeypatch.setattr(random, "randrange", lambda stop: stop - 1)
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    postmark.fail_next(("status", 503))
    with pytest.raises(Retry) as retry:
        subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), retries=retries, throw=True)
    assert retry.value.when == longest
    assert f"try {retries + 2} of 7 in {longest} s" in caplog.text


def test_the_confirmation_task_does_not_retry_an_address_the_esp_refuses(db, postmark, caplog):
    """A 4xx other than 429 (an invalid or inactive address) would be refused again:
    one call, a logged reason, no retries for the next hour."""
    reader = SubscriberFactory(status=Subscriber.Status.PENDING, email="refused@example.com")
    postmark.fail_next(("status", 422))
    result = subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    assert result.successful()
    assert postmark.received["refused@example.com"] == 1
    assert postmark.total_accepted() == 0
    assert "confirm email to subscriber" in caplog.text and "not retried" in caplog.text


def test_the_log_of_a_confirmation_the_esp_refuses_in_words_naming_the_reader_masks_the_address(db, postmark, caplog):
    """An ESP's refusal may name the recipient (Amazon SES in its sandbox: "Email
    address is not verified. The following identities failed the check: ..."): the
    operator reading the log sees the ESP's words with the address masked, as the
    logs hold no address."""
    reader = SubscriberFactory(status=Subscriber.Status.PENDING, email="jane.doe@example.com")
    postmark.fail_next(("status", 400, "Email address is not verified: jane.doe@example.com"))
    assert subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True).successful()
    assert "not retried" in caplog.text and "Email address is not verified: j…@example.com" in caplog.text
    assert "jane.doe" not in caplog.text


def test_the_confirmation_task_retries_an_esp_outage_with_backoff(db, postmark, caplog):
    from celery.exceptions import Retry

    reader = SubscriberFactory(status=Subscriber.Status.PENDING, email="later@example.com")
    postmark.fail_next(("status", 503))
    with pytest.raises(Retry) as retry:
        subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)
    # The log says what the ESP answered (Celery's line named only the class), never the address.
    assert re.search(r"confirm email to subscriber \d+ not sent \(.*503.*\); try 2 of 7 in \d+ s", caplog.text, re.DOTALL)
    assert "later@example.com" not in caplog.text
    # The first of Celery's backoff steps (30 s, full jitter), not a hot loop.
    assert 0 <= retry.value.when <= 30
    assert postmark.total_accepted() == 0
    subscriber_email_send.apply(args=(reader.id, EMAIL_CONFIRM), throw=True)  # the retry
    assert postmark.accepted["later@example.com"] == 1
