"""newsletter/ingest.py and `manage.py fetch_papers`, against recorded API
responses served by a real HTTP server on 127.0.0.1: the real client, paging and
urllib3 retries run; nothing leaves the machine."""

import copy
import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from newsletter import ingest
from newsletter.ingest import (
    IngestError,
    IngestUnavailable,
    papers_fetch,
    papers_fetch_and_import,
    papers_import,
    papers_import_file,
    title_normalise,
)
from newsletter.models import Paper
from newsletter.tasks import papers_fetch_today
from tests.factories import PaperFactory

RECORDED = Path(__file__).parent / "recorded"
OLDER = RECORDED / "hf-daily-papers-2024-10-25-first-2.json"
NEWER = RECORDED / "hf-daily-papers-item-2026-03-06.json"
NO_IDS = RECORDED / "hf-daily-papers-2025-11-19-no-ids.json"
MALFORMED = RECORDED / "hf-daily-papers-2025-11-21-malformed.json"


def recorded(name: str | Path) -> list:
    return json.loads((RECORDED / name).read_text())


class FakeDailyPapers:
    """Scripted answers per (date, page); the last answer of a script repeats."""

    def __init__(self, server: ThreadingHTTPServer):
        self.server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.url = f"{self.base}/api/daily_papers"
        self.scripts: dict[tuple[str, str], list[tuple[int, dict, bytes]]] = {}
        self.requests: list[dict] = []

    def respond(self, date: str, body, *, page: int = 0, status: int = 200, headers=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.scripts.setdefault((date, str(page)), []).append((status, headers or {}, raw))

    def pages_requested(self) -> list[str]:
        return [r.get("p", "0") for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        api: FakeDailyPapers = self.server.api
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        api.requests.append(query)
        script = api.scripts.get((query.get("date", ""), query.get("p", "0")))
        if not script:
            status, headers, body = 404, {}, b'{"error":"Not scripted"}'
        else:
            status, headers, body = script.pop(0) if len(script) > 1 else script[0]
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value.replace("{base}", api.base))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hf_api(settings, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.api = FakeDailyPapers(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.HF_DAILY_PAPERS_URL = server.api.url
    settings.HF_TIMEOUT_SECONDS = 5
    # Retries run for real; only urllib3's sleeps between them are shortened.
    monkeypatch.setattr(ingest, "RETRY_BACKOFF_SECONDS", 0)
    yield server.api
    server.shutdown()
    server.server_close()
    thread.join()


# --- Fetching over HTTP ------------------------------------------------------------


@pytest.mark.django_db
def test_a_day_is_fetched_and_its_papers_stored_as_readers_see_them(hf_api):
    hf_api.respond("2024-10-25", recorded(OLDER))

    result = papers_fetch_and_import(date=dt.date(2024, 10, 25))

    assert (result.created, result.updated, result.total) == (2, 0, 2)
    assert hf_api.requests == [{"date": "2024-10-25", "limit": "100", "p": "0"}]
    paper = Paper.objects.get(arxiv_id="2410.17243")
    # The API hard-wraps titles and abstracts.
    assert paper.title == (
        "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    )
    assert paper.abstract.startswith("Contrastive loss is a powerful approach for representation learning, where larger")
    assert "\n" not in paper.abstract
    assert paper.authors[:2] == ["Zesen Cheng", "Hang Zhang"]
    assert paper.author_count == 9
    assert paper.published_on == dt.date(2024, 10, 22)
    assert paper.trending_date == dt.date(2024, 10, 25)
    assert (paper.upvotes, paper.num_comments) == (64, 3)
    assert paper.thumbnail_url == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2410.17243.png"
    assert paper.organization == "" and paper.hidden is False
    assert paper.title_key == title_normalise(paper.title)


@pytest.mark.django_db
def test_the_newer_shape_brings_ai_summary_links_and_organisation(hf_api):
    hf_api.respond("2026-03-06", recorded(NEWER))

    papers_fetch_and_import(date=dt.date(2026, 3, 6))

    paper = Paper.objects.get(arxiv_id="2602.23229")
    assert paper.ai_summary.startswith("Large Multimodal Models demonstrate superior performance")
    assert "in-context learning" in paper.ai_keywords
    assert paper.github_repo == "https://github.com/marco-garosi/CIRCLE"
    assert paper.github_stars == 9
    assert paper.project_page == "https://circle-lmm.github.io/"
    assert paper.organization == "Multimedia and Human Understanding Group"
    assert paper.organization_slug == "MHUGLab"
    assert paper.num_comments == 1
    assert paper.trending_date == dt.date(2026, 3, 6)
    assert paper.published_on == dt.date(2026, 2, 26)


@pytest.mark.django_db
def test_a_weekend_is_an_empty_day_not_an_error(hf_api):
    hf_api.respond("2025-11-22", recorded("hf-daily-papers-2025-11-22-weekend.json"))

    result = papers_fetch_and_import(date=dt.date(2025, 11, 22))

    assert result.total == 0
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_full_pages_are_followed_and_a_paper_on_two_pages_counts_once(hf_api, monkeypatch):
    monkeypatch.setattr(ingest, "PAGE_LIMIT", 2)
    hf_api.respond("2025-11-20", recorded("hf-daily-papers-2025-11-20-page-0.json"), page=0)
    hf_api.respond("2025-11-20", recorded("hf-daily-papers-2025-11-20-page-1.json"), page=1)
    hf_api.respond("2025-11-20", [], page=2)

    result = papers_fetch_and_import(date=dt.date(2025, 11, 20))

    assert hf_api.pages_requested() == ["0", "1", "2"]
    assert {r["limit"] for r in hf_api.requests} == {"2"}
    assert result.created == 3
    # Its votes moved while we paged: the later listing is the fresher one.
    assert Paper.objects.get(arxiv_id="2511.90002").upvotes == 81


@pytest.mark.django_db
def test_a_link_rel_next_header_is_followed(hf_api):
    next_link = '<{base}/api/daily_papers?date=2025-11-20&limit=100&p=1>; rel="next"'
    hf_api.respond(
        "2025-11-20", recorded("hf-daily-papers-2025-11-20-page-0.json"), headers={"Link": next_link}
    )
    hf_api.respond("2025-11-20", recorded("hf-daily-papers-2025-11-20-page-1.json"), page=1)

    items = papers_fetch(date=dt.date(2025, 11, 20))

    assert hf_api.pages_requested() == ["0", "1"]
    assert sorted(item["paper"]["id"] for item in items) == ["2511.90001", "2511.90002", "2511.90003"]


@pytest.mark.django_db
def test_a_link_rel_next_chain_that_loops_or_runs_on_empty_ends_the_day_not_refuses_it(hf_api):
    """A next link back to a page already read (a cycle), or on past an empty page:
    the day's papers are all in hand. Before, it paged on to MAX_PAGES and refused
    the whole day ("still more pages"): no papers, no digest, and no retry."""
    def link(date: str, page: int) -> dict:
        return {"Link": f'<{{base}}/api/daily_papers?p={page}&limit=100&date={date}>; rel="next"'}

    hf_api.respond("2025-11-20", recorded("hf-daily-papers-2025-11-20-page-0.json"), headers=link("2025-11-20", 1))
    hf_api.respond("2025-11-20", recorded("hf-daily-papers-2025-11-20-page-1.json"), page=1,
                   headers=link("2025-11-20", 0))
    hf_api.respond("2025-11-21", recorded(OLDER), headers=link("2025-11-21", 1))
    for page in range(1, ingest.MAX_PAGES + 1):
        hf_api.respond("2025-11-21", [], page=page, headers=link("2025-11-21", page + 1))

    looped = papers_fetch(date=dt.date(2025, 11, 20))
    assert hf_api.pages_requested() == ["0", "1"]
    hf_api.requests.clear()
    run_on = papers_fetch(date=dt.date(2025, 11, 21))

    assert sorted(item["paper"]["id"] for item in looped) == ["2511.90001", "2511.90002", "2511.90003"]
    assert hf_api.pages_requested() == ["0", "1"]
    assert len(run_on) == 2


@pytest.mark.django_db
def test_503_and_429_are_retried_until_the_api_answers(hf_api):
    hf_api.respond("2024-10-25", {"error": "Service Unavailable"}, status=503)
    hf_api.respond("2024-10-25", {"error": "Too Many Requests"}, status=429, headers={"Retry-After": "1"})
    hf_api.respond("2024-10-25", recorded(OLDER))

    result = papers_fetch_and_import(date=dt.date(2024, 10, 25))

    assert len(hf_api.requests) == 3
    assert result.created == 2


@pytest.mark.django_db
def test_an_api_that_keeps_failing_is_reported_with_status_and_address(hf_api):
    hf_api.respond("2024-10-25", {"error": "Internal Error"}, status=500)

    with pytest.raises(IngestUnavailable) as excinfo:
        papers_fetch_and_import(date=dt.date(2024, 10, 25))

    message = str(excinfo.value)
    assert "HTTP 500" in message and "Internal Error" in message
    assert "Daily Papers for 2024-10-25" in message and hf_api.url in message
    assert len(hf_api.requests) == ingest.RETRY_ATTEMPTS + 1
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_an_error_status_that_is_not_transient_is_not_retried(hf_api):
    hf_api.respond("2099-01-01", {"error": "Date is in the future"}, status=400)

    with pytest.raises(IngestError, match="HTTP 400.*Date is in the future"):
        papers_fetch(date=dt.date(2099, 1, 1))

    assert len(hf_api.requests) == 1


@pytest.mark.django_db
def test_an_unreachable_api_is_reported_after_retrying(settings, monkeypatch):
    monkeypatch.setattr(ingest, "RETRY_BACKOFF_SECONDS", 0)
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.HF_DAILY_PAPERS_URL = f"http://127.0.0.1:{port}/api/daily_papers"

    with pytest.raises(IngestUnavailable, match="request failed after retries") as excinfo:
        papers_fetch(date=dt.date(2024, 10, 25))

    # The Celery task's autoretry_for=(ConnectionError, …) picks it up.
    assert isinstance(excinfo.value, ConnectionError)


@pytest.mark.django_db
def test_a_response_that_is_not_a_list_of_papers_is_refused(hf_api):
    hf_api.respond("2024-10-25", b"<html>Maintenance</html>")
    hf_api.respond("2024-10-26", {"error": "Invalid date"})

    with pytest.raises(IngestError, match="page 0 .*response not valid JSON: .*: '<html>Maintenance</html>'"):
        papers_fetch(date=dt.date(2024, 10, 25))
    with pytest.raises(IngestError, match="expected a JSON array of items, got dict"):
        papers_fetch(date=dt.date(2024, 10, 26))


# --- Importing: idempotence and the editors' flags ----------------------------------


@pytest.mark.django_db
def test_importing_the_same_day_twice_updates_counts_without_duplicates():
    items = recorded(OLDER)
    papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    later = copy.deepcopy(items)
    later[0]["paper"]["upvotes"] = 99
    later[0]["numComments"] = 7

    result = papers_import(items=later, trending_date=dt.date(2024, 10, 25))

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Paper.objects.count() == 2
    paper = Paper.objects.get(arxiv_id="2410.17243")
    assert (paper.upvotes, paper.num_comments) == (99, 7)


@pytest.mark.django_db
def test_a_refetch_embeds_only_the_papers_whose_text_changed(monkeypatch):
    """The beat task fetches today's papers again and again for their upvotes; the
    contextual model costs ~90 ms a paper, so an unchanged text keeps its vector.
    A corrected abstract gets a new one."""
    from newsletter import embeddings

    items = recorded(OLDER)
    papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    before = {p.arxiv_id: bytes(p.embedding) for p in Paper.objects.all()}
    embedded: list[str] = []
    real = embeddings.texts_embed
    monkeypatch.setattr(embeddings, "texts_embed", lambda texts: embedded.extend(texts) or real(texts))

    later = copy.deepcopy(items)
    later[0]["paper"]["upvotes"] = 99
    papers_import(items=later, trending_date=dt.date(2024, 10, 25))
    assert embedded == []
    assert {p.arxiv_id: bytes(p.embedding) for p in Paper.objects.all()} == before

    later[1]["paper"]["summary"] = "A corrected abstract about diffusion models for video generation."
    papers_import(items=later, trending_date=dt.date(2024, 10, 25))
    assert len(embedded) == 1 and "A corrected abstract" in embedded[0]
    changed = Paper.objects.get(abstract__startswith="A corrected abstract")
    assert bytes(changed.embedding) != before[changed.arxiv_id]
    assert bytes(Paper.objects.exclude(pk=changed.pk).get().embedding) == before[later[0]["paper"]["id"]]


@pytest.mark.django_db
def test_editors_pin_and_hide_survive_a_reimport():
    papers_import_file(path=OLDER, trending_date=dt.date(2024, 10, 25))
    Paper.objects.filter(arxiv_id="2410.17243").update(pinned=True)
    Paper.objects.filter(arxiv_id="2410.16251").update(hidden=True)

    papers_import_file(path=OLDER, trending_date=dt.date(2024, 10, 25))

    assert Paper.objects.get(arxiv_id="2410.17243").pinned is True
    assert Paper.objects.get(arxiv_id="2410.16251").hidden is True


@pytest.mark.django_db
def test_a_paper_keeps_the_first_day_it_trended_on():
    papers_import_file(path=OLDER, trending_date=dt.date(2024, 10, 25))

    papers_import_file(path=OLDER, trending_date=dt.date(2024, 10, 28))

    assert set(Paper.objects.values_list("trending_date", flat=True)) == {dt.date(2024, 10, 25)}


@pytest.mark.django_db
def test_without_a_date_each_paper_trends_on_the_day_it_was_listed():
    papers_import_file(path=OLDER)
    papers_import_file(path=NEWER)

    # Older shape: the item's publishedAt; newer shape: paper.submittedOnDailyAt
    # (its item publishedAt is the arXiv time).
    assert Paper.objects.get(arxiv_id="2410.17243").trending_date == dt.date(2024, 10, 25)
    assert Paper.objects.get(arxiv_id="2602.23229").trending_date == dt.date(2026, 3, 6)


@pytest.mark.django_db
def test_entries_without_arxiv_id_dedupe_on_their_normalised_title():
    papers_import_file(path=NO_IDS)
    again = recorded(NO_IDS)
    again[0]["paper"]["title"] = "weak to strong SEARCH —  aligning large models."
    again[0]["paper"]["upvotes"] = 31

    result = papers_import(items=again)

    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Paper.objects.count() == 2
    paper = Paper.objects.get(title_key="weak to strong search aligning large models")
    assert paper.arxiv_id is None and paper.upvotes == 31


@pytest.mark.django_db
def test_a_listing_with_an_id_takes_over_the_same_paper_without_one():
    papers_import_file(path=NO_IDS)
    with_id = recorded(NO_IDS)[:1]
    with_id[0]["paper"]["id"] = "2511.99999"

    papers_import(items=with_id)

    assert Paper.objects.count() == 2
    assert Paper.objects.get(arxiv_id="2511.99999").title == "Weak-to-Strong Search: Aligning Large Models"


@pytest.mark.django_db
def test_hidden_authors_are_not_shown_but_counted():
    papers_import_file(path=NO_IDS)

    paper = Paper.objects.get(title="Weak-to-Strong Search: Aligning Large Models")
    assert paper.authors == ["Visible Author", "Another Visible"]
    assert paper.author_count == 3


@pytest.mark.django_db
def test_a_withdrawn_paper_is_hidden_and_stays_hidden():
    papers_import_file(path=NO_IDS)
    paper = Paper.objects.get(title="A Withdrawn Result")
    assert paper.hidden is True
    assert paper.withdrawn_at == dt.datetime(2025, 11, 19, 10, tzinfo=dt.UTC)

    papers_import_file(path=NO_IDS)

    assert Paper.objects.get(pk=paper.pk).hidden is True


@pytest.mark.django_db
def test_a_withdrawal_is_not_undone_by_a_listing_that_does_not_mention_it():
    """A paper withdrawn after it was imported, then listed again without withdrawnAt
    (the older shape has no such field; a saved response or a paste from before):
    the withdrawal was erased, the paper left hidden with no reason given, and an
    editor's "Show again" put a withdrawn paper back on the site and in digests."""
    from newsletter.selectors import PAPER_VISIBLE

    listed = recorded(NEWER)
    papers_import(items=listed, trending_date=dt.date(2026, 3, 6))
    withdrawn = copy.deepcopy(listed)
    withdrawn[0]["paper"]["withdrawnAt"] = "2026-03-07T09:00:00.000Z"
    papers_import(items=withdrawn, trending_date=dt.date(2026, 3, 6))
    papers_import(items=listed, trending_date=dt.date(2026, 3, 6))
    Paper.objects.update(hidden=False)  # an editor's "Show again"

    paper = Paper.objects.get()
    assert paper.withdrawn_at == dt.datetime(2026, 3, 7, 9, tzinfo=dt.UTC)
    assert not Paper.objects.filter(PAPER_VISIBLE).exists()


# --- Malformed input: a clear message, nothing written ---------------------------------


@pytest.mark.django_db
def test_a_malformed_file_is_refused_naming_the_item_and_nothing_is_imported():
    PaperFactory(arxiv_id="2511.91001", upvotes=1, title="First Fine Paper")

    with pytest.raises(IngestError) as excinfo:
        papers_import_file(path=MALFORMED, trending_date=dt.date(2025, 11, 21))

    message = str(excinfo.value)
    assert str(MALFORMED) in message and "nothing imported" in message
    assert "item 3 (paper 2511.91003): paper.upvotes must be an integer, got 'abc'" in message
    # Neither the new fine papers nor the update of the existing one went in.
    assert list(Paper.objects.values_list("arxiv_id", "upvotes")) == [("2511.91001", 1)]


def _good_item() -> dict:
    return copy.deepcopy(recorded(OLDER)[1])


def _with(change) -> list:
    item = _good_item()
    change(item)
    return [_good_item(), item]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ({"error": "Invalid date"}, "top level: expected a JSON array of items, got dict"),
        ([_good_item(), "a string"], "item 2: must be an object, got str"),
        ([_good_item(), {"title": "No paper"}], "item 2: has no 'paper' object"),
        (_with(lambda i: (i["paper"].pop("title"), i.pop("title"))), "item 2 (paper 2410.16251): has no title"),
        (
            _with(lambda i: i["paper"].update(authors="Ada")),
            "item 2 (paper 2410.16251): paper.authors must be a list, got 'Ada'",
        ),
        (
            _with(lambda i: i["paper"].update(publishedAt="yesterday")),
            "paper.publishedAt must be an ISO 8601 date-time, got 'yesterday'",
        ),
        (
            _with(lambda i: i.update(numComments=-2)),
            "item 2 (paper 2410.16251): numComments must be zero or more, got -2",
        ),
        (
            _with(lambda i: i["paper"].update(upvotes=True)),
            "paper.upvotes must be an integer, got True",
        ),
    ],
    ids=["not-a-list", "item-not-object", "no-paper", "no-title", "authors", "date", "negative", "bool"],
)
@pytest.mark.django_db
def test_malformed_items_are_refused_with_what_and_where(items, expected):
    with pytest.raises(IngestError) as excinfo:
        papers_import(items=items, trending_date=dt.date(2024, 10, 25), source="upload.json")

    assert str(excinfo.value).startswith("upload.json: refused, nothing imported.")
    assert expected in str(excinfo.value)
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_every_problem_is_listed_at_once():
    items = recorded(OLDER)
    items[0]["paper"]["upvotes"] = "many"
    items[1]["numComments"] = "2"

    with pytest.raises(IngestError, match=r"2 problems: item 1 .*upvotes.*; item 2 .*numComments"):
        papers_import(items=items, trending_date=dt.date(2024, 10, 25))


@pytest.mark.django_db
def test_a_file_with_more_problems_than_shown_says_how_many_more():
    """Twelve bad items: the message names the first ten and says two more, so an
    editor fixing the file does not believe ten fixes will do."""
    items = [_good_item() for _ in range(12)]
    for n, item in enumerate(items):
        item["paper"]["id"] = f"2410.{n:05d}"
        item["paper"]["upvotes"] = "many"

    with pytest.raises(IngestError, match=r"12 problems: .*; and 2 more$"):
        papers_import(items=items, trending_date=dt.date(2024, 10, 25))


@pytest.mark.django_db
def test_an_entry_pasted_without_its_abstract_is_refused_when_one_is_required():
    """An editor's paste by hand (require_abstract) that lost the abstract is a
    half-copied entry: refused, naming it, and nothing imported."""
    item = _good_item()
    item["paper"].pop("summary")

    with pytest.raises(IngestError, match="has no abstract"):
        papers_import(items=[item], trending_date=dt.date(2024, 10, 25), require_abstract=True)
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_a_paper_listed_twice_in_one_response_keeps_its_later_listing():
    """Upvotes change while the API pages: the later listing is the fresher one."""
    first, later = _good_item(), _good_item()
    first["paper"]["upvotes"], later["paper"]["upvotes"] = 3, 40

    papers_import(items=[first, later], trending_date=dt.date(2024, 10, 25))

    assert list(Paper.objects.values_list("upvotes", flat=True)) == [40]


@pytest.mark.django_db
def test_an_organisation_without_a_full_name_is_shown_by_its_name():
    item = _good_item()
    item["paper"]["organization"] = {"name": "acme-ai"}

    papers_import(items=[item], trending_date=dt.date(2024, 10, 25))

    assert Paper.objects.get().organization == "acme-ai"


def test_a_title_in_full_width_letters_is_the_same_title():
    """A paste from a page set in full-width letters keys as the same title, so an
    entry without an arXiv id is not imported twice."""
    assert title_normalise("Ｗｅａｋ－ｔｏ－Ｓｔｒｏｎｇ Search") == title_normalise("Weak-to-Strong search")


@pytest.mark.django_db
def test_a_file_that_is_not_json_is_refused_with_its_position(tmp_path):
    path = tmp_path / "papers.json"
    path.write_text('[{"paper": {"title": "x"}},\n oops]')

    with pytest.raises(IngestError, match=r"papers.json: not valid JSON: .* line 2 column 2"):
        papers_import_file(path=path)
    with pytest.raises(IngestError, match="missing.json: cannot read"):
        papers_import_file(path=tmp_path / "missing.json")
    # Python's json refuses these with a ValueError and a RecursionError of its own.
    path.write_text('[{"paper": {"title": "x", "upvotes": ' + "9" * 5000 + "}}]")
    with pytest.raises(IngestError, match="papers.json: not valid JSON: a number of over 4300 digits"):
        papers_import_file(path=path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(IngestError, match="papers.json: not valid JSON: nested too deeply"):
        papers_import_file(path=path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
@pytest.mark.django_db
def test_a_saved_response_in_unicode_with_a_byte_order_mark_is_read(tmp_path, encoding):
    """Windows' editors and PowerShell's redirect save JSON with a byte order mark,
    or as UTF-16: the file was refused ("Unexpected UTF-8 BOM", "not UTF-8 text")."""
    items = recorded(OLDER)
    items[0]["paper"]["title"] = "Café: Ünïcode Titles — Done Right"
    path = tmp_path / "papers.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding=encoding)

    assert papers_import_file(path=path, trending_date=dt.date(2024, 10, 25)).created == 2
    assert Paper.objects.filter(title="Café: Ünïcode Titles — Done Right").exists()


@pytest.mark.django_db
def test_a_file_in_a_legacy_encoding_is_refused_saying_what_to_do(tmp_path):
    items = recorded(OLDER)
    items[0]["paper"]["title"] = "Café"
    path = tmp_path / "papers.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="latin-1")

    at = path.read_bytes().index(b"Caf\xe9") + 3  # where an editor finds the \xe9 in the file

    with pytest.raises(IngestError, match=r"papers.json: not Unicode text \(UTF-8, -16 or -32\): byte 0xe9 at "
                                          rf"position {at}; save it as UTF-8"):
        papers_import_file(path=path)
    assert Paper.objects.count() == 0


# --- manage.py fetch_papers and the Celery task ------------------------------------------


@pytest.mark.django_db
def test_fetch_papers_prints_a_summary_and_is_safe_to_rerun(hf_api):
    items = recorded(OLDER)
    later = copy.deepcopy(items)
    later[0]["paper"]["upvotes"] = 99
    for answer in (items, items, later):  # one at each call
        hf_api.respond("2024-10-25", answer)
    hf_api.respond("2024-10-26", [])  # a Saturday
    out = StringIO()

    call_command("fetch_papers", date="2024-10-25", stdout=out)
    call_command("fetch_papers", date="2024-10-25", stdout=out)
    call_command("fetch_papers", date="2024-10-25", stdout=out)
    call_command("fetch_papers", date="2024-10-26", stdout=out)

    assert out.getvalue().splitlines() == [
        "Imported 2 papers for 2024-10-25: 2 new, 0 updated, 0 unchanged",
        "Imported 2 papers for 2024-10-25: 0 new, 0 updated, 2 unchanged",
        "Imported 2 papers for 2024-10-25: 0 new, 1 updated, 1 unchanged",
        "Imported 0 papers for 2024-10-26: 0 new, 0 updated, 0 unchanged",
    ]
    assert Paper.objects.count() == 2


@pytest.mark.django_db
def test_fetch_papers_lists_what_it_left_out_of_the_apis_list(hf_api):
    """The API's list is taken without what cannot be read; the command says what."""
    items = recorded(OLDER)
    items[1]["numComments"] = "2"
    hf_api.respond("2024-10-25", items)
    out = StringIO()

    call_command("fetch_papers", date="2024-10-25", stdout=out)

    assert out.getvalue().splitlines() == [
        "Imported 2 papers for 2024-10-25: 2 new, 0 updated, 0 unchanged",
        "1 problem in the API's list:",
        "  item 2 (paper 2410.16251): numComments must be an integer, got '2' (left out)",
    ]


@pytest.mark.django_db
def test_fetch_papers_without_a_date_fetches_todays_list_in_utc(hf_api, settings, monkeypatch):
    """Hugging Face dates its lists in UTC: at 20:00 UTC on 25 October it is the 26th
    in Auckland, whose list does not exist yet."""
    from django.utils import timezone

    settings.TIME_ZONE = "Pacific/Auckland"
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2024, 10, 25, 20, 0, tzinfo=dt.UTC))
    hf_api.respond("2024-10-25", recorded(OLDER))
    out = StringIO()

    call_command("fetch_papers", stdout=out)

    assert [r["date"] for r in hf_api.requests] == ["2024-10-25"]
    assert out.getvalue().startswith("Imported 2 papers for 2024-10-25:")


@pytest.mark.django_db
def test_fetch_papers_imports_a_file(hf_api):
    out = StringIO()

    call_command("fetch_papers", file=str(NEWER), stdout=out)

    assert out.getvalue().strip() == f"Imported 1 paper from {NEWER}: 1 new, 0 updated, 0 unchanged"
    assert hf_api.requests == []
    assert Paper.objects.get().trending_date == dt.date(2026, 3, 6)  # the item's own day


@pytest.mark.django_db
def test_fetch_papers_lists_a_files_papers_on_the_date_given(hf_api):
    out = StringIO()

    call_command("fetch_papers", file=str(NEWER), date="2026-03-09", stdout=out)

    assert out.getvalue().strip() == "Imported 1 paper for 2026-03-09: 1 new, 0 updated, 0 unchanged"
    assert Paper.objects.get().trending_date == dt.date(2026, 3, 9)


@pytest.mark.django_db
def test_fetch_papers_turns_an_ingest_error_into_a_command_error(hf_api):
    with pytest.raises(CommandError, match="item 3 .*upvotes must be an integer, got 'abc'"):
        call_command("fetch_papers", file=str(MALFORMED), date="2025-11-21", stdout=StringIO())
    with pytest.raises(CommandError, match="--date must be YYYY-MM-DD, got '24/11/2025'"):
        call_command("fetch_papers", date="24/11/2025", stdout=StringIO())
    assert Paper.objects.count() == 0


@pytest.mark.django_db
def test_the_morning_task_fetches_the_day(hf_api):
    hf_api.respond("2024-10-25", recorded(OLDER))

    assert papers_fetch_today.delay("2024-10-25").get() == 2
    assert Paper.objects.count() == 2


@pytest.mark.django_db
def test_the_morning_fetch_brings_the_papers_listed_after_the_last_one_and_final_counts(
    hf_api, caplog, monkeypatch,
):
    """Papers are submitted to a date's list all day and upvoted for days. The
    morning task takes today's list and the list before it again: its late papers
    come in, its counts become the final ones, and an edition already sent keeps
    what readers got. Before, a paper listed after the morning fetch was never
    imported."""
    from newsletter import tasks
    from newsletter.editions import edition_assemble, edition_freeze
    from newsletter.models import EditionPaper

    def morning(day: dt.date) -> int:
        """The beat task as it runs at 05:30 UTC on `day` (no date given)."""
        at = dt.datetime.combine(day, dt.time(5, 30), tzinfo=dt.UTC)
        monkeypatch.setattr(tasks.timezone, "now", lambda: at)
        return papers_fetch_today.delay().get()

    early, late, friday_paper = _day_of(3)
    friday_paper["paper"]["title"] = "A paper of Friday"
    early["paper"]["upvotes"] = 3
    thursday, friday = dt.date(2025, 11, 20), dt.date(2025, 11, 21)

    hf_api.respond("2025-11-20", [early])
    assert morning(thursday) == 1  # Wednesday's list is not scripted (404): logged, not raised
    assert "Daily Papers for 2025-11-19 not refreshed" in caplog.text
    edition_freeze(edition=edition_assemble(date=thursday))  # sent to someone

    hf_api.scripts.clear()
    grown = copy.deepcopy(early)
    grown["paper"]["upvotes"] = 40
    hf_api.respond("2025-11-20", [grown, late])
    hf_api.respond("2025-11-21", [friday_paper])
    assert morning(friday) == 1  # today's

    by_title = {p.title: p for p in Paper.objects.all()}
    assert set(by_title) == {early["paper"]["title"], late["paper"]["title"], "A paper of Friday"}
    assert by_title[late["paper"]["title"]].trending_date == thursday
    assert by_title[early["paper"]["title"]].upvotes == 40
    assert by_title["A paper of Friday"].trending_date == friday
    assert list(EditionPaper.objects.filter(edition__date=thursday).values_list("paper__title", flat=True)) == [
        early["paper"]["title"]]

    # On a Monday the list before is Friday's (weekend dates have none).
    hf_api.requests.clear()
    hf_api.respond("2025-11-24", [_day_of(4)[3]])
    morning(dt.date(2025, 11, 24))
    assert [r["date"] for r in hf_api.requests] == ["2025-11-24", "2025-11-21"]


@pytest.mark.django_db
def test_the_morning_fetch_says_papers_came_after_the_last_fetch_only_when_there_was_one(hf_api, caplog):
    """The first morning fetch of a deploy logged "Daily Papers for 2026-12-04: 73 papers
    listed after the last fetch": there had been no fetch of that day before."""
    early, late, friday_paper = _day_of(3)
    thursday, friday = dt.date(2025, 11, 20), dt.date(2025, 11, 21)
    hf_api.respond("2025-11-20", [early])
    hf_api.respond("2025-11-21", [friday_paper])
    caplog.set_level("INFO")

    papers_fetch_today.delay(friday.isoformat()).get()
    assert "Daily Papers for 2025-11-20: 1 papers, 1 new" in caplog.text
    assert "after the last fetch" not in caplog.text

    caplog.clear()
    hf_api.scripts.clear()
    hf_api.respond("2025-11-20", [early, late])
    hf_api.respond("2025-11-21", [friday_paper])
    papers_fetch_today.delay(friday.isoformat()).get()
    assert f"Daily Papers for {thursday.isoformat()}: 1 papers listed after the last fetch" in caplog.text


@pytest.mark.django_db
def test_a_morning_api_outage_is_ridden_out_for_twelve_hours_for_the_same_day(hf_api, monkeypatch):
    """The API down at 05:30 (503 after the client's own retries): the task tries
    again after 1, 2, 4, 8, 16 minutes and then every half hour (each up to half as
    long again), for 12 hours at least, always for the day it was started for.
    Before, it gave up after five tries (about half an hour), and nobody got that
    day's papers."""
    from celery.exceptions import Retry

    from newsletter import tasks

    hf_api.respond("2025-11-21", {"error": "Service Unavailable"}, status=503)
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2025, 11, 21, 5, 30, tzinfo=dt.UTC))
    waits, kwargs = [], {}
    while sum(waits) < 12 * 3600:
        with pytest.raises(Retry) as retry:
            papers_fetch_today.apply(kwargs=kwargs, retries=len(waits), throw=True)
        waits.append(retry.value.when)
        kwargs = retry.value.sig.kwargs
        assert kwargs == {"date": "2025-11-21"}
    for n, wait in enumerate(waits):
        least = min(60 * 2**n, 1800)
        assert least <= wait <= least * 1.5
    assert len(waits) <= tasks.FETCH_RETRIES
    # It gives up, saying why, while still inside the day of a 05:30 start.
    assert sum(min(60 * 2**n, 1800) * 1.5 for n in range(tasks.FETCH_RETRIES)) < 18.5 * 3600
    with pytest.raises(IngestUnavailable):
        papers_fetch_today.apply(kwargs=kwargs, retries=tasks.FETCH_RETRIES, throw=True)

    # Back in the afternoon, or even after midnight: the list comes in under its day.
    hf_api.scripts.clear()
    hf_api.respond("2025-11-21", recorded(NEWER))
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2025, 11, 22, 0, 30, tzinfo=dt.UTC))
    assert papers_fetch_today.apply(kwargs=kwargs, retries=20, throw=True).get() == 1
    assert Paper.objects.get().trending_date == dt.date(2025, 11, 21)


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>",  # Cloudflare
    json.dumps(recorded(OLDER)).encode()[:700],  # cut short
    b"",
    b"[" * 100_000,  # past Python's json (a RecursionError crashed the task)
])
@pytest.mark.django_db
def test_a_morning_answer_that_is_not_json_is_tried_again_not_the_day_lost(hf_api, monkeypatch, body):
    """A 200 whose body is a CDN's page or a list cut short is the API having a bad
    moment, not a list it sends: tried again like a 503. Before, the task gave up at
    once (IngestError) and nobody got that day's papers."""
    from celery.exceptions import Retry

    from newsletter import tasks

    hf_api.respond("2025-11-21", body)
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2025, 11, 21, 5, 30, tzinfo=dt.UTC))

    with pytest.raises(Retry) as retry:
        papers_fetch_today.apply(throw=True)

    hf_api.scripts.clear()
    hf_api.respond("2025-11-21", recorded(NEWER))
    assert papers_fetch_today.apply(kwargs=retry.value.sig.kwargs, retries=1, throw=True).get() == 1


