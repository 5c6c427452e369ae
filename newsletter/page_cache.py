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
code of this release). Each tag has a version in the cache and a
page's cache key is made from its tags' versions, so `pages_changed` (called by the
services that write papers, topics and editions) bumps the tags a change touches:
the pages that show them miss once and are rendered afresh, every other page keeps
its entry. The same key is the page's ETag, so a browser or CDN revalidating gets a
304 without the page being read or rendered.

The rest is Django's: `cache_page` keeps the rendered response (keyed by URL and
Accept-Encoding), `gzip_page` compresses it before it is stored (so a hit costs no
compression), `condition` answers If-None-Match.

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
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.cache import patch_cache_control, patch_response_headers, patch_vary_headers
from django.views.decorators.cache import cache_page
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition

logger = logging.getLogger(__name__)

_TAG_KEY = "page-tag:{}"
# The version of this tag is not a random token but the digest of the dates that have
# visible papers (`_dates_signature`), so a change that leaves them as they were
# leaves the date navigation of every day page cached.
DATES_TAG = "dates"


# --- Tags and their versions ----------------------------------------------------------


def _tag_versions(tags: list[str]) -> list[str]:
    """The current version of each tag: one round trip to Redis. A tag never bumped
    (or lost from the cache) gets a fresh random version, so no page stored under an
    older one can be served again."""
    keys = [_TAG_KEY.format(tag) for tag in tags]
    found = cache.get_many(keys)
    missing = [(tag, key) for tag, key in zip(tags, keys, strict=True) if key not in found]
    if missing:
        for tag, key in missing:
            version = _dates_signature() if tag == DATES_TAG else secrets.token_hex(6)
            cache.add(key, version, timeout=None)
        found.update(cache.get_many([key for _, key in missing]))
    return [found[key] for key in keys]


def tags_bump(*, tags: Iterable[str]) -> None:
    """Give these tags new versions: every page showing one of them is rendered anew."""
    tags = set(tags)
    if tags:
        cache.set_many({_TAG_KEY.format(tag): secrets.token_hex(6) for tag in tags}, timeout=None)


@functools.cache
def _release() -> str:
    """What this deployment renders with: its templates and code. A new release
    changes every page key, so no page rendered by the previous one is served."""
    digest = hashlib.sha1(usedforsecurity=False)
    root = Path(settings.BASE_DIR)
    for folder in ("templates", "newsletter", "subscribers", "config"):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in {".html", ".py", ".txt", ".css", ".js", ".json"} and path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _page_key(tags: list[str]) -> str:
    tags = ["site", *tags]
    versions = _tag_versions(tags)
    material = "|".join([_release(), *(f"{t}={v}" for t, v in zip(tags, versions, strict=True))])
    return hashlib.sha1(material.encode(), usedforsecurity=False).hexdigest()[:20]


# --- The decorator --------------------------------------------------------------------


def _is_anonymous(request: HttpRequest) -> bool:
    return settings.SESSION_COOKIE_NAME not in request.COOKIES


def _secrets_touched(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(
        request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or (session is not None and session.accessed)
    )


def _mark_public(response: HttpResponse) -> HttpResponse:
    max_age = settings.PUBLIC_PAGE_MAX_AGE
    patch_response_headers(response, cache_timeout=max_age)  # Expires and max-age
    patch_cache_control(response, public=True, max_age=max_age)
    return response


def _rendered_public(view: Callable) -> Callable:
    """The view's response marked public, unless it used a secret (module docstring)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if _secrets_touched(request):
            logger.error(
                "Public page %s read the session or a CSRF token: sent private, not cached.",
                request.path,
            )
            patch_cache_control(response, private=True)
        elif response.status_code == 200:
            _mark_public(response)
        return response

    return wrapper


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


def public_page(*, tags: Callable[..., Iterable[str]], query: Iterable[str] = ()) -> Callable:
    """Serve the view as a public page (module docstring). `tags` gets the view's URL
    keyword arguments and names what the page shows; `query` names the query
    parameters it reads (e.g. "page")."""
    query_names = frozenset(query)

    def decorator(view: Callable) -> Callable:
        compressed = gzip_page(_rendered_public(view))

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
            _query_keep_only(request, query_names)
            key = _page_key(list(tags(**kwargs)))
            etag = f'W/"{key}"'
            cached = cache_page(settings.PUBLIC_PAGE_CACHE_SECONDS, key_prefix=f"public.{key}")
            response = condition(etag_func=lambda *a, **k: etag)(cached(compressed))(
                request, *args, **kwargs
            )
            if response.status_code == 304:
                _mark_public(response)
                patch_vary_headers(response, ("Accept-Encoding",))
            return response

        wrapper.public_page_tags = tags
        return wrapper

    return decorator


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


def _tags_affected(*, dates: set[dt.date], editions: set[dt.date], papers: set[int],
                   published: bool, everything: bool) -> set[str]:
    from .models import Edition, Paper
    from .selectors import PAPER_VISIBLE

    if everything:
        return {"site"}
    # A paper's page is at its arXiv id, else at its primary key (newsletter/urls.py).
    tags = {
        f"paper:{key}"
        for pk, arxiv_id in Paper.objects.filter(pk__in=papers).values_list("pk", "arxiv_id")
        for key in (pk, arxiv_id) if key
    } if papers else set()
    tags |= {f"edition:{date}" for date in editions}
    if dates:
        tags |= {f"day:{date}" for date in dates} | {"feeds"}
        newest = (
            Paper.objects.filter(PAPER_VISIBLE).order_by("-trending_date")
            .values_list("trending_date", flat=True).first()
        )
        if newest in dates:
            tags.add("home")
        # Set here, not bumped: its version is what it describes.
        cache.set(_TAG_KEY.format(DATES_TAG), _dates_signature(), timeout=None)
    # A published edition shows its date's papers, and the list shows its first titles.
    if Edition.objects.filter(date__in=dates | editions, frozen_at__isnull=False).exists():
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

    def bump() -> None:
        tags_bump(tags=_tags_affected(dates=dates, editions=editions, papers=papers,
                                      published=published, everything=everything))

    transaction.on_commit(bump)
