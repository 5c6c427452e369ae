"""Public pages from the page cache (newsletter/page_cache.py): sent cacheable to
anyone, compressed, light, and fresh again as soon as an editor changes them."""

import datetime as dt
import gzip
import io
import json
import logging
import re
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils import timezone

from newsletter import curation, page_cache, services, tasks
from newsletter.ingest import papers_import_file, title_normalise
from newsletter.models import Edition, EditionPaper, PageTagDebt, Paper, Topic
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 11, 24)
EARLIER = dt.date(2025, 11, 21)
SAMPLE = Path(__file__).resolve().parents[2] / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
HOME_BUDGET_BYTES = 80 * 1024


def publish(date, papers, *, note="") -> Edition:
    edition = Edition.objects.create(date=date, note=note, frozen_at=timezone.now())
    for position, paper in enumerate(papers, start=1):
        EditionPaper.objects.create(edition=edition, paper=paper, position=position)
    return edition


@pytest.fixture
def site():
    topic = TopicFactory(name="Agents", slug="agents")
    today = PaperFactory(title="Top paper of the day", trending_date=DAY, upvotes=50,
                         arxiv_id="2511.00001")
    other = PaperFactory(title="Another of today", trending_date=DAY, upvotes=10,
                         arxiv_id="2511.00002")
    earlier = PaperFactory(title="An earlier paper", trending_date=EARLIER, upvotes=30,
                           arxiv_id="2511.00003")
    PaperTopicFactory(paper=today, topic=topic, score=0.8)
    publish(DAY, [today, other])
    publish(EARLIER, [earlier])
    return {"today": today, "other": other, "earlier": earlier}


PUBLIC_PAGES = [
    "/", f"/papers/{DAY}/", f"/papers/{EARLIER}/", "/editions/", f"/editions/{DAY}/",
    f"/editions/{EARLIER}/", "/feeds/", "/feeds/papers.atom", "/feeds/topics/agents.atom",
    "/papers/2511.00001/", "/papers/2511.00003/",  # the paper pages of `site`
]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_anonymous_pages_are_sent_cacheable_by_anyone_without_a_cookie(client, site, path):
    for attempt in ("rendered", "from the cache"):
        response = client.get(path)

        assert response.status_code == 200, attempt
        assert not response.cookies, attempt
        assert "Set-Cookie" not in response.headers, attempt
        assert "cookie" not in response.headers.get("Vary", "").lower(), attempt
        cache_control = {d.strip() for d in response["Cache-Control"].split(",")}
        assert "public" in cache_control and "max-age=60" in cache_control, attempt
        assert response["ETag"].startswith('W/"'), attempt
    assert 'name="csrfmiddlewaretoken"' not in response.content.decode()


