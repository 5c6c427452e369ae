"""The suppression list: addresses that must never be mailed again, kept only as a
keyed hash. This module is its one writer; every other module (the ESP webhook,
editors' actions, erasure, the digest batch) calls these functions.

Suppressing an address also marks the subscriber with that address (if any)
`suppressed`; lifting it puts them back where their own choices left them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from .addresses import email_normalise_or_given
from .models import Subscriber, Suppression
from .tokens import subscriber_links_retire


def email_hash(email: str) -> str:
    """A keyed hash of the address in its compared form (email_normalise, then
    lower-cased whole): what the suppression list keeps, so a deleted subscriber's
    address is not stored but is still never mailed again, whichever spelling of
    the domain a later form, import or bounce uses. Something that is not an
    address (an ESP may report anything) is hashed stripped and lower-cased.

    Keyed, so the list cannot be checked against a list of addresses by someone
    holding only a database dump, with SUPPRESSION_HASH_KEY: a key of its own that
    is never rotated (config/settings.py). Rotating SECRET_KEY leaves the list
    effective (tests/subscribers/test_suppression.py)."""
    return email_hash_with_key(email, key=settings.SUPPRESSION_HASH_KEY)


def email_hash_with_key(email: str, *, key: str) -> str:
    """email_hash with a given key: the migration that moved the list from
    SECRET_KEY to SUPPRESSION_HASH_KEY uses it for both."""
    compared = email_normalise_or_given(email).lower()
    return hashlib.blake2b(compared.encode(), key=key.encode()[:64], digest_size=32).hexdigest()


# Suppressions the person can lift themselves by subscribing again through the form
# and confirming (double opt-in): they asked for their data to be erased, not for
# the address to be refused forever. Bounces, complaints and editors' decisions stay.
LIFTED_BY_OWN_CONFIRMATION = (Suppression.Reason.DELETED,)

# Suppressions no editor lifts (address_unsuppress keeps them), superusers included:
# whoever reported the digest as spam is never mailed again (Gmail's and Yahoo's
# rules for bulk senders; each complaint counts against the sending domain). Nor
# are they lifted by subscribing again (not in LIFTED_BY_OWN_CONFIRMATION): anyone
# can type an address into the form, and the confirmation email would go to
# someone who complained.
KEPT_FROM_EDITORS = (Suppression.Reason.COMPLAINT,)

# Suppressions after which the person's own requests about their data (GDPR art. 15
# and 17) are still answered by email: "email me my link" (a link that opens only
# their data: services.subscriber_links_send) and the export it offers. A complaint
# says "no more digests", and the mailbox takes mail; a transactional reply to a
# request made on our site is not what was complained about. Since bbaaf48 their
# old links answered 410, the form sent nothing, and the export refused: the only
# way to their data was to write to a person. Not a bounce (the mailbox takes no
# mail: links.link_invalid's page says what becomes of its data), nor an editor's
# decision (a spam trap, a role address), nor a deletion (no data is left).
DATA_REQUESTS_ANSWERED = (Suppression.Reason.COMPLAINT,)


def email_is_suppressed(email: str, *, unless_reasons: Iterable[str] = ()) -> bool:
    """Whether `email` is on the list; with `unless_reasons`, not counting a
    suppression recorded for one of them."""
    return Suppression.objects.filter(email_hash=email_hash(email)).exclude(
        reason__in=list(unless_reasons)
    ).exists()


def suppression_reason_of(email: str) -> str:
    """Why `email` is on the list (a Suppression.Reason), or "" when it is not: one
    query. The reader's pages and the "email me my link" worker read the reason
    here, each against its own rule (KEPT_FROM_EDITORS: no digest again;
    DATA_REQUESTS_ANSWERED: their requests about their data still answered)."""
    row = suppressions_of([email]).get(email)
    return row.reason if row else ""


def emails_suppressed(emails: Iterable[str]) -> set[str]:
    """Which of these addresses are suppressed: one query for a whole batch."""
    return set(suppressions_of(emails))


def suppressions_of(emails: Iterable[str]) -> dict[str, Suppression]:
    """The suppression of each of these addresses that is on the list (why, since
    when), by address: one query for a whole batch."""
    by_hash = {email_hash(e): e for e in emails}
    return {by_hash[row.email_hash]: row for row in Suppression.objects.filter(email_hash__in=list(by_hash))}


def address_suppress(*, email: str, reason: str, note: str = "", replace: bool = False) -> bool:
    """Never mail `email` again: a Suppression row by hash, and the subscriber with
    that address (if any) marked suppressed. True if the address was not suppressed
    before. The first reason recorded is kept, unless `replace` (an editor's own
    decision, with their note, overrides what was there), or a stronger one comes.
    A spam complaint (KEPT_FROM_EDITORS) is the strongest: it replaces any reason and
    nothing replaces it, `replace` included. Until 5 December an editor's "Suppress
    selected…" rewrote a complaint as an editor's decision, which "Unsuppress" then
    lifted, and a complaint after an editor's suppression was dropped (a hostile
    tester's pass): either way the complainer was mailed again."""
    now = timezone.now()
    defaults = {"reason": reason, "note": note[:300]}
    row, created = Suppression.objects.get_or_create(email_hash=email_hash(email), defaults=defaults)
    if not created and row.reason not in KEPT_FROM_EDITORS and (
        replace or reason in KEPT_FROM_EDITORS
        # A bounce or complaint after an erasure is the stronger reason: a new
        # subscription must no longer lift it.
        or (row.reason in LIFTED_BY_OWN_CONFIRMATION and reason not in LIFTED_BY_OWN_CONFIRMATION)
    ):
        Suppression.objects.filter(pk=row.pk).update(**defaults)
    newly = Subscriber.objects.filter(email__iexact=email_normalise_or_given(email)).exclude(
        status=Subscriber.Status.SUPPRESSED
    )
    ids = list(newly.values_list("pk", flat=True))
    newly.filter(pk__in=ids).update(status=Subscriber.Status.SUPPRESSED, status_changed_at=now, updated_at=now)
    # The links of the emails sent before now only unsubscribe (tokens.py): a
    # forwarded digest of a reader who complained, or whose address bounced, no
    # longer opens their preference centre, whose "Delete my data" acted for them.
    subscriber_links_retire(subscriber_ids=ids)
    return created


