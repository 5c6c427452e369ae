"""The morning fetch's outcome for the editors (models.PaperFetch, written by
tasks.papers_fetch_today through ingest.paper_fetch_record): recorded at every
attempt, against the recorded-response HTTP server of test_ingest, and shown on the
edition page and the dashboard."""

import datetime as dt
import re
import threading

import pytest
from celery.exceptions import Retry
from django.urls import reverse
from django.utils import timezone

from newsletter import tasks
from newsletter.editions import edition_assemble
from newsletter.ingest import IngestError
from newsletter.models import Edition, PaperFetch
from newsletter.tasks import papers_fetch_today
from tests.factories import PaperFactory
from tests.newsletter.test_ingest import NEWER, hf_api, recorded  # noqa: F401 (hf_api: a fixture)

FRIDAY = dt.date(2025, 11, 21)


def _at(monkeypatch, hour: int, minute: int = 0, day: dt.date = FRIDAY) -> dt.datetime:
    moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _empty_edition_page(client, date: dt.date) -> str:
    """The edition page of a date without papers, as text."""
    edition = Edition.objects.create(date=date)
    return _text(client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode())


@pytest.fixture
def thursday_edition(db):
    """The newest edition with papers: what "Today's edition" opens while Friday's are not in."""
    for n in range(2):
        PaperFactory(trending_date=FRIDAY - dt.timedelta(days=1), title=f"Thursday paper {n}")
    return edition_assemble(date=FRIDAY - dt.timedelta(days=1))


@pytest.mark.django_db
def test_an_api_outage_is_recorded_at_each_try_and_told_on_the_edition_page(
    hf_api, monkeypatch, editor_client, thursday_edition,  # noqa: F811
):
    """Hugging Face answering 503 all morning: each try is recorded, and the editor
    opening today's edition (Thursday's, the newest with papers) and Friday's empty
    one reads why Friday has no papers and when it is tried again. Before, the pages
    said "They are fetched every morning"."""
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 7, 2)
    with pytest.raises(Retry) as retry:
        papers_fetch_today.apply(throw=True)
    _at(monkeypatch, 7, 4)
    with pytest.raises(Retry):
        papers_fetch_today.apply(kwargs=retry.value.sig.kwargs, retries=1, throw=True)

    fetch = PaperFetch.objects.get(date=FRIDAY)
    assert (fetch.outcome, fetch.attempts, fetch.cause) == ("unavailable", 2, "HTTP 503")
    assert fetch.attempted_at == dt.datetime(2025, 11, 21, 7, 4, tzinfo=dt.UTC)
    assert dt.timedelta(minutes=2) <= fetch.next_attempt_at - fetch.attempted_at <= dt.timedelta(minutes=3)
    # The last of its 28 retries at the earliest: 12 hours on (1, 2, 4, 8, 16 minutes, then half hours).
    assert fetch.tries_until == fetch.attempted_at + dt.timedelta(hours=12)

    response = editor_client.get(reverse("admin:newsletter_edition_today"), follow=True)
    text = _text(response.content.decode())
    said = (f"The morning fetch at 07:04 UTC could not reach Hugging Face (HTTP 503), 2 tries so far; "
            f"it is tried again at {fetch.next_attempt_at:%H:%M} UTC, and until about "
            "19:04 UTC. Readers get no papers of Friday 21 "
            "November 2025 until then.")
    assert "Today’s papers are not in: this is the edition of Thursday 20 November 2025." in text
    assert said in text

    text = _empty_edition_page(editor_client, FRIDAY)
    assert said in text and "They are fetched every morning" not in text


@pytest.mark.django_db
def test_a_fetch_that_ran_out_of_tries_says_so(hf_api, monkeypatch, editor_client):  # noqa: F811
    hf_api.respond(FRIDAY.isoformat(), {"error": "Bad Gateway"}, status=502)
    _at(monkeypatch, 23, 40)
    with pytest.raises(IngestError):
        papers_fetch_today.apply(kwargs={"date": FRIDAY.isoformat()}, retries=tasks.FETCH_RETRIES, throw=True)

    text = _empty_edition_page(editor_client, FRIDAY)
    assert ("The morning fetch at 23:40 UTC could not reach Hugging Face (HTTP 502); it has stopped trying. "
            "Fetch the day again with manage.py fetch_papers --date 2025-11-21 once Hugging Face answers.") in text


