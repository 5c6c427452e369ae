"""A paper's picture comes from this site (newsletter/pictures.py), not from Hugging
Face's CDN: before, every reader's mail client asked cdn-thumbnails.huggingface.co
for the lead card's picture when the digest was opened, and every visitor's
browser did on the pages, so Hugging Face saw who opened which digest, when, from
where. The CDN here is a real HTTPS server on 127.0.0.1 with a certificate made for
the test (the fetch is the real one, certificate checked)."""

import datetime as dt
import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from newsletter.models import Paper, picture_version
from tests.browser.conftest import png
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db

PICTURE = png(120, 63, (64, 96, 160))


class _Cdn(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, str, bytes, dict]] = {}
    asked: list[str] = []

    delay = 0.0  # seconds the CDN takes to answer

    def do_GET(self):
        type(self).asked.append(self.path)
        time.sleep(type(self).delay)
        status, content_type, body, headers = self.answers.get(self.path, (404, "text/plain", b"no", {}))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def cdn(settings, tmp_path, monkeypatch):
    """An HTTPS host allowed for pictures, and an empty picture cache."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Cdn)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    host = f"127.0.0.1:{server.server_address[1]}"
    settings.THUMBNAIL_HOSTS = [host, "cdn-thumbnails.huggingface.co"]
    settings.PICTURE_DIR = tmp_path / "pictures"
    _Cdn.answers, _Cdn.asked, _Cdn.delay = {}, [], 0.0
    yield f"https://{host}"
    server.shutdown()


def _paper(cdn: str, name: str = "2511.00001.png", **extra):
    _Cdn.answers.setdefault(f"/papers/{name}", (200, "image/png", PICTURE, {}))
    return PaperFactory(thumbnail_url=f"{cdn}/papers/{name}", **extra)


def test_the_picture_is_fetched_once_and_served_from_this_site_for_good(cdn):
    paper = _paper(cdn)
    url = paper.picture_url
    assert url.startswith(f"/pictures/{paper.pk}-") and url.endswith(".png")
    first = Client().get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert b"".join(first.streaming_content) == PICTURE
    assert "immutable" in first["Cache-Control"] and "public" in first["Cache-Control"]
    # Later readers get the copy: the CDN is asked once.
    again = Client().get(url)
    assert b"".join(again.streaming_content) == PICTURE
    assert _Cdn.asked == ["/papers/2511.00001.png"]


def test_the_digest_and_the_pages_link_this_sites_copy_and_no_other_host(cdn, settings):
    from tests.newsletter.test_digest_rendering import digest_message

    paper = _paper(cdn)
    page = Client().get(paper.get_absolute_url())
    html = page.content.decode()
    assert f'src="{paper.picture_url}"' in html and cdn not in html
    # Pictures from this site only: the policy lets no other host's (it had "https:").
    [img_src] = [d.split() for d in page["Content-Security-Policy"].split(";") if d.split()[:1] == ["img-src"]]
    assert img_src[1:3] == ["'self'", "data:"] and all(s.startswith("http://localhost") for s in img_src[3:])

    _, digest_html = digest_message(papers=2, pictures=(0,))
    sources = [s for s in digest_html.split('src="')[1:]]
    assert sources and all(s.startswith(f"{settings.SITE_URL}/pictures/") for s in sources), sources[:2]
    assert "huggingface.co" not in "".join(s.split('"')[0] for s in sources)


@pytest.mark.parametrize(("answer", "why"), [
    ((200, "text/html", b"<html>not a picture</html>", {}), "an HTML page"),
    ((200, "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * (3 * 1024 * 1024 + 10), {}), "over 3 MB"),
    ((302, "text/plain", b"", {"Location": "https://tracker.example/pixel.png"}), "a redirect elsewhere"),
    # Followed, it would give a picture (below): a redirect is not followed at all.
    ((302, "text/plain", b"", {"Location": "/pixel.png"}), "a redirect to a picture"),
    ((503, "text/plain", b"busy", {}), "the CDN away"),
    # A picture's first bytes only (a CDN answering a range nobody asked for): shown,
    # it would be a broken picture on every card, kept for good.
    ((206, "image/png", PICTURE[:40], {"Content-Range": f"bytes 0-39/{len(PICTURE)}"}), "a part of a picture"),
    ((200, "image/webp", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"0" * 40, {}), "a sound file, RIFF like WebP"),
])
def test_what_is_not_a_picture_from_the_allowed_host_is_a_404_asked_again_soon(cdn, answer, why, settings):
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = answer
    _Cdn.answers["/pixel.png"] = (200, "image/png", PICTURE, {})
    response = Client().get(paper.picture_url)
    assert response.status_code == 404, why
    assert "max-age=300" in response["Cache-Control"], why
    assert not any(Path(settings.PICTURE_DIR).glob("[0-9a-f]*")), why  # nothing kept
    # Not asked again at once (a page of 70 cards is not 70 fetches a visitor), ...
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/png", PICTURE, {})
    assert Client().get(paper.picture_url).status_code == 404 and len(_Cdn.asked) == 1, why
    # ... but once the 5 minutes have passed, and then the picture is served.
    cache.delete(f"picture-missing:{picture_version(paper.thumbnail_url)}")
    assert Client().get(paper.picture_url).status_code == 200, why


def test_an_old_pictures_address_leads_to_the_current_one_and_a_hidden_papers_to_nothing(cdn):
    paper = _paper(cdn)
    old = paper.picture_url
    _paper_picture_change(paper, cdn)
    answer = Client().get(old)
    assert answer.status_code == 302 and answer["Location"] == paper.picture_url != old
    paper.hidden = True
    paper.save(update_fields=["hidden"])
    assert Client().get(paper.picture_url).status_code == 404
    assert Client().get(f"/pictures/{paper.pk + 1000}-{'0' * 12}.png").status_code == 404


def _paper_picture_change(paper, cdn: str) -> None:
    _Cdn.answers["/papers/2511.00002.png"] = (200, "image/png", PICTURE, {})
    paper.thumbnail_url = f"{cdn}/papers/2511.00002.png"
    paper.save(update_fields=["thumbnail_url"])


def test_a_picture_cache_that_cannot_be_written_is_a_404_asked_again_soon_not_a_500(cdn, settings, tmp_path):
    """PICTURE_DIR full, read-only or not a folder (a volume mounted wrong): each ask
    was a 500, and a new fetch from the CDN for every card of every page."""
    (tmp_path / "not-a-folder").write_text("")
    settings.PICTURE_DIR = tmp_path / "not-a-folder" / "pictures"
    paper = _paper(cdn)
    response = Client().get(paper.picture_url)
    assert response.status_code == 404 and "max-age=300" in response["Cache-Control"]
    assert Client().get(paper.picture_url).status_code == 404
    assert _Cdn.asked == ["/papers/2511.00001.png"]


def test_a_picture_is_one_query(cdn, django_assert_num_queries):
    """A page of 70 cards asks for 70 pictures: each reads its paper's source, not
    also its topics, as the paper's page does."""
    paper = _paper(cdn)
    assert Client().get(paper.picture_url).status_code == 200
    with django_assert_num_queries(1):
        assert Client().get(paper.picture_url).status_code == 200


