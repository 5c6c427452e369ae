"""What an API item's fields become in a stored paper, at the edges of what is taken
(newsletter/ingest.py's validation): the cases a reader or an editor would see
wrong if the reading drifted (a javascript: link in an email, a paper on the wrong
day, two papers of one title stored as one, "and 7 others" for two authors)."""

import datetime as dt
import json

import pytest

from newsletter.ingest import IngestError, papers_import
from newsletter.models import Paper
from tests.newsletter.test_ingest import _good_item

pytestmark = pytest.mark.django_db
DAY = dt.date(2024, 10, 25)


def _imported(change) -> Paper:
    item = _good_item()
    change(item)
    papers_import(items=[item], trending_date=DAY)
    return Paper.objects.get()


def _refused(change, trending_date: dt.date | None = DAY) -> str:
    item = _good_item()
    change(item)
    with pytest.raises(IngestError) as excinfo:
        papers_import(items=[item], trending_date=trending_date)
    assert Paper.objects.count() == 0
    return str(excinfo.value)


def test_a_title_as_long_as_the_field_is_taken_and_one_letter_more_is_refused():
    longest = Paper._meta.get_field("title").max_length
    assert len(_imported(lambda i: i["paper"].update(title="T" * longest)).title) == longest
    Paper.objects.all().delete()

    problem = _refused(lambda i: i["paper"].update(title="T" * (longest + 1)))

    assert f"paper.title is longer than {longest} characters" in problem


@pytest.mark.parametrize("upvotes", [-1, -50])
def test_a_negative_vote_count_is_refused_naming_it(upvotes):
    assert f"paper.upvotes must be zero or more, got {upvotes}" in _refused(
        lambda i: i["paper"].update(upvotes=upvotes))


@pytest.mark.parametrize("link", [
    "javascript:alert(document.cookie)",  # would be a link in every digest and page
    "ftp://example.org/code",
    "https://github.com/" + "a" * 300,  # longer than any real repository address
])
def test_a_code_or_project_link_that_is_not_a_usable_web_address_is_dropped_not_shown(link):
    paper = _imported(lambda i: i["paper"].update(githubRepo=link, projectPage=link))

    assert (paper.github_repo, paper.project_page) == ("", "")


def test_a_usable_code_link_is_kept():
    paper = _imported(lambda i: i["paper"].update(githubRepo="https://github.com/acme/tool"))

    assert paper.github_repo == "https://github.com/acme/tool"


def test_the_authors_listed_count_over_a_number_given_beside_them():
    """The byline says "and N others" from the count: the list the API gives is the
    paper's authors; a stray numAuthors beside it does not add phantom ones."""
    paper = _imported(lambda i: i["paper"].update(
        authors=[{"name": "Ada Lovelace"}, {"name": "Alan Turing"}], numAuthors=9))

    assert (paper.authors, paper.author_count) == (["Ada Lovelace", "Alan Turing"], 2)


def test_ai_keywords_that_are_not_a_list_of_words_are_refused_and_blank_ones_dropped():
    assert "paper.ai_keywords must be a list of strings" in _refused(
        lambda i: i["paper"].update(ai_keywords=["agents", 7]))

    paper = _imported(lambda i: i["paper"].update(ai_keywords=["agents", "  ", "", "tool use"]))

    assert paper.ai_keywords == ["agents", "tool use"]


def test_a_paper_listed_late_in_the_evening_west_of_greenwich_trends_on_that_moments_utc_day():
    """Without a date given, a paper's day is the UTC day of its listing (the API's
    days are UTC): 23:30 in California on the 24th is the 25th."""
    item = _good_item()
    item["paper"]["submittedOnDailyAt"] = "2025-11-24T23:30:00-08:00"
    item["paper"]["publishedAt"] = "2025-11-20T22:00:00-05:00"

    papers_import(items=[item], trending_date=None)

    paper = Paper.objects.get()
    assert paper.trending_date == dt.date(2025, 11, 25)
    assert paper.published_on == dt.date(2025, 11, 21)


def test_two_papers_with_one_title_and_their_own_arxiv_ids_are_two_papers():
    first, second = _good_item(), _good_item()
    first["paper"]["id"], second["paper"]["id"] = "2410.00001", "2410.00002"
    first["paper"]["title"] = second["paper"]["title"] = "Attention Is All You Need"

    papers_import(items=[first, second], trending_date=DAY)

    assert sorted(Paper.objects.values_list("arxiv_id", flat=True)) == ["2410.00001", "2410.00002"]


