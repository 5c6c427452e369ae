"""The sample papers (newsletter/fixtures/daily_papers_2025-11-24.json), built from
the Daily Papers page in ../shared/seed by `manage.py build_sample_fixture`."""

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from newsletter.ingest import papers_import_file
from newsletter.management.commands.build_sample_fixture import daily_papers_page_parse
from newsletter.models import Paper

FIXTURE = Path(settings.BASE_DIR) / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
# A copy of ../shared/seed/daily-papers-page.txt kept in the project, so that a clone
# alone (wherever it is checked out) rebuilds and checks the fixture.
PAGE = Path(settings.BASE_DIR) / "tests" / "data" / "sample" / "daily-papers-page.txt"
EDITION = dt.date(2025, 11, 24)


@pytest.fixture
def sample(db):
    papers_import_file(path=FIXTURE, trending_date=EDITION)
    return {p.title: p for p in Paper.objects.all()}


def test_the_sample_has_the_73_papers_of_the_page_and_no_made_up_ids(sample):
    assert len(sample) == 73
    assert all(p.arxiv_id is None for p in sample.values())
    assert all(p.trending_date == EDITION for p in sample.values())
    raw = json.loads(FIXTURE.read_text())
    assert all("id" not in item["paper"] for item in raw)


def test_sample_papers_match_the_page(sample):
    first = sample[
        "Towards Better Alignment: Training Diffusion Models with Reinforcement Learning Against Sparse Rewards"
    ]
    assert first.abstract.startswith("Diffusion models have achieved remarkable success in text-to-image generation.")
    assert (first.author_count, first.authors, first.byline) == (9, [], "9 authors")
    assert first.published_on == dt.date(2025, 3, 14)
    assert first.upvotes == 0

    second = sample["Beyond Not-Forgetting: Continual Learning with Backward Knowledge Transfer"]
    assert (second.author_count, second.published_on) == (4, dt.date(2022, 11, 1))

    reverse = sample["Reverse Thinking Makes LLMs Stronger Reasoners"]
    assert (reverse.published_on, reverse.upvotes, reverse.author_count) == (dt.date(2024, 11, 29), 2, 11)

    orca = sample["Orca: Progressive Learning from Complex Explanation Traces of GPT-4"]
    assert (orca.published_on, orca.upvotes) == (dt.date(2023, 6, 5), 18)

    # "Jan 18 2": a date of the page's year, then the upvotes.
    learn = sample["Learn-by-interact: A Data-Centric Framework for Self-Adaptive Agents in Realistic Environments"]
    assert (learn.published_on, learn.upvotes) == (dt.date(2025, 1, 18), 2)

    assert sample["TÜLU 3: Pushing Frontiers in Open Language Model Post-Training"].author_count == 23


def test_organisation_entries_show_the_organisation(sample):
    rlp = sample["RLP: Reinforcement as a Pretraining Objective"]
    assert (rlp.organization, rlp.organization_slug, rlp.byline) == ("NVIDIA", "nvidia", "NVIDIA")
    assert (rlp.published_on, rlp.upvotes, rlp.author_count) == (dt.date(2025, 9, 26), 4, 0)
    parallel = sample["Parallel-R1: Towards Parallel Thinking via Reinforcement Learning"]
    assert (parallel.organization, parallel.published_on, parallel.upvotes) == (
        "Tencent", dt.date(2025, 9, 9), 3
    )


def test_entries_without_authors_date_or_votes_are_still_listed(sample):
    for title in (
        "Towards a Unified View of Large Language Model Post-Training",
        "Reinforcement Learning on Pre-Training Data",
        "Kwai Keye-VL 1.5 Technical Report",
    ):
        paper = sample[title]
        assert paper.abstract
        assert (paper.published_on, paper.upvotes, paper.author_count, paper.byline) == (None, 0, 0, "")


@pytest.mark.django_db
def test_bootstrap_loads_the_sample_through_fetch_papers_and_reloading_changes_nothing():
    out = StringIO()

    call_command("fetch_papers", file=str(FIXTURE), date="2025-11-24", stdout=out)
    call_command("fetch_papers", file=str(FIXTURE), date="2025-11-24", stdout=out)

    assert out.getvalue().splitlines() == [
        "Imported 73 papers for 2025-11-24: 73 new, 0 updated, 0 unchanged",
        "Imported 73 papers for 2025-11-24: 0 new, 0 updated, 73 unchanged",
    ]
    assert Paper.objects.count() == 73