@pytest.mark.django_db
def test_a_list_still_empty_says_until_when_it_is_asked_again(hf_api, monkeypatch, editor_client):  # noqa: F811
    hf_api.respond(FRIDAY.isoformat(), [])
    _at(monkeypatch, 5, 30)
    with pytest.raises(Retry):
        papers_fetch_today.apply(throw=True)

    text = _empty_edition_page(editor_client, FRIDAY)
    assert ("Hugging Face listed nothing yet for Friday 21 November 2025 (asked at 05:30 UTC); tried again every "
            "30 minutes until 12:00 UTC.") in text


@pytest.mark.django_db
def test_a_refused_day_and_fields_left_out_are_on_the_dashboard(hf_api, monkeypatch, editor_client):  # noqa: F811
    """Today's fetch refused (a list that is no list) is on the dashboard with what
    it said; a day imported with a field left out names the paper and the field; a
    day that went well shows nothing."""
    dashboard = reverse("admin:newsletter_dashboard")
    hf_api.respond(FRIDAY.isoformat(), {"error": "Invalid date"})
    _at(monkeypatch, 7, 2)
    with pytest.raises(IngestError):
        papers_fetch_today.apply(throw=True)
    assert PaperFetch.objects.get(date=FRIDAY).outcome == "refused"
    text = _text(editor_client.get(dashboard).content.decode())
    assert ("This morning’s papers The morning fetch at 07:02 UTC got Hugging Face’s list for Friday 21 November 2025, "
            "but nothing in it could be read") in text.replace("'", "’")
    assert "expected a JSON array of items, got dict" in text

    items = recorded(NEWER)
    items[0]["paper"]["upvotes"] = "12"
    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), items)
    _at(monkeypatch, 7, 40)
    assert papers_fetch_today.apply(throw=True).get() == 1
    fetch = PaperFetch.objects.get(date=FRIDAY)
    assert (fetch.outcome, fetch.attempts, fetch.created, fetch.problems_count) == ("imported", 2, 1, 1)
    text = _text(editor_client.get(dashboard).content.decode())
    assert ("The morning fetch at 07:40 UTC imported 1 new and 0 updated papers of Friday 21 November 2025, with 1 "
            "problem in Hugging Face’s list") in text.replace("'", "’")
    assert "item 1 (paper 2602.23229): paper.upvotes must be an integer, got &#x27;12&#x27; (left out)" in text

    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    _at(monkeypatch, 8, 0)
    assert papers_fetch_today.apply(throw=True).get() == 1
    assert "This morning’s papers" not in _text(editor_client.get(dashboard).content.decode())


@pytest.mark.django_db
def test_a_failure_made_good_by_hand_is_no_longer_told(
    hf_api, monkeypatch, editor_client, thursday_edition,  # noqa: F811
):
    """The fetch refused at 07:02, then an operator's fetch_papers --date brings the
    day in: the dashboard and Thursday's edition no longer say today's papers are
    missing (the record is the task's, and stays as it left it)."""
    from io import StringIO

    from django.core.management import call_command

    hf_api.respond(FRIDAY.isoformat(), {"error": "Invalid date"})
    _at(monkeypatch, 7, 2)
    with pytest.raises(IngestError):
        papers_fetch_today.apply(throw=True)
    thursday = reverse("admin:newsletter_edition_change", args=[thursday_edition.pk])
    assert "Today’s papers are not in" in _text(editor_client.get(thursday).content.decode())

    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    call_command("fetch_papers", date=FRIDAY.isoformat(), stdout=StringIO())

    assert "Today’s papers are not in" not in _text(editor_client.get(thursday).content.decode())
    dashboard = _text(editor_client.get(reverse("admin:newsletter_dashboard")).content.decode())
    assert "This morning’s papers" not in dashboard


@pytest.mark.django_db
def test_a_weekend_says_it_has_no_list_not_that_it_is_tried_again(hf_api, monkeypatch, editor_client):  # noqa: F811
    saturday = FRIDAY + dt.timedelta(days=1)
    hf_api.respond(saturday.isoformat(), [])
    _at(monkeypatch, 5, 30, day=saturday)
    assert papers_fetch_today.apply(throw=True).get() == 0

    assert ("Hugging Face listed nothing for Saturday 22 November 2025 (asked at 05:30 UTC). It is not asked again: "
            "a weekend or a quiet day has no list.") in _empty_edition_page(editor_client, saturday)


