"""A batch of digests costs the same SQL queries for 1 reader and for 500
(STYLE.md §5, issue #6): what a batch shares is loaded once, the ledger is written
in one statement. The readers are the benchmark's varied audience (topics, own
keywords, exclusions, weekly readers, feedback, a suppressed address)."""

import pytest
from django.core import mail
from django.db import connection

from newsletter import benchmark
from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.models import Delivery, Edition
from subscribers.models import Subscriber

# The claim (a savepoint, SELECT ... FOR UPDATE, UPDATE, release), the deliveries with
# their readers (their zone and delivery hour included: the footer's schedule) and editions, the readers' topics, suppressions, ranking's 5 loads (the active
# topics' vectors among them, for "closest to your topics" and feedback),
# the one-statement ledger write: newsletter/delivery.py, digest_send_batch.
BATCH_QUERIES = 13


@pytest.fixture
def audience(db, settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    benchmark.bench_papers_create(count=30)
    benchmark.bench_audience_create(count=501, progress=lambda line: None)
    edition = Edition.objects.get(date=benchmark.BENCH_DAY)
    ids = list(Subscriber.objects.order_by("id").values_list("id", flat=True))
    return deliveries_create(edition=edition, subscriber_ids=ids, now=benchmark.BENCH_NOW)


@pytest.mark.django_db
def test_a_batch_of_1_and_a_batch_of_500_cost_the_same_queries(audience, django_assert_num_queries):
    first, rest = audience[:1], audience[1:]
    with django_assert_num_queries(BATCH_QUERIES):
        one = digest_send_batch(delivery_ids=first, now=benchmark.BENCH_NOW)
    with django_assert_num_queries(BATCH_QUERIES):
        many = digest_send_batch(delivery_ids=rest, now=benchmark.BENCH_NOW)
    assert len(one.sent) + len(one.skipped) == 1
    assert len(many.sent) + len(many.skipped) == 500
    # Nearly everyone got a digest, one email each; the ledger says so.
    assert len(many.sent) > 400
    assert len(mail.outbox) == len(one.sent) + len(many.sent)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(mail.outbox)
    # Each says when the next comes in the reader's own zone, within the same queries.
    readers = {s.email: s for s in Subscriber.objects.all()}
    for message in mail.outbox:
        reader = readers[message.to[0]]
        assert f"Your schedule: {reader.schedule(benchmark.BENCH_DAY)}." in message.body
    assert len({readers[m.to[0]].time_zone for m in mail.outbox}) > 1


@pytest.mark.django_db
def test_the_one_statement_ledger_write_records_each_rows_own_outcome(audience):
    outcome = digest_send_batch(delivery_ids=audience[:50], now=benchmark.BENCH_NOW)
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=audience[:50])}
    for pk in outcome.sent:
        row = rows[pk]
        assert row.status == Delivery.Status.SENT and row.sent_at == benchmark.BENCH_NOW
        assert row.provider_message_id and row.paper_ids and row.attempts == 1
        assert row.claimed_at == benchmark.BENCH_NOW and row.error == ""
    assert len({rows[pk].provider_message_id for pk in outcome.sent}) == len(outcome.sent)
    for pk in outcome.skipped:
        assert rows[pk].status == Delivery.Status.SKIPPED and rows[pk].error
    untouched = Delivery.objects.filter(pk__in=audience[50:])
    assert set(untouched.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    assert connection.vendor in {"postgresql", "sqlite"}