def _day_of(count: int) -> list:
    template = recorded(NEWER)[0]
    items = []
    for n in range(count):
        item = copy.deepcopy(template)
        item["paper"]["id"] = f"2511.{80000 + n}"
        item["paper"]["title"] = f"Paper number {n} of a busy day"
        items.append(item)
    return items


def _paper_queries(items: list) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        papers_import(items=items, trending_date=dt.date(2025, 11, 20))
    # Topic scoring (newsletter/relevance.py) has its own budget and tests.
    return sum('"newsletter_paper"' in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_a_day_is_written_in_a_fixed_number_of_queries_however_many_papers():
    from newsletter.embeddings import topic_vectors
    from newsletter.models import Topic

    topic_vectors(topics=list(Topic.objects.filter(is_active=True)))  # embedded once, then read
    small, busy = _day_of(2), _day_of(25)
    insert_small = _paper_queries(small)
    insert_busy = _paper_queries(busy[2:])  # the two of `small` are in `busy` too
    same_small = _paper_queries(small)
    same_busy = _paper_queries(busy)
    for item in busy:
        item["paper"]["upvotes"] += 1
    update_small = _paper_queries(busy[:2])
    update_busy = _paper_queries(busy)

    # New papers: one lookup, one INSERT, then one UPDATE of their embeddings
    # (relevance.papers_score). Known papers listed again as they are: the lookup
    # alone. Known papers of new counts but unchanged text: one lookup, one UPDATE,
    # and one read of their pages' keys (page_cache.pages_changed reads them when
    # called, so that a paper deleted in the same transaction still has its page
    # refreshed); their vectors stay.
    assert (insert_small, insert_busy) == (3, 3)
    assert (same_small, same_busy) == (1, 1)
    assert (update_small, update_busy) == (3, 3)


@pytest.mark.django_db
def test_an_abstracts_tex_styling_is_read_as_plain_text():
    """arXiv abstracts come with their TeX: the pages and emails showed "{bf x}" and
    ``quotes''. Styling goes, the words stay; math with commands, and prices, stay."""
    items = recorded(OLDER)
    items[0]["paper"]["summary"] = (
        "We first mask a number in the question by {\\bf x}. The template: ``If we know the\n"
        "answer, what is {bf x}?'' We use \\emph{backward} reasoning and \\textbf{FOBAR},\n"
        "$k$-means and $O(n^2)$ search, a loss $\\mathcal{L}_{\\alpha}$, at $5 and $10 a run."
    )
    papers_import(items=items, trending_date=dt.date(2024, 10, 25))

    abstract = Paper.objects.get(arxiv_id=items[0]["paper"]["id"]).abstract
    assert abstract == (
        "We first mask a number in the question by x. The template: \u201cIf we know the answer, "
        "what is x?\u201d We use backward reasoning and FOBAR, k-means and O(n^2) search, a loss "
        "$\\mathcal{L}_{\\alpha}$, at $5 and $10 a run."
    )


@pytest.mark.django_db
def test_the_sample_days_paper_pages_show_no_tex_styling(client):
    """The sample page's FOBAR abstract showed "{bf x}" and ``…'' on its paper page."""
    papers_import_file(path=Path(ingest.__file__).parent / "fixtures" / "daily_papers_2025-11-24.json")
    fobar = Paper.objects.get(title__startswith="Forward-Backward Reasoning")

    page = client.get(fobar.get_absolute_url()).content.decode()

    assert "by x. The LLM" in page and "{bf" not in page and "``" not in page
    assert "“If we know the answer to the above question is {A}" in page
    # Another of the day's abstracts escapes its per cents, as TeX has them written.
    percents = Paper.objects.get(abstract__contains="up to 12.2")
    page = client.get(percents.get_absolute_url()).content.decode()
    assert "up to 12.2% for" in page and "\\%" not in page


@pytest.mark.django_db
def test_a_titles_and_abstracts_math_that_reads_as_text_is_text():
    """Titles and abstracts as arXiv has them: "up to 12.2\\%", "3$\\times$ faster",
    "$\\pi_0$: A Vision-Language-Action Flow Model" reached the digest as written.
    Escaped characters are themselves; inline math whose commands are all symbols
    is its characters; math with any other command stays whole."""
    items = recorded(OLDER)
    items[0]["paper"]["title"] = "$\\pi_0$: A Vision-Language-Action Flow Model, 3$\\times$ Faster"
    items[0]["paper"]["summary"] = (
        "Up to 12.2\\% better on R\\&D tasks, $40\\%$ fewer tokens, $\\sim$10k steps, $\\alpha$-entmax "
        "at $\\geq 90\\%$ recall, a loss $\\mathcal{L}_{\\alpha}$ in $\\mathbb{R}^d$, for \\$5 a run.")
    papers_import(items=items, trending_date=dt.date(2024, 10, 25))

    paper = Paper.objects.get(arxiv_id=items[0]["paper"]["id"])
    assert paper.title == "π_0: A Vision-Language-Action Flow Model, 3× Faster"
    assert paper.abstract == (
        "Up to 12.2% better on R&D tasks, 40% fewer tokens, ~10k steps, α-entmax at ≥ 90% recall, "
        "a loss $\\mathcal{L}_{\\alpha}$ in $\\mathbb{R}^d$, for $5 a run.")


GREEK_LETTERS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa", "lambda", "mu",
                 "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
                 "Gamma", "Delta", "Theta", "Lambda", "Pi", "Sigma", "Phi", "Psi", "Omega"]


