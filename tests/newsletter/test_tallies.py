"""The editions' figures kept once they are settled (newsletter/tallies.py), as the
editions' list in the admin shows them."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from newsletter import curation, tallies
from newsletter.delivery import deliveries_create
from newsletter.editions import edition_assemble
from newsletter.models import Delivery, Edition, EditionTally
from subscribers.services import subscriber_delete
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory
from tests.locks import rows_locked_elsewhere

FIRST_DAY = dt.date(2025, 11, 3)


def _editions(n: int, *, sent: int = 3, failed: int = 2, after: int = 0) -> list[Edition]:
    """`n` editions gone out, from `after` days after FIRST_DAY, each with `sent`
    digests sent and `failed` failed."""
    topic = TopicFactory()
    editions = []
    for day in range(after, after + n):
        date = FIRST_DAY + dt.timedelta(days=day)
        PaperTopicFactory(paper=PaperFactory(trending_date=date), topic=topic, score=1.0)
        edition = edition_assemble(date=date)
        Edition.objects.filter(pk=edition.pk).update(frozen_at=timezone.now())
        for status in ["sent"] * sent + ["failed"] * failed:
            reader = SubscriberFactory()
            reader.topics.add(topic)
            Delivery.objects.create(subscriber=reader, edition=edition, status=status, error="x" * (status == "failed"))
        editions.append(edition)
    return editions


def _figures(client) -> dict[str, tuple[str, str]]:
    """(sent, failed) of each edition in the editions' list, by its date as listed."""
    html = client.get(reverse("admin:newsletter_edition_changelist")).content.decode()
    rows = {}
    for row in html.split("<tr")[1:]:
        cells = dict(re.findall(r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.DOTALL))
        if "sent_total" in cells:
            date = re.sub(r"<[^>]+>", "", cells["day"]).strip()
            rows[date] = (cells["sent_total"].strip(), cells["failed_total"].strip())
    return rows


def _list_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:newsletter_edition_changelist")).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def test_settled_editions_are_counted_once_then_the_list_reads_no_delivery(admin_client):
    """The list counted each edition's rows at every load (4 to 12 ms an edition at
    84,000 rows: 0.4 to 1.2 s a page of 100, docs/benchmarks.md). The first load
    counts the settled ones once; every load after reads their kept figures and no
    delivery, with as many queries for 1 edition as for 6."""
    _editions(1)
    assert _figures(admin_client) == {"3 Nov 2025": ("3", "2")}
    one = _list_queries(admin_client)
    _editions(5, sent=1, failed=0, after=1)
    assert _figures(admin_client)["8 Nov 2025"] == ("1", "0")  # counted once, kept
    six = _list_queries(admin_client)
    assert len(six) == len(one)
    assert EditionTally.objects.filter(sent__isnull=False).count() == 6
    # Only the list's own query names the ledger (its COALESCE's fallback, not run).
    assert [sql for sql in six if "newsletter_delivery" in sql and "newsletter_editiontally" not in sql] == []


@pytest.mark.postgresql
def test_the_list_query_runs_no_count_for_a_settled_edition(admin_client):
    """EXPLAIN ANALYZE of the list's query: the ledger's counts (its subplans on
    newsletter_delivery) never run for editions whose figures are kept, and run for
    one that is still sending."""
    editions = _editions(3)
    _figures(admin_client)  # the first look keeps them
    page = next(sql for sql in _list_queries(admin_client) if "COALESCE" in sql)

    def delivery_scans() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + page.replace("%", "%%"))
            plan = [row[0] for row in cursor.fetchall()]
        return [line for line in plan if "newsletter_delivery" in line or "delivery_edition_status_idx" in line]

    scans = delivery_scans()
    assert scans and all("never executed" in line for line in scans), scans
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=editions[0], status="pending")
    tallies.edition_tallies_stale(edition_ids=[editions[0].pk])
    assert any("never executed" not in line for line in delivery_scans())


def test_the_figures_stay_right_after_an_editor_retries_the_failed(admin_client, django_capture_on_commit_callbacks):
    """Kept at 3 sent, 2 failed; an editor sends the failed again (Deliveries →
    "Send the failed again"): the list shows the rows as they are at each step,
    never the kept figures of before."""
    (edition,) = _editions(1)
    assert _figures(admin_client) == {"3 Nov 2025": ("3", "2")}
    failed = list(Delivery.objects.filter(edition=edition, status="failed").values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:newsletter_delivery_changelist"),
                          {"action": "retry_failed", "_selected_action": failed})
    assert len(mail.outbox) == 2
    assert _figures(admin_client) == {"3 Nov 2025": ("5", "0")}
    assert EditionTally.objects.get(edition=edition).sent == 5  # settled again: kept again