# Hostile tester, second round (README, "Hostile tester, second round").


def test_a_picture_address_with_a_pk_of_thousands_of_digits_is_a_404_not_a_500(cdn):
    """The route took any run of digits and the view read it with int(), which
    refuses more than 4,300 digits: each such ask was a 500 and an error logged."""
    for digits in (20, 25, 5000):
        response = Client().get(f"/pictures/{'9' * digits}-{'0' * 12}.png")
        assert response.status_code == 404, digits
    assert not _Cdn.asked


@pytest.mark.parametrize(("body", "served_as"), [
    # A GIF that is also JavaScript: a <script src> of it from this origin would pass
    # the policy's script-src 'self' if the browser ran it.
    (b"GIF89a=1;alert(document.domain);//" + b"\x00" * 16, "image/gif"),
    # A PNG's signature before an HTML page.
    (b"\x89PNG\r\n\x1a\n<html><script>alert(document.domain)</script></html>", "image/png"),
])
def test_a_polyglot_is_served_as_the_picture_it_starts_as_and_never_sniffed(cdn, body, served_as):
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (200, "text/html", body, {})
    response = Client().get(paper.picture_url)
    assert response.status_code == 200 and response["Content-Type"] == served_as
    assert response["X-Content-Type-Options"] == "nosniff"  # no browser runs or renders it as HTML
    assert "script-src" in response["Content-Security-Policy"] or "default-src" in response["Content-Security-Policy"]


def test_an_svg_or_html_picture_is_not_served(cdn):
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/svg+xml",
                                              b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', {})
    assert Client().get(paper.picture_url).status_code == 404


def test_range_head_and_conditional_asks_get_the_whole_picture_fetched_once(cdn):
    """Range is not honoured (Django's FileResponse): the whole picture, 200, never
    a part of another file; HEAD fetches as GET does, once; If-None-Match is ignored
    (the URL is immutable: browsers do not ask again)."""
    paper = _paper(cdn)
    head = Client().head(paper.picture_url)
    assert head.status_code == 200 and head["Content-Type"] == "image/png"
    ranged = Client().get(paper.picture_url, HTTP_RANGE="bytes=0-3,-100000000")
    assert ranged.status_code == 200 and b"".join(ranged.streaming_content) == PICTURE
    conditional = Client().get(paper.picture_url, HTTP_IF_NONE_MATCH="*")
    assert conditional.status_code == 200 and b"".join(conditional.streaming_content) == PICTURE
    assert _Cdn.asked == ["/papers/2511.00001.png"]