def test_each_greek_letter_of_tex_math_is_shown_as_that_letter():
    """A title's "$\\sigma$-algebra" or "$\\Lambda$CDM" reads as the letter TeX prints:
    each of TEX_SYMBOLS' Greek letters is the Unicode letter of its name (Unicode
    spells lambda "lamda"), in its case; a sigma is never the word-final ς."""
    import unicodedata

    for name in GREEK_LETTERS:
        shown = ingest.tex_plain(f"${chr(92)}{name}$-test")
        case = "CAPITAL" if name[0].isupper() else "SMALL"
        assert unicodedata.name(shown[0]) == f"GREEK {case} LETTER {name.upper().replace('LAMBDA', 'LAMDA')}"
        assert shown[1:] == "-test", name


def test_math_with_a_spacing_or_brace_command_is_left_whole():
    """"$\\sim\\!$10k" and "$\\{0, 1\\}^n$" hold commands that are no letter's name
    (a thin space, a brace): turned to text they would show their backslashes
    ("~\\!10k"), so the math is left as written, dollars and all."""
    for written in ("$\\sim\\!$10k steps", "codes over $\\{0, 1\\}^n$", "$\\times\\,2$ faster"):
        assert ingest.tex_plain(written) == written


def test_an_escaped_dollar_opens_no_math():
    """"at \\$0.50/$10^6$ tokens": the escaped dollar is a price, not the start of
    math reaching the next dollar (which showed "at \\0.50/10^6$ tokens")."""
    assert ingest.tex_plain("at \\$0.50/$10^6$ tokens") == "at $0.50/10^6 tokens"


