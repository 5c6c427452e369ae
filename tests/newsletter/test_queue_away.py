"""An editor sends an edition now, or retries failed deliveries, while Redis (the
task queue) is away: the ledger rows are written as pending, the editor is told in
words instead of a 500 page, and the rows go out by themselves, once each, when
Redis is back and beat's sweep runs. Against the real Celery producer pointed at a
port where nothing listens (tests/conftest.py, broker_away).

Transactional: the batches are queued when the dispatch's transaction commits,
inside the request, as in production."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from newsletter.curation import CurationError, deliveries_retry_failed
from newsletter.delivery import deliveries_resolve_stale
from newsletter.editions import edition_assemble
from newsletter.models import Delivery
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2025, 11, 24)


@pytest.fixture
def edition():
    topic = TopicFactory(name="Forgetting studies", slug="forgetting-away", keywords="catastrophic forgetting")
    for n in range(3):
        paper = PaperFactory(trending_date=DAY, upvotes=50 - n, title=f"Paper number {n}")
        PaperTopicFactory(paper=paper, topic=topic, score=1.0)
    for n in range(2):
        SubscriberFactory(email=f"reader{n}@example.com").topics.add(topic)
    return edition_assemble(date=DAY)


def _sweep_after_the_lease():
    return deliveries_resolve_stale(now=timezone.now() + dt.timedelta(minutes=3))


def test_send_now_while_the_queue_is_away_tells_the_editor_and_the_sweep_sends_once(
    editor_client, edition, broker_away
):
    response = editor_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "send-now"]),
                                  follow=True)
    assert response.status_code == 200
    (shown,) = [str(m) for m in response.context["messages"]]
    assert shown.startswith("Nothing has gone out yet: the task queue (Redis) cannot be reached.")
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["pending", "pending"]
    assert not mail.outbox

    broker_away()  # Redis is back; beat's sweep runs
    assert _sweep_after_the_lease()["requeued"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["reader0@example.com", "reader1@example.com"]
    assert _sweep_after_the_lease()["requeued"] == 0  # nothing twice
    assert len(mail.outbox) == 2


def test_retrying_failed_rows_while_the_queue_is_away_says_so_and_keeps_them_pending(edition, broker_away):
    reader = SubscriberFactory(email="bounced@example.com")
    row = Delivery.objects.create(edition=edition, subscriber=reader, status=Delivery.Status.FAILED,
                                  error="AnymailAPIError: 503", attempts=5)
    with pytest.raises(CurationError, match="Nothing has gone out yet"):
        deliveries_retry_failed(deliveries=[row])
    row.refresh_from_db()
    assert row.status == Delivery.Status.PENDING and row.attempts == 0
