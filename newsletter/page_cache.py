"""The public pages' cache: anonymous pages (home, day pages, editions, feeds, paper
pages) sent cacheable and compressed, kept rendered in Django's cache (Redis), and
invalidated exactly when what they show changes.

A public page is a view decorated with `public_page(tags=...)` (one line):

    @public_page(tags=lambda date: [DATES_TAG, f"day:{date}"])

Its tags name the data the page shows: `day:<date>` (the visible papers of a Daily
Papers date), `dates` (which dates have papers: the date navigation), `home` (the
newest date's page), `edition:<date>`, `editions` (the list of editions),
`editions-published` (which are public: the links between them), `feeds`,
`paper:<arXiv id or primary key>`, and `site` (every page: topics, the templates and
code of this release). Each tag has a version in the cache, and a page's ETag is
made from its tags' versions, so `pages_changed` (called by the services that write
papers, topics and editions) bumps the tags a change touches: the pages that show
them miss once and are rendered afresh, every other page keeps its entry. A browser
or CDN revalidating with the ETag gets a 304 without the page being rendered.

Serving a stored page is the hot path of a launch-day spike, so it is made to cost
almost nothing (docs/benchmarks.md, "CPU per page"). A page is stored as it was
sent: the bytes and every header the middleware gave it (security, CSP,
X-Frame-Options), so a hit is those bytes and headers and nothing is computed
again. `PublicPageMiddleware` is the outermost middleware: it stores what the whole
stack answered, and answers an anonymous GET from the cache before any other
middleware runs. In production `PublicPageWSGI` (config/wsgi.py) answers a plain
hit even before Django's request handling (its signals, the request and response
objects): it asks the same lookup and hands everything else (a miss, a
revalidation, a session cookie, a refused host, an error) to Django. The lookup
resolves the URL to its page, and one Redis round trip (`get_many`) reads the
page's tag versions together with the stored entry, which is keyed by the URL
(scheme and host included: feeds hold absolute links, and an http request that the
SSL redirect sends away never has an entry), the encoding and the release (the code
and the settings that shape the headers), and holds the ETag it was rendered under:
the entry is served only if that ETag is the current one. A rendered page is stored
twice, plain and gzipped, so a hit costs no compression. Django's `cache_page` does
not fit: its key cannot follow the tags, and it reads the cache two or three times
per hit. Without the middleware the decorator sends the same pages, cacheable by
browsers and proxies, but nothing is stored.

A cached page goes to everyone, so it must not read the session or use a CSRF token
(forms that need one live on their own pages, e.g. /subscribe/). A request without a
session cookie is anonymous by construction (this site logs in only through
sessions), so its `request.user` is set to AnonymousUser without reading the session,
and no `Vary: Cookie` or cookie is sent. A signed-in request (an editor) is rendered
for itself, privately, neither read from nor stored in the cache; a session cookie
that logs nobody in is served the public page. A
public page that touches the session or the CSRF token anyway is sent private and
not stored, and the mistake is logged."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, transaction
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.gzip import re_accepts_gzip
from django.template.loader import get_template
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.safestring import mark_safe
from django.utils.text import compress_string

from mail.rendering import absolute_url

logger = logging.getLogger(__name__)

_TAG_KEY = "page-tag:{}"
_ENTRY_KEY = "page:{}"
# The version of this tag is not a random token but the digest of the dates that have
# visible papers (`_dates_signature`), so a change that leaves them as they were
# leaves the date navigation of every day page cached.
DATES_TAG = "dates"
# Shorter bodies are not worth compressing (Django's GZipMiddleware's threshold).
GZIP_MIN_BYTES = 200
# Request headers that make a response conditional (RFC 9110, section 13.1).
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE",
                "HTTP_IF_UNMODIFIED_SINCE")


# --- Tags and their versions ----------------------------------------------------------


def _tag_versions(tags: list[str], found: dict) -> tuple[list[str], dict[str, str]]:
    """The current version of each tag, read from `found` (the caller's round trip
    to Redis), and the versions of those not in it, by key. A tag never bumped (or
    lost from the cache) gets a fresh random version, so no page stored under an
    older one can be served again. That version is written only with a page stored
    under it (_page_store): a lookup of a page that does not exist (a 404 for any
    arXiv-shaped id, any date) wrote one key for good per address asked until 7
    December 2026, which a scan of addresses grew without end in the broker's Redis."""
    keys = [_TAG_KEY.format(tag) for tag in tags]
    new = {key: _dates_signature() if tag == DATES_TAG else secrets.token_hex(6)
           for tag, key in zip(tags, keys, strict=True) if key not in found}
    return [found[key] if key in found else new[key] for key in keys], new