def test_math_of_symbols_reads_as_text_up_to_a_line_of_forty_characters():
    """Math that reads as text is read so whatever its length up to 40 characters
    ("$\\epsilon \\approx 0.1$", 20): only longer spans are left whole, so that two
    prices' dollars far apart are never read as one span."""
    assert ingest.tex_plain("with $\\epsilon \\approx 0.1$ and $\\alpha \\to \\beta \\to \\gamma \\to \\delta$") == (
        "with ε ≈ 0.1 and α → β → γ → δ")
    longer = "$\\alpha \\to \\beta \\to \\gamma \\to \\delta \\to \\epsilon$"
    assert ingest.tex_plain(longer) == longer


@pytest.mark.django_db
def test_a_paper_listed_after_the_morning_fetch_reaches_the_next_days_digest_once(
    hf_api, monkeypatch, mailoutbox, django_capture_on_commit_callbacks,
):
    """A paper listed on Thursday after Thursday's digests went out comes in with
    Friday morning's refresh of Thursday's list, and joins Friday's edition: the
    daily reader who had Thursday's digest gets it on Friday, saying it was added to
    Thursday's list after its digest, and never again. Thursday's edition keeps what
    its readers got. Before 5 December 2026 such a paper reached the site and no
    digest."""
    from django.db.models import Q

    from newsletter import tasks
    from newsletter.delivery import digests_dispatch
    from newsletter.models import Delivery, Edition, Topic
    from tests.factories import SubscriberFactory

    reader = SubscriberFactory(delivery_hour=7, time_zone="UTC")
    reader.topics.add(Topic.objects.get(slug="vision-language"))

    def morning(day: dt.date) -> None:
        """The beat task at 05:30 UTC on `day`, then the dispatcher at 07:00 (the
        runs between took nobody)."""
        at = dt.datetime.combine(day, dt.time(5, 30), tzinfo=dt.UTC)
        monkeypatch.setattr(tasks.timezone, "now", lambda: at)
        papers_fetch_today.delay().get()
        at = dt.datetime.combine(day, dt.time(7), tzinfo=dt.UTC)
        Edition.objects.filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=at)).update(
            dispatched_at=at - dt.timedelta(minutes=15))
        with django_capture_on_commit_callbacks(execute=True):
            digests_dispatch(now=at)

    early, late, friday_paper, monday_paper = _day_of(4)
    thursday, friday, monday = dt.date(2025, 11, 20), dt.date(2025, 11, 21), dt.date(2025, 11, 24)
    titles = {"early": early["paper"]["title"], "late": late["paper"]["title"],
              "friday": friday_paper["paper"]["title"], "monday": monday_paper["paper"]["title"]}

    hf_api.respond("2025-11-20", [early])
    morning(thursday)
    hf_api.scripts.clear()
    hf_api.respond("2025-11-20", [early, late])  # `late` listed after 05:30 on Thursday
    hf_api.respond("2025-11-21", [friday_paper])
    morning(friday)
    hf_api.scripts.clear()
    hf_api.respond("2025-11-21", [friday_paper])
    hf_api.respond("2025-11-24", [monday_paper])
    morning(monday)

    got = {d.edition.date: sorted(Paper.objects.filter(id__in=d.paper_ids).values_list("title", flat=True))
           for d in Delivery.objects.filter(subscriber=reader, status="sent").select_related("edition")}
    assert got == {thursday: [titles["early"]],
                   friday: sorted([titles["late"], titles["friday"]]),
                   monday: [titles["monday"]]}
    assert len(mailoutbox) == 3
    friday_mail = mailoutbox[1]
    assert f"{titles['late']}\n" in friday_mail.body
    late_card = " ".join(friday_mail.body.split(titles["late"])[1].split("Read:")[0].split())  # unwrapped
    assert "added to Thursday’s list after its edition went out" in late_card
    friday_card = " ".join(friday_mail.body.split(titles["friday"])[1].split("Read:")[0].split())
    assert "after its edition went out" not in friday_card
    html = friday_mail.alternatives[0][0]
    assert "added to Thursday’s list after its edition went out" in html
    # Thursday's edition is what its readers got; the late paper is in Friday's only.
    assert list(Edition.objects.get(date=thursday).entries.values_list("paper__title", flat=True)) == [
        titles["early"]]
    assert Paper.objects.get(title=titles["late"]).trending_date == thursday