def test_figures_are_counted_again_while_a_retry_is_under_way(admin_client):
    """Failed rows back to pending (a retry queued, not sent yet): not settled, so
    the list counts them, and keeps nothing until they are sent."""
    (edition,) = _editions(1)
    _figures(admin_client)
    curation.deliveries_retry_failed(deliveries=Delivery.objects.filter(status="failed"))
    assert _figures(admin_client) == {"3 Nov 2025": ("3", "0")}
    assert EditionTally.objects.get(edition=edition).sent is None
    Delivery.objects.filter(edition=edition, status="pending").update(status="sent")  # as the worker marks them
    assert _figures(admin_client) == {"3 Nov 2025": ("5", "0")}


def test_an_erasure_and_new_rows_make_the_kept_figures_stale(admin_client):
    """An erased reader's rows go, and their digests stay counted (tallies.py, the
    rule: as the dashboard's SentDay counts them), when the list counts the rows
    again; a later run's new rows for a settled edition are counted."""
    first, second = _editions(2)
    assert _figures(admin_client)["3 Nov 2025"] == ("3", "2")
    reader = Delivery.objects.filter(edition=first, status="sent").first().subscriber
    subscriber_delete(subscriber=reader)
    assert EditionTally.objects.get(edition=first).sent is None  # stale: counted again
    assert _figures(admin_client) == {"3 Nov 2025": ("3", "2"), "4 Nov 2025": ("3", "2")}
    assert Delivery.objects.filter(edition=first).count() == 4

    newcomer = SubscriberFactory()
    deliveries_create(edition=second, subscriber_ids=[newcomer.pk], now=timezone.now())
    assert EditionTally.objects.get(edition=second).sent is None
    Delivery.objects.filter(edition=second, subscriber=newcomer).update(status="failed")
    assert _figures(admin_client)["4 Nov 2025"] == ("3", "3")


def test_an_erased_readers_digest_stays_counted_while_its_edition_is_still_sending(admin_client):
    """An edition with a digest still to go is counted from its rows at each look:
    a reader erased meanwhile took their row, and their digest still counts."""
    [edition] = _editions(1)
    Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status="pending")
    subscriber_delete(subscriber=Delivery.objects.filter(edition=edition, status="sent").first().subscriber)
    assert Delivery.objects.filter(edition=edition, status="sent").count() == 2
    assert _figures(admin_client)["3 Nov 2025"] == ("3", "2")


def test_a_count_taken_while_the_rows_change_is_not_kept(admin_client, monkeypatch):
    """A retry made between the keeping's count and its write: the count is of the
    rows before it, so the write misses (the generation moved) and the next look
    counts again."""
    (edition,) = _editions(1)
    real_now = timezone.now

    def stale_meanwhile():
        tallies.edition_tallies_stale(edition_ids=[edition.pk])
        return real_now()

    monkeypatch.setattr(tallies.timezone, "now", stale_meanwhile)
    assert tallies.edition_tallies_keep() == 0
    monkeypatch.undo()
    assert EditionTally.objects.get(edition=edition).sent is None
    assert tallies.edition_tallies_keep() == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_editions_list_does_not_wait_for_a_dispatch_that_holds_an_editions_tally(admin_client):
    """A dispatch writing an edition's rows holds its tally locked (the stale, in the
    dispatch's transaction) until it commits: the list passes over that tally and
    shows the edition's rows counted as they are, rather than waiting for the
    dispatch (here, failing on the lock timeout); it keeps the figures once free."""
    (edition,) = _editions(1)
    tallies.edition_tallies_stale(edition_ids=[edition.pk])
    with rows_locked_elsewhere(lambda: EditionTally.objects.filter(edition=edition)):
        assert _figures(admin_client) == {"3 Nov 2025": ("3", "2")}
    assert EditionTally.objects.get(edition=edition).sent is None
    assert _figures(admin_client) == {"3 Nov 2025": ("3", "2")}
    assert EditionTally.objects.get(edition=edition).sent == 3


def test_figures_written_by_the_previous_release_are_counted_again_at_the_upgrade(admin_client, settings, tmp_path):
    """Rolled back to a release without EditionTally (4e8248f), an editor's retry or an
    erasure changes a settled edition's rows and stales nothing; upgrading again, the
    list showed the figures kept before the rollback (tried on a production-settings
    deploy: 195 sent, 5 failed where the ledger had 199 and 0). Each upgrade runs
    bootstrap, which forgets every kept figure."""
    settings.VAR_DIR = tmp_path
    edition = _editions(1)[0]
    assert _figures(admin_client)["3 Nov 2025"] == ("3", "2")
    # What the previous release's retry does: the failed rows sent, nothing made stale.
    Delivery.objects.filter(edition=edition, status="failed").update(status="sent", error="")
    call_command("bootstrap", "--no-sample", stdout=StringIO())
    assert _figures(admin_client)["3 Nov 2025"] == ("5", "0")