# Tags this process could not bump (Redis away when a change committed). Redis may
# come back with the pages stored before the change (a network fault, a restart with
# its append-only file, as docker-compose.yml runs it): they are bumped before this
# process next reads a stored page (_page_find), and, should this process be gone by
# then, by the beat task that settles the debts kept in the database (PageTagDebt).
_unbumped: set[str] = set()
_unbumped_lock = threading.Lock()


def tags_bump(*, tags: Iterable[str]) -> None:
    """Give these tags new versions: every page showing one of them is rendered anew.
    Also those this process still owes; when the cache cannot be reached they are
    all kept for the next try (the new ones in the database too), and the RedisError
    raised."""
    with _unbumped_lock:
        new = set(tags) - _unbumped
        tags = set(tags) | _unbumped
        _unbumped.clear()
    if not tags:
        return
    try:
        cache.set_many({_TAG_KEY.format(tag): secrets.token_hex(6) for tag in tags}, timeout=None)
    except redis.RedisError:
        with _unbumped_lock:
            _unbumped.update(tags)
        if new:
            _debts_record(new)
        raise


def _debts_record(tags: set[str]) -> None:
    from .models import PageTagDebt

    now = timezone.now()
    try:
        # A tag owed again moves its row's time on: a settle that read the row before
        # leaves it for the next run (tag_debts_settle).
        PageTagDebt.objects.bulk_create(
            [PageTagDebt(tag=tag, owed_since=now) for tag in sorted(tags)],
            update_conflicts=True, unique_fields=["tag"], update_fields=["owed_since"],
        )
    except DatabaseError:
        logger.exception("public pages' tags %s could not be recorded as owed", sorted(tags))


def tag_debts_settle() -> int:
    """Bump the tags any process could not bump while Redis was away (PageTagDebt) and
    forget them; returns how many. RedisError if Redis is still away: they stay for the
    next run (the beat task, every minute)."""
    from .models import PageTagDebt

    debts = list(PageTagDebt.objects.values_list("tag", "owed_since"))
    if not debts:
        return 0
    tags_bump(tags=[tag for tag, _ in debts])
    PageTagDebt.objects.filter(tag__in=[tag for tag, _ in debts],
                               owed_since__lte=max(since for _, since in debts)).delete()
    return len(debts)


# The settings that shape a stored page's headers (they are stored with it): the
# middleware, Django's SecurityMiddleware (every SECURE_* name) and config/middleware.py.
_HEADER_SETTINGS = ("MIDDLEWARE", "CONTENT_SECURITY_POLICY", "PERMISSIONS_POLICY",
                    "X_FRAME_OPTIONS", "PUBLIC_PAGE_MAX_AGE")


@functools.cache
def _release() -> str:
    """What this deployment renders with: its templates, code and the settings that
    shape the headers. A new release changes every page's ETag and key, so no page
    rendered or stored by the previous one is served."""
    digest = hashlib.sha1(usedforsecurity=False)
    names = [*_HEADER_SETTINGS, *sorted(n for n in dir(settings) if n.startswith("SECURE_"))]
    digest.update(repr([(name, getattr(settings, name, None)) for name in names]).encode())
    root = Path(settings.BASE_DIR)
    for folder in ("templates", "newsletter", "subscribers", "config"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in {".html", ".py", ".txt", ".css", ".js", ".json"} and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:20]


# --- Reading and storing a page -------------------------------------------------------


@dataclass(frozen=True)
class PublicPage:
    """What `public_page` knows of a view: its tags and the query parameters it reads."""

    tags: Callable[..., Iterable[str]]
    query: frozenset[str]


@dataclass(frozen=True)
class _Miss:
    """A page that was not in the cache: where its rendering is stored, and its ETag."""

    plain_key: str
    gzip_key: str
    etag: str
    gzip: bool  # the client accepts it
    store: bool = True  # False while the cache is unreachable: rendered, stored nowhere
    # The versions of its tags the cache has none of yet, by key (_tag_versions).
    tags_new: dict[str, str] = field(default_factory=dict)