@pytest.mark.django_db
def test_the_second_fetch_of_the_day_before_is_recorded_and_told_without_alarm(
    hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """Monday's task fetches Monday, then Friday's list again (ingest.papers_fetch_morning).
    That second fetch only logged its problems: Friday's record still said its morning
    went well. Now it is Friday's record; Hugging Face unreachable then is told on the
    dashboard and Friday's edition page as a status, not a red alert (Friday's papers
    are in and were sent; what is missing is papers listed late and the final votes),
    and a field it left out names the paper."""
    monday = FRIDAY + dt.timedelta(days=3)
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    _at(monkeypatch, 7, 0)
    papers_fetch_today.apply(throw=True)
    friday_edition = edition_assemble(date=FRIDAY)

    hf_api.scripts.clear()
    hf_api.respond(monday.isoformat(), recorded(NEWER))
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 7, 2, day=monday)
    assert papers_fetch_today.apply(throw=True).get() == 1

    fetch = PaperFetch.objects.get(date=FRIDAY)
    assert (fetch.outcome, fetch.attempts, fetch.cause) == ("unavailable", 2, "HTTP 503")
    # The dashboard lists no papers: the sentence names the day it is about.
    said = ("The second fetch of Friday 21 November 2025’s list, on Monday 24 November 2025 at 07:02 UTC, could not reach "
            "Hugging Face (HTTP 503). The papers of Friday 21 November 2025 are those of its own morning: papers "
            "listed later that day, and the final vote counts, are not in. manage.py fetch_papers --date "
            "2025-11-21 fetches the day again.")
    dashboard = editor_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    assert said in _text(dashboard)
    edition_page = editor_client.get(reverse("admin:newsletter_edition_change", args=[friday_edition.pk]))
    assert said in _text(edition_page.content.decode())
    for page in (dashboard, edition_page.content.decode()):
        assert 'class="paper-fetch errornote"' not in page and 'class="paper-fetch" role="status"' in page

    items = recorded(NEWER)
    items[0]["paper"]["upvotes"] = "12"
    hf_api.scripts.clear()
    hf_api.respond(monday.isoformat(), recorded(NEWER))
    hf_api.respond(FRIDAY.isoformat(), items)
    _at(monkeypatch, 7, 30, day=monday)
    papers_fetch_today.apply(throw=True)
    text = _text(editor_client.get(reverse("admin:newsletter_dashboard")).content.decode())
    assert ("The second fetch of Friday 21 November 2025’s list, on Monday 24 November 2025 at 07:30 UTC, imported 0 new and 0 updated papers of Friday "
            "21 November 2025, with 1 problem in Hugging Face’s list") in text.replace("'", "’")
    assert "paper.upvotes must be an integer" in text

    hf_api.scripts.clear()
    hf_api.respond(monday.isoformat(), recorded(NEWER))
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    _at(monkeypatch, 8, 0, day=monday)
    papers_fetch_today.apply(throw=True)
    assert "This morning’s papers" not in _text(editor_client.get(reverse("admin:newsletter_dashboard")).content.decode())


@pytest.mark.django_db
def test_todays_edition_with_no_papers_at_all_says_why_and_links_the_paste_form(
    hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """A first deploy whose morning fetch cannot reach Hugging Face: "Today's edition"
    has nothing to open and lands on the editions' list. It showed only the flash
    "No papers yet ... (Papers → Add from JSON)", naming a button that reads "Add from
    API JSON", and nothing of the fetch; now the list says what the fetch did, and the
    flash links the paste form."""
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 7, 2)
    with pytest.raises(Retry):
        papers_fetch_today.apply(throw=True)

    response = editor_client.get(reverse("admin:newsletter_edition_today"), follow=True)
    html = response.content.decode()
    text = _text(html)
    assert "No papers are in yet, so there is no edition to open." in text
    assert "The morning fetch at 07:02 UTC could not reach Hugging Face (HTTP 503)" in text
    assert f'<a href="{reverse("admin:newsletter_paper_add_json")}">add them from the API' in html