@pytest.mark.django_db
def test_a_late_paper_the_refresh_brings_after_the_next_edition_went_out_joins_the_one_after(
    hf_api, monkeypatch,
):
    """Monday's edition went out before Monday's refresh of Friday's list landed (a
    dispatcher run between the two fetches, a slow API): Friday's late paper joins
    Tuesday's edition, once. A refresh that runs out of the task's time (a
    rate-limited API's Retry-After) leaves today's papers in and the task done."""
    from celery.exceptions import SoftTimeLimitExceeded

    from newsletter import tasks
    from newsletter.editions import edition_assemble, edition_freeze
    from newsletter.models import Edition

    early, late, monday_paper, tuesday_paper = _day_of(4)
    friday, monday, tuesday = dt.date(2025, 11, 21), dt.date(2025, 11, 24), dt.date(2025, 11, 25)
    papers_import(items=[early], trending_date=friday)
    edition_freeze(edition=edition_assemble(date=friday))

    hf_api.respond("2025-11-24", [monday_paper])
    fetch = ingest.papers_fetch_and_import

    def out_of_time_for_friday(*, date):
        if date == friday:
            raise SoftTimeLimitExceeded()
        return fetch(date=date)

    monkeypatch.setattr(ingest, "papers_fetch_and_import", out_of_time_for_friday)
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2025, 11, 24, 5, 30, tzinfo=dt.UTC))
    assert papers_fetch_today.delay().get() == 1  # Monday's papers in, the refresh left
    edition_freeze(edition=edition_assemble(date=monday))
    monkeypatch.setattr(ingest, "papers_fetch_and_import", fetch)
    hf_api.respond("2025-11-21", [early, late])  # the refresh lands later
    papers_fetch_and_import(date=friday)
    papers_import(items=[tuesday_paper], trending_date=tuesday)

    def titles(edition: Edition) -> set[str]:
        return set(edition.entries.values_list("paper__title", flat=True))

    assert titles(edition_assemble(date=tuesday)) == {late["paper"]["title"], tuesday_paper["paper"]["title"]}
    assert titles(Edition.objects.get(date=monday)) == {monday_paper["paper"]["title"]}
    assert titles(Edition.objects.get(date=friday)) == {early["paper"]["title"]}


