"""A batch of digests costs the same SQL queries for 1 reader and for 500, plus at
most one per message sent (STYLE.md §5): what a batch shares is loaded once, the
rows of the messages sent are marked as their provider calls return, those
returned within 50 ms of each other in one statement (newsletter/delivery.py,
ledger rule 2: a Redis restart must not lose what was sent), the other outcomes
are written in one statement. The readers are varied (topics or none, own
keywords, exclusions, weekly readers, code-only, skip-empty, feedback, a
suppressed address), so every branch of ranking and rendering runs inside the pinned count."""

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.editions import edition_assemble
from newsletter.ingest import papers_import
from newsletter.models import Delivery, Paper, Topic
from subscribers.models import Subscriber
from subscribers.suppression import address_suppress
from tests.factories import FeedbackFactory, SubscriberFactory

SAMPLE = Path(settings.BASE_DIR) / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
DAY = dt.date(2025, 11, 24)
NOW = dt.datetime(2025, 11, 24, 12, 0, tzinfo=dt.UTC)

# What a batch runs, whatever its size (newsletter/delivery.py, digest_send_batch):
CLAIM = 4  # savepoint, SELECT ... FOR UPDATE SKIP LOCKED, UPDATE to sending, release
# The deliveries with their readers (zone, hour and weekday included: the footer
# says when the next digest comes) and editions; the readers' topic ids.
LOAD = 2
SUPPRESSED = 1  # which of the batch's addresses are suppressed (subscribers/suppression.py)
RANKING = 5  # ranking.ranking_data_load: tests/newsletter/test_ranking.py pins it alone
BATCH_QUERIES = CLAIM + LOAD + SUPPRESSED + RANKING
# Then the "marked sent" UPDATEs (deliveries_mark_sent: the calls collected within
# sending.MARK_SENT_WITHIN of each other in one, so between one and one per message
# sent; how many depends on the machine's speed), and the other outcomes (skipped,
# failed, back to pending) in one UPDATE when there are any.
OTHER_OUTCOMES = 1