def test_an_old_pictures_address_redirects_only_to_this_sites_own_path(cdn):
    """The redirect's Location is the paper's picture_url, made from its pk and its
    source's digest: nothing of the request's path goes into it."""
    paper = _paper(cdn)
    for asked in (f"/pictures/{paper.pk}-{'a' * 12}.png", f"/pictures/{paper.pk}-{'0' * 12}.gif"):
        response = Client().get(asked, HTTP_HOST="testserver")
        assert response.status_code == 302 and response["Location"] == paper.picture_url
        assert response["Location"].startswith(f"/pictures/{paper.pk}-")
    assert not _Cdn.asked


ALLOWED = "cdn-thumbnails.huggingface.co"


@pytest.mark.parametrize("url", [
    f"https://{ALLOWED}@evil.example/x.png",
    f"https://{ALLOWED}:443@evil.example/x.png",
    f"https://evil.example\\@{ALLOWED}/x.png",
    f"https://evil.example#@{ALLOWED}/x.png",
    f"https://evil.example?@{ALLOWED}/x.png",
    f"https://{ALLOWED}.evil.example/x.png",
    f"https://{ALLOWED}:8080/x.png",
    f"http://{ALLOWED}/x.png",
    f" https://{ALLOWED}/x.png",
    "https://127.0.0.1/x.png",
    "https://[::1]/x.png",
    "https://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
])
def test_no_thumbnail_address_reaches_another_host(settings, url):
    """SSRF: every path that writes Paper.thumbnail_url (the admin's form, the
    ingester, a pasted API entry through it) and the fetch itself ask
    thumbnail_url_allowed. Whatever it allows, the HTTP client connects to the
    allowed host: the two read the host alike."""
    from urllib3.util import parse_url

    from newsletter.models import thumbnail_url_allowed
    settings.THUMBNAIL_HOSTS = [ALLOWED]
    assert not thumbnail_url_allowed(url)
    for allowed in (f"https://{ALLOWED}/x.png?@evil.example", f"HTTPS://{ALLOWED.upper()}/x.png",
                    f"https://{ALLOWED}/\\@evil.example/x.png"):
        assert thumbnail_url_allowed(allowed) and parse_url(allowed).host.lower() == ALLOWED


@pytest.mark.django_db(transaction=True)
def test_readers_opening_the_digest_at_once_make_one_fetch_not_one_each(cdn):
    """A digest's first readers open it within the same second: each request for the
    lead card's picture found no copy and asked the CDN itself (the review and the
    operator's walkthrough both left it). Now one fetches and the others wait for
    its copy."""
    paper = _paper(cdn)
    _Cdn.delay = 0.5
    answers = []

    def open_the_digest():
        response = Client().get(paper.picture_url)
        answers.append((response.status_code, b"".join(response.streaming_content)))

    readers = [threading.Thread(target=open_the_digest) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert answers == [(200, PICTURE)] * 4
    assert _Cdn.asked == ["/papers/2511.00001.png"]


def test_a_picture_is_kept_by_browsers_for_a_year_and_one_taken_away_is_a_404(cdn):
    # A card's picture never changes at its address, so a reader's browser keeps it
    # a year, and does not even revalidate it on a reload.
    paper = _paper(cdn)
    url = paper.picture_url
    kept = {d.strip() for d in Client().get(url)["Cache-Control"].split(",")}
    assert {f"max-age={365 * 24 * 3600}", "immutable", "public"} <= kept
    # The paper lost its picture (an editor cleared it): its old address is a 404,
    # not a redirect to nowhere.
    paper.thumbnail_url = ""
    paper.save(update_fields=["thumbnail_url"])
    assert Client().get(url).status_code == 404


def test_a_picture_of_exactly_the_largest_size_is_served(cdn):
    """The limit is "at most 3 MB": a picture of exactly that size is shown."""
    from newsletter.pictures import PICTURE_MAX_BYTES
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/png", PICTURE + b"0" * (PICTURE_MAX_BYTES - len(PICTURE)), {})
    response = Client().get(paper.picture_url)
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content)) == PICTURE_MAX_BYTES


def test_a_picture_that_could_not_be_had_is_not_asked_for_again_once_the_first_fetch_is_over(cdn):
    """The CDN away: after the first fetch's own wait has passed, the next visitor's
    card is a 404 from here for 5 minutes, not another fetch."""
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (503, "text/plain", b"busy", {})
    assert Client().get(paper.picture_url).status_code == 404
    cache.delete(f"picture-fetching:{picture_version(paper.thumbnail_url)}")
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/png", PICTURE, {})
    assert Client().get(paper.picture_url).status_code == 404
    assert len(_Cdn.asked) == 1


def test_a_picture_still_read_is_kept_past_the_days_unread_ones_are(cdn, settings):
    """A copy readers still open is not pruned after PICTURE_KEEP_DAYS from its
    fetch: each read counts as its last use."""
    import os

    from newsletter.pictures import PICTURE_KEEP_DAYS
    paper = _paper(cdn)
    assert Client().get(paper.picture_url).status_code == 200
    (copy,) = Path(settings.PICTURE_DIR).glob("[0-9a-f]*")
    long_ago = time.time() - (PICTURE_KEEP_DAYS - 1) * 86400
    os.utime(copy, (long_ago, long_ago))
    assert Client().get(paper.picture_url).status_code == 200
    assert copy.stat().st_mtime > time.time() - 3600
    assert len(_Cdn.asked) == 1