@pytest.mark.django_db
def test_why_a_date_has_no_papers_is_at_the_top_of_its_edition_page(hf_api, monkeypatch, editor_client):  # noqa: F811
    """The fetch's outcome on the edition page of a date without papers came after the
    figures and the editor's note (1,200 px down on a phone, under "Readers get it at
    their delivery hour"); it is now above them."""
    hf_api.respond(FRIDAY.isoformat(), {"error": "Bad Gateway"}, status=502)
    _at(monkeypatch, 23, 40)
    with pytest.raises(IngestError):
        papers_fetch_today.apply(kwargs={"date": FRIDAY.isoformat()}, retries=tasks.FETCH_RETRIES, throw=True)

    text = _empty_edition_page(editor_client, FRIDAY)
    said = text.index("could not reach Hugging Face (HTTP 502)")
    assert said < text.index("Due") < text.index("Editor's note")
    assert "No papers for this date: the morning fetch’s outcome is at the top of the page." in text
    assert text.count("could not reach Hugging Face") == 1


@pytest.mark.django_db
def test_a_day_with_more_problems_than_kept_lists_a_hundred_and_says_how_many(monkeypatch, editor_client):
    """The API lists 130 papers each with an unreadable vote count, one of them a
    text of a thousand characters: the dashboard lists the first 100 problems, says
    there are 130 in all (the log has every one), and quotes the long value cut
    short, not a screenful."""
    from newsletter.ingest import paper_fetch_record, papers_import
    from tests.newsletter.test_ingest import _day_of

    items = _day_of(130)
    for item in items:
        item["paper"]["upvotes"] = "many"
    items[0]["paper"]["upvotes"] = "9" * 1000
    now = _at(monkeypatch, 7, 2)
    result = papers_import(items=items, trending_date=FRIDAY, source="API", lenient=True)
    paper_fetch_record(date=FRIDAY, at=now, outcome=PaperFetch.Outcome.IMPORTED, result=result)

    html = editor_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    listed = re.findall(r"<li>(item \d+ .*?)</li>", html)
    assert len(listed) == 100 and "130 problems in Hugging Face" in _text(html).replace("'", "’")
    assert "130 in all: the worker’s log has every one." in _text(html).replace("'", "’")
    assert listed[0] == ("item 1 (paper 2511.80000): paper.upvotes must be an integer, got &#x27;"
                         + "9" * 119 + "… (left out)")


@pytest.mark.django_db
def test_the_last_try_before_the_fetch_gives_up_says_when_it_is(hf_api, monkeypatch, editor_client):  # noqa: F811
    """A 503 at the try before the last: the page says when the last one is, not an
    empty "until about UTC"."""
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 18, 0)
    with pytest.raises(Retry):
        papers_fetch_today.apply(kwargs={"date": FRIDAY.isoformat()}, retries=tasks.FETCH_RETRIES - 1, throw=True)

    text = _empty_edition_page(editor_client, FRIDAY)
    assert "could not reach Hugging Face (HTTP 503); it is tried again at 18:" in text
    assert "and until about 18:30 UTC. Readers get no papers of Friday 21 November 2025 until then." in text


@pytest.mark.django_db
def test_the_dashboard_says_nothing_of_a_weekend_list_that_is_empty(hf_api, monkeypatch, editor_client):  # noqa: F811
    """Saturday's list is empty, as every weekend's: nothing went wrong, and the
    dashboard has no "This morning's papers" to read."""
    saturday = FRIDAY + dt.timedelta(days=1)
    hf_api.respond(saturday.isoformat(), [])
    _at(monkeypatch, 5, 30, day=saturday)
    assert papers_fetch_today.apply(throw=True).get() == 0
    assert PaperFetch.objects.get(date=saturday).outcome == "empty"

    assert "This morning’s papers" not in _text(
        editor_client.get(reverse("admin:newsletter_dashboard")).content.decode())