@pytest.mark.django_db
def test_a_morning_fetch_out_of_time_is_tried_again_for_the_same_day(hf_api, monkeypatch):
    """A rate-limited API (429 with Retry-After, honoured up to 120 s four times) can
    take today's fetch past the task's soft time limit: the task is tried again later
    for the same date, as during an outage. Before, it failed for good and nobody got
    that day's papers."""
    from celery.exceptions import Retry, SoftTimeLimitExceeded

    from newsletter import tasks

    def out_of_time(*, date):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(ingest, "papers_fetch_and_import", out_of_time)
    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2025, 11, 24, 5, 30, tzinfo=dt.UTC))
    with pytest.raises(Retry) as retry:
        papers_fetch_today.apply(throw=True)
    assert retry.value.sig.kwargs == {"date": "2025-11-24"}
    assert retry.value.when >= 60


@pytest.mark.django_db
def test_a_weekdays_list_still_empty_at_the_morning_fetch_is_tried_again_until_noon(hf_api, monkeypatch):
    """Nothing listed yet at 05:30 UTC on a Thursday: the task tries again every half
    hour for that date, and the list that comes at 09:00 is in. At noon an empty list
    is a quiet day, and a Saturday's is empty by nature: no retry. Before, an empty
    morning list counted as a quiet day, and the papers listed later that day reached
    no digest."""
    from celery.exceptions import Retry

    from newsletter import tasks

    def at(hour: int, minute: int = 0, day: int = 20):
        moment = dt.datetime(2025, 11, day, hour, minute, tzinfo=dt.UTC)
        monkeypatch.setattr(tasks.timezone, "now", lambda: moment)

    hf_api.respond("2025-11-20", [])
    at(5, 30)
    with pytest.raises(Retry) as retry:
        papers_fetch_today.apply(throw=True)
    assert retry.value.sig.kwargs == {"date": "2025-11-20"}
    assert retry.value.when == tasks.EMPTY_LIST_RETRY_SECONDS < django_settings.CELERY_BROKER_TRANSPORT_OPTIONS[
        "visibility_timeout"]

    hf_api.scripts.clear()
    hf_api.respond("2025-11-20", recorded(NEWER))
    at(9, 0)
    assert papers_fetch_today.apply(kwargs=retry.value.sig.kwargs, retries=7, throw=True).get() == 1
    assert Paper.objects.get().trending_date == dt.date(2025, 11, 20)

    hf_api.respond("2025-11-21", [])
    at(12, 0, day=21)
    assert papers_fetch_today.apply(kwargs={"date": "2025-11-21"}, throw=True).get() == 0
    hf_api.respond("2025-11-22", [])
    at(5, 30, day=22)  # a Saturday
    assert papers_fetch_today.apply(throw=True).get() == 0