def test_a_data_picture_that_is_not_base64_is_not_served(cdn):
    """A data: picture (a paper imported without network) is decoded strictly: one
    with stray characters is no picture, not a guess at what it meant."""
    import base64
    good = base64.b64encode(PICTURE).decode()
    assert Client().get(PaperFactory(thumbnail_url=f"data:image/png;base64,{good}").picture_url).status_code == 200
    stray = f"data:image/png;base64,{good[:20]}*{good[20:]}"
    assert Client().get(PaperFactory(thumbnail_url=stray).picture_url).status_code == 404


def test_a_copy_that_cannot_be_written_leaves_no_part_behind(cdn, settings):
    """A write that fails (here the copy's name taken by a folder) is a 404 asked again
    soon, and leaves no half-written file: a disk that fails often would fill up."""
    paper = _paper(cdn)
    folder = Path(settings.PICTURE_DIR)
    (folder / picture_version(paper.thumbnail_url) / "in-the-way").mkdir(parents=True)
    assert Client().get(paper.picture_url).status_code == 404
    assert [entry.name for entry in folder.iterdir()] == [picture_version(paper.thumbnail_url)]


def test_copies_unread_for_the_kept_days_are_deleted_at_most_once_an_hour(cdn, settings):
    """Writing a new copy deletes those nobody read for PICTURE_KEEP_DAYS (days, not
    hours), and looks through the folder at most once an hour, not on every write."""
    import os

    from newsletter.pictures import PICTURE_KEEP_DAYS
    folder = Path(settings.PICTURE_DIR)

    def ago(path: Path, seconds: float) -> None:
        os.utime(path, (time.time() - seconds, time.time() - seconds))

    def copy_of(paper) -> Path:
        return folder / picture_version(paper.thumbnail_url)

    first, second = _paper(cdn, "a.png"), _paper(cdn, "b.png")
    for paper in (first, second):
        assert Client().get(paper.picture_url).status_code == 200
    ago(copy_of(first), (PICTURE_KEEP_DAYS + 1) * 86400)
    ago(copy_of(second), (PICTURE_KEEP_DAYS - 1) * 86400)
    ago(folder / ".pruned", 2 * 3600)  # the last look was two hours ago
    assert Client().get(_paper(cdn, "c.png").picture_url).status_code == 200
    assert not copy_of(first).exists() and copy_of(second).exists()
    # Looked just now: the next write within the hour deletes nothing, old or not.
    ago(copy_of(second), (PICTURE_KEEP_DAYS + 1) * 86400)
    assert Client().get(_paper(cdn, "d.png").picture_url).status_code == 200
    assert copy_of(second).exists()


@pytest.mark.parametrize(("name", "extension"), [
    ("2511.00001.jpeg", "jpg"), ("2511.00001.JPG", "jpg"), ("2511.00001.webp?w=640", "webp"),
    ("2511.00001.svg", "png"), ("2511.00001", "png"),
])
def test_a_pictures_address_here_names_its_type_as_its_source_does(cdn, name, extension):
    """A saved picture keeps the type its source had (.jpeg and .JPG both as .jpg, a
    query left out); a source with no known type is the API's usual PNG."""
    paper = PaperFactory(thumbnail_url=f"{cdn}/papers/{name}")
    assert paper.picture_url.endswith(f".{extension}")


# A picture that cannot be had: the server knows it (Paper.picture_missing_at), not only
# the browser (static newsletter/pictures.js), so an email and a page without JavaScript
# show no broken box.