def test_the_shipped_fixture_is_what_the_page_converts_to(tmp_path):
    out = tmp_path / "sample.json"

    said = StringIO()
    call_command("build_sample_fixture", page=str(PAGE), out=str(out), stdout=said)

    assert out.read_text(encoding="utf-8") == FIXTURE.read_text(encoding="utf-8")
    assert said.getvalue() == f"Wrote 73 papers of 2025-11-24 to {out}\n"
    assert len(json.loads(out.read_text())) == PAGE.read_text().count("\n·\n") + 3 == 73


PAGE_HEAD = "Daily Papers\n\nbyAK and the research community\n\nNov 24\n\n"


def test_the_converter_reads_every_kind_of_entry():
    text = PAGE_HEAD + (
        "A Paper\n\nIts abstract.\n\n  • 1 authors\n·\nDec 3 7\n\n"
        "No Meta Paper\n\nAnother abstract.\n\n"
        "Org Paper\n\nThird abstract.\n\ngoogle Google DeepMind\n·\nFeb 2, 2021\n"
        "Same Day Paper\n\nFourth abstract.\n\n  • 3 authors\n·\nNov 24 0\n"
    )

    items = daily_papers_page_parse(text=text, date=EDITION)

    first, bare, org, same_day = items
    # "Dec 3" without a year after the page's Nov 24 cannot be in the future.
    assert first["paper"]["publishedAt"] == "2024-12-03T00:00:00.000Z"
    assert (first["paper"]["numAuthors"], first["paper"]["upvotes"]) == (1, 7)
    assert bare["paper"] == {
        "title": "No Meta Paper",
        "summary": "Another abstract.",
        "authors": [],
        "submittedOnDailyAt": "2025-11-24T00:00:00.000Z",
    }
    assert org["organization"] == {"name": "google", "fullname": "Google DeepMind"}
    assert org["paper"]["publishedAt"] == "2021-02-02T00:00:00.000Z"
    # Published the page's own day (this year), with no upvote yet: 0, not none.
    assert (same_day["paper"]["publishedAt"], same_day["paper"]["upvotes"]) == ("2025-11-24T00:00:00.000Z", 0)


def test_the_converter_refuses_a_page_it_cannot_read(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(PAGE_HEAD + "A Paper\n\nAbstract.\n\n  • 2 authors\n·\nsometime\n")

    with pytest.raises(CommandError, match="line 13: expected a date like 'Mar 14'.*'sometime'"):
        call_command("build_sample_fixture", page=str(page), out=str(tmp_path / "x.json"))
    with pytest.raises(CommandError, match="dated 'Nov 24', not 'Nov 25'"):
        call_command("build_sample_fixture", page=str(page), out=str(tmp_path / "x.json"), date="2025-11-25")


@pytest.mark.parametrize(("text", "expected"), [
    ("Daily Papers\n\nA Paper\n\nAbstract.\n", "no page date line (like 'Nov 24') before the papers"),
    (PAGE_HEAD + "A Paper\n\nAbstract.\n\nLone title\n", "line 11: a title without an abstract: 'Lone title'"),
    (PAGE_HEAD + "A Paper\n\nAbstract.\n\n  • 2 authors\n·\n", "line 12: the page ends before the date line"),
    (PAGE_HEAD + "A Paper\n\nAbstract.\n\n  • many authors\n·\nMar 14\n",
     "line 11: expected '• N authors' or 'org-slug Org Name', got '• many authors'"),
])
def test_a_page_cut_short_or_of_another_shape_is_refused_naming_the_page_and_line_and_nothing_is_written(
        tmp_path, text, expected):
    page = tmp_path / "page.txt"
    page.write_text(text)
    with pytest.raises(CommandError) as error:
        call_command("build_sample_fixture", page=str(page), out=str(tmp_path / "x.json"))
    assert str(error.value) == f"{page}: {expected}"
    assert not (tmp_path / "x.json").exists()


def test_a_page_that_is_not_there_or_a_date_not_iso_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"nowhere\.txt: cannot read: No such file or directory"):
        call_command("build_sample_fixture", page=str(tmp_path / "nowhere.txt"), out=str(tmp_path / "x.json"))
    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD, got '24 Nov'"):
        call_command("build_sample_fixture", page=str(PAGE), out=str(tmp_path / "x.json"), date="24 Nov")
    assert not (tmp_path / "x.json").exists()