def test_a_browser_revalidating_gets_304_without_the_page_being_read(
    client, site, django_assert_num_queries
):
    first = client.get(f"/papers/{DAY}/")

    with django_assert_num_queries(0):
        again = client.get(f"/papers/{DAY}/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.content == b""
    assert "public" in again["Cache-Control"]


def test_a_browser_revalidating_a_page_whose_stored_copy_expired_gets_the_same_304_unread(
    client, site, django_assert_num_queries
):
    """The stored copy is gone (PUBLIC_PAGE_CACHE_SECONDS, or evicted) but nothing
    changed: a browser holding the page gets its 304 from the tags' versions, without
    the page being rendered, with the ETag and Cache-Control the page was sent with,
    so a browser or a CDN keeps it fresh as long again."""
    first = client.get(f"/papers/{DAY}/")
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    entries = [key for key in redis_client.keys("*:page:*") if b":page:fragment:" not in key]
    assert entries and redis_client.delete(*entries) == len(entries)

    with django_assert_num_queries(0):
        again = client.get(f"/papers/{DAY}/", HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert (again["ETag"], again["Cache-Control"]) == (first["ETag"], first["Cache-Control"])


def test_if_none_match_any_is_answered_304_only_for_a_page_that_exists(client, site):
    """"If-None-Match: *" asks whether the page exists at all: the cache said 304,
    "you have it", before rendering anything, for an address that is a 404 as for
    one that is a page (a hostile review). The page decides, then the condition."""
    assert client.get("/papers/2511.99999/", HTTP_IF_NONE_MATCH="*").status_code == 404
    assert client.get("/papers/2031-01-01/", HTTP_IF_NONE_MATCH="*").status_code == 404
    assert client.get(f"/papers/{DAY}/", HTTP_IF_NONE_MATCH="*").status_code == 304  # rendered, then stored
    assert client.get(f"/papers/{DAY}/", HTTP_IF_NONE_MATCH="*").status_code == 304  # from the cache


def test_a_second_visitor_gets_the_stored_page_with_no_query(client, site, django_assert_num_queries):
    first = client.get("/")

    # Tracking parameters the page does not read share its entry.
    with django_assert_num_queries(0):
        again = client.get("/?utm_source=newsletter&utm_medium=email")

    assert again.content == first.content


@pytest.mark.parametrize("first", ["plain", "gzip"])
def test_html_feeds_are_compressed_for_clients_that_accept_it(client, site, first):
    for path, kind in (("/", "text/html"), ("/feeds/papers.atom", "application/atom+xml")):
        # Whichever client comes first, the page is stored both ways at once.
        encodings = {"plain": "identity", "gzip": "gzip, deflate, br"}
        order = [first, *(set(encodings) - {first})]
        responses = {name: client.get(path, HTTP_ACCEPT_ENCODING=encodings[name]) for name in order}
        plain, packed = responses["plain"], responses["gzip"]

        assert "Content-Encoding" not in plain.headers
        assert packed["Content-Encoding"] == "gzip"
        assert packed["Content-Type"].startswith(kind)
        assert "accept-encoding" in packed["Vary"].lower()
        assert gzip.decompress(packed.content) == plain.content
        assert len(packed.content) < len(plain.content) / 2
        assert int(packed["Content-Length"]) == len(packed.content)
        assert int(plain["Content-Length"]) == len(plain.content)
        assert packed["ETag"] == plain["ETag"]


def test_a_stored_page_is_served_before_sessions_csrf_and_auth_run(client, site):
    first = client.get("/", HTTP_ACCEPT_ENCODING="gzip")
    again = client.get("/", HTTP_ACCEPT_ENCODING="gzip")

    assert again.content == first.content
    # The request never reached the session, CSRF or auth middleware.
    for name in ("session", "user"):
        assert not hasattr(again.wsgi_request, name), name
    # The security middleware's headers were stored with the page.
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                   "X-Frame-Options", "Permissions-Policy"):
        assert again[header] == first[header], header


def wsgi_get(path: str, **headers) -> tuple[str | None, dict, bytes, bool]:
    """A GET through the production WSGI application (config/wsgi.py): (status,
    headers, body, whether Django's request handling ran)."""
    from config.wsgi import application

    environ = RequestFactory().get(path, **headers).environ
    sent, handled = {}, []

    def start_response(status, response_headers, exc_info=None):
        sent.update(status=status, headers=dict(response_headers))

    def started(**kwargs):
        handled.append(True)

    # As Django's test client does: the test's database connection stays open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    request_started.connect(started, dispatch_uid="page-cache-wsgi")
    try:
        result = application(environ, start_response)
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
    finally:
        request_started.disconnect(dispatch_uid="page-cache-wsgi")
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return sent.get("status"), sent.get("headers", {}), body, bool(handled)


def test_a_stored_page_is_answered_before_djangos_request_handling(
    client, site, django_assert_num_queries
):
    first = client.get("/", HTTP_ACCEPT_ENCODING="gzip")

    with django_assert_num_queries(0):
        status, headers, body, handled = wsgi_get("/", HTTP_ACCEPT_ENCODING="gzip")

    assert status == "200 OK" and not handled
    assert body == first.content
    assert headers == dict(first.headers)  # security headers, ETag, cache headers, gzip
    assert headers["Content-Encoding"] == "gzip" and "Set-Cookie" not in headers


@pytest.mark.parametrize("asked", [
    {"path": "/papers/2511.00003/"},  # not stored yet
    {"path": "/", "HTTP_COOKIE": "sessionid=someone"},
    {"path": "/", "HTTP_IF_NONE_MATCH": 'W/"old"'},
    {"path": "/", "HTTP_HOST": "evil.example"},
    {"path": "/subscribe/"},  # not a public page
])
def test_anything_but_a_plain_hit_goes_to_django(client, site, settings, asked):
    settings.ALLOWED_HOSTS = ["testserver"]
    client.get("/")
    asked = dict(asked)

    status, _, _, handled = wsgi_get(asked.pop("path"), **asked)

    assert handled
    if asked.get("HTTP_HOST"):
        assert status.startswith("400")


def test_an_editors_change_reaches_the_next_request_before_django(
    client, all_cached, django_capture_on_commit_callbacks
):
    assert "An earlier paper" in wsgi_get(f"/papers/{EARLIER}/")[2].decode()

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[all_cached["earlier"]], pinned=True)

    _, _, body, handled = wsgi_get(f"/papers/{EARLIER}/")
    assert handled and "Renamed behind the cache&#x27;s back" in body.decode()
    assert not wsgi_get(f"/papers/{EARLIER}/")[3]  # stored again, served before Django


def test_each_host_gets_its_own_stored_feed(client, site, settings):
    # A feed's links are absolute, made from the host the request came to.
    settings.ALLOWED_HOSTS = ["one.example", "two.example"]
    one = client.get("/feeds/papers.atom", HTTP_HOST="one.example").content.decode()
    two = client.get("/feeds/papers.atom", HTTP_HOST="two.example").content.decode()

    assert "one.example" in one and "two.example" not in one
    assert "two.example" in two and "one.example" not in two


def test_a_host_spelled_with_any_port_or_case_is_served_but_not_stored_once_a_spelling(
    client, site, settings
):
    """Django takes a host of ALLOWED_HOSTS with any port ("*" any name at all), and
    the page cache keyed each spelling apart: a page's two copies stored again for each
    of 65,535 ports, from one cheap request each (a hostile review; Caddy passes the
    Host on as sent). Only the names ALLOWED_HOSTS lists, and SITE_URL's, are
    stored; every other spelling is rendered for itself, its links made from it."""
    settings.ALLOWED_HOSTS = ["testserver"]
    redis_client = redis.Redis.from_url(settings.REDIS_URL)

    def stored() -> int:  # pages, not the cards they share (fragments_render)
        return sum(b":page:fragment:" not in key for key in redis_client.keys("*:page:*"))

    stored_before = stored()

    for host in ("testserver:1", "testserver:2", "TESTSERVER", "testserver."):
        feed = client.get("/feeds/papers.atom", HTTP_HOST=host)
        assert feed.status_code == 200 and f"http://{host}/papers/" in feed.content.decode()
        assert client.get("/", HTTP_HOST=host).status_code == 200
    assert stored() == stored_before

    client.get("/feeds/papers.atom")
    assert stored() == stored_before + 2  # plain and gzipped


def test_the_sites_own_address_with_its_port_and_each_name_allowed_hosts_lists_are_stored(
    client, site, settings
):
    """SITE_URL names the address readers use, with its port where it has one (make
    run's http://localhost:8000, ALLOWED_HOSTS listing "localhost"): its pages are
    stored, as are those of a name ALLOWED_HOSTS lists as it is. "*" lets any name
    through, and stores none of them."""
    redis_client = redis.Redis.from_url(settings.REDIS_URL)

    def stored() -> int:  # pages, not the cards they share (fragments_render)
        return sum(b":page:fragment:" not in key for key in redis_client.keys("*:page:*"))

    settings.SITE_URL = "http://localhost:8000"
    settings.ALLOWED_HOSTS = ["localhost", "papers.example"]
    for host in ("localhost:8000", "papers.example"):
        before = stored()
        assert client.get("/feeds/papers.atom", HTTP_HOST=host).status_code == 200
        assert stored() == before + 2, host  # plain and gzipped

    settings.ALLOWED_HOSTS = ["*"]
    before = stored()
    assert client.get("/feeds/papers.atom", HTTP_HOST="anything.example").status_code == 200
    assert stored() == before