def address_unsuppress_on_confirmation(*, email: str) -> bool:
    """The person confirmed a new subscription of `email` (double opt-in): a
    suppression they may lift themselves (LIFTED_BY_OWN_CONFIRMATION) is removed.
    True if one was."""
    deleted, _ = Suppression.objects.filter(
        email_hash=email_hash(email), reason__in=list(LIFTED_BY_OWN_CONFIRMATION)
    ).delete()
    return bool(deleted)


def address_unsuppress(*, email: str) -> bool:
    """Lift the suppression of `email`, unless it is one no editor lifts
    (KEPT_FROM_EDITORS: the row and its subscriber's state stay). Its subscriber (if
    any) goes back to where their own choices left them: unsubscribed if they did,
    active if they confirmed, else pending (never subscribed by an editor's click).
    True if a row was lifted."""
    rows = Suppression.objects.filter(email_hash=email_hash(email))
    if rows.filter(reason__in=list(KEPT_FROM_EDITORS)).exists():
        return False
    deleted, _ = rows.delete()
    now = timezone.now()
    for subscriber in Subscriber.objects.filter(
        email__iexact=email_normalise_or_given(email), status=Subscriber.Status.SUPPRESSED
    ):
        if subscriber.unsubscribed_at:
            status = Subscriber.Status.UNSUBSCRIBED
        elif subscriber.confirmed_at:
            status = Subscriber.Status.ACTIVE
        else:
            status = Subscriber.Status.PENDING
        Subscriber.objects.filter(pk=subscriber.pk).update(
            status=status, status_changed_at=now, updated_at=now
        )
    return bool(deleted)
