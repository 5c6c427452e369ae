"""Site-wide protections that are wiring, not business logic (issue #7).

- `SecurityHeadersMiddleware`: the Content-Security-Policy (Django 5.2 has none of
  its own) and Permissions-Policy on every response that does not set its own (the
  outbox's email preview sets a stricter sandbox policy). HSTS, nosniff,
  Referrer-Policy and COOP come from Django's SecurityMiddleware settings.
- `AdminLoginRateLimitMiddleware`: failed logins to the admin are counted per
  client IP and per username in the cache (Redis); over the limit the login
  answers 429 with a readable page before the password is even checked.
- `MalformedWebhookMiddleware`: anymail's webhook views raise on a body that is
  not JSON or not an event of the ESP; that is the sender's fault, so it gets 400, not a 500 and a traceback.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from subscribers.suppression import email_hash
from subscribers.throttling import client_ip


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _admin_login_path() -> str:
    return f"/{settings.ADMIN_URL}login/"


def _login_keys(request: HttpRequest) -> list[str]:
    keys = [f"ratelimit:admin-login:ip:{client_ip(request) or 'unknown'}"]
    username = request.POST.get("username", "").strip().lower()
    if username:
        # Hashed: no usernames in Redis.
        keys.append(f"ratelimit:admin-login:user:{email_hash(username)}")
    return keys


class AdminLoginRateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != _admin_login_path():
            return self.get_response(request)
        keys = _login_keys(request)
        limit = settings.ADMIN_LOGIN_RATE_LIMIT
        if any((cache.get(key) or 0) >= limit for key in keys):
            response = render(
                request, "errors/too_many_attempts.html",
                {"minutes": max(1, settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS // 60)}, status=429,
            )
            response["Retry-After"] = str(settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS)
            return response
        response = self.get_response(request)
        # Django's LoginView redirects on success and shows the form again on failure.
        if response.status_code == 200:
            for key in keys:
                cache.add(key, 0, timeout=settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:  # expired between add() and incr()
                    cache.add(key, 1, timeout=settings.ADMIN_LOGIN_RATE_WINDOW_SECONDS)
        return response


class MalformedWebhookMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # No ESP puts NUL in an event; PostgreSQL cannot store one (text, jsonb),
        # so a forged body with one would fail deep in the receiver.
        if (
            request.method == "POST" and request.path.startswith("/anymail/")
            and (b"\x00" in request.body or b"\\u0000" in request.body)
        ):
            return HttpResponseBadRequest("The webhook body contains NUL characters.")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if request.path.startswith("/anymail/") and _raised_while_parsing(exception):
            return HttpResponseBadRequest("The webhook body is not an event this ESP sends.")
        return None


# anymail's steps that read the ESP's body; an error raised anywhere else (our
# tracking receiver, newsletter/webhooks.py) stays a 500, so the ESP retries it.
_PARSING = {"parse_events", "esp_to_anymail_event", "parse_json_body"}


def _raised_while_parsing(exception: Exception) -> bool:
    if isinstance(exception, json.JSONDecodeError | UnicodeDecodeError):
        return True
    tb = exception.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name in _PARSING and "anymail" in code.co_filename:
            return True
        tb = tb.tb_next
    return False