# The cache could not be reached (Redis restarting, a network fault), or the request
# names its host in a spelling not stored (_host_stored): the page is rendered for
# this request and stored nowhere, so readers get pages, not errors.
_UNCACHED = _Miss(plain_key="", gzip_key="", etag="", gzip=False, store=False)
# One warning per process per window while the cache stays away, not one per request.
CACHE_DOWN_LOG_SECONDS = 60.0
_cache_down_logged_at = float("-inf")
# Set in the environ by PublicPageWSGI when its lookup found the cache unreachable,
# so Django's lookup for the same request does not try (and wait) again.
_CACHE_DOWN_ENVIRON = "newsletter.page_cache.down"


def _cache_down(exc: Exception) -> None:
    global _cache_down_logged_at
    now = time.monotonic()
    if now - _cache_down_logged_at >= CACHE_DOWN_LOG_SECONDS:
        _cache_down_logged_at = now
        logger.warning("Page cache unreachable (%s): public pages are rendered for each "
                       "request until it is back (logged once a minute).", exc)


def _is_anonymous(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME not in request.COOKIES


def _host_stored(host: str) -> bool:
    """Whether pages asked for at this host (request.get_host(): as the Host header
    spells it) are stored: a name ALLOWED_HOSTS lists as it is, or SITE_URL's. Django
    takes a listed name with any port (and "*" any name), and each spelling was an
    entry of its own (a feed's links are made from it): one cheap request per port
    stored a page's two copies again, 65,535 times. Those are rendered, not stored."""
    return host in settings.ALLOWED_HOSTS or host == urlsplit(absolute_url("/")).netloc


def _query_keep_only(request: HttpRequest, names: frozenset[str]) -> None:
    """Drop the query parameters the page does not read (?utm_source=…, ?x=random),
    so they neither split its cache entry nor bypass it."""
    if not request.META.get("QUERY_STRING"):
        return
    kept = QueryDict(mutable=True)
    for name in sorted(names & set(request.GET)):
        kept.setlist(name, request.GET.getlist(name))
    request.GET = kept
    request.META["QUERY_STRING"] = kept.urlencode()


def _mark_public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=settings.PUBLIC_PAGE_MAX_AGE)
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


# A stored page: its ETag, the headers it was sent with (Content-Length included), its body.
Entry = tuple[str, list[tuple[str, str]], bytes]


def _from_entry(request: HttpRequest, entry: Entry) -> HttpResponse:
    etag, headers, body = entry
    response = HttpResponse(body, headers=dict(headers))
    if any(name in request.META for name in _CONDITIONAL):
        return get_conditional_response(request, etag=etag, response=response)
    return response