def test_a_picture_that_cannot_be_had_is_in_no_email_or_page_and_the_admin_says_so_until_it_comes(
        cdn, editor_client, django_capture_on_commit_callbacks):
    """The reader's first pick showed a broken box at the top of the digest (emails
    run no script), a page without JavaScript an empty frame, and the admin's
    "Picture as readers see it" went blank: the picture 404s on this site because
    Hugging Face's CDN would not give it. Once a fetch has failed, none of them links
    it; a later fetch that succeeds (the CDN back) brings it back everywhere."""
    from tests.newsletter.test_digest_rendering import digest_message

    paper = _paper(cdn, trending_date=dt.date(2025, 11, 24), title="A paper whose picture is gone")
    _Cdn.answers["/papers/2511.00001.png"] = (404, "text/plain", b"no", {})
    served = paper.picture_url
    assert 'class="paper-page__thumb"' in Client().get(paper.get_absolute_url()).content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # the cached pages are told
        assert Client().get(served).status_code == 404  # a visitor's browser asked for it
    for url in (paper.get_absolute_url(), "/papers/2025-11-24/"):
        html = Client().get(url).content.decode()
        assert paper.title in html and "/pictures/" not in html and "thumb" not in html, url
    paper.refresh_from_db()
    assert paper.picture_missing_at is not None and paper.picture_url == ""

    # The reader whose first pick it is: no picture at the top of the email.
    _, digest_html = digest_message(papers=2, pictures=(0,), lead={"picture_missing_at": paper.picture_missing_at})
    assert '<img class="picture"' not in digest_html and "/pictures/" not in digest_html
    assert "<img" not in digest_html.split('<div class="card"')[1]

    admin_page = editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode()
    assert "None: Hugging Face's CDN would not give it (tried " in admin_page
    assert 'class="paper-picture"' not in admin_page
    # Hidden, it is in no page or digest whatever its picture: the admin says that first.
    Paper.objects.filter(pk=paper.pk).update(hidden=True)
    hidden_page = editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode()
    assert "None while it is hidden or withdrawn" in hidden_page and "CDN would not give it" not in hidden_page
    Paper.objects.filter(pk=paper.pk).update(hidden=False)

    # The CDN gives it again: asked after the few minutes a failure is kept, the fetch
    # succeeds (its address still fetches, though no page links it) and it is back.
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/png", PICTURE, {})
    cache.delete(f"picture-missing:{picture_version(paper.thumbnail_url)}")
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().get(served).status_code == 200
    paper.refresh_from_db()
    assert paper.picture_missing_at is None and paper.picture_url == served
    assert f'src="{served}"' in Client().get(paper.get_absolute_url()).content.decode()
    admin_page = editor_client.get(reverse("admin:newsletter_paper_change", args=[paper.pk])).content.decode()
    assert f'<img class="paper-picture" src="{served}"' in admin_page


def test_an_import_fetches_its_papers_pictures_in_the_background_and_a_later_one_asks_again(
        cdn, monkeypatch, django_capture_on_commit_callbacks):
    """The server learns which pictures cannot be had before the first digest goes
    out, not when a reader's client asks: the import queues their fetch (run here at
    once, as the worker would), and the import waits on no CDN. A picture that could
    not be had is asked again at the next import that lists its paper."""
    from newsletter import pictures
    from newsletter.ingest import papers_import

    asked = []

    def cdn_away(source):
        asked.append(source)
        raise pictures.PictureUnavailable(f"{source}: HTTP 503")

    monkeypatch.setattr(pictures, "_source_read", cdn_away)
    items = json.loads((Path(__file__).parent / "recorded" / "hf-daily-papers-2024-10-25-first-2.json").read_text())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    assert queued and len(asked) == 2
    papers = list(Paper.objects.order_by("pk"))
    assert all(p.picture_missing_at is not None and p.picture_url == "" for p in papers)
    html = Client().get("/papers/2024-10-25/").content.decode()
    assert papers[0].title[:40] in html and "/pictures/" not in html

    # The CDN back, the next import (the hourly refetch: nothing changed) asks again.
    monkeypatch.setattr(pictures, "_source_read", lambda source: PICTURE)
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    assert all(p.picture_missing_at is None and p.picture_url for p in Paper.objects.all())
    assert Client().get("/papers/2024-10-25/").content.decode().count('class="paper-card__thumb"') == 2


def _edition_with_a_picture_never_tried(cdn: str) -> tuple[Paper, Paper]:
    """An edition of two papers, as an import left them with the broker away (listed,
    pictures never fetched): the first's picture the CDN will not give. Its reader, due
    at 07:00, has both in their topic. (the paper gone, the paper there)"""
    from newsletter.editions import edition_assemble
    from tests.factories import PaperTopicFactory, SubscriberFactory, TopicFactory
    from tests.newsletter.test_delivery import DAY

    topic = TopicFactory(name="Continual learning")
    gone = _paper(cdn, "2511.00001.png", trending_date=DAY, upvotes=100, title="A paper whose picture is gone")
    there = _paper(cdn, "2511.00002.png", trending_date=DAY, upvotes=90, title="A paper whose picture is there")
    for paper in (gone, there):
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["catastrophic forgetting"])
    _Cdn.answers["/papers/2511.00001.png"] = (404, "text/plain", b"no", {})
    edition_assemble(date=DAY)
    reader = SubscriberFactory(delivery_hour=7)
    reader.topics.add(topic)
    return gone, there


def _first_digest_links_no_picture_gone(gone: Paper, there: Paper) -> None:
    from django.core import mail

    (message,) = mail.outbox
    html = message.alternatives[0][0]
    assert gone.title in html and there.title in html
    # The reader's first pick: no picture at the top, and no link to the one gone.
    assert gone.picture_served_url not in html and "<img" not in html.split('<div class="card"')[1]
    assert sorted(_Cdn.asked) == ["/papers/2511.00001.png", "/papers/2511.00002.png"]
    assert Paper.objects.get(pk=there.pk).picture_missing_at is None
    assert Paper.objects.get(pk=gone.pk).picture_missing_at is not None