@pytest.mark.django_db
def test_todays_own_edition_says_why_it_is_empty_once_and_its_papers_once_in(
    hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """Friday's empty edition, opened on Friday, says once why it has no papers (not
    also "Today's papers are not in: this is the edition of Friday"); once the day is
    brought in by hand, its page lists the papers and no longer tells the refusal."""
    from io import StringIO

    from django.core.management import call_command

    hf_api.respond(FRIDAY.isoformat(), {"error": "Invalid date"})
    _at(monkeypatch, 7, 2)
    with pytest.raises(IngestError):
        papers_fetch_today.apply(throw=True)
    edition = Edition.objects.create(date=FRIDAY)
    page = reverse("admin:newsletter_edition_change", args=[edition.pk])
    text = _text(editor_client.get(page).content.decode())
    assert text.count("but nothing in it could be read") == 1 and "Today’s papers are not in" not in text

    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    call_command("fetch_papers", date=FRIDAY.isoformat(), stdout=StringIO())
    edition_assemble(date=FRIDAY)

    text = _text(editor_client.get(page).content.decode())
    assert "Large Multimodal Models as General In-Context Classifiers" in text
    assert "nothing in it could be read" not in text


@pytest.fixture
def silent_api(settings):
    """An address that takes connections and never answers (a proxy hanging on an
    overloaded API): each request times out after HF_TIMEOUT_SECONDS."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    settings.HF_DAILY_PAPERS_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/api/daily_papers"
    settings.HF_TIMEOUT_SECONDS = 0.2
    yield
    listener.close()


@pytest.fixture
def stalling_api(settings):
    """An address that answers a status and headers, then nothing of the body (a
    proxy whose upstream stalled): each read of the body times out."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def answer_half() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
            held.append(conn)

    threading.Thread(target=answer_half, daemon=True).start()
    settings.HF_DAILY_PAPERS_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/api/daily_papers"
    settings.HF_TIMEOUT_SECONDS = 0.2
    yield
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture
def closed_port(settings):
    """An address where nothing listens: the connection is refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.HF_DAILY_PAPERS_URL = f"http://127.0.0.1:{port}/api/daily_papers"


@pytest.mark.django_db
@pytest.mark.parametrize("answer, cause", [
    ("503", "HTTP 503"),
    ("a challenge page", "its answer was not JSON"),
    ("nothing", "no answer within 0.2 seconds"),
    ("half an answer", "no answer within 0.2 seconds"),
    ("a refused connection", "no connection"),
    ("slowly", "it took longer than the task may run"),
    ("a socket's time out", "no answer in time"),
])
def test_why_hugging_face_could_not_be_read_is_told_as_it_was(
    answer, cause, request, hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """The edition page says why the morning fetch could not reach Hugging Face, as
    the fetch knew it. Before, the words were read back out of the error's text, and
    any text with "time" in it (urllib3's "Read timed out") was told as the task's
    time running out."""
    from newsletter import ingest

    if answer == "503":
        hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    elif answer == "a challenge page":
        hf_api.respond(FRIDAY.isoformat(), b"<!DOCTYPE html><title>Just a moment...</title>")
    elif answer == "nothing":
        request.getfixturevalue("silent_api")
    elif answer == "half an answer":
        request.getfixturevalue("stalling_api")
    elif answer == "a refused connection":
        request.getfixturevalue("closed_port")
    else:
        from celery.exceptions import SoftTimeLimitExceeded

        def out_of_time(*, date):
            # A socket's own timeout (TimeoutError), not requests': the task retries it too.
            raise TimeoutError("timed out") if answer == "a socket's time out" else SoftTimeLimitExceeded()

        monkeypatch.setattr(ingest, "papers_fetch_and_import", out_of_time)
    _at(monkeypatch, 7, 2)
    with pytest.raises(Retry):
        papers_fetch_today.apply(throw=True)

    assert PaperFetch.objects.get(date=FRIDAY).cause == cause
    assert f"The morning fetch at 07:02 UTC could not reach Hugging Face ({cause}); it is tried again at " in (
        _empty_edition_page(editor_client, FRIDAY))


@pytest.mark.django_db
def test_a_morning_fetch_scheduled_late_is_not_told_as_the_second_fetch_after_midnight(
    hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """The schedules are editable (django-celery-beat): a morning fetch moved to 22:30
    UTC whose retries go on past midnight is still the morning fetch of its date.
    Before, which fetch an attempt was was guessed from its time, and Friday's page
    read "The second fetch of Friday 21 November 2025's list, on Saturday ..."."""
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 22, 30)
    with pytest.raises(Retry) as retry:
        papers_fetch_today.apply(throw=True)
    _at(monkeypatch, 0, 31, day=FRIDAY + dt.timedelta(days=1))
    with pytest.raises(Retry):
        papers_fetch_today.apply(kwargs=retry.value.sig.kwargs, retries=5, throw=True)

    text = _empty_edition_page(editor_client, FRIDAY)
    assert "second fetch" not in text
    assert ("The morning fetch, on Saturday 22 November 2025 at 00:31 UTC, could not reach Hugging Face "
            "(HTTP 503), 2 tries so far;") in text


@pytest.mark.django_db
def test_the_upgrade_gives_the_fetches_recorded_before_it_what_their_pages_said():
    """Migration 0047 fills the new columns of the rows there are as the pages read them
    until then: the second fetch by its time, the cause out of the message."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    backfill = importlib.import_module("newsletter.migrations.0047_paper_fetch_cause_kind").backfill
    monday_morning = dt.datetime(2025, 11, 24, 7, 2, tzinfo=dt.UTC)
    friday = PaperFetch.objects.create(
        date=FRIDAY, attempted_at=monday_morning, outcome="unavailable",
        message="Daily Papers for 2025-11-21, page 0 (https://hf.co/api/daily_papers): HTTP 502: Bad Gateway")
    monday = PaperFetch.objects.create(date=monday_morning.date(), attempted_at=monday_morning, outcome="imported",
                                       message="3 papers: 3 new, 0 updated, 0 unchanged; 0 problems")

    backfill(MigrationLoader(connection).project_state(("newsletter", "0047_paper_fetch_cause_kind")).apps, None)

    friday.refresh_from_db()
    monday.refresh_from_db()
    assert (friday.kind, friday.cause) == ("second", "HTTP 502")
    assert (monday.kind, monday.cause) == ("morning", "")


@pytest.mark.django_db
def test_a_second_fetch_made_good_by_hand_is_no_longer_told_and_a_hand_fetch_says_it_was_by_hand(
    hf_api, monkeypatch, editor_client,  # noqa: F811
):
    """Monday's second fetch of Friday's list fails; Friday's edition page says so and
    that manage.py fetch_papers --date 2025-11-21 fetches the day again. The operator
    runs it: the page no longer says the second fetch failed. Before, a fetch by hand
    was not recorded and the page went on saying it, whatever the operator did. A
    fetch by hand whose list had a field it could not read says it was by hand."""
    from io import StringIO

    from django.core.management import call_command

    monday = FRIDAY + dt.timedelta(days=3)
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    _at(monkeypatch, 7, 0)
    papers_fetch_today.apply(throw=True)
    friday_page = reverse("admin:newsletter_edition_change", args=[edition_assemble(date=FRIDAY).pk])
    hf_api.scripts.clear()
    hf_api.respond(monday.isoformat(), recorded(NEWER))
    hf_api.respond(FRIDAY.isoformat(), {"error": "Service Unavailable"}, status=503)
    _at(monkeypatch, 7, 2, day=monday)
    papers_fetch_today.apply(throw=True)
    assert "could not reach Hugging Face (HTTP 503)" in _text(editor_client.get(friday_page).content.decode())

    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), recorded(NEWER))
    _at(monkeypatch, 9, 15, day=monday)
    call_command("fetch_papers", date=FRIDAY.isoformat(), stdout=StringIO())
    text = _text(editor_client.get(friday_page).content.decode())
    assert "could not reach Hugging Face" not in text and "second fetch" not in text

    items = recorded(NEWER)
    items[0]["paper"]["upvotes"] = "12"
    hf_api.scripts.clear()
    hf_api.respond(FRIDAY.isoformat(), items)
    _at(monkeypatch, 9, 30, day=monday)
    call_command("fetch_papers", date=FRIDAY.isoformat(), stdout=StringIO())
    assert ("The fetch by hand (manage.py fetch_papers) on Monday 24 November 2025 at 09:30 UTC imported 0 new "
            "and 0 updated papers of Friday 21 November 2025, with 1 problem") in _text(
                editor_client.get(friday_page).content.decode()).replace("'", "’")