# --- The API's list: one bad field of one paper does not cost the day -----------------


def _twenty_listed(date: str) -> list:
    """A day of 20 papers in the API's own shape (the recorded 2026-03-06 item)."""
    items = _day_of(20)
    for item in items:
        item["paper"]["submittedOnDailyAt"] = f"{date}T03:55:12.777Z"
    return items


@pytest.mark.parametrize(("spoil", "field", "attribute", "stored", "default"), [
    (lambda item: item["paper"].update(upvotes="12"), "paper.upvotes", "upvotes", 7, 0),
    (lambda item: item["paper"].update(organization="meta"), "paper.organization",
     "organization", "Meta AI", ""),
    (lambda item: item["paper"]["authors"][1].update(hidden="false"), "paper.authors[1].hidden",
     "authors", ["Ada Lovelace"], []),
], ids=["upvotes-a-string", "organization-a-string", "author-hidden-a-string"])
@pytest.mark.django_db
def test_one_unreadable_field_of_one_paper_leaves_that_field_out_not_the_day(
    hf_api, monkeypatch, caplog, spoil, field, attribute, stored, default,
):
    """The morning fetch of a day of 20 papers, one of which has a field the API got
    wrong: the 20 are imported, 19 as listed, the bad one without that field (its
    stored value kept, a new paper's default), and the problem is kept and logged
    naming the paper, the field and its value. Before, the day was refused whole
    (IngestError, not retried): readers got no digest."""
    from newsletter import tasks

    monkeypatch.setattr(tasks.timezone, "now", lambda: dt.datetime(2026, 3, 6, 7, 2, tzinfo=dt.UTC))
    items = _twenty_listed("2026-03-06")
    spoil(items[4])
    spoil(items[9])
    PaperFactory(arxiv_id=items[4]["paper"]["id"], trending_date=dt.date(2026, 3, 6),
                 **{attribute: stored})
    hf_api.respond("2026-03-06", items)

    with caplog.at_level("WARNING", logger="newsletter.ingest"):
        assert papers_fetch_today.apply(kwargs={"date": "2026-03-06"}, throw=True).get() == 20

    papers = {p.arxiv_id: p for p in Paper.objects.all()}
    assert len(papers) == 20
    assert getattr(papers[items[4]["paper"]["id"]], attribute) == stored  # kept
    assert getattr(papers[items[9]["paper"]["id"]], attribute) == default  # a new paper's
    fine = papers[items[0]["paper"]["id"]]
    assert (fine.upvotes, fine.organization, len(fine.authors)) == (10, "Multimedia and Human Understanding Group", 5)
    assert all(p.title for p in papers.values())
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for index in (4, 9):
        where = f"item {index + 1} (paper {items[index]['paper']['id']})"
        assert any(where in line and f"{field} must be" in line and line.endswith("(left out)") for line in said), said