def _page_find(request: HttpRequest, page: PublicPage,
               kwargs: dict) -> tuple[Entry | None, _Miss]:
    """One round trip to Redis: the stored entry for this request if it is the
    current one, and where this request's rendering is stored (with its ETag)."""
    _query_keep_only(request, page.query)
    host = request.get_host()
    if not _host_stored(host):
        return None, _UNCACHED
    tags = ["site", *page.tags(**kwargs)]
    # The host is in the key: a feed's links are absolute, made from it.
    query = request.META.get("QUERY_STRING", "")
    url = f"{_release()}|{request.scheme}://{host}{request.path}?{query}"
    plain_key = _ENTRY_KEY.format(_sha1(f"plain|{url}"))
    gzip_key = _ENTRY_KEY.format(_sha1(f"gzip|{url}"))
    accepts_gzip = bool(re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")))
    entry_key = gzip_key if accepts_gzip else plain_key
    if _unbumped:  # before any stored page is read (RedisError: still away)
        tags_bump(tags=())
    found = cache.get_many([*(_TAG_KEY.format(tag) for tag in tags), entry_key])
    versions, tags_new = _tag_versions(tags, found)
    material = "|".join([_release(), *(f"{t}={v}" for t, v in zip(tags, versions, strict=True))])
    etag = f'W/"{_sha1(material)}"'
    entry = found.get(entry_key)
    miss = _Miss(plain_key=plain_key, gzip_key=gzip_key, etag=etag, gzip=accepts_gzip,
                 tags_new=tags_new)
    return (entry if entry is not None and entry[0] == etag else None), miss


def _page_lookup(request: HttpRequest, page: PublicPage,
                 kwargs: dict) -> tuple[HttpResponse | None, _Miss]:
    """The stored page for this request, or a 304: (the response, None) on a hit;
    (None, where to store the rendering) on a miss."""
    if request.META.get(_CACHE_DOWN_ENVIRON):
        return None, _UNCACHED
    try:
        entry, miss = _page_find(request, page, kwargs)
    except redis.RedisError as exc:
        _cache_down(exc)
        return None, _UNCACHED
    if entry is not None:
        return _from_entry(request, entry), None
    if request.META.get("HTTP_IF_NONE_MATCH", "").strip() not in ("", "*"):
        # The browser holds this version: no need to have the page to say so. ("*"
        # asks whether the page exists at all, which only rendering it tells.)
        response = get_conditional_response(request, etag=miss.etag)
        if response is not None and response.status_code == 304:
            response["ETag"] = miss.etag
            return _mark_public(response), None
    return None, miss


def _session_cookie_dropped(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether the only cookie of a public page is Django's SessionMiddleware deleting
    a session cookie that logs nobody in (a stale or made-up one), with the "Vary:
    Cookie" it adds to a deletion. Until 6 December 2026 such a visitor's miss was
    logged as an error and not stored, so a flood of made-up cookies rendered the
    page each time it was not stored yet."""
    morsel = response.cookies.get(settings.SESSION_COOKIE_NAME)
    return (not _is_anonymous(request) and len(response.cookies) == 1 and morsel is not None
            and morsel["max-age"] == 0 and not morsel.value)


def _page_store(request: HttpRequest, response: HttpResponse, miss: _Miss) -> HttpResponse:
    """Store a public page as the whole middleware stack sent it, plain and gzipped;
    return the variant this client accepts, as a hit would serve it."""
    if not miss.store:
        return response
    if _session_cookie_dropped(request, response):
        # Not for the page, which is everyone's: stored and served without it, as a hit is.
        del response.cookies[settings.SESSION_COOKIE_NAME]
        vary = [v.strip() for v in response.get("Vary", "").split(",") if v.strip().lower() not in ("cookie", "")]
        if vary:
            response["Vary"] = ", ".join(vary)
        elif "Vary" in response:
            del response["Vary"]
    if (response.cookies or response.streaming
            or "cookie" in response.get("Vary", "").lower()):
        logger.error("Public page %s set or varied on a cookie, or streamed: sent, not cached.",
                     request.path)
        return response
    response["ETag"] = miss.etag
    headers = [(name, value) for name, value in response.items() if name != "Content-Length"]
    body = response.content
    plain = (miss.etag, [*headers, ("Content-Length", str(len(body)))], body)
    packed = body
    if len(body) >= GZIP_MIN_BYTES and "Content-Encoding" not in response:
        packed = compress_string(body)  # no secret in a public page: no BREACH padding
    gzipped = plain if len(packed) >= len(body) else (
        miss.etag,
        [*headers, ("Content-Encoding", "gzip"), ("Content-Length", str(len(packed)))],
        packed,
    )
    try:
        # Its tags' first versions, unless another request wrote one meanwhile (or
        # an editor's change did): then this rendering's ETag is not the current
        # one, and the next request stores the page.
        if all(cache.add(key, version, timeout=None) for key, version in miss.tags_new.items()):
            cache.set_many({miss.plain_key: plain, miss.gzip_key: gzipped},
                           timeout=settings.PUBLIC_PAGE_CACHE_SECONDS)
    except redis.RedisError as exc:  # sent all the same
        _cache_down(exc)
    return _from_entry(request, gzipped if miss.gzip else plain)


def _anonymous_page(request: HttpRequest) -> tuple[PublicPage, dict] | None:
    """The public page an anonymous GET or HEAD asks for (and its URL's keyword
    arguments), or None. A disallowed Host raises DisallowedHost (400), as it would
    further on."""
    if request.method not in ("GET", "HEAD") or not _is_anonymous(request):
        return None
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    page = getattr(match.func, "public_page", None)
    if page is None:
        return None
    request.get_host()
    return page, match.kwargs


class PublicPageMiddleware:
    """The outermost middleware (config/settings.py): serves a stored public page to
    an anonymous GET before any other middleware runs, and stores the pages
    `public_page` rendered as the whole stack sent them, security headers included
    (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        asked = _anonymous_page(request)
        if asked is not None:
            response, miss = _page_lookup(request, *asked)
            if response is not None:
                return response
            request.public_page_miss = miss  # looked up once: public_page renders
        response = self.get_response(request)
        miss = getattr(response, "public_page_miss", None)
        if miss is not None and response.status_code == 200:
            return _page_store(request, response, miss)
        return response


class PublicPageWSGI:
    """Wraps the site's WSGI application (config/wsgi.py): a GET that the cache
    holds a current page for is answered with the stored bytes and headers, without
    Django's request handling; any other request (a miss, a revalidation, HEAD, a
    session cookie, a refused host, Redis failing) goes to Django, which answers it
    through `PublicPageMiddleware` as if this layer were not there."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ: dict, start_response: Callable):
        entry = None
        if environ.get("REQUEST_METHOD") == "GET" and not any(
            name in environ for name in _CONDITIONAL
        ):
            try:
                # A copy: the lookup drops unread query parameters from the environ.
                request = WSGIRequest(dict(environ))
                asked = _anonymous_page(request)
                if asked is not None:
                    entry, _ = _page_find(request, *asked)
            except redis.RedisError as exc:
                _cache_down(exc)
                environ[_CACHE_DOWN_ENVIRON] = True  # Django renders without asking again
            except Exception:  # noqa: BLE001 - Django answers, reports and logs it
                entry = None
        if entry is None:
            return self.application(environ, start_response)
        _, headers, body = entry
        start_response("200 OK", headers)
        return [body]


# --- The decorator --------------------------------------------------------------------


def _secrets_touched(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(
        request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or (session is not None and session.accessed)
    )


def public_page(*, tags: Callable[..., Iterable[str]], query: Iterable[str] = ()) -> Callable:
    """Serve the view as a public page (module docstring). `tags` gets the view's URL
    keyword arguments and names what the page shows; `query` names the query
    parameters it reads (e.g. "page")."""
    page = PublicPage(tags=tags, query=frozenset(query))

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not _is_anonymous(request):
                if request.user.is_authenticated:
                    response = view(request, *args, **kwargs)
                    patch_cache_control(response, private=True)
                    return response
                # A stale or made-up session cookie: served like anyone else, or
                # a flood of them would render every page. The session was only
                # read to find no login, which the page does not depend on.
                request.session.accessed = False
            request.user = AnonymousUser()
            miss = getattr(request, "public_page_miss", None)
            if miss is None:  # not looked up by PublicPageMiddleware (a session cookie)
                response, miss = _page_lookup(request, page, kwargs)
                if response is not None:
                    return response
            response = view(request, *args, **kwargs)
            if _secrets_touched(request):
                logger.error(
                    "Public page %s read the session or a CSRF token: sent private, not cached.",
                    request.path,
                )
                patch_cache_control(response, private=True)
                return response
            if response.status_code != 200:
                return response
            # Stored by PublicPageMiddleware once the whole stack has added its headers.
            response.public_page_miss = miss
            return _mark_public(response)

        wrapper.public_page = page
        return wrapper

    return decorator


# --- Fragments -----------------------------------------------------------------------


# Values that stand for themselves in a fragment's key (their repr is their content).
_PLAIN = frozenset({str, int, float, bool, type(None), dt.date, dt.datetime, Decimal})


def _loaded(value: object, path: frozenset[int] = frozenset()) -> object:
    """Everything loaded on `value`: a model's field values, the related objects
    select_related or prefetch_related put on it (to_attr lists included). An object
    met again below itself (a chip's `paper`, set by the prefetch) is named by its
    key. Runs for every card of a page: plain values are not descended into."""
    if isinstance(value, Model):
        if id(value) in path:
            return (value._meta.label, value.pk)
        path = path | {id(value)}
        own = [(k, v if type(v) in _PLAIN else _loaded(v, path))
               for k, v in vars(value).items() if k[0] != "_"]
        related = [(k, _loaded(v, path)) for k, v in value._state.fields_cache.items()]
        prefetched = [(k, _loaded(list(v), path))
                      for k, v in getattr(value, "_prefetched_objects_cache", {}).items()]
        return (value._meta.label, own, related, prefetched)
    if isinstance(value, list | tuple):
        return [v if type(v) in _PLAIN else _loaded(v, path) for v in value]
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def fragments_render(*, template_name: str, objects: Iterable[Model], name: str,
                     context: dict) -> list[str]:
    """Each object rendered with `template_name` (as `name`, beside `context`),
    through the cache: an entry is keyed by what it was rendered from (this release,
    the template, the context, every value loaded on the object), so it can never be
    stale, and needs no invalidation. A page rendered after an editor pins one paper
    renders that paper's card and reads the others: one round trip. The template
    must show nothing but those (no request, no time of day)."""
    objects = list(objects)
    release, items = _release(), sorted(context.items())
    keys = [
        _ENTRY_KEY.format("fragment:" + _sha1(repr((release, template_name, items, _loaded(obj)))))
        for obj in objects
    ]
    try:
        found, reachable = cache.get_many(keys), True
    except redis.RedisError as exc:
        _cache_down(exc)
        found, reachable = {}, False
    rendered = {}
    template = get_template(template_name)
    for key, obj in zip(keys, objects, strict=True):
        if key not in found and key not in rendered:
            rendered[key] = template.render({**context, name: obj})
    if rendered and reachable:
        try:
            cache.set_many(rendered, timeout=settings.PUBLIC_PAGE_CACHE_SECONDS)
        except redis.RedisError as exc:
            _cache_down(exc)
    return [mark_safe(found[key] if key in found else rendered[key]) for key in keys]


# --- Invalidation ---------------------------------------------------------------------


def _dates_signature() -> str:
    """Which dates have visible papers (the date navigation of every day page), as a
    digest: one query on paper_day_trend_idx, run only when a page misses it or a
    change may have moved it."""
    from .models import Paper
    from .selectors import PAPER_VISIBLE

    dates = (
        Paper.objects.filter(PAPER_VISIBLE).order_by("trending_date")
        .values_list("trending_date", flat=True).distinct()
    )
    return hashlib.sha1(
        ",".join(d.isoformat() for d in dates).encode(), usedforsecurity=False
    ).hexdigest()


def _paper_tags(papers: set[int]) -> set[str]:
    """The tags of these papers' own pages: a paper's page is at its arXiv id, else at
    its primary key (newsletter/urls.py)."""
    from .models import Paper

    return {
        f"paper:{key}"
        for pk, arxiv_id in Paper.objects.filter(pk__in=papers).values_list("pk", "arxiv_id")
        for key in (pk, arxiv_id) if key
    } if papers else set()


def _tags_affected(*, dates: set[dt.date], editions: set[dt.date], paper_tags: set[str],
                   published: bool, everything: bool) -> set[str]:
    from .models import Edition
    from .selectors import paper_date_newest

    if everything:
        return {"site"}
    tags = set(paper_tags)
    tags |= {f"edition:{date}" for date in editions}
    if dates:
        tags |= {f"day:{date}" for date in dates} | {"feeds"}
        if paper_date_newest() in dates:
            tags.add("home")
        # Set here, not bumped: its version is what it describes. With the cache
        # away it is bumped instead once the cache is back (tags_bump): any new
        # version makes the pages showing it render again.
        try:
            cache.set(_TAG_KEY.format(DATES_TAG), _dates_signature(), timeout=None)
        except redis.RedisError:
            tags.add(DATES_TAG)
    # A published edition shows its date's papers and the late ones of the days before
    # (editions.LATE_WITHIN_DAYS: a Saturday's paper goes out on Monday), and the list
    # shows its first titles: any such edition of these dates refreshes the list.
    from .editions import LATE_WITHIN_DAYS

    shown_in = {date + dt.timedelta(days=n) for date in dates for n in range(LATE_WITHIN_DAYS + 1)}
    if Edition.objects.filter(date__in=shown_in | editions, frozen_at__isnull=False).exists():
        tags.add("editions")
    if published:
        tags |= {"editions", "editions-published"}
    return tags


def pages_changed(*, dates: Iterable[dt.date] = (), editions: Iterable[dt.date] = (),
                  papers: Iterable[int] = (), published: bool = False,
                  everything: bool = False) -> None:
    """Say that what the public pages show changed: the papers of these Daily Papers
    `dates` (pins, hides, new or edited papers, their topics), the editions of these
    dates (note, order; `published` when they just went public), these paper ids, or
    `everything` (topics are on every page). The pages that show them are rendered
    afresh after the transaction commits (before, a request could store the old
    state again)."""
    dates, editions, papers = set(dates), set(editions), {int(pk) for pk in papers}
    if not (dates or editions or papers or everything):
        return

    # The papers' keys read now: after the commit a deleted paper's row is gone, and
    # its page was never bumped (services.papers_delete calls this before deleting).
    paper_tags = _paper_tags(papers)

    def bump() -> None:
        try:
            tags_bump(tags=_tags_affected(dates=dates, editions=editions, paper_tags=paper_tags,
                                          published=published, everything=everything))
        except redis.RedisError as exc:
            # The change stands; its pages are bumped at this process's next look-up.
            _cache_down(exc)

    transaction.on_commit(bump)
