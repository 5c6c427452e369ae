"""newsletter/retention.py at its edges (found by mutation testing): the least number
of days the ledger may be kept is the one the operator's documents give, a run that
finishes an edition another run began keeps what the first kept, and the daily run
works as a worker runs it, with no test transaction around it."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from newsletter.models import Delivery, EditionTally
from newsletter.retention import edition_prune_begin, ledger_kept_min_days, retention_apply
from newsletter.tasks import personal_data_forget
from tests.newsletter.test_retention import _edition, _page_figures

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_least_ledger_days_the_operators_documents_give_is_the_least_the_check_lets_through(settings):
    """docs/data-retention.md and .env.example tell the operator the ledger must be
    kept at least so many days, else `manage.py check` fails: one day fewer fails
    it, with the same number in its message, and that number passes."""
    docs = (ROOT / "docs" / "data-retention.md").read_text()
    env = (ROOT / ".env.example").read_text()
    said = {int(re.search(r"at least (\d+), else `manage.py check` fails", docs)[1]),
            int(re.search(r"the code reads (\d+) days", docs)[1]),
            int(re.search(r"At least (\d+) \(check fails: digest.E011\)", env)[1])}
    (least,) = said
    settings.LEDGER_KEPT_DAYS = least - 1
    (error,) = [e for e in run_checks() if e.id == "digest.E011"]
    assert f"at least {least} days" in error.msg
    settings.LEDGER_KEPT_DAYS = least
    assert "digest.E011" not in {e.id for e in run_checks()}
    assert ledger_kept_min_days() == least


@pytest.mark.django_db
def test_a_run_finishing_an_edition_a_run_of_the_day_before_began_keeps_that_days_figures_and_date(
        admin_client, settings):
    """A run kept an edition's figures yesterday and stopped before deleting all of
    its rows; today's deletes the rest. The edition's page still says its record was
    deleted yesterday, when the figures it shows were kept, and shows them as they
    stood then (not counted again from the rows left)."""
    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", "sent", "failed"])
    page = _page_figures(admin_client, edition)
    yesterday = timezone.now() - dt.timedelta(days=1)
    assert edition_prune_begin(edition=edition, now=yesterday)
    Delivery.objects.filter(pk=edition.deliveries.order_by("pk").first().pk).delete()  # its first batch

    assert retention_apply().deliveries == 2

    assert EditionTally.objects.get(edition=edition).pruned_at == yesterday
    html = admin_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    assert f"was deleted on {date_format(timezone.localdate(yesterday), 'SHORT_DATE_FORMAT')}:" in html
    assert _page_figures(admin_client, edition) == page


@pytest.mark.django_db(transaction=True)
def test_the_daily_run_prunes_an_old_edition_as_a_worker_runs_it_outside_any_transaction(settings):
    """A worker runs the daily task in autocommit, not inside a test's transaction:
    keeping an edition's figures locks its tally in a transaction of its own (a
    lock taken outside one is refused, and every daily run would stop there)."""
    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", "sent", "failed"])
    personal_data_forget.delay().get(timeout=10)  # the daily beat task
    assert not Delivery.objects.filter(edition=edition).exists()
    tally = EditionTally.objects.get(edition=edition)
    assert tally.pruned_at is not None and (tally.sent, tally.failed) == (2, 1)