@pytest.fixture
def audience(db, settings):
    """501 pending ledger rows for varied readers of a day of 30 sample papers."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    papers_import(items=json.loads(SAMPLE.read_text())[:30], trending_date=DAY, source="test")
    edition = edition_assemble(date=DAY)
    topics = list(Topic.objects.filter(is_active=True).order_by("id"))
    papers = list(Paper.objects.filter(trending_date=DAY).order_by("id"))
    keywords = ["diffusion", "reinforcement learning", "LLM agents", "retrieval", "robotics"]
    readers = Subscriber.objects.bulk_create([
        SubscriberFactory.build(
            frequency=Subscriber.Frequency.WEEKLY if n % 5 == 0 else Subscriber.Frequency.DAILY,
            weekday=DAY.weekday(),
            keywords=keywords[n % len(keywords)] if n % 3 == 0 else "",
            exclude_keywords="survey" if n % 10 == 0 else "",
            only_with_code=n % 12 == 0,
            skip_empty=n % 7 == 0,
            papers_per_digest=[3, 5, 8, 10][n % 4],
            time_zone=ZONES[n % len(ZONES)], delivery_hour=n % 24,
        )
        for n in range(501)
    ])
    Subscriber.topics.through.objects.bulk_create([
        Subscriber.topics.through(subscriber_id=reader.pk, topic_id=topics[(n + k) % len(topics)].pk)
        for n, reader in enumerate(readers) if n % 12 != 1  # every 12th follows everything
        for k in range(1 + n % 3)
    ])
    for n, reader in enumerate(readers[::20]):
        FeedbackFactory(subscriber=reader, paper=papers[n % len(papers)], vote=1 if n % 3 else -1)
    address_suppress(email=readers[25].email, reason="bounced")
    return deliveries_create(edition=edition, subscriber_ids=[r.pk for r in readers], now=NOW)


ZONES = ["UTC", "America/New_York", "Asia/Tokyo", "Europe/Berlin", "Australia/Sydney"]


def _heartbeats(captured) -> int:
    """The lease's renewals: one UPDATE of lease_expires_at alone, due every
    HEARTBEAT_SECONDS of the batch's wall time, so a slow machine adds one to a
    500-reader batch (measured: 17 s at load 20). Time-driven, not per reader."""
    set_clauses = [q["sql"].split(" WHERE ")[0] for q in captured.captured_queries
                   if q["sql"].startswith("UPDATE")]
    return sum('"lease_expires_at"' in c and '"status"' not in c for c in set_clauses)


def sent_writes(captured) -> list[str]:
    """The "marked sent" UPDATEs (deliveries_mark_sent) among captured queries."""
    return [q["sql"] for q in captured.captured_queries
            if q["sql"].startswith("WITH") and "UPDATE" in q["sql"] and rows_marked_sent(q["sql"])]


def rows_marked_sent(sql: str) -> int:
    """How many rows one of the ledger's UPDATEs sets to sent: its status column is an
    array ('{sent,sent}', PostgreSQL) or one VALUES row each ('sent', SQLite)."""
    array = re.search(r"'\{((?:sent,)*sent)\}'", sql)
    return array.group(1).count("sent") if array else sql.count("'sent'")


def _expected_queries(outcome, captured) -> int:
    others = outcome.failed or outcome.skipped or outcome.retry
    marks = len(sent_writes(captured))
    assert (1 if outcome.sent else 0) <= marks <= len(outcome.sent)
    return BATCH_QUERIES + marks + (OTHER_OUTCOMES if others else 0) + _heartbeats(captured)


def test_a_batch_of_1_and_a_batch_of_500_cost_the_same_queries_plus_at_most_one_per_message_sent(
    audience,
):
    first, rest = audience[:1], audience[1:]
    with CaptureQueriesContext(connection) as one_queries:
        one = digest_send_batch(delivery_ids=first, now=NOW)
    with CaptureQueriesContext(connection) as many_queries:
        many = digest_send_batch(delivery_ids=rest, now=NOW)
    assert len(one.sent) + len(one.skipped) == 1
    assert len(many.sent) + len(many.skipped) == 500
    assert len(one_queries) == _expected_queries(one, one_queries)
    assert len(many_queries) == _expected_queries(many, many_queries)
    # Every sent row was marked by a "marked sent" write, none by the end-of-batch one.
    writes = sent_writes(many_queries)
    assert sum(rows_marked_sent(sql) for sql in writes) == len(many.sent)
    # Nearly everyone got a digest, one email each; the ledger says so.
    assert len(many.sent) > 400
    assert len(mail.outbox) == len(one.sent) + len(many.sent)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(mail.outbox)
    # Each says when the next comes in the reader's own zone, within the same queries.
    readers = {s.email: s for s in Subscriber.objects.all()}
    for message in mail.outbox:
        assert f"Your schedule: {readers[message.to[0]].schedule(DAY)}." in message.body
    assert {readers[m.to[0]].time_zone for m in mail.outbox} == set(ZONES)


def test_the_batch_finds_a_suppression_of_another_spelling_of_a_readers_mailbox_in_its_one_query(audience):
    """A reader at a.da+papers@gmail.com, active from before ada@gmail.com complained
    (or before the list kept mailboxes), is skipped by the batch's one suppression
    query: no query per reader, or per spelling."""
    reader = Subscriber.objects.get(deliveries__pk=audience[40])
    Subscriber.objects.filter(pk=reader.pk).update(email="a.da+papers@gmail.com")
    address_suppress(email="ada@gmail.com", reason="complained")
    Subscriber.objects.filter(pk=reader.pk).update(status=Subscriber.Status.ACTIVE)
    with CaptureQueriesContext(connection) as queries:
        outcome = digest_send_batch(delivery_ids=audience[1:], now=NOW)
    assert len(queries) == _expected_queries(outcome, queries)
    assert Delivery.objects.get(pk=audience[40]).status == Delivery.Status.SKIPPED
    assert "a.da+papers@gmail.com" not in {m.to[0] for m in mail.outbox}


def test_the_ledger_writes_record_each_rows_own_outcome(audience):
    outcome = digest_send_batch(delivery_ids=audience[:50], now=NOW)
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=audience[:50])}
    assert outcome.sent and outcome.skipped  # both kinds of write ran
    for pk in outcome.sent:
        row = rows[pk]
        assert row.status == Delivery.Status.SENT and row.sent_at == NOW
        assert row.provider_message_id and row.paper_ids and row.attempts == 1
        assert row.claimed_at == NOW and row.error == ""
    assert len({rows[pk].provider_message_id for pk in outcome.sent}) == len(outcome.sent)
    for pk in outcome.skipped:
        assert rows[pk].status == Delivery.Status.SKIPPED and rows[pk].error
    untouched = Delivery.objects.filter(pk__in=audience[50:])
    assert set(untouched.values_list("status", flat=True)) == {Delivery.Status.PENDING}
