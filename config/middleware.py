"""Site-wide protections that are wiring, not business logic.

- `SecurityHeadersMiddleware`: the Content-Security-Policy (Django 5.2 has none of
  its own) and Permissions-Policy on every response that does not set its own (the
  outbox's email preview sets a stricter sandbox policy). HSTS, nosniff,
  Referrer-Policy and COOP come from Django's SecurityMiddleware settings.
- `AdminLoginRateLimitMiddleware`: failed sign-ins to the admin are counted per
  (username, client IP) and per client IP with the one rate limiter
  (subscribers/throttling.py; an IPv6 client by its /64); over a limit the login
  answers 429 with a readable page (rendered once per process) before the password
  is even checked. A successful sign-in is not counted.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

from subscribers.throttling import (
    client_ip,
    rate_limit_client,
    rate_limit_exceeded,
    rate_limit_take_back,
    rate_limited_response,
)

logger = logging.getLogger(__name__)


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and response.get("X-Frame-Options") == "SAMEORIGIN":
            # A view made to be framed by this site (@xframe_options_sameorigin, e.g.
            # the admin's topic preview) is allowed the same in the CSP, which
            # browsers obey over X-Frame-Options.
            policy = policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        if policy:
            response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _admin_login_path() -> str:
    return f"/{settings.ADMIN_URL}login/"


def _login_attempt_keys(request: HttpRequest) -> dict[str, int]:
    """The limiter's keys of this attempt, each with its limit: per (username,
    client IP), so wrong guesses for `admin` from elsewhere cannot lock the real
    admin out, and per client IP, so one address cannot try every name."""
    ip = rate_limit_client(client_ip(request))
    # As Django reads it before checking the password (NFKC: "ａｄｍｉｎ" in full-width
    # letters is "admin"), so look-alike spellings share one count (they did not).
    username = AbstractBaseUser.normalize_username(request.POST.get("username", "")).strip().lower()
    # Keyed with SECRET_KEY: no usernames in Redis.
    user_key = salted_hmac("admin-login-user", username).hexdigest()[:32]
    return {f"admin-login:user-ip:{user_key}:{ip}": settings.ADMIN_LOGIN_RATE_LIMIT,
            f"admin-login:ip:{ip}": settings.ADMIN_LOGIN_RATE_LIMIT_PER_IP}


def _login_attempt_limited(keys: dict[str, int]) -> bool:
    """Count this attempt, then decide: True when it is over a limit. Counted before
    the password is checked (the slow part), with the cache's atomic increment, so
    parallel attempts cannot all pass one check of the old count; the middleware
    takes the count back once the attempt turns out not to have failed. A refused
    attempt stays counted only where it was over: an editor locked out of their
    name who keeps trying must not use up the office address's limit."""
    window = settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS
    over = {key: rate_limit_exceeded(key=key, limit=limit, window_seconds=window, local_when_away=True)
            for key, limit in keys.items()}
    if not any(over.values()):
        return False
    for key in keys:
        if not over[key]:
            rate_limit_take_back(key=key, local_when_away=True)
    return True


def login_failure_log(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """Each failed admin sign-in (Django's user_login_failed), one WARNING line: from
    where, and which name as a keyed hash (the same hash as the limiter's, so lines
    of one name group together; no name, which may be a password typed in the wrong
    box). Only the moment a limit tripped was logged. The request is marked, so
    the sign-in limit keeps this attempt counted."""
    if request is not None:
        request.admin_login_failed = True
    ip = rate_limit_client(client_ip(request)) if request is not None else "-"
    username = AbstractBaseUser.normalize_username(credentials.get("username") or "").strip().lower()
    logger.warning("admin sign-in failed: name %s from %s",
                   salted_hmac("admin-login-user", username).hexdigest()[:12], ip)


class AdminLoginRateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != _admin_login_path():
            return self.get_response(request)
        keys = _login_attempt_keys(request)
        if _login_attempt_limited(keys):
            return rate_limited_response(template_name="errors/too_many_attempts.html",
                                         retry_after=settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS)
        response = self.get_response(request)
        # Only failed sign-ins count (an editor signing in a dozen times in a morning
        # was locked out). A right password, a form sent without one or a refused
        # CSRF token gives back the count this attempt took.
        if not getattr(request, "admin_login_failed", False):
            for key in keys:
                rate_limit_take_back(key=key, local_when_away=True)
        return response
