"""Consent: the text the subscribe form shows, its version, and the one writer of
consent records (`consent_record`, and `consent_record_new` for a batch), which every
consent event goes through.

Every ConsentRecord stores CONSENT_TEXT_VERSION, so what a person agreed to can be
shown later (GDPR art. 7(1)). Changing the wording means a new version: bump it
here, and keep the old text in CONSENT_TEXT_HISTORY so old records stay readable."""

from __future__ import annotations

from .models import ConsentRecord, Subscriber

CONSENT_TEXT_VERSION = "2025-11-28"
CONSENT_TEXT = (
    "Yes, email me the Daily Papers Digest. My address is used for nothing else, "
    "and every email has a link to change my preferences or unsubscribe with one click."
)
CONSENT_TEXT_HISTORY = {
    CONSENT_TEXT_VERSION: CONSENT_TEXT,
}


def consent_record(**fields) -> ConsentRecord:
    """Record one consent event with the time, IP, user agent, source and the
    version of the consent text shown (consent_record_new's keyword arguments)."""
    record = consent_record_new(**fields)
    record.save()
    return record


def consent_record_new(
    *,
    subscriber: Subscriber,
    action: str,
    ip: str | None,
    user_agent: str,
    source: str,
    detail: dict | None = None,
) -> ConsentRecord:
    """The record consent_record writes, unsaved: an import of thousands of readers
    writes theirs in one statement (`ConsentRecord.objects.bulk_create`)."""
    return ConsentRecord(
        subscriber=subscriber,
        action=action,
        source=source,
        ip_address=ip or None,
        user_agent=(user_agent or "")[:400],
        consent_text_version=CONSENT_TEXT_VERSION,
        detail=detail or {},
    )