def test_send_now_tries_the_pictures_before_the_editions_first_digest_in_a_task_not_the_request(
        cdn, django_capture_on_commit_callbacks):
    """An editor's "Send now" on an edition never sent made its first digests without
    trying its pictures (only beat's run did): the first emails linked a picture the
    CDN would not give. It now sends as beat's run does (delivery.edition_send), in a
    task: the editor's request asks the CDN nothing, and writes no row."""
    from newsletter import curation
    from newsletter.models import Delivery
    from tests.newsletter.test_delivery import NOW

    gone, there = _edition_with_a_picture_never_tried(cdn)
    edition = gone.editions.get()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert curation.edition_send_now(edition=edition, now=NOW) == 1
    assert _Cdn.asked == [] and not Delivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:  # the task, as a worker runs it
            callback()
    _first_digest_links_no_picture_gone(gone, there)


def test_send_digests_tries_the_pictures_before_the_editions_first_digest(cdn):
    """`manage.py send_digests` sent an edition never sent without trying its
    pictures, as "Send now" did: it sends through delivery.edition_send too."""
    from io import StringIO

    from django.core.management import call_command

    from tests.newsletter.test_delivery import DAY

    gone, there = _edition_with_a_picture_never_tried(cdn)
    call_command("send_digests", "--date", DAY.isoformat(), "--now", stdout=StringIO())
    _first_digest_links_no_picture_gone(gone, there)


def test_a_picture_nobody_tried_is_tried_before_the_editions_first_digest_goes_out(
        cdn, django_capture_on_commit_callbacks):
    """An import fetches its papers' pictures in a background task. With the broker
    away at that moment, nothing fetched them: the first readers' digests linked a
    picture the CDN would not give, a broken box at the top of the email, and the
    30-minute retry only asks again for pictures already known missing. The
    edition's first dispatch tries every picture not known yet before any digest is
    made; the runs after it ask the CDN nothing."""
    from newsletter.delivery import digests_dispatch
    from tests.newsletter.test_delivery import NOW

    gone, there = _edition_with_a_picture_never_tried(cdn)
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW) == 1
    _first_digest_links_no_picture_gone(gone, there)

    # The edition is frozen: the next runs ask the CDN nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW + dt.timedelta(minutes=15)) == 0
    assert len(_Cdn.asked) == 2


@pytest.mark.parametrize("worker_found", ["had", "missing"])
def test_an_import_running_while_the_picture_task_writes_leaves_the_tasks_outcome(
        cdn, monkeypatch, worker_found):
    """The picture task (or a reader's ask) writes whether a picture can be had while
    the hourly import of the same papers runs. The import read the papers before and
    wrote back what it read: a picture the task had just had came back as missing
    (no picture in the morning's digests until the next retry), one it had just
    found missing as present (a broken box). Only a new picture is the import's to
    clear."""
    from newsletter import ingest

    items = json.loads((Path(__file__).parent / "recorded" / "hf-daily-papers-2024-10-25-first-2.json").read_text())
    monkeypatch.setattr(ingest, "pictures_fetch_later", lambda paper_ids: None)  # no worker here
    ingest.papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    before = None if worker_found == "missing" else timezone.now()
    after = timezone.now() if worker_found == "missing" else None
    Paper.objects.update(picture_missing_at=before)
    matched = ingest._existing_match

    def the_task_writes_meanwhile(rows):
        papers = matched(rows)  # the import has read the papers...
        Paper.objects.update(picture_missing_at=after)  # ...and the task writes its outcome
        return papers

    monkeypatch.setattr(ingest, "_existing_match", the_task_writes_meanwhile)
    items[0]["paper"]["upvotes"] += 7  # the hourly refetch: counts moved
    items[1]["thumbnail"] = items[1]["thumbnail"].replace(".png", "-v2.png")  # a new picture
    result = ingest.papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    assert result.updated == 2
    counts_moved, picture_new = Paper.objects.order_by("pk")
    assert (counts_moved.picture_missing_at is None) == (worker_found == "had")
    assert counts_moved.upvotes == items[0]["paper"]["upvotes"]
    # A new picture is not known missing, whatever was known of the old one.
    assert picture_new.picture_missing_at is None and picture_new.thumbnail_url.endswith("-v2.png")