def test_asking_for_pages_that_do_not_exist_leaves_nothing_in_the_cache(
    client, site, django_assert_num_queries
):
    """A scan of arXiv-shaped ids, version suffixes and dates is 404 after 404: each
    lookup wrote its tag's first version for good (no expiry), one key per address
    asked, so the scan grew the broker's Redis without end (a hostile review). A
    tag's version is written with the first page stored under it."""
    asked = {"/papers/2511.99999/": "paper:2511.99999", "/papers/2511.00001v123456789/": "paper:2511.00001v123456789",
             "/papers/p987654-a-paper/": "paper:987654", "/papers/2031-01-01/": "day:2031-01-01",
             "/editions/2031-01-01/": "edition:2031-01-01"}

    assert [client.get(path).status_code for path in asked] == [404] * len(asked)

    assert cache.get_many([page_cache._TAG_KEY.format(tag) for tag in asked.values()]) == {}
    # A page that exists is stored under its tags as before: the next visitor's is a hit.
    assert client.get("/papers/2511.00001/").status_code == 200
    assert cache.get(page_cache._TAG_KEY.format("paper:2511.00001")) is not None
    with django_assert_num_queries(0):
        assert client.get("/papers/2511.00001/").status_code == 200


def test_an_editors_change_while_a_page_is_first_rendered_is_not_undone_by_storing_it(
    client, site, django_capture_on_commit_callbacks
):
    """A page nobody asked for yet is rendered with its tags' first versions; an editor
    retitles its paper meanwhile (a new version of its tag). The rendering, of the old
    title, is sent but not stored, and the tag keeps the editor's version: written over
    with the first one, the old title was served from the cache to everyone after."""
    path = "/papers/2511.00003/"

    def editor_meanwhile(**kwargs):
        template_rendered.disconnect(dispatch_uid="editor-meanwhile")
        Paper.objects.filter(pk=site["earlier"].pk).update(title="Retitled by an editor")
        with django_capture_on_commit_callbacks(execute=True):
            page_cache.pages_changed(papers=[site["earlier"].pk])

    template_rendered.connect(editor_meanwhile, dispatch_uid="editor-meanwhile", weak=False)
    try:
        assert "An earlier paper" in client.get(path).content.decode()  # read before the change
    finally:
        template_rendered.disconnect(dispatch_uid="editor-meanwhile")

    assert "Retitled by an editor" in client.get(path).content.decode()


def test_a_stored_pages_tag_versions_never_expire_so_it_stays_a_hit_as_long_as_it_is_kept(client, site):
    """A page is stored for PUBLIC_PAGE_CACHE_SECONDS under its tags' versions, which
    are written with it: a version that expired would get a new random one at the
    next look-up, and every page under it would be rendered again from then on."""
    assert client.get("/papers/2511.00001/").status_code == 200
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [cache.make_key(page_cache._TAG_KEY.format(tag)) for tag in ("site", "paper:2511.00001")]
    assert [redis_client.ttl(key) for key in keys] == [-1, -1]  # present, no expiry
    entries = [key for key in redis_client.keys("*:page:*") if b":page:fragment:" not in key]
    assert entries and all(redis_client.ttl(key) > 0 for key in entries)


