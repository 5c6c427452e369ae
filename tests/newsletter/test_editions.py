import datetime as dt

import pytest

from newsletter.editions import edition_assemble, edition_current, edition_freeze, note_html
from newsletter.models import Edition
from tests.factories import PaperFactory

DAY = dt.date(2025, 11, 24)


def _titles(edition: Edition) -> list[str]:
    return [e.paper.title for e in edition.entries.select_related("paper").order_by("position")]


@pytest.mark.django_db
def test_an_edition_lists_pins_first_then_by_trend_without_hidden_papers():
    PaperFactory(title="Popular", upvotes=90)
    PaperFactory(title="Pinned", upvotes=3, pinned=True)
    PaperFactory(title="Hidden", upvotes=500, hidden=True)
    PaperFactory(title="Discussed", upvotes=90, num_comments=7)
    PaperFactory(title="Other day", upvotes=900, trending_date=DAY - dt.timedelta(days=1))

    assert _titles(edition_assemble(date=DAY)) == ["Pinned", "Discussed", "Popular"]


@pytest.mark.django_db
def test_reassembling_follows_edits_until_the_edition_is_frozen():
    paper = PaperFactory(title="First", upvotes=10)
    edition = edition_assemble(date=DAY)
    PaperFactory(title="Later", upvotes=50)
    assert _titles(edition_assemble(date=DAY)) == ["Later", "First"]

    assert edition_freeze(edition=edition) is True
    assert edition_freeze(edition=edition) is False
    paper.hidden = True
    paper.save()
    PaperFactory(title="After it went out", upvotes=99)

    assert _titles(edition_assemble(date=DAY)) == ["Later", "First"]  # what readers got


@pytest.mark.django_db
def test_todays_edition_is_the_newest_of_the_last_three_days_in_utc():
    PaperFactory(trending_date=DAY - dt.timedelta(days=1))
    morning = dt.datetime(2025, 11, 24, 5, 0, tzinfo=dt.UTC)
    assert edition_current(now=morning).date == DAY - dt.timedelta(days=1)  # today's not fetched yet

    PaperFactory(trending_date=DAY)
    assert edition_current(now=morning).date == DAY

    # Across a weekend without lists, Monday morning before the fetch: Friday's.
    monday_before_fetch = dt.datetime(2025, 11, 27, 5, 0, tzinfo=dt.UTC)
    assert edition_current(now=monday_before_fetch).date == DAY
    four_days_later = dt.datetime(2025, 11, 28, 5, 0, tzinfo=dt.UTC)
    assert edition_current(now=four_days_later) is None  # nothing older than three days goes out


def test_the_editors_note_is_markdown_without_scripts():
    html = note_html("Hello **readers** <script>x()</script> [link](javascript:alert(1))")
    assert "<strong>readers</strong>" in html
    assert "<script>" not in html and "javascript:" not in html
    assert note_html("  ") == ""


@pytest.mark.django_db
def test_an_editors_order_survives_reassembly_and_new_papers_join_after_it():
    from newsletter.curation import edition_move

    PaperFactory(title="A", upvotes=30)
    b = PaperFactory(title="B", upvotes=20)
    PaperFactory(title="C", upvotes=10)
    edition = edition_assemble(date=DAY)
    edition_move(edition=edition, paper_id=b.pk, step=1)  # B below C
    assert _titles(edition) == ["A", "C", "B"]

    # The dispatcher re-assembles every tick; a fetch adds a paper and new upvotes.
    PaperFactory(title="New", upvotes=99)
    b.upvotes = 500
    b.save()
    assert _titles(edition_assemble(date=DAY)) == ["A", "C", "B", "New"]

    # Pinning still puts a paper first.
    b.pinned = True
    b.save()
    assert _titles(edition_assemble(date=DAY)) == ["B", "A", "C", "New"]
