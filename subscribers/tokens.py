"""Signed links in emails: confirm, manage, unsubscribe.

Every link carries the subscriber's random `token` (256 bits) signed with Django's
signing (HMAC-SHA256 keyed with SECRET_KEY and a salt per purpose), so a value
made for one purpose is refused for another and nothing is accepted on the
session secret alone. Issuing a new `Subscriber.token` revokes every link.

- confirm links expire after CONFIRM_LINK_MAX_AGE;
- address-change links (to the new address, then the approval to the current one)
  expire after EMAIL_CHANGE_LINK_MAX_AGE and name the one request they were mailed for;
- manage and unsubscribe links never expire (RFC 8058 asks that the one-click
  URL keeps working); they share one salt, because the unsubscribe page offers
  the preference centre anyway.

The secret is replaced (subscriber_links_retire) when an editor gives a reader new
links, when the reader leaves (services.subscriber_unsubscribe) and when their
address is suppressed (suppression.address_suppress): every email sent before then,
forwarded or found in a shared inbox, can unsubscribe (RFC 8058) and nothing else,
so it cannot bring a reader who left back onto the list, nor delete their data."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from functools import lru_cache

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes

from mail.rendering import absolute_url

from .models import RetiredToken, Subscriber, token_new

CONFIRM_LINK_MAX_AGE = dt.timedelta(days=7)
_CONFIRM_SALT = "subscribers.confirm"
_MANAGE_SALT = "subscribers.manage"
# Shorter than a confirmation's: this link moves a whole subscription (its topics,
# votes and history) to another inbox, and the reader asked for it moments ago.
EMAIL_CHANGE_LINK_MAX_AGE = dt.timedelta(days=2)
_EMAIL_CHANGE_SALT = "subscribers.email-change"
# The current address's approval of a change its new address confirmed: a link of
# its own (tokens.email_change_approval_url), so neither inbox's link is the other's.
_EMAIL_CHANGE_APPROVAL_SALT = "subscribers.email-change-approval"


class TokenProblem(enum.Enum):
    EXPIRED = "expired"
    INVALID = "invalid"
    GONE = "gone"  # signed by us, unchanged, but its reader was deleted or their links replaced


class _KeyDerivedOnce:
    """Django's signer derives its HMAC key (a hash of salt and secret) again for
    every signature; this one derives it once per key and copies the keyed HMAC:
    3 us a signature instead of 6, and a digest signs ~15 links. The signatures
    are Django's, byte for byte (tests/subscribers/test_tokens.py), so a link signed
    either way verifies either way."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._keyed: dict = {}

    def signature(self, value, key=None) -> str:
        key = key or self.key
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = salted_hmac(self.salt + "signer", b"", key, algorithm=self.algorithm)
        mac = keyed.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()


class _Signer(_KeyDerivedOnce, signing.Signer):
    pass


class _TimestampSigner(_KeyDerivedOnce, signing.TimestampSigner):
    pass


