"""The fault matrix of sending (issue #7): real Celery workers on real Redis and
PostgreSQL, anymail's real Postmark backend talking HTTP to a fake Postmark that
fails on cue. After each fault: every due reader has exactly one sent delivery and
exactly one message at the ESP, and nobody who left was mailed
(tests/chaos/conftest.py, Chaos.check). `make chaos` prints the table."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from newsletter.models import Delivery
from subscribers.models import Subscriber, Suppression
from subscribers.suppression import email_hash
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

READERS = 12


def _seed(readers: int = READERS) -> tuple[dt.datetime, list[Subscriber], object]:
    """Today's papers and readers due right now (weekly readers of today's weekday
    at this UTC hour, so the case runs on any day)."""
    now = timezone.now()
    if now.minute == 59 and now.second > 30:
        # A dispatch by a real beat tick must fall in the same hour as the readers'.
        time.sleep(61 - now.second)
        now = timezone.now()
    topic = TopicFactory(name="Robustness")
    for n in range(3):
        PaperTopicFactory(paper=PaperFactory(trending_date=now.date(), upvotes=90 - n), topic=topic)
    people = []
    for _ in range(readers):
        reader = SubscriberFactory(
            frequency=Subscriber.Frequency.WEEKLY, weekday=now.weekday(),
            delivery_hour=now.hour, time_zone="UTC",
        )
        reader.topics.add(topic)
        people.append(reader)
    return now, people, topic


def _emails(readers) -> list[str]:
    return [r.email for r in readers]


def test_worker_killed_mid_batch_then_restarted(chaos, esp):
    now, readers, _ = _seed()
    esp.latency = 0.3
    chaos.start_worker("first")
    chaos.dispatch(now)
    # Two messages taken, the third in transit: the kill lands mid-batch.
    assert esp.wait_for(lambda e: sum(e.accepted.values()) >= 2 and e.in_transit, timeout=60), chaos.logs()
    chaos.kill_worker("first")
    esp.latency = 0.02
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).exists()
    chaos.start_worker("second")
    chaos.sweep()  # the next dispatcher tick, once the dead worker's claims are stale
    chaos.settle(due=_emails(readers))
    chaos.check(due=_emails(readers))


def test_two_dispatchers_and_two_beat_ticks_at_once(chaos, esp):
    now, readers, _ = _seed()
    esp.latency = 0.05
    chaos.start_worker("one")
    chaos.start_worker("two")
    # Two beat ticks: two dispatch tasks the two workers run at the same moment...
    chaos.send_task("newsletter.tasks.digests_dispatch")
    chaos.send_task("newsletter.tasks.digests_dispatch")
    # ...and two dispatcher processes racing them.
    racing = [chaos.dispatch_started(now), chaos.dispatch_started(now)]
    for proc in racing:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    chaos.settle(due=_emails(readers))
    chaos.check(due=_emails(readers))


@pytest.mark.parametrize(
    "burst",
    [
        pytest.param([("status", 503)] * 3, id="esp_503_burst"),
        pytest.param([("hang", 1.5)] * 2, id="esp_timeout_burst"),
        pytest.param([("status", 429)] * 3 + [("ok", 0)] + [("status", 429)] * 2,
                     id="esp_429_bursts"),
    ],
)
def test_esp_fails_in_bursts_then_recovers(chaos, esp, burst):
    now, readers, _ = _seed()
    esp.fail_next(*burst)
    esp.latency = 0.02
    chaos.start_worker("worker")
    chaos.dispatch(now)
    chaos.settle(due=_emails(readers))
    row = chaos.check(due=_emails(readers))
    assert row["accepted"] == READERS
    assert sum(esp.received.values()) > READERS  # the failures really happened


def test_esp_rejects_some_addresses_for_good(chaos, esp):
    now, readers, _ = _seed()
    inactive, invalid = readers[1], readers[6]
    esp.reject = {inactive.email: 406, invalid.email: 300}
    esp.latency = 0.02
    chaos.start_worker("worker")
    chaos.dispatch(now)
    due = [r.email for r in readers if r not in (inactive, invalid)]
    chaos.settle(due=_emails(readers))
    chaos.check(due=due, refused=[inactive.email, invalid.email])
    reasons = Delivery.objects.filter(status=Delivery.Status.FAILED).values_list("error", flat=True)
    assert all("Refused" in reason or "refused" in reason for reason in reasons), list(reasons)


def test_redis_restarted_during_a_send(chaos, esp, own_redis):
    now, readers, _ = _seed()
    esp.latency = 0.25
    chaos.start_worker("worker")
    chaos.dispatch(now)
    assert esp.wait_for(lambda e: sum(e.accepted.values()) >= 3, timeout=60), chaos.logs()
    own_redis.stop()  # broker and journal gone, queued batches with them
    time.sleep(0.5)
    own_redis.start()
    esp.latency = 0.02
    chaos.sweep()  # the next dispatcher tick re-queues what the lost broker held
    chaos.settle(due=_emails(readers))
    chaos.check(due=_emails(readers))


def test_database_connection_dropped_during_a_batch(chaos, esp):
    from django.db import connection

    now, readers, _ = _seed()
    esp.latency = 0.25
    chaos.start_worker("worker")
    chaos.dispatch(now)
    assert esp.wait_for(lambda e: sum(e.accepted.values()) >= 2, timeout=60), chaos.logs()
    with connection.cursor() as cursor:  # a separate connection kills the worker's
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    esp.latency = 0.02
    chaos.wait(lambda: esp.quiet_for() > 1.0, "the interrupted batch to end")
    chaos.sweep()
    chaos.settle(due=_emails(readers))
    chaos.check(due=_emails(readers))


def test_readers_subscribe_leave_and_change_topics_during_the_send(chaos, esp):
    from subscribers import services

    now, readers, topic = _seed()
    other_topic = TopicFactory(name="Other things")
    PaperTopicFactory(paper=PaperFactory(trending_date=now.date(), upvotes=5), topic=other_topic)
    esp.latency = 0.3
    chaos.start_worker("worker")
    chaos.dispatch(now)
    assert esp.wait_for(lambda e: sum(e.accepted.values()) >= 1, timeout=60), chaos.logs()
    # Batches of 4 in ledger order: the last batch is still queued while the first sends.
    last_batch = list(Delivery.objects.order_by("-id").values_list("subscriber_id", flat=True)[:3])
    leaver, suppressed, changer = (Subscriber.objects.get(pk=pk) for pk in last_batch)
    origin = {"ip": "203.0.113.9", "user_agent": "chaos"}
    services.subscriber_unsubscribe(subscriber=leaver, **origin)
    Suppression.objects.create(email_hash=email_hash(suppressed.email), reason="bounced")
    services.subscriber_preferences_update(subscriber=changer, topics=[other_topic], **origin)
    services.subscriber_subscribe(
        email="newcomer@example.org", topics=[topic], frequency=Subscriber.Frequency.WEEKLY,
        weekday=now.weekday(), delivery_hour=now.hour, time_zone="UTC", **origin,
    )
    newcomer = Subscriber.objects.get(email="newcomer@example.org")
    services.subscriber_confirm(subscriber=newcomer, **origin)
    esp.latency = 0.02
    chaos.dispatch(now)  # the next tick finds the newcomer
    due = [r.email for r in readers if r not in (leaver, suppressed)] + [newcomer.email]
    chaos.settle(due=due)
    chaos.check(due=due, left=[leaver.email, suppressed.email])