def test_a_host_not_allowed_is_refused_even_for_a_stored_page(client, site, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    assert client.get("/").status_code == 200

    assert client.get("/", HTTP_HOST="evil.example").status_code == 400


def test_each_page_of_the_list_of_editions_is_stored_as_its_own(client, monkeypatch):
    monkeypatch.setattr("newsletter.archive_views.EDITIONS_PER_PAGE", 1)
    publish(EARLIER, [PaperFactory(title="The earlier edition's paper", trending_date=EARLIER)])
    publish(DAY, [PaperFactory(title="The newer edition's paper", trending_date=DAY)])

    for _ in ("rendered", "from the cache"):
        first = client.get("/editions/").content.decode()
        second = client.get("/editions/", {"page": "2"}).content.decode()
        assert "The newer edition" in first and "The earlier edition" not in first
        assert "The earlier edition" in second and "The newer edition" not in second


def test_a_page_asked_over_http_is_sent_to_https_even_when_stored(client, site, settings):
    """The cache answers before the security middleware: the https page it holds is
    not the answer to an http request, which is sent to https."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/", secure=True).status_code == 200  # stored

    response = client.get("/")

    assert response.status_code == 301 and response["Location"] == "https://testserver/"


def test_a_page_holding_a_csrf_token_is_never_compressed(client):
    # BREACH: a secret in a compressed body leaks through its length.
    response = client.get("/subscribe/", HTTP_ACCEPT_ENCODING="gzip")

    assert 'name="csrfmiddlewaretoken"' in response.content.decode()
    assert "Content-Encoding" not in response.headers
    assert "public" not in response.get("Cache-Control", "")


def test_the_home_page_of_a_real_day_is_light(client):
    papers_import_file(path=SAMPLE, trending_date=DAY)
    longest = max(Paper.objects.all(), key=lambda p: len(p.abstract))

    html = client.get("/").content

    assert html.count(b'<article class="paper-card') == Paper.objects.count() > 50
    assert len(html) < HOME_BUDGET_BYTES
    # A line of each abstract, not the whole (that is on the paper's and the edition's page).
    assert longest.abstract.encode() not in html
    # No time-zone list on a page that only asks for an address.
    assert b"<option" not in html


def test_subscribing_starts_from_an_email_field_that_opens_the_full_form(client, site):
    home = client.get("/").content.decode()
    start = re.search(r'<form class="sf sf-start" method="post" action="/subscribe/start/">.*?</form>', home, re.DOTALL)

    assert start and 'name="email"' in start.group(0) and "csrfmiddlewaretoken" not in start.group(0)

    # Posted (the address stays out of the history and the access logs), with no token.
    form = Client(enforce_csrf_checks=True).post("/subscribe/start/", {"email": "reader@example.org"},
                                                 follow=True).content.decode()

    assert re.search(r'<input type="email" name="email"[^>]* value="reader@example.org"', form)
    assert 'name="csrfmiddlewaretoken"' in form
    assert "This field is required" not in form  # arriving is not submitting
    # The time zones are there, once, UTC chosen until the browser presets its own.
    assert form.count("<option value=") > 300
    assert '<option value="UTC" selected>UTC</option>' in form
    assert '<option value="Europe/Paris">Europe/Paris</option>' in form
    # Opened as a link, it leads to the form; a link of the old kind still fills it in.
    assert client.get("/subscribe/start/")["Location"] == "/subscribe/"
    assert 'value="old@example.org"' in client.get("/subscribe/", {"email": "old@example.org"}).content.decode()


# --- Invalidation ---------------------------------------------------------------------


@pytest.fixture
def all_cached(client, site):
    """Every public page stored; then the earlier paper renamed behind the cache's
    back (no service, so nothing is invalidated): a page still showing its old
    title came from the cache."""
    for path in PUBLIC_PAGES:
        client.get(path)
    Paper.objects.filter(pk=site["earlier"].pk).update(title="Renamed behind the cache's back")
    return site


def served_from_cache(client, path: str) -> bool:
    return "An earlier paper" in client.get(path).content.decode()


def test_pinning_a_paper_refreshes_its_days_pages_and_nothing_else(
    client, all_cached, django_capture_on_commit_callbacks
):
    site = all_cached

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[site["other"]], pinned=True)

    for path in ("/", f"/papers/{DAY}/"):
        html = client.get(path).content.decode()
        assert "Editors' pick" in html, path
        assert html.index("Another of today") < html.index("Top paper of the day"), path
    assert "Editors' pick" in client.get("/papers/2511.00002/").content.decode()
    # The other date's pages, its edition and its paper were not touched: stored copies.
    assert served_from_cache(client, f"/papers/{EARLIER}/")
    assert served_from_cache(client, f"/editions/{EARLIER}/")
    assert served_from_cache(client, "/papers/2511.00003/")


def test_pinning_a_paper_without_an_arxiv_id_refreshes_its_page(client, django_capture_on_commit_callbacks):
    paper = PaperFactory(title="A paper without an arXiv id", trending_date=DAY, arxiv_id=None)
    path = paper.get_absolute_url()
    assert path.startswith(f"/papers/p{paper.pk}-")
    assert "Editors' pick" not in client.get(path).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[paper], pinned=True)

    assert "Editors' pick" in client.get(path).content.decode()


def test_a_refetch_with_nothing_new_keeps_the_stored_pages_and_a_new_count_refreshes_them(
    client, django_capture_on_commit_callbacks
):
    """The morning fetch runs again (a retry, an editor's import): a list with nothing
    new writes no paper and leaves the stored pages standing; a changed upvote count
    refreshes that day's pages, which show it."""
    from newsletter.ingest import papers_import

    items = json.loads(SAMPLE.read_text())
    with django_capture_on_commit_callbacks(execute=True):
        papers_import(items=items, trending_date=DAY)
    day_pages = ("/", f"/papers/{DAY}/")
    for path in day_pages:
        client.get(path)
    # Behind the cache's back (no service): a page rendered afresh shows the pin.
    pinned = Paper.objects.get(title_key=title_normalise(items[5]["paper"]["title"]))
    Paper.objects.filter(pk=pinned.pk).update(pinned=True)

    with django_capture_on_commit_callbacks(execute=True):
        again = papers_import(items=items, trending_date=DAY)

    assert (again.created, again.updated, again.unchanged) == (0, 0, len(items))
    assert Paper.objects.get(pk=pinned.pk).updated_at == pinned.updated_at
    for path in day_pages:
        assert "Editors' pick" not in client.get(path).content.decode(), path  # stored

    items[0]["paper"]["upvotes"] = 4321
    with django_capture_on_commit_callbacks(execute=True):
        later = papers_import(items=items, trending_date=DAY)

    assert (later.created, later.updated, later.unchanged) == (0, 1, len(items) - 1)
    for path in day_pages:
        html = client.get(path).content.decode()
        assert "Editors' pick" in html and "4321" in html, path


def test_hiding_a_paper_takes_it_off_its_pages_at_once(
    client, all_cached, django_capture_on_commit_callbacks
):
    site = all_cached

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[site["today"]], hidden=True)

    for path in ("/", f"/papers/{DAY}/", f"/editions/{DAY}/", "/editions/", "/feeds/papers.atom"):
        assert "Top paper of the day" not in client.get(path).content.decode(), path
    assert client.get("/papers/2511.00001/").status_code == 404
    assert served_from_cache(client, f"/papers/{EARLIER}/")


def test_a_paper_hidden_while_redis_is_away_is_off_its_pages_when_redis_is_back(
    client, all_cached, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """The editor's hide stands although the pages' versions cannot be bumped, and
    the pages stored before it (Redis keeps them through a network fault) are not
    served once Redis is back: this process bumps what it owes before its next look."""
    site = all_cached
    monkeypatch.setattr(page_cache, "_unbumped", set())
    reachable = settings.CACHES
    settings.CACHES = {"default": {**reachable["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[site["today"]], hidden=True)  # no error
    assert Paper.objects.get(pk=site["today"].pk).hidden

    settings.CACHES = reachable  # Redis is back, with the pages stored before the hide
    for path in ("/", f"/papers/{DAY}/", f"/editions/{DAY}/", "/feeds/papers.atom"):
        assert "Top paper of the day" not in client.get(path).content.decode(), path
    assert served_from_cache(client, "/papers/2511.00003/")  # the earlier paper: not bumped
    assert page_cache._unbumped == set()


def test_a_paper_hidden_while_redis_is_away_leaves_its_pages_even_if_that_process_died(
    client, all_cached, settings, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    """The tags the editor's process could not bump are kept in the database too: once
    Redis is back, the beat task bumps them although that process is gone (its memory
    of them with it), so the pages stored before the hide stop being served."""
    site = all_cached
    monkeypatch.setattr(page_cache, "_unbumped", set())
    reachable = settings.CACHES
    settings.CACHES = {"default": {**reachable["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[site["today"]], hidden=True)
    owed = set(PageTagDebt.objects.values_list("tag", flat=True))
    assert {"home", f"day:{DAY}"} <= owed
    # Still away: a request in that process tries again, and nothing is recorded twice.
    assert client.get("/").status_code == 200
    assert PageTagDebt.objects.count() == len(owed)
    with pytest.raises(redis.RedisError):  # the beat task while Redis is away: rows kept
        tasks.page_tag_debts_settle.apply(throw=True)
    assert PageTagDebt.objects.count() == len(owed)

    page_cache._unbumped.clear()  # the editor's process is gone
    settings.CACHES = reachable  # Redis is back, with the pages stored before the hide
    assert "Top paper of the day" in client.get("/").content.decode()  # stale: what this fixes

    with caplog.at_level(logging.INFO, logger="newsletter.tasks"):
        assert tasks.page_tag_debts_settle.apply(throw=True).result == len(owed)
    # The operator's log says so (Celery's own lines for this task are DEBUG).
    assert f"refreshed: {len(owed)} tags" in caplog.text
    for path in ("/", f"/papers/{DAY}/", f"/editions/{DAY}/", "/feeds/papers.atom"):
        assert "Top paper of the day" not in client.get(path).content.decode(), path
    assert served_from_cache(client, "/papers/2511.00003/")  # the earlier paper: not bumped
    assert not PageTagDebt.objects.exists()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="newsletter.tasks"):
        assert tasks.page_tag_debts_settle.apply(throw=True).result == 0
    assert "refreshed" not in caplog.text  # nothing owed: a line a minute would be noise


def test_a_whole_day_hidden_while_redis_is_away_leaves_the_date_links_when_redis_is_back(
    client, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """The date links' version is set, not bumped, when papers change: with Redis
    away it is owed like the others, so the earlier day stops linking to a day with
    nothing on it once Redis is back."""
    monkeypatch.setattr(page_cache, "_unbumped", set())
    papers = [PaperFactory(title="Of Monday", trending_date=DAY), PaperFactory(title="Also Monday", trending_date=DAY)]
    PaperFactory(title="An earlier paper", trending_date=EARLIER)
    assert 'rel="next"' in client.get(f"/papers/{EARLIER}/").content.decode()  # stored, linking Monday
    reachable = settings.CACHES
    settings.CACHES = {"default": {**reachable["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=papers, hidden=True)

    settings.CACHES = reachable  # Redis is back, with the page stored before the hide
    assert 'rel="next"' not in client.get(f"/papers/{EARLIER}/").content.decode()


def test_hiding_a_whole_day_moves_the_home_page_and_the_date_links(
    client, site, django_capture_on_commit_callbacks
):
    client.get("/")
    client.get(f"/papers/{EARLIER}/")

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[site["today"], site["other"]], hidden=True)

    assert "An earlier paper" in client.get("/").content.decode()
    # The earlier day no longer links forward to a day with nothing on it.
    assert 'rel="next"' not in client.get(f"/papers/{EARLIER}/").content.decode()


def test_a_page_rendered_again_renders_only_the_cards_that_changed(
    client, site, django_capture_on_commit_callbacks
):
    third = PaperFactory(title="A third paper", trending_date=DAY, upvotes=5, arxiv_id="2511.00004")
    PaperTopicFactory(paper=third, topic=Topic.objects.get(slug="agents"), score=0.5)
    client.get("/")
    cards = []
    template_rendered.connect(
        lambda sender, template, **kw: cards.append(template.name)
        if template.name == "newsletter/_paper_card.html" else None,
        weak=False, dispatch_uid="count-cards")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            curation.papers_flag_set(papers=[site["other"]], pinned=True)
        pinned = client.get("/").content.decode()
        assert len(cards) == 1  # the pinned paper's; the two others came from the cache

        # A change no service announced (so no page is invalidated) still shows in
        # its card the next time the page is rendered: a card is keyed by its data.
        Paper.objects.filter(pk=site["today"].pk).update(title="Renamed in the database")
        Topic.objects.filter(slug="agents").update(name="Autonomous agents")
        with django_capture_on_commit_callbacks(execute=True):
            curation.papers_flag_set(papers=[site["other"]], pinned=False)
        html = client.get("/").content.decode()
    finally:
        template_rendered.disconnect(dispatch_uid="count-cards")

    assert "Editors' pick" in pinned
    assert "Renamed in the database" in html and "Top paper of the day" not in html
    assert html.count("Autonomous agents") == 2
    # The renamed paper's, the unpinned one's, and the third's (its topic renamed).
    assert len(cards) == 4


@pytest.mark.usefixtures("all_cached")
def test_an_editors_note_refreshes_that_edition_only(
    client, admin_client, django_capture_on_commit_callbacks
):
    edition = Edition.objects.get(date=DAY)
    with django_capture_on_commit_callbacks(execute=True):
        saved = admin_client.post(
            f"/{settings.ADMIN_URL}newsletter/edition/{edition.pk}/change/",
            {"note": "A **great** day."},
        )
    assert saved.status_code == 302

    assert "<strong>great</strong>" in client.get(f"/editions/{DAY}/").content.decode()
    assert served_from_cache(client, f"/editions/{EARLIER}/")
    assert served_from_cache(client, f"/papers/{EARLIER}/")


def test_an_edition_going_out_joins_the_stored_list_and_the_link_from_the_one_before(
    client, site, django_capture_on_commit_callbacks
):
    from newsletter.editions import edition_assemble, edition_freeze

    tuesday = DAY + dt.timedelta(days=1)
    PaperFactory(title="Tuesday's top paper", trending_date=tuesday, upvotes=70)
    edition = edition_assemble(date=tuesday)
    assert "Tuesday&#x27;s top paper" not in client.get("/editions/").content.decode()
    assert 'rel="next"' not in client.get(f"/editions/{DAY}/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        edition_freeze(edition=edition)  # its first digests are queued

    assert "Tuesday&#x27;s top paper" in client.get("/editions/").content.decode()
    assert f'href="/editions/{tuesday}/" rel="next"' in client.get(f"/editions/{DAY}/").content.decode()


def admin_delete(admin_client, obj, *, how: str) -> None:
    """Delete obj in the admin, from its own page or by the list's action."""
    name = f"admin:{obj._meta.app_label}_{obj._meta.model_name}"
    if how == "delete_view":
        admin_client.post(reverse(f"{name}_delete", args=[obj.pk]), {"post": "yes"})
    else:
        admin_client.post(reverse(f"{name}_changelist"),
                          {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})


@pytest.mark.parametrize("how", ["delete_view", "delete_selected"])
def test_an_edition_an_editor_deletes_leaves_its_page_the_list_and_its_neighbours_link(
    client, admin_client, site, how, django_capture_on_commit_callbacks
):
    """The admin deletes an edition no delivery points to any more (the ledger's rows
    protect the others, and go after LEDGER_KEPT_DAYS). Its page, the list of editions
    and the next edition's "previous" link were served from the cache for an hour
    after (a hostile review)."""
    assert client.get(f"/editions/{EARLIER}/").status_code == 200
    assert f"/editions/{EARLIER}/" in client.get("/editions/").content.decode()
    assert f"/editions/{EARLIER}/" in client.get(f"/editions/{DAY}/").content.decode()
    edition = Edition.objects.get(date=EARLIER)

    with django_capture_on_commit_callbacks(execute=True):
        admin_delete(admin_client, edition, how=how)

    assert not Edition.objects.filter(date=EARLIER).exists()
    assert client.get(f"/editions/{EARLIER}/").status_code == 404
    assert f"/editions/{EARLIER}/" not in client.get("/editions/").content.decode()
    assert f"/editions/{EARLIER}/" not in client.get(f"/editions/{DAY}/").content.decode()


def test_a_paper_an_editor_moves_to_another_day_leaves_one_day_for_the_other(
    client, all_cached, django_capture_on_commit_callbacks
):
    paper = Paper.objects.get(pk=all_cached["other"].pk)
    paper.trending_date, paper.title = EARLIER, "Another of the earlier day"
    with django_capture_on_commit_callbacks(execute=True):
        services.paper_save(paper=paper, date_before=DAY)

    assert "Another of" not in client.get(f"/papers/{DAY}/").content.decode()
    assert "Another of the earlier day" in client.get(f"/papers/{EARLIER}/").content.decode()
    # Its title key followed the title: a re-import of it matches this row.
    assert paper.title_key == title_normalise("Another of the earlier day")


def test_a_new_topic_is_scored_and_refreshes_every_page(
    client, all_cached, django_capture_on_commit_callbacks
):
    topic = Topic(name="Top things", slug="top-things", keywords="top paper")
    with django_capture_on_commit_callbacks(execute=True):
        services.topic_create(topic=topic)

    assert list(topic.paper_scores.values_list("paper", flat=True)) == [all_cached["today"].pk]
    assert not served_from_cache(client, f"/papers/{EARLIER}/")


def test_rescoring_every_topic_refreshes_every_page(client, all_cached, django_capture_on_commit_callbacks):
    """`manage.py rescore_topics` (after an upgrade of the default topics or the
    model) changes the chips every page shows; until 7 December the stored pages
    kept the old ones, for up to an hour."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rescore_topics", stdout=io.StringIO())

    assert not served_from_cache(client, f"/papers/{EARLIER}/")


def test_an_editors_retitling_writes_the_title_and_its_key_keeps_anothers_change_and_refreshes_its_page(
    client, all_cached, django_capture_on_commit_callbacks
):
    """As the admin saves it (only the fields this editor changed): another editor's
    abstract, saved meanwhile, stays; the title key follows the title (a re-import
    matches the row); the paper's own page shows the new title."""
    paper = Paper.objects.get(pk=all_cached["earlier"].pk)
    Paper.objects.filter(pk=paper.pk).update(abstract="Another editor's abstract")
    paper.title = "Retitled by an editor"
    with django_capture_on_commit_callbacks(execute=True):
        services.paper_save(paper=paper, date_before=EARLIER, fields=["title"])

    stored = Paper.objects.get(pk=paper.pk)
    assert (stored.title, stored.abstract) == ("Retitled by an editor", "Another editor's abstract")
    assert stored.title_key == title_normalise("Retitled by an editor")
    assert "Retitled by an editor" in client.get("/papers/2511.00003/").content.decode()


def test_an_editor_correcting_a_papers_arxiv_id_takes_its_old_address_out_of_the_cache(
    client, all_cached, django_capture_on_commit_callbacks
):
    """The page stored at the old id went on being served, as the paper's, for up to
    an hour, although no paper has that id any more (pages_changed read the keys
    after the save: the new id only)."""
    paper = Paper.objects.get(pk=all_cached["earlier"].pk)
    paper.arxiv_id = "2511.00033"
    with django_capture_on_commit_callbacks(execute=True):
        services.paper_save(paper=paper, date_before=EARLIER, fields=["arxiv_id"])

    assert client.get("/papers/2511.00003/").status_code == 404
    assert "Renamed behind the cache" in client.get("/papers/2511.00033/").content.decode()


def test_rescoring_a_paper_refreshes_its_days_pages_and_its_own(
    client, all_cached, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.papers_rescore(papers=[Paper.objects.get(pk=all_cached["earlier"].pk)])

    assert not served_from_cache(client, f"/papers/{EARLIER}/")
    assert not served_from_cache(client, "/papers/2511.00003/")


def test_deleting_papers_keeps_those_an_edition_went_out_with(
    client, all_cached, django_capture_on_commit_callbacks
):
    """Of the earlier day's paper (its edition went out) and one only in an edition
    not sent yet, the second is deleted."""
    draft = PaperFactory(title="A paper of a draft", trending_date=EARLIER, arxiv_id="2511.00004")
    EditionPaper.objects.create(edition=Edition.objects.create(date=dt.date(2025, 11, 22)), paper=draft, position=1)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.papers_delete(papers=Paper.objects.filter(pk__in=[all_cached["earlier"].pk, draft.pk]))

    assert deleted == 1
    assert list(Paper.objects.filter(pk__in=[all_cached["earlier"].pk, draft.pk])) == [all_cached["earlier"]]


def test_a_deleted_papers_page_stored_before_is_gone(client, site, django_capture_on_commit_callbacks):
    """pages_changed read the papers' keys after the commit, when a deleted paper's
    row was gone: its stored page was served for up to an hour."""
    draft = PaperFactory(title="A paper of a draft", trending_date=EARLIER, arxiv_id="2511.00004")
    assert client.get("/papers/2511.00004/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert services.papers_delete(papers=Paper.objects.filter(pk=draft.pk)) == 1

    assert client.get("/papers/2511.00004/").status_code == 404


def test_moving_a_topic_in_the_order_refreshes_every_page(client, all_cached, django_capture_on_commit_callbacks):
    """Its position alone, which re-scores nothing: the topics' order shows on every
    page (the subscribe form, the chips)."""
    with django_capture_on_commit_callbacks(execute=True):
        services.topic_update(topic=Topic.objects.get(slug="agents"), position=7)

    assert not served_from_cache(client, f"/papers/{EARLIER}/")


@pytest.mark.parametrize("how", ["delete_view", "delete_selected"])
def test_a_topic_an_editor_deletes_leaves_every_page_and_its_feed(
    client, admin_client, site, how, django_capture_on_commit_callbacks
):
    """The admin deleted the topic's row behind the cache's back: its chips, its
    feed's link and its feed itself (a 200 for a topic gone) were served for an hour
    after (a hostile review)."""
    pages = ["/feeds/", f"/papers/{DAY}/", "/papers/2511.00001/", "/editions/"]
    assert all("Agents" in client.get(path).content.decode() for path in pages)
    assert client.get("/feeds/topics/agents.atom").status_code == 200
    topic = Topic.objects.get(slug="agents")

    with django_capture_on_commit_callbacks(execute=True):
        admin_delete(admin_client, topic, how=how)

    assert not Topic.objects.filter(slug="agents").exists()
    assert [path for path in pages if "Agents" in client.get(path).content.decode()] == []
    assert client.get("/feeds/topics/agents.atom").status_code == 404


def test_an_editors_topic_choice_and_its_undoing_refresh_the_papers_pages(
    client, all_cached, django_capture_on_commit_callbacks
):
    paper, topic = Paper.objects.get(pk=all_cached["earlier"].pk), Topic.objects.get(slug="agents")
    with django_capture_on_commit_callbacks(execute=True):
        services.paper_topic_set(paper=paper, topic=topic, assigned=True)
    assert not served_from_cache(client, f"/papers/{EARLIER}/")
    assert not served_from_cache(client, "/papers/2511.00003/")

    Paper.objects.filter(pk=paper.pk).update(title="Renamed again behind the cache's back")
    with django_capture_on_commit_callbacks(execute=True):
        services.paper_topic_reset(paper=paper, topic=topic)
    for path in (f"/papers/{EARLIER}/", "/papers/2511.00003/"):
        assert "Renamed again" in client.get(path).content.decode(), path


def test_an_editor_sees_their_own_render_which_is_never_shared(client, admin_client):
    PaperFactory(title="Still being edited", trending_date=DAY)
    Edition.objects.create(date=DAY)  # not sent: not public

    preview = admin_client.get(f"/editions/{DAY}/")
    public = client.get(f"/editions/{DAY}/")

    assert preview.status_code == 200 and "private" in preview["Cache-Control"]
    assert public.status_code == 404


def test_a_made_up_session_cookie_does_not_get_past_the_cache(
    client, site, django_assert_max_num_queries
):
    first = client.get("/")
    client.cookies["sessionid"] = "made-up-to-force-a-render"

    with django_assert_max_num_queries(1):  # looking the session up, no rendering
        again = client.get("/")

    assert again.content == first.content
    assert "public" in again["Cache-Control"]


def test_a_made_up_session_cookie_first_to_ask_gets_the_public_page_stored_for_everyone(
    client, site, django_assert_max_num_queries, caplog
):
    """A session cookie that logs nobody in (stale, or made up by the thousand), on a
    page not stored yet: Django deletes the cookie, which made the page "set a cookie"
    (logged as an error, not stored), so each such request rendered it again."""
    client.cookies["sessionid"] = "made-up-to-force-a-render"

    with caplog.at_level(logging.ERROR, logger="newsletter.page_cache"):
        first = client.get("/")
    with django_assert_max_num_queries(1):  # looking the session up, no rendering
        again = client.get("/")

    assert not caplog.records
    assert "public" in first["Cache-Control"] and "cookie" not in first["Vary"].lower()
    assert again.content == first.content == Client().get("/").content


# --- Quiet under abuse ----------------------------------------------------------------


def test_a_flood_of_refused_subscriptions_logs_one_line_and_renders_no_template(
    client, settings, caplog
):
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = 3
    topic = TopicFactory()
    rendered = []
    template_rendered.connect(lambda sender, template, **kw: rendered.append(template.name),
                              weak=False, dispatch_uid="count-429-renders")
    form = {"topics": [topic.pk], "frequency": "daily", "weekday": 0, "delivery_hour": 7,
            "time_zone": "UTC", "consent": "on"}
    try:
        with caplog.at_level(logging.INFO):
            for n in range(3):
                client.post("/subscribe/", {**form, "email": f"a{n}@example.org"})
            rendered.clear()
            refused = [client.post("/subscribe/", {**form, "email": f"b{n}@example.org"})
                       for n in range(30)]
    finally:
        template_rendered.disconnect(dispatch_uid="count-429-renders")

    assert {r.status_code for r in refused} == {429}
    assert refused[0]["Retry-After"] == str(settings.SUBSCRIBE_RATE_WINDOW_SECONDS)
    assert "That was a lot of tries" in refused[-1].content.decode()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "subscribe:ip:127.0.0.1" in lines[0].getMessage()
    # The refusal page was rendered at most once (this process may have it already).
    assert rendered.count("subscribers/rate_limited.html") <= 1


@pytest.mark.parametrize("path", ["/", f"/papers/{DAY}/", f"/editions/{DAY}/", "/feeds/papers.atom"])
def test_with_the_cache_unreachable_public_pages_are_rendered_not_500(
    client, site, settings, caplog, monkeypatch, path,
):
    """Redis away (restarting, a network fault): a reader still gets the page,
    rendered for them and stored nowhere, instead of an error page; the outage is
    logged once, not once per request."""
    monkeypatch.setattr(page_cache, "_cache_down_logged_at", float("-inf"))
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens
    with caplog.at_level(logging.WARNING, logger="newsletter.page_cache"):
        bodies = [client.get(path) for _ in range(3)]
    assert [r.status_code for r in bodies] == [200, 200, 200], path
    assert "Top paper of the day" in bodies[-1].content.decode()
    assert "ETag" not in bodies[-1]  # no version to revalidate against: none is claimed
    outage = [r.getMessage() for r in caplog.records if r.name == "newsletter.page_cache"]
    assert len(outage) == 1 and "Page cache unreachable" in outage[0], outage


def test_with_the_cache_unreachable_the_wsgi_layer_hands_over_and_django_does_not_ask_again(
    client, site, settings, caplog, monkeypatch,
):
    monkeypatch.setattr(page_cache, "_cache_down_logged_at", float("-inf"))
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": "redis://127.0.0.1:1/0"}}  # nothing listens
    asked = []
    real_find = page_cache._page_find
    monkeypatch.setattr(page_cache, "_page_find", lambda *a: asked.append(1) or real_find(*a))
    with caplog.at_level(logging.WARNING, logger="newsletter.page_cache"):
        status, _, body, handled = wsgi_get("/")
    assert status == "200 OK" and handled and b"Top paper of the day" in body
    assert len(asked) == 1  # the WSGI layer's look only: Django rendered without a second


def test_an_edition_page_names_the_late_papers_it_took_and_drops_one_hidden_at_once(
    client, django_capture_on_commit_callbacks
):
    """Monday's edition holds a paper added to Friday's list after Friday's edition
    went out (newsletter/editions.py): its page says so and links Friday's. The
    paper's changes are tagged with Friday's date, and still reach Monday's stored
    page."""
    from newsletter.editions import edition_assemble, edition_freeze

    PaperFactory(title="Early on Friday", trending_date=EARLIER, upvotes=40)
    edition_freeze(edition=edition_assemble(date=EARLIER))
    late = PaperFactory(title="Late on Friday", trending_date=EARLIER, upvotes=30)
    PaperFactory(title="Monday own paper", trending_date=DAY, upvotes=10)
    edition_freeze(edition=edition_assemble(date=DAY))

    html = client.get(f"/editions/{DAY}/").content.decode()
    assert "Late on Friday" in html and "Monday own paper" in html and "Early on Friday" not in html
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "1 paper of this edition was added to Friday’s list after its edition went out: it is marked below." in text
    assert re.search(r"arch-late-mark\">Added to Friday’s list after its edition went out</p>(?:(?!</li>).)*"
                     r"Late on Friday", html, re.DOTALL)  # the mark, on its paper's card
    assert f'href="/editions/{EARLIER}/">Friday’s list</a>' in html
    assert "Late on Friday" not in client.get(f"/editions/{EARLIER}/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[late], hidden=True)

    html = client.get(f"/editions/{DAY}/").content.decode()
    assert "Late on Friday" not in html and "Friday’s list" not in html


def test_hiding_a_late_paper_of_a_day_without_an_edition_refreshes_the_list_of_editions(
    client, django_capture_on_commit_callbacks
):
    """A paper of Saturday (no edition that day) went out in Monday's edition. Hidden
    by an editor, it left Monday's page at once, but the list of editions, stored,
    kept its title among Monday's first ones: only an edition of the paper's own date
    refreshed the list, not the later one that took it."""
    saturday = DAY - dt.timedelta(days=2)
    weekend = PaperFactory(title="A weekend paper", trending_date=saturday, upvotes=90)
    publish(DAY, [weekend, PaperFactory(title="Monday's own", trending_date=DAY, upvotes=10)])
    assert "A weekend paper" in client.get("/editions/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[weekend], hidden=True)

    listed = client.get("/editions/").content.decode()
    assert "A weekend paper" not in listed and "Monday&#x27;s own" in listed


def test_a_late_paper_of_four_days_before_hidden_leaves_the_stored_list_of_editions(
    client, django_capture_on_commit_callbacks
):
    """Friday's late paper went out in Tuesday's edition (Monday's went out before the
    refresh brought it, newsletter/editions.py): hidden, it leaves the list of
    editions, four days after its own date."""
    tuesday = DAY + dt.timedelta(days=1)
    late = PaperFactory(title="A late paper of Friday", trending_date=EARLIER, upvotes=90)
    publish(tuesday, [late, PaperFactory(title="Tuesday own", trending_date=tuesday, upvotes=10)])
    assert "A late paper of Friday" in client.get("/editions/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        curation.papers_flag_set(papers=[late], hidden=True)

    assert "A late paper of Friday" not in client.get("/editions/").content.decode()
