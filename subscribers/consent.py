"""Consent: the text the subscribe form shows, its version, and the one writer of
consent records (`consent_record`, and `consent_record_new` for a batch), which every
consent event goes through.

Every ConsentRecord stores CONSENT_TEXT_VERSION, so what a person agreed to can be
shown later (GDPR art. 7(1)). Changing the wording means a new version: bump it
here, and keep the old text in CONSENT_TEXT_HISTORY so old records stay readable.
The subscribe form carries the version it showed, signed (consent_version_sign,
consent_version_shown): a form opened before such a release and sent after it
records the wording the person saw, not the one the web process holds by then."""

from __future__ import annotations

import datetime as dt

from django.core import signing

from .models import ConsentRecord, Subscriber
from .tokens import signer

CONSENT_TEXT_VERSION = "2025-11-28"
CONSENT_TEXT = (
    "Yes, email me the Daily Papers Digest. My address is used for nothing else, "
    "and every email has a link to change my preferences or unsubscribe with one click."
)
CONSENT_TEXT_HISTORY = {
    CONSENT_TEXT_VERSION: CONSENT_TEXT,
}
_SHOWN_SALT = "subscribers.consent-shown"


def consent_version_sign() -> str:
    """The subscribe form's hidden `consent_version`: the version of the consent text
    it shows (the current one), signed, so a visitor cannot claim to have agreed to
    another wording."""
    return signer(_SHOWN_SALT).sign(CONSENT_TEXT_VERSION)


def consent_version_shown(signed: str) -> str:
    """The version a posted subscribe form showed (consent_version_sign), when it is
    signed by us and one CONSENT_TEXT_HISTORY knows; otherwise (missing, tampered
    with, from a release whose version was since dropped) the current one: the
    person subscribes all the same."""
    try:
        version = signer(_SHOWN_SALT).unsign(signed)
    except signing.BadSignature:
        return CONSENT_TEXT_VERSION
    return version if version in CONSENT_TEXT_HISTORY else CONSENT_TEXT_VERSION


def consent_record(*, at: dt.datetime | None = None, **fields) -> ConsentRecord:
    """Record one consent event with the time, IP, user agent, source and the
    version of the consent text shown (consent_record_new's keyword arguments).
    `at`: when the person acted, for an event written later than that (a public
    form's request, which the worker carries out: services.public_form_request_carry_out);
    by default, now."""
    record = consent_record_new(**fields)
    record.save()
    if at is not None:
        # created_at is auto_now_add, which writes the time of the INSERT whatever
        # the row holds: the request's time is set after it.
        ConsentRecord.objects.filter(pk=record.pk).update(created_at=at)
        record.created_at = at
    return record


def consent_record_new(
    *,
    subscriber: Subscriber,
    action: str,
    ip: str | None,
    user_agent: str,
    source: str,
    detail: dict | None = None,
    text_version: str | None = None,
) -> ConsentRecord:
    """The record consent_record writes, unsaved: an import of thousands of readers
    writes theirs in one statement (`ConsentRecord.objects.bulk_create`).
    `text_version`: the version of the consent text the person was shown, when it
    was shown by an earlier release than this one (a queued request); by default
    CONSENT_TEXT_VERSION."""
    return ConsentRecord(
        subscriber=subscriber,
        action=action,
        source=source,
        ip_address=ip or None,
        user_agent=(user_agent or "")[:400],
        consent_text_version=text_version or CONSENT_TEXT_VERSION,
        detail=detail or {},
    )
