"""Signed links in emails: confirm, manage, unsubscribe.

Every link carries the subscriber's random `token` (256 bits) signed with Django's
signing (HMAC-SHA256 keyed with SECRET_KEY and a salt per purpose), so a value
made for one purpose is refused for another and nothing is accepted on the
session secret alone. Issuing a new `Subscriber.token` revokes every link.

- confirm links expire after CONFIRM_LINK_MAX_AGE;
- manage and unsubscribe links never expire (RFC 8058 asks that the one-click
  URL keeps working); they share one salt, because the unsubscribe page offers
  the preference centre anyway."""

from __future__ import annotations

import datetime as dt
import enum
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Subscriber

CONFIRM_LINK_MAX_AGE = dt.timedelta(days=7)
_CONFIRM_SALT = "subscribers.confirm"
_MANAGE_SALT = "subscribers.manage"


class TokenProblem(enum.Enum):
    EXPIRED = "expired"
    INVALID = "invalid"


@lru_cache(maxsize=64)
def _route_around(name: str) -> tuple[str, str]:
    """The path of a route with one token argument, split around the token: reversed
    once per process (reverse() for every link of every digest cost as much as
    rendering it, docs/benchmarks.md). Signed tokens are URL-safe ([A-Za-z0-9_:-]), so
    before + token + after is what reverse(name, args=[token]) returns."""
    before, after = reverse(name, args=["TOKEN"]).split("TOKEN")
    return before, after


def token_url(name: str, token: str) -> str:
    """The absolute URL of route `name` for a signed token."""
    before, after = _route_around(name)
    return f"{settings.SITE_URL}{before}{token}{after}"


def _manage_token(*, subscriber: Subscriber) -> str:
    return signing.Signer(salt=_MANAGE_SALT).sign(subscriber.token)


def confirm_token(*, subscriber: Subscriber) -> str:
    return signing.TimestampSigner(salt=_CONFIRM_SALT).sign(subscriber.token)


def confirm_url(*, subscriber: Subscriber) -> str:
    return token_url("subscribers:confirm", confirm_token(subscriber=subscriber))


def subscriber_manage_url(*, subscriber: Subscriber) -> str:
    return token_url("subscribers:manage", _manage_token(subscriber=subscriber))


def subscriber_unsubscribe_url(*, subscriber: Subscriber) -> str:
    """The List-Unsubscribe URL: GET shows a page, POST (RFC 8058) unsubscribes."""
    return token_url("subscribers:unsubscribe", _manage_token(subscriber=subscriber))


def subscriber_links(*, subscriber: Subscriber) -> tuple[str, str]:
    """(manage URL, unsubscribe URL) with one signature: a digest carries both."""
    token = _manage_token(subscriber=subscriber)
    return token_url("subscribers:manage", token), token_url("subscribers:unsubscribe", token)


def subscriber_from_token(*, token: str) -> Subscriber | None:
    """The subscriber a manage/unsubscribe token belongs to; None when the token
    is tampered with, made for another purpose, or revoked."""
    try:
        raw = signing.Signer(salt=_MANAGE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Subscriber.objects.filter(token=raw).first()


def subscriber_from_confirm_token(*, token: str) -> Subscriber | TokenProblem:
    """The subscriber a confirm token belongs to, or why it cannot be used."""
    try:
        raw = signing.TimestampSigner(salt=_CONFIRM_SALT).unsign(
            token, max_age=CONFIRM_LINK_MAX_AGE
        )
    except signing.SignatureExpired:
        return TokenProblem.EXPIRED
    except signing.BadSignature:
        return TokenProblem.INVALID
    subscriber = Subscriber.objects.filter(token=raw).first()
    return subscriber if subscriber is not None else TokenProblem.INVALID
