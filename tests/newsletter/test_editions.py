import datetime as dt

import pytest
from django.utils import timezone

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


FRIDAY, MONDAY, TUESDAY = dt.date(2025, 11, 21), DAY, dt.date(2025, 11, 25)


@pytest.mark.django_db
def test_the_papers_listed_after_an_edition_went_out_join_the_next_one_once():
    """Friday's edition went out with the papers listed by then; those listed on
    Friday afterwards (the next morning's fetch brings them) are in Monday's edition,
    by trend among Monday's own, and in no later one. Hidden ones are not."""
    PaperFactory(title="Early on Friday", upvotes=50, trending_date=FRIDAY)
    edition_freeze(edition=edition_assemble(date=FRIDAY))
    PaperFactory(title="Late on Friday", upvotes=80, trending_date=FRIDAY)
    PaperFactory(title="Late and hidden", upvotes=90, trending_date=FRIDAY, hidden=True)
    PaperFactory(title="Monday's", upvotes=10, trending_date=MONDAY)
    PaperFactory(title="Monday's top", upvotes=99, trending_date=MONDAY)

    monday = edition_assemble(date=MONDAY)

    assert _titles(monday) == ["Monday's top", "Late on Friday", "Monday's"]
    assert _titles(Edition.objects.get(date=FRIDAY)) == ["Early on Friday"]
    edition_freeze(edition=monday)
    PaperFactory(title="Tuesday's", upvotes=5, trending_date=TUESDAY)
    assert _titles(edition_assemble(date=TUESDAY)) == ["Tuesday's"]


@pytest.mark.django_db
def test_no_paper_is_carried_from_an_edition_never_sent_or_more_than_four_days_older():
    PaperFactory(title="Friday's", upvotes=50, trending_date=FRIDAY)
    edition_assemble(date=FRIDAY)  # held all day by an editor: nobody had it
    PaperFactory(title="Monday's", upvotes=10, trending_date=MONDAY)
    assert _titles(edition_assemble(date=MONDAY)) == ["Monday's"]

    long_ago = MONDAY - dt.timedelta(days=10)
    PaperFactory(title="Of a list ten days old", trending_date=long_ago)
    edition_freeze(edition=edition_assemble(date=long_ago))
    PaperFactory(title="Late of ten days ago", trending_date=long_ago)
    PaperFactory(title="After a long gap", trending_date=long_ago + dt.timedelta(days=5))
    assert _titles(edition_assemble(date=long_ago + dt.timedelta(days=5))) == ["After a long gap"]


@pytest.mark.django_db
def test_an_editor_hiding_or_showing_a_late_paper_changes_the_next_edition_at_once():
    from newsletter.curation import papers_flag_set

    PaperFactory(title="Early on Friday", trending_date=FRIDAY)
    edition_freeze(edition=edition_assemble(date=FRIDAY))
    late = PaperFactory(title="Late on Friday", upvotes=80, trending_date=FRIDAY)
    PaperFactory(title="Monday's", upvotes=10, trending_date=MONDAY)
    assert _titles(edition_assemble(date=MONDAY)) == ["Late on Friday", "Monday's"]

    papers_flag_set(papers=[late], hidden=True)
    assert _titles(Edition.objects.get(date=MONDAY)) == ["Monday's"]
    papers_flag_set(papers=[late], hidden=False)
    assert _titles(Edition.objects.get(date=MONDAY)) == ["Late on Friday", "Monday's"]


@pytest.mark.django_db
def test_a_late_paper_stays_in_the_next_edition_however_often_it_is_reassembled():
    """The dispatcher re-assembles Monday's edition every tick until it goes out: the
    late paper of Friday it took stays in it (Monday's own edition, not sent yet, is
    no edition that already gave it to readers)."""
    PaperFactory(title="Early on Friday", trending_date=FRIDAY)
    edition_freeze(edition=edition_assemble(date=FRIDAY))
    PaperFactory(title="Late on Friday", upvotes=80, trending_date=FRIDAY)
    PaperFactory(title="Monday's", upvotes=10, trending_date=MONDAY)

    assert _titles(edition_assemble(date=MONDAY)) == ["Late on Friday", "Monday's"]
    assert _titles(edition_assemble(date=MONDAY)) == ["Late on Friday", "Monday's"]


@pytest.mark.django_db
def test_a_withdrawn_paper_an_editor_shows_again_stays_out_of_the_edition():
    """The import hides a paper its authors withdrew; an editor who shows it again
    does not put a withdrawn paper in the edition readers get."""
    from newsletter.curation import papers_flag_set

    PaperFactory(title="Kept", upvotes=10)
    withdrawn = PaperFactory(title="Withdrawn", upvotes=90, withdrawn_at=timezone.now(), hidden=True)
    papers_flag_set(papers=[withdrawn], hidden=False)

    assert _titles(edition_assemble(date=DAY)) == ["Kept"]


@pytest.mark.django_db
def test_a_day_whose_every_paper_is_hidden_leaves_the_list_before_as_todays_edition():
    """Monday's list came with nothing to read (each paper hidden, e.g. withdrawn and
    hidden by the import): a reader due now gets the newest edition with papers, not
    nothing, and no empty edition of Monday is made."""
    PaperFactory(title="Friday's", trending_date=FRIDAY)
    PaperFactory(title="Withdrawn on Monday", trending_date=MONDAY, hidden=True)

    current = edition_current(now=dt.datetime(2025, 11, 24, 9, 0, tzinfo=dt.UTC))

    assert current.date == FRIDAY and _titles(current) == ["Friday's"]
    assert not Edition.objects.filter(date=MONDAY).exists()


@pytest.mark.django_db
def test_a_day_whose_only_paper_is_withdrawn_and_shown_again_leaves_the_list_before_as_todays_edition():
    """An editor showed a withdrawn paper again (the admin sets either; the edition
    still leaves it out), and it was Monday's only paper: the morning's readers get
    Friday's edition. Until 7 December 2026 the dispatcher counted Monday as a day
    with papers (hidden=False alone), assembled it empty and sent nobody anything,
    while the site and the editor's "today" (PAPER_VISIBLE) showed Friday."""
    from newsletter.curation import edition_date_for_today

    PaperFactory(title="Friday's", trending_date=FRIDAY)
    PaperFactory(title="Withdrawn on Monday", trending_date=MONDAY, withdrawn_at=timezone.now(), hidden=False)
    morning = dt.datetime(2025, 11, 24, 9, 0, tzinfo=dt.UTC)

    current = edition_current(now=morning)

    assert current.date == FRIDAY and _titles(current) == ["Friday's"]
    assert edition_date_for_today(now=morning) == FRIDAY