def test_a_picture_that_could_not_be_had_is_asked_again_in_the_background_until_the_cdn_gives_it(
        cdn, django_capture_on_commit_callbacks):
    """A failure may be the CDN away for a minute. Once no page links the picture,
    nobody's browser asks for it again, and the morning's paper showed no picture all
    day (and in the week's digests) though the CDN had it again. The beat task asks
    again for the week's papers; an older paper's picture that never came is left."""
    from newsletter.tasks import papers_pictures_missing_fetch

    today = timezone.now().date()
    paper = _paper(cdn, trending_date=today)
    old = _paper(cdn, "2511.00009.png", trending_date=today - dt.timedelta(days=8))
    # Withdrawn by its authors after its fetch failed: in no page or digest, not asked.
    withdrawn = _paper(cdn, "2511.00007.png", trending_date=today, picture_missing_at=timezone.now(),
                       withdrawn_at=timezone.now())
    for name in ("2511.00001.png", "2511.00009.png"):
        _Cdn.answers[f"/papers/{name}"] = (404, "text/plain", b"no", {})
    with django_capture_on_commit_callbacks(execute=True):
        assert Client().get(paper.picture_url).status_code == 404
        assert Client().get(old.picture_url).status_code == 404
    paper.refresh_from_db()
    assert paper.picture_url == "" and 'class="paper-page__thumb"' not in Client().get(
        paper.get_absolute_url()).content.decode()

    # The CDN gives them again; a run within the few minutes a failure is kept asks nothing.
    for name in ("2511.00001.png", "2511.00009.png"):
        _Cdn.answers[f"/papers/{name}"] = (200, "image/png", PICTURE, {})
    asked = len(_Cdn.asked)
    assert papers_pictures_missing_fetch() == {"had": 0, "missing": 0} and len(_Cdn.asked) == asked
    Paper.objects.update(picture_missing_at=F("picture_missing_at") - dt.timedelta(minutes=6))
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert papers_pictures_missing_fetch() == {"had": 1, "missing": 0}
    paper.refresh_from_db()
    old.refresh_from_db()
    withdrawn.refresh_from_db()
    assert paper.picture_missing_at is None and old.picture_missing_at is not None
    assert withdrawn.picture_missing_at is not None
    assert not any("2511.00007" in asked for asked in _Cdn.asked)
    assert f'src="{paper.picture_url}"' in Client().get(paper.get_absolute_url()).content.decode()


# At the edges (mutation testing of newsletter/pictures.py).


@pytest.mark.parametrize(("body", "served_as"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"0" * 40, "image/jpeg"),
    (b"GIF87a" + b"0" * 40, "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"0" * 40, "image/webp"),
])
def test_a_jpeg_an_older_gif_and_a_webp_are_served_as_what_their_first_bytes_say(cdn, body, served_as):
    """Not only PNGs: a JPEG thumbnail, a GIF of the older kind and a WebP are shown,
    each served as its own type whatever the CDN's Content-Type claims."""
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (200, "application/octet-stream", body, {})
    response = Client().get(paper.picture_url)
    assert response.status_code == 200 and response["Content-Type"] == served_as
    assert b"".join(response.streaming_content) == body


def test_a_file_that_says_webp_only_past_its_first_bytes_is_not_a_picture(cdn):
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (200, "image/webp", b"<html>\x00\x00WEBP<script>" + b"0" * 40, {})
    assert Client().get(paper.picture_url).status_code == 404


def test_a_cdn_that_hangs_costs_a_card_the_fetchs_time_limit_not_the_hang(cdn, monkeypatch):
    """A CDN that accepts the connection and then says nothing: the reader's card is a
    404 once the read's time limit is up (13 s at most in production), not whenever
    the CDN answers."""
    from newsletter import pictures
    monkeypatch.setattr(pictures, "PICTURE_TIMEOUT_SECONDS", (1, 0.5))
    paper = _paper(cdn)
    _Cdn.delay = 3.0
    started = time.monotonic()
    assert Client().get(paper.picture_url).status_code == 404
    assert time.monotonic() - started < 2.5


class _RedisAway:
    def __getattr__(self, name):
        def away(*args, **kwargs):
            from redis import RedisError
            raise RedisError("Connection refused")
        return away