@pytest.mark.django_db
def test_an_item_of_the_api_without_a_title_is_skipped_and_named(hf_api):
    """An item the API lists without a title (nor an id that can be read) cannot be a
    paper: it is skipped, named in the result, and the rest of the day imported."""
    items = _twenty_listed("2026-03-06")
    items[2]["paper"].pop("title")
    items[2].pop("title")
    items[6]["paper"]["id"] = 2603.1
    hf_api.respond("2026-03-06", items)

    result = papers_fetch_and_import(date=dt.date(2026, 3, 6))

    assert result.created == 18 == Paper.objects.count()
    assert [str(p) for p in result.problems] == [
        f"item 3 (paper {items[2]['paper']['id']}): has no title (paper skipped)",
        'item 7 ("Paper number 6 of a busy day"): paper.id must be a string, got 2603.1 (paper skipped)',
    ]


@pytest.mark.django_db
def test_an_api_list_of_which_nothing_can_be_read_is_still_refused(hf_api):
    """Leniency is for a bad field or item, not a list none of which is a paper."""
    hf_api.respond("2026-03-06", [{"title": "No paper"}, "a string"])

    with pytest.raises(IngestError, match="refused, nothing imported. 2 problems: item 1: has no 'paper'"):
        papers_fetch_and_import(date=dt.date(2026, 3, 6))


@pytest.mark.parametrize(("spoil", "left_out"), [
    (lambda i: i["paper"].update(summary=5), {"abstract": ""}),
    (lambda i: i["paper"].update(ai_summary=["a"]), {"ai_summary": ""}),
    (lambda i: i["paper"].update(ai_keywords="agents"), {"ai_keywords": []}),
    (lambda i: i["paper"].update(authors=[{"name": 5}]), {"authors": [], "author_count": 0}),
    (lambda i: i["paper"].update(publishedAt="yesterday"), {"published_on": None}),
    (lambda i: i["paper"].update(submittedOnDailyAt="this morning"), {}),
    (lambda i: i["paper"].update(githubStars=-1), {"github_stars": None}),
    (lambda i: i["paper"].update(githubRepo=["x"]), {"github_repo": ""}),
    (lambda i: i["paper"].update(withdrawnAt=3), {"withdrawn_at": None}),
    (lambda i: i.update(numComments="2"), {"num_comments": 0}),
    (lambda i: i.update(thumbnail={}), {"thumbnail_url": ""}),
    (lambda i: (i["paper"].pop("organization"), i["organization"].update(name=5)),
     {"organization": "", "organization_slug": ""}),
], ids=lambda v: "-".join(v) if isinstance(v, dict) else None)
@pytest.mark.django_db
def test_each_optional_field_of_the_api_that_cannot_be_read_is_left_out_alone(spoil, left_out):
    """Every optional field the importer reads: unreadable in the API's list, the
    paper comes in with that field at its default and the rest as listed."""
    item = recorded(NEWER)[0]
    spoil(item)

    result = papers_import(items=[item], trending_date=dt.date(2026, 3, 6), source="API", lenient=True)

    paper = Paper.objects.get()
    assert result.created == 1 and [p.outcome for p in result.problems] == ["left out"]
    assert {name: getattr(paper, name) for name in left_out} == left_out
    assert (paper.title, paper.upvotes, paper.trending_date) == (
        "Large Multimodal Models as General In-Context Classifiers", 10, dt.date(2026, 3, 6))
