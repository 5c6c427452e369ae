"""A batch of digests costs the same SQL queries for 1 reader and for 500, plus one
per message sent (STYLE.md §5, issue #6): what a batch shares is loaded once, each
sent message's row is marked as its call returns (newsletter/delivery.py, ledger
rule 2: a Redis restart must not lose what was sent), the other outcomes are
written in one statement. The readers are the benchmark's varied audience (topics,
own keywords, exclusions, weekly readers, feedback, a suppressed address)."""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsletter import benchmark
from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.models import Delivery, Edition
from subscribers.models import Subscriber

# The claim (a savepoint, SELECT ... FOR UPDATE, UPDATE, release), the deliveries with
# their readers and editions, the readers' topics, suppressions, ranking's 5 loads (the active
# topics' vectors among them, for "closest to your topics" and feedback):
# newsletter/delivery.py, digest_send_batch.
BATCH_QUERIES = 12
# Then one UPDATE per message sent, and the one-statement write of the other
# outcomes (skipped, failed, back to pending) when the batch has any.
OTHER_OUTCOMES_WRITE = 1


@pytest.fixture
def audience(db, settings):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    benchmark.bench_papers_create(count=30)
    benchmark.bench_audience_create(count=501, progress=lambda line: None)
    edition = Edition.objects.get(date=benchmark.BENCH_DAY)
    ids = list(Subscriber.objects.order_by("id").values_list("id", flat=True))
    return deliveries_create(edition=edition, subscriber_ids=ids, now=benchmark.BENCH_NOW)


def _expected_queries(outcome) -> int:
    others = outcome.failed or outcome.skipped or outcome.retry
    return BATCH_QUERIES + len(outcome.sent) + (OTHER_OUTCOMES_WRITE if others else 0)


@pytest.mark.django_db
def test_a_batch_of_1_and_a_batch_of_500_cost_the_same_queries_plus_one_per_message_sent(audience):
    first, rest = audience[:1], audience[1:]
    with CaptureQueriesContext(connection) as one_queries:
        one = digest_send_batch(delivery_ids=first, now=benchmark.BENCH_NOW)
    with CaptureQueriesContext(connection) as many_queries:
        many = digest_send_batch(delivery_ids=rest, now=benchmark.BENCH_NOW)
    assert len(one.sent) + len(one.skipped) == 1
    assert len(many.sent) + len(many.skipped) == 500
    assert len(one_queries) == _expected_queries(one)
    assert len(many_queries) == _expected_queries(many)
    # The per-message writes are UPDATEs of one row by primary key, nothing else.
    sent_writes = [q["sql"] for q in many_queries.captured_queries
                   if q["sql"].startswith("UPDATE") and "'sent'" in q["sql"]]
    assert len(sent_writes) == len(many.sent)
    # Nearly everyone got a digest, one email each; the ledger says so.
    assert len(many.sent) > 400
    assert len(mail.outbox) == len(one.sent) + len(many.sent)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(mail.outbox)


@pytest.mark.django_db
def test_the_ledger_writes_record_each_rows_own_outcome(audience):
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