def signer(salt: str, *, timestamped: bool = False) -> signing.Signer:
    """The signer for `salt` (a TimestampSigner if `timestamped`) under the current
    SECRET_KEY and SECRET_KEY_FALLBACKS, made once per process and keys. Its
    sign_object/unsign_object are signing.dumps/loads."""
    return _signer(salt, timestamped, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


@lru_cache(maxsize=32)
def _signer(salt: str, timestamped: bool, key: str, fallback_keys: tuple[str, ...]) -> signing.Signer:
    cls = _TimestampSigner if timestamped else _Signer
    return cls(key=key, fallback_keys=list(fallback_keys), salt=salt)


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
    return absolute_url(f"{before}{token}{after}")


def _manage_token(*, subscriber: Subscriber) -> str:
    return signer(_MANAGE_SALT).sign(subscriber.token)


def confirm_token(*, subscriber: Subscriber) -> str:
    """Signed: the subscriber's secret and, when the form asked for preferences for an
    address already on the list (Subscriber.requested), that request's id: only the
    link mailed for a request applies it (services.subscriber_confirm)."""
    request_id = (subscriber.requested or {}).get("id")
    value = f"{subscriber.token}.{request_id}" if request_id else subscriber.token
    return signer(_CONFIRM_SALT, timestamped=True).sign(value)


def confirm_url(*, subscriber: Subscriber) -> str:
    return token_url("subscribers:confirm", confirm_token(subscriber=subscriber))


def subscriber_manage_url(*, subscriber: Subscriber) -> str:
    return token_url("subscribers:manage", _manage_token(subscriber=subscriber))


def subscriber_unsubscribe_url(*, subscriber: Subscriber) -> str:
    """The List-Unsubscribe URL: GET shows a page, POST (RFC 8058) unsubscribes."""
    return token_url("subscribers:unsubscribe", _manage_token(subscriber=subscriber))


def subscriber_resubscribe_url(*, subscriber: Subscriber) -> str:
    """The goodbye email's link: a page with a "Resubscribe" button (views.resubscribe)."""
    return token_url("subscribers:resubscribe", _manage_token(subscriber=subscriber))


def subscriber_links(*, subscriber: Subscriber) -> tuple[str, str]:
    """(manage URL, unsubscribe URL) with one signature: a digest carries both."""
    token = _manage_token(subscriber=subscriber)
    return token_url("subscribers:manage", token), token_url("subscribers:unsubscribe", token)


def _manage_secret(token: str) -> str | None:
    """The secret a manage/unsubscribe token carries; None when it is tampered with
    or made for another purpose."""
    try:
        return signer(_MANAGE_SALT).unsign(token)
    except signing.BadSignature:
        return None


def manage_token_signed(token: str) -> bool:
    """Whether a manage/unsubscribe token is one we signed, unchanged, whether or not
    it still leads to a reader: links.link_invalid tells a deleted or replaced
    subscription from a link cut or tampered with."""
    return _manage_secret(token) is not None


def subscriber_from_token(*, token: str) -> Subscriber | None:
    """The subscriber a manage/unsubscribe token belongs to; None when the token
    is tampered with, made for another purpose, or revoked."""
    raw = _manage_secret(token)
    return Subscriber.objects.filter(token=raw).first() if raw else None


def subscriber_for_unsubscribe(*, token: str) -> tuple[Subscriber | None, bool]:
    """(subscriber, retired) for an unsubscribe token: as subscriber_from_token, and
    also a token of a secret replaced since the email was sent (models.RetiredToken;
    `retired` True), which may unsubscribe and do nothing else."""
    raw = _manage_secret(token)
    if not raw:
        return None, False
    current = Subscriber.objects.filter(token=raw).first()
    if current is not None:
        return current, False
    retired = RetiredToken.objects.select_related("subscriber").filter(token=raw).first()
    return (retired.subscriber, True) if retired else (None, False)


def subscriber_links_retire(*, subscriber_ids: Iterable[int], apps: Apps = global_apps) -> int:
    """A new secret for each of these readers (models.token_new): every link signed
    with the old one (manage, resubscribe, view in browser, votes, confirmation)
    stops working, but for the unsubscribe links of the emails already sent
    (models.RetiredToken), which still unsubscribe and do nothing else. Returns how
    many readers. The one writer of RetiredToken. `apps`: the models to write with, a
    migration's own (suppression.suppression_apply), as django.contrib.auth's
    create_permissions takes them."""
    subscribers = apps.get_model("subscribers", "Subscriber")
    retired = apps.get_model("subscribers", "RetiredToken")
    with transaction.atomic():
        current = list(subscribers.objects.filter(pk__in=list(subscriber_ids)).values_list("pk", "token"))
        # ignore_conflicts: a secret retired before and saved back from a stale copy
        # of the row is retired already.
        retired.objects.bulk_create(
            (retired(subscriber_id=pk, token=token) for pk, token in current), ignore_conflicts=True)
        for pk, _ in current:
            subscribers.objects.filter(pk=pk).update(token=token_new())
    return len(current)


def subscriber_from_confirm_token(*, token: str, expired_too: bool = False) -> Subscriber | TokenProblem:
    """The subscriber a confirm token belongs to, or why it cannot be used. The
    request the link was mailed for is on it as `confirm_request_id` (None for a
    link of a first subscription). `expired_too`: the subscriber of a link past
    CONFIRM_LINK_MAX_AGE too, marked `confirm_link_expired` (it confirms nothing;
    views.confirm says what it is to a reader it no longer concerns).

    A link of a secret replaced since (RetiredToken: the reader left, was
    suppressed, or was given new links) confirms nothing, so it carries no request
    id, and leads to its reader only once they are past confirming: its page says
    they unsubscribed, or why no digest comes (views._confirm_refused), where it
    said "invalid". One still pending has a newer email: GONE."""
    confirm_signer = signer(_CONFIRM_SALT, timestamped=True)
    expired = False
    try:
        raw = confirm_signer.unsign(token, max_age=CONFIRM_LINK_MAX_AGE)
    except signing.SignatureExpired:
        if not expired_too:
            return TokenProblem.EXPIRED
        raw, expired = confirm_signer.unsign(token), True
    except signing.BadSignature:
        return TokenProblem.INVALID
    secret, _, request_id = raw.partition(".")
    subscriber = Subscriber.objects.filter(token=secret).first()
    if subscriber is None:
        retired = RetiredToken.objects.select_related("subscriber").filter(token=secret).first()
        if retired is None or retired.subscriber.status == Subscriber.Status.PENDING:
            return TokenProblem.EXPIRED if expired else TokenProblem.GONE
        subscriber, request_id = retired.subscriber, ""
    subscriber.confirm_request_id = request_id or None
    subscriber.confirm_link_expired = expired
    return subscriber


def email_change_url(*, subscriber: Subscriber) -> str:
    """The link mailed to the new address of the change the subscriber holds
    (Subscriber.email_change): signed, with that request's id, for EMAIL_CHANGE_LINK_MAX_AGE."""
    return _email_change_link(subscriber=subscriber, salt=_EMAIL_CHANGE_SALT, route="subscribers:email_change")


def email_change_approval_url(*, subscriber: Subscriber) -> str:
    """The link mailed to the reader's current address once the new one confirmed
    the change: the old inbox's yes (services.subscriber_email_change_approve).
    Signed with a salt of its own, so the new inbox's link, pasted into its URL,
    approves nothing; it names the same request and expires with it."""
    return _email_change_link(subscriber=subscriber, salt=_EMAIL_CHANGE_APPROVAL_SALT,
                               route="subscribers:email_change_approve")


def subscriber_from_email_change_token(*, token: str, approval: bool = False) -> Subscriber | TokenProblem:
    """The subscriber an address-change link belongs to (`approval`: the link mailed
    to the current address), with the id of the request it was mailed for as
    `email_change_id`, or why it cannot be used."""
    salt = _EMAIL_CHANGE_APPROVAL_SALT if approval else _EMAIL_CHANGE_SALT
    try:
        raw = signer(salt, timestamped=True).unsign(token, max_age=EMAIL_CHANGE_LINK_MAX_AGE)
    except signing.SignatureExpired:
        return TokenProblem.EXPIRED
    except signing.BadSignature:
        return TokenProblem.INVALID
    secret, _, change_id = raw.partition(".")
    subscriber = Subscriber.objects.filter(token=secret).first()
    if subscriber is None:
        return TokenProblem.GONE
    subscriber.email_change_id = change_id
    return subscriber


def _email_change_link(*, subscriber: Subscriber, salt: str, route: str) -> str:
    value = f"{subscriber.token}.{subscriber.email_change['id']}"
    return token_url(route, signer(salt, timestamped=True).sign(value))