def test_a_thumbnail_from_anywhere_but_hugging_faces_picture_hosts_is_dropped():
    """Every digest would load it: a picture from any host is a tracking pixel for
    whoever runs that host (which readers opened, when, from where)."""
    kept = _imported(lambda i: None).thumbnail_url
    Paper.objects.all().delete()

    paper = _imported(lambda i: i.update(thumbnail="https://tracker.example/pixel.png?u=1"))

    assert kept.startswith("https://cdn-thumbnails.huggingface.co/")
    assert paper.thumbnail_url == ""


def test_characters_no_page_can_show_are_dropped_not_a_crash():
    """JSON may carry a NUL ("\\u0000"), a lone surrogate ("\\ud800") or a control
    code: PostgreSQL refuses the first two (the admin's paste was a 500, the morning
    fetch a crash that lost the day) and a page would print the third as garbage."""
    paper = _imported(lambda i: (
        i["paper"].update(title="Knowledge\x00 Editing\ud800 at Scale\x07", summary="An\x00 abstract\x1b.",
                          authors=[{"name": "Ada\x00 Lovelace"}, {"name": "\x00"}],
                          ai_keywords=["agents\ud800", "\x00"])))

    assert (paper.title, paper.abstract) == ("Knowledge Editing at Scale", "An abstract.")
    assert paper.authors == ["Ada Lovelace"]
    assert paper.ai_keywords == ["agents"]


@pytest.mark.parametrize(("field", "value"), [("upvotes", 2**31), ("githubStars", 10**20)])
def test_a_count_past_what_the_database_holds_is_refused_naming_it(field, value):
    """Was PostgreSQL's "integer out of range" (a 500 in the admin's paste), not a
    message saying which field of which paper."""
    assert f"paper.{field} must be at most 2147483647, got {value}" in _refused(
        lambda i: i["paper"].update({field: value}))


@pytest.mark.parametrize(("listed", "pasted"), [
    ("2410.16251", "2410.16251v2"), ("hep-th/9901001", "hep-th/9901001v3"), ("math.AG/0601001", "math.AG/0601001v1"),
])
def test_an_arxiv_id_with_its_version_is_the_same_paper_as_without(listed, pasted):
    """Hugging Face lists a paper by its bare id; an entry saved or pasted from
    arXiv carries the version. It was a second paper: shown twice, in the digest too."""
    papers_import(items=[_with_id(listed)], trending_date=DAY)
    papers_import(items=[_with_id(pasted, upvotes=99)], trending_date=DAY)
    papers_import(items=[_with_id(listed, upvotes=100), _with_id(pasted, upvotes=101)], trending_date=DAY)

    assert list(Paper.objects.values_list("arxiv_id", "upvotes")) == [(listed, 101)]


def _with_id(arxiv_id: str, **paper) -> dict:
    item = _good_item()
    item["paper"].update(id=arxiv_id, **paper)
    return item


def test_a_paper_listed_on_a_date_still_to_come_is_refused_not_put_on_the_front_page():
    """Without a date given, a paper's day is its own listing's: one dated 2099 was
    the site's newest day (alone on the front page, hiding today's papers) and what
    `send_digests --latest` sent. A listing of tomorrow (UTC, ahead of a zone) is taken."""
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    taken = _good_item()
    taken["paper"]["submittedOnDailyAt"] = tomorrow.isoformat()
    papers_import(items=[taken], trending_date=None)
    assert Paper.objects.get().trending_date == tomorrow.date()
    Paper.objects.all().delete()

    problem = _refused(lambda i: i["paper"].update(submittedOnDailyAt="2099-01-01T03:55:12.777Z"),
                       trending_date=None)

    assert "listed on Daily Papers on 2099-01-01, a date still to come" in problem


def test_a_date_given_that_is_still_to_come_is_refused_as_an_items_own_is(tmp_path):
    """The same rule for a date given (fetch_papers --date 2099-01-01 --file x.json):
    it put the paper on the front page, alone, as the site's newest day. Tomorrow
    (UTC) is still taken, as for an item's own date."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    saved = tmp_path / "x.json"
    saved.write_text(json.dumps([_good_item()]))
    with pytest.raises(CommandError, match="2099-01-01 is a date still to come"):
        call_command("fetch_papers", date="2099-01-01", file=str(saved), stdout=StringIO())
    assert not Paper.objects.exists()

    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    papers_import(items=[_good_item()], trending_date=tomorrow)
    assert Paper.objects.get().trending_date == tomorrow


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_date_time_that_leaves_the_calendar_in_utc_is_refused_naming_it(moment):
    """Read in UTC, these are the year 10000 and the year 0: an OverflowError (a 500
    in the admin's paste, a crashed fetch), not a message."""
    assert f"paper.publishedAt must be an ISO 8601 date-time, got '{moment}'" in _refused(
        lambda i: i["paper"].update(publishedAt=moment))
