"""The consent text the subscribe form shows, and its version.

Every ConsentRecord stores CONSENT_TEXT_VERSION, so what a person agreed to can be
shown later (GDPR art. 7(1)). Changing the wording means a new version: bump it
here, and keep the old text in CONSENT_TEXT_HISTORY so old records stay readable."""

CONSENT_TEXT_VERSION = "2025-11-28"
CONSENT_TEXT = (
    "Yes, email me the Daily Papers Digest. My address is used for nothing else, "
    "and every email has a link to change my preferences or unsubscribe with one click."
)
CONSENT_TEXT_HISTORY = {
    CONSENT_TEXT_VERSION: CONSENT_TEXT,
}
