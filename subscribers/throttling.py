"""Rate limits on the cache (Redis in production): fixed windows counted with an
atomic add + incr, so concurrent requests on many workers count correctly."""

from __future__ import annotations

import functools
import ipaddress
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from redis import RedisError

logger = logging.getLogger(__name__)

# Where a limit that must hold while Redis is away counts (rate_limit_exceeded,
# local_when_away): this process only, so N processes allow N times the limit.
_LOCAL = LocMemCache("throttling-when-redis-is-away", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


def rate_limit_exceeded(*, key: str, limit: int, window_seconds: int, local_when_away: bool = False,
                        hits: int = 1) -> bool:
    """Count one hit on `key` (or `hits` at once: an import's emails); True once more
    than `limit` hits fell in the window.
    Redis away raises RedisError, or with `local_when_away` counts in this process
    (the admin sign-in: editors must still get in during an outage the runbook has
    them act on; it was a 500).

    Quiet under abuse: the first refused hit of a window logs one line, the rest are
    only counted (the counter is the record); Django's own line per 429 response is
    filtered out in settings.LOGGING."""
    cache_key = f"ratelimit:{key}"
    try:
        count = _hit(cache, cache_key, window_seconds, hits)
    except RedisError:
        if not local_when_away:
            raise
        logger.warning("Rate limit %s counted in this process only: Redis cannot be reached.", key)
        count = _hit(_LOCAL, cache_key, window_seconds, hits)
    if count - hits <= limit < count:
        logger.warning(
            "Rate limit %s: over %d in %d s; refusing until the window ends "
            "(further refusals are counted, not logged).", key, limit, window_seconds,
        )
    return count > limit


def _hit(store, cache_key: str, window_seconds: int, hits: int = 1) -> int:
    # add() only sets a missing key, so the window starts at the first hit and the
    # expiry is not pushed back by later ones.
    store.add(cache_key, 0, timeout=window_seconds)
    try:
        return store.incr(cache_key, hits)
    except ValueError:  # expired between add() and incr()
        store.add(cache_key, hits, timeout=window_seconds)
        return hits


def rate_limit_count(*, key: str) -> int:
    """How many hits `key`'s window holds now (0 once it ended), as counted in Redis,
    or in this process when Redis is away."""
    cache_key = f"ratelimit:{key}"
    try:
        return cache.get(cache_key) or 0
    except RedisError:
        return _LOCAL.get(cache_key) or 0


def rate_limit_forget(*, key: str) -> None:
    """Start `key`'s window again: the hit it counted did not happen after all (what
    it allowed could not be done)."""
    cache.delete(f"ratelimit:{key}")


def rate_limit_take_back(*, key: str, local_when_away: bool = False, hits: int = 1) -> None:
    """Take back one hit (or `hits`) that rate_limit_exceeded counted on `key` (with
    the same `local_when_away`): what it let through turned out not to count (an
    admin sign-in whose password was right), or what it refused was not done. The
    window's other hits stay, unlike rate_limit_forget. Nothing to take back once
    the window has ended."""
    cache_key = f"ratelimit:{key}"
    try:
        _unhit(cache, cache_key, hits)
    except RedisError:
        if not local_when_away:
            raise
        _unhit(_LOCAL, cache_key, hits)


def _unhit(store, cache_key: str, hits: int = 1) -> None:
    try:
        left = store.decr(cache_key, hits)
    except ValueError:  # the window ended meanwhile
        return
    if left <= 0:
        # Django's Redis decr checks the key exists, then decrements: a window that
        # ended in between leaves -1 with no expiry, which add() would never replace.
        store.delete(cache_key)


@functools.cache
def _page(template_name: str, retry_after: int) -> str:
    # Rendered without a request: the page is the same for everyone, per process.
    return render_to_string(template_name, {"minutes": max(1, retry_after // 60)})


def rate_limited_response(*, template_name: str, retry_after: int) -> HttpResponse:
    """The 429 page: rendered once per process, so refusing a flood costs no
    template rendering. The template must not depend on the request; it gets
    `minutes`, the wait in whole minutes (at least 1)."""
    response = HttpResponse(_page(template_name, retry_after), status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _ip_or_none(value: str) -> str | None:
    """`value` as a normalised IP address, or None when it is not one (a header may
    say anything: "not-an-ip", a host name, an address with a port). An IPv4 address
    written as IPv6 ("::ffff:203.0.113.9", as a dual-stack socket reports it) is the
    IPv4 address."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


# An IPv6 client is given a whole /64 by its provider and may use any address in it:
# per address, a limit is no limit. Counted per /64, as django-ratelimit's
# RATELIMIT_IPV6_MASK and most proxies' limiters do.
IPV6_LIMIT_PREFIX = 64


def rate_limit_client(ip: str | None) -> str:
    """The key a client's hits are counted under: its IPv4 address, or the /64
    network of its IPv6 address ("unknown" without one)."""
    if not ip:
        return "unknown"
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_LIMIT_PREFIX}", strict=False))
    return str(address)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. With TRUSTED_PROXY_COUNT = 0 (the default) only the
    socket's REMOTE_ADDR counts and X-Forwarded-For is ignored: without a proxy in
    front, anyone can write that header. Behind N trusted proxies, each appending
    the address it received from, the client is the Nth entry from the right
    (entries further left were written by the client). An entry that is missing or
    not an IP address falls back to REMOTE_ADDR, never to a client-chosen value."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [p for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            found = _ip_or_none(forwarded[-proxies])
            if found is not None:
                return found
    return _ip_or_none(request.META.get("REMOTE_ADDR") or "")