def test_with_redis_away_a_picture_is_still_fetched_and_served_at_once(cdn, monkeypatch):
    """Redis holds only the notes "being fetched" and "could not be had a moment
    ago": with it away, a picture is fetched and served as without them, not a 404
    for every card nor a wait for a claim nobody can hold."""
    from newsletter import pictures
    monkeypatch.setattr(pictures, "cache", _RedisAway())
    paper = _paper(cdn)
    started = time.monotonic()
    response = Client().get(paper.picture_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PICTURE
    assert time.monotonic() - started < 3


@pytest.mark.django_db(transaction=True)
def test_readers_waiting_for_a_fetch_that_fails_get_their_404_with_it_and_ask_nothing(cdn):
    """The first readers of a digest open it at once and the CDN is away: the reader
    who fetches gets the 404, and those waiting for their copy get theirs as soon as
    the failure is known, none of them asking the CDN again (nor waiting the whole
    PICTURE_FETCH_WAIT_SECONDS)."""
    paper = _paper(cdn)
    _Cdn.answers["/papers/2511.00001.png"] = (503, "text/plain", b"busy", {})
    _Cdn.delay = 0.5
    answers = []

    def open_the_digest():
        answers.append(Client().get(paper.picture_url).status_code)

    readers = [threading.Thread(target=open_the_digest) for _ in range(4)]
    started = time.monotonic()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert answers == [404] * 4
    assert _Cdn.asked == ["/papers/2511.00001.png"]
    assert time.monotonic() - started < 4


def test_the_retry_asks_again_for_a_paper_of_exactly_the_retry_days_ago(cdn, django_capture_on_commit_callbacks):
    """A weekly digest holds the papers of the last PICTURE_RETRY_DAYS days: the
    oldest of them, its picture missing, is asked again too."""
    from newsletter.pictures import PICTURE_RETRY_DAYS, pictures_missing_fetch
    oldest = _paper(cdn, trending_date=timezone.now().date() - dt.timedelta(days=PICTURE_RETRY_DAYS),
                    picture_missing_at=timezone.now() - dt.timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert pictures_missing_fetch() == {"had": 1, "missing": 0}
    oldest.refresh_from_db()
    assert oldest.picture_missing_at is None


def test_a_retry_run_asks_at_most_its_batch_the_longest_untried_first(cdn, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    """Each fetch that hangs takes seconds: a run asks for at most PICTURE_RETRY_BATCH
    pictures (here 1), those untried the longest first, so none waits for ever."""
    from newsletter import pictures
    monkeypatch.setattr(pictures, "PICTURE_RETRY_BATCH", 1)
    today = timezone.now().date()
    recent = _paper(cdn, "a.png", trending_date=today, picture_missing_at=timezone.now() - dt.timedelta(hours=1))
    longest = _paper(cdn, "b.png", trending_date=today, picture_missing_at=timezone.now() - dt.timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert pictures.pictures_missing_fetch() == {"had": 1, "missing": 0}
    assert _Cdn.asked == ["/papers/b.png"]
    assert Paper.objects.get(pk=longest.pk).picture_missing_at is None
    assert Paper.objects.get(pk=recent.pk).picture_missing_at is not None


def test_an_import_with_the_broker_away_imports_its_papers_all_the_same(monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    """The pictures' fetch is queued after the import commits: a broker that cannot
    take it costs the early fetch, not the import (the first reader's ask fetches)."""
    from kombu.exceptions import OperationalError

    from newsletter.ingest import papers_import
    from newsletter.tasks import papers_pictures_fetch

    def broker_away(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(papers_pictures_fetch, "delay", broker_away)
    items = json.loads((Path(__file__).parent / "recorded" / "hf-daily-papers-2024-10-25-first-2.json").read_text())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        papers_import(items=items, trending_date=dt.date(2024, 10, 25))
    assert queued and Paper.objects.count() == 2


def test_a_paper_marked_missing_whose_copy_another_fetch_kept_shows_its_picture_again(
        cdn, django_capture_on_commit_callbacks):
    """Two workers asked for one picture at once: one met the CDN's hiccup and marked
    the paper missing, the other kept the copy. The next try finds the copy on disk:
    it clears the mark (the picture is back in every page and digest) without asking
    the CDN. A paper with no picture at all is neither had nor missing in a run's
    count (the operator's log line)."""
    from newsletter.pictures import pictures_fetch, pictures_missing_fetch

    paper = _paper(cdn, trending_date=timezone.now().date())
    assert Client().get(paper.picture_url).status_code == 200  # the copy is kept
    Paper.objects.filter(pk=paper.pk).update(picture_missing_at=timezone.now() - dt.timedelta(hours=1))
    _Cdn.asked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pictures_missing_fetch() == {"had": 1, "missing": 0}
    paper.refresh_from_db()
    assert paper.picture_missing_at is None and paper.picture_url == paper.picture_served_url != ""
    assert _Cdn.asked == []

    none = PaperFactory(thumbnail_url="")
    assert pictures_fetch(paper_ids=[none.pk]) == {"had": 0, "missing": 0}


def test_an_old_folder_in_the_picture_directory_does_not_stop_new_copies(cdn, settings):
    """PICTURE_DIR on a volume of its own has a lost+found months old: the hourly
    look for unread copies deletes files only. Taken for an old copy, the folder
    made the look fail at every write, and with it every new picture (a 404, the
    paper marked missing)."""
    import os

    folder = Path(settings.PICTURE_DIR)
    (folder / "lost+found").mkdir(parents=True)
    old = time.time() - 400 * 86400
    os.utime(folder / "lost+found", (old, old))
    paper = _paper(cdn)
    assert Client().get(paper.picture_url).status_code == 200
    paper.refresh_from_db()
    assert paper.picture_missing_at is None and (folder / "lost+found").is_dir()


def test_picture_get_asks_no_host_that_is_not_allowed_whoever_calls_it(cdn, settings):
    """The pages and the fetch task only ask for a paper's picture from an allowed
    host (Paper.picture_served_url); picture_get refuses any other itself, so no
    caller can make this server fetch an address of someone's choosing."""
    from newsletter.pictures import PictureUnavailable, picture_get

    paper = _paper(cdn)
    settings.THUMBNAIL_HOSTS = ["cdn-thumbnails.huggingface.co"]
    with pytest.raises(PictureUnavailable, match="allowed host"):
        picture_get(paper)
    assert _Cdn.asked == []
