"""The suppression list: addresses that must never be mailed again, kept only as a
keyed hash. This module is its one writer; every other module (the ESP webhook,
editors' actions, erasure, the digest batch) calls these functions.

A suppression covers the mailbox, not only the spelling it was recorded for
(addresses.mailbox_key: a.da+news@gmail.com reaches ada@gmail.com): every check
finds a bounce, a complaint or an editor's suppression of any spelling of it, and
lifting one lifts what the check finds. Until 7 December the list was by exact
address, and whoever had reported the digest as spam from ada@gmail.com could be
sent a confirmation at a.da@gmail.com by anyone typing it into the form (a hostile
review). An erasure covers its own spelling only (SPELLING_ONLY).

Suppressing an address also marks the subscribers of the mailbox (if any)
`suppressed`; lifting it puts them back where their own choices left them."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from .addresses import email_normalise_or_given, mailbox_key, mailbox_reached, mailbox_spellings
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


def mailbox_hash(email: str) -> str:
    """The keyed hash (email_hash) of the mailbox `email` reaches
    (addresses.mailbox_key), which all its spellings share: what a suppression
    covers (Suppression.mailbox_hash), and what the public forms' limits count per
    mailbox (services._mailbox_capped)."""
    return email_hash(mailbox_key(email_normalise_or_given(email)))


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

# Suppressions that cover the spelling they were recorded for, not its mailbox: an
# erasure is the person's choice about the subscription they erased, not a fact about
# the mailbox (a bounce: it takes no mail; a complaint: its owner reported us; an
# editor's: a spam trap or a role address). Covering the mailbox, erasing
# ada@gmail.com stopped the digests of a.da@gmail.com, a confirmed subscription its
# reader never asked to end and could not restore (the form answers "already
# subscribed"). It is the one a person lifts by confirming (LIFTED_BY_OWN_CONFIRMATION)
# that spelling again; confirming another spelling lifts nothing, as nothing blocked it.
SPELLING_ONLY = (Suppression.Reason.DELETED,)


# Suppressions that say only that the spelling takes no mail. Of a spelling not known
# to reach its mailbox (addresses.mailbox_reached: a "+tag" at a provider that may
# refuse tags), they cover that spelling only (their row's mailbox_hash is ""):
# anyone can type ada+x@corp.example into the subscribe form, and until 7 December
# the confirmation's bounce stopped the digests of the reader at ada@corp.example,
# whose server refuses tags and delivers ada@ (a hostile tester's pass). A complaint
# covers the mailbox wherever: only mail that reached it can be reported as spam.
BOUNCES = (Suppression.Reason.HARD_BOUNCE, Suppression.Reason.SOFT_BOUNCES)


def _row_mailbox_hash(email: str, *, reason: str) -> str:
    """The mailbox_hash of the row suppressing `email` for `reason`: its mailbox's, or
    "" (its own spelling only, as the rows of erased addresses from before 0020; a
    "" is never a mailbox_hash _covering looks for) for a bounce of a spelling not
    known to reach its mailbox (BOUNCES)."""
    if reason in BOUNCES and not mailbox_reached(email_normalise_or_given(email)):
        return ""
    return mailbox_hash(email)


def _hashes(email: str) -> tuple[str, str]:
    """(email_hash(email), mailbox_hash(email)), without hashing again the many
    addresses that are their mailbox's key (no "+tag", no Gmail dots): the batch's
    check runs on every digest (bench.digests' profile: 0.085 ms of 3.7 a digest)."""
    own = email_hash(email)
    compared = email_normalise_or_given(email).lower()
    key = mailbox_key(compared)
    return own, own if key == compared else email_hash(key)


def _covering(emails: Iterable[str]) -> tuple[Q, Q, dict[str, list[str]], dict[str, list[str]]]:
    """The rows that suppress any of `emails`: those of their own spellings
    (email_hash, its unique index), and those of their mailboxes (mailbox_hash,
    suppression_mailbox_idx) but SPELLING_ONLY's. With the addresses of each hash."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    by_mailbox: dict[str, list[str]] = defaultdict(list)
    for email in emails:
        own, mailbox = _hashes(email)
        by_hash[own].append(email)
        by_mailbox[mailbox].append(email)
    own = Q(email_hash__in=list(by_hash))
    of_mailbox = Q(mailbox_hash__in=list(by_mailbox)) & ~Q(reason__in=list(SPELLING_ONLY))
    return own, of_mailbox, by_hash, by_mailbox


def address_suppressions(email: str) -> QuerySet[Suppression]:
    """The rows that suppress `email` (of its spelling or its mailbox): what every
    check finds and what lifting it removes."""
    own, of_mailbox, _, _ = _covering([email])
    return Suppression.objects.filter(own | of_mailbox)


def email_is_suppressed(email: str, *, unless_reasons: Iterable[str] = ()) -> bool:
    """Whether `email`, or its mailbox, is on the list; with `unless_reasons`, not
    counting a suppression recorded for one of them."""
    return address_suppressions(email).exclude(reason__in=list(unless_reasons)).exists()


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
    """The suppression of each of these addresses that is on the list, of its own
    spelling or of its mailbox (why, since when), by address: one query for a whole
    batch. Of several, the strongest: a complaint (KEPT_FROM_EDITORS), then one the
    person cannot lift (not LIFTED_BY_OWN_CONFIRMATION), then the address's own.

    A UNION of the two lookups, each by its index: with an OR of the two, PostgreSQL
    read the whole list instead (100,000 rows, 500 addresses: 20 ms a batch against
    3 to 5 ms, EXPLAIN ANALYZE)."""
    own, of_mailbox, by_hash, by_mailbox = _covering(emails)
    if not by_hash:
        return {}
    found: dict[str, list[tuple[tuple[bool, bool, bool], int, Suppression]]] = defaultdict(list)
    rows = Suppression.objects.filter(own).union(Suppression.objects.filter(of_mailbox))
    for row in rows:
        spellings = set(by_hash.get(row.email_hash, ()))
        covered = set() if row.reason in SPELLING_ONLY else set(by_mailbox.get(row.mailbox_hash, ()))
        for email in spellings | covered:
            strength = (row.reason in KEPT_FROM_EDITORS, row.reason not in LIFTED_BY_OWN_CONFIRMATION,
                        email in spellings)
            found[email].append((strength, row.pk, row))
    return {email: max(candidates, key=lambda each: each[:2])[2] for email, candidates in found.items()}


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
    defaults = {"reason": reason, "note": note[:300]}
    row, created = Suppression.objects.get_or_create(
        email_hash=email_hash(email), defaults={**defaults, "mailbox_hash": _row_mailbox_hash(email, reason=reason)}
    )
    changes = {}
    if not created and row.reason not in KEPT_FROM_EDITORS and (
        replace or reason in KEPT_FROM_EDITORS
        # A bounce or complaint after an erasure is the stronger reason: a new
        # subscription must no longer lift it.
        or (row.reason in LIFTED_BY_OWN_CONFIRMATION and reason not in LIFTED_BY_OWN_CONFIRMATION)
    ):
        changes = dict(defaults)
    suppression_apply(email=email, row=row, changes=changes)
    return created


def suppression_apply(
    *, email: str, row, changes: dict | None = None, apps: Apps = global_apps,
    among: Collection[int] | None = None,
) -> list[int]:
    """Make the suppression `row` of `email` (with `changes`: the reason and note
    that replace its own) cover what its reason covers, and act on it: the row's
    mailbox_hash is its mailbox's, or "" for its spelling only (_row_mailbox_hash,
    SPELLING_ONLY), and every reader it then covers who is not suppressed yet is
    marked suppressed, their links retired. Returns those readers' ids.

    address_suppress calls it for the row it writes; migration 0021 for the rows
    from before the list kept mailboxes, with its own models (`apps`, as
    django.contrib.auth's create_permissions takes them), so both follow one rule.
    `among`: ids of readers that include every one it could change (of the row's
    mailbox, not suppressed), when the caller knows them: the readers are looked for
    among those, not by mailbox_spellings' LIKE over the whole list."""
    suppressions = apps.get_model("subscribers", "Suppression")
    changes = dict(changes or {})
    kept = changes.get("reason", row.reason)
    mailbox = _row_mailbox_hash(email, reason=kept)
    # A row from before its mailbox was kept (migration 0020), or whose reason now
    # covers more (a complaint after a bounce of a tagged spelling).
    if row.mailbox_hash != mailbox:
        changes["mailbox_hash"] = mailbox
    if changes:
        suppressions.objects.filter(pk=row.pk).update(**changes)
    now = timezone.now()
    newly = _readers_of(
        email, whole_mailbox=kept not in SPELLING_ONLY and mailbox != "", apps=apps, among=among
    ).exclude(status=Subscriber.Status.SUPPRESSED)
    ids = list(newly.values_list("pk", flat=True))
    newly.filter(pk__in=ids).update(status=Subscriber.Status.SUPPRESSED, status_changed_at=now, updated_at=now)
    # The links of the emails sent before now only unsubscribe (tokens.py): a
    # forwarded digest of a reader who complained, or whose address bounced, no
    # longer opens their preference centre, whose "Delete my data" acted for them.
    subscriber_links_retire(subscriber_ids=ids, apps=apps)
    return ids


# Readers read per query by suppressions_reapply: a chunk's rows and hashes stay
# small (a server-side cursor's fetch), whatever the list's size.
REAPPLY_CHUNK = 2000
# Rows suppressions_reapply applies in one transaction: a commit each (one a row took
# 27.5 s at 100,000 readers against 14.5, bench.suppression_reapply), and the row locks
# of a hundred rows' readers held for a fraction of a second.
REAPPLY_BATCH = 100
# How often suppressions_reapply says how far it is, in readers read.
REAPPLY_PROGRESS_EVERY = 100_000


@dataclass(frozen=True)
class Reapplied:
    readers_read: int
    rows_applied: int  # rows suppression_apply was called for
    readers_suppressed: list[int]


def suppressions_reapply(
    *, apps: Apps = global_apps, progress: Callable[[str], None] | None = None
) -> Reapplied:
    """suppression_apply for each row of the list whose address a reader still holds
    (the list keeps hashes only) where it may change something: the rule gives the
    row another mailbox_hash, or a reader of the row's mailbox is not suppressed (a
    superset: suppression_apply decides, by the one rule). What the list's rows from
    before a change of that rule need (migration 0021, `apps` its models).

    Not the erasures' rows (SPELLING_ONLY): they cover no other spelling, and the
    reader who holds an erased spelling is one who subscribed again, whose pending
    confirmation lifts it; suppression_apply would mark them suppressed.

    One pass over the readers, REAPPLY_CHUNK at a time, then one suppression_apply
    per row found, its readers looked for among the ids the pass found for its
    mailbox (`among`): by mailbox_spellings' LIKE, as the live path looks, 100,000
    readers took 8.6 ms a row against 3 (bench.suppression_reapply). Idempotent: a
    second pass finds the rows right and the readers suppressed, and changes nothing."""
    subscribers = apps.get_model("subscribers", "Subscriber")
    suppressions = apps.get_model("subscribers", "Suppression")
    say = progress or (lambda line: None)
    rows = {
        own: (pk, reason, stored)
        for pk, own, reason, stored in suppressions.objects.exclude(reason__in=list(SPELLING_ONLY))
        .values_list("pk", "email_hash", "reason", "mailbox_hash").iterator(chunk_size=REAPPLY_CHUNK)
    }
    stored_mailboxes = {stored for _, _, stored in rows.values() if stored}
    total = subscribers.objects.count()
    say(f"{len(rows):,} suppressions (erasures aside), {total:,} readers to read")
    held: dict[str, str] = {}  # a row's email_hash: the address of the reader who holds it
    # The rows' mailboxes' readers not suppressed (ids): whom applying a row may change.
    reached: dict[str, list[int]] = defaultdict(list)
    read = 0
    readers = subscribers.objects.values_list("pk", "email", "status").order_by()
    for pk, email, status in readers.iterator(chunk_size=REAPPLY_CHUNK):
        own, mailbox = _hashes(email)
        if own in rows:
            held.setdefault(own, email)
        if status != Subscriber.Status.SUPPRESSED and mailbox in stored_mailboxes:
            reached[mailbox].append(pk)
        read += 1
        if read % REAPPLY_PROGRESS_EVERY == 0:
            say(f"  {read:,} of {total:,} readers read")
    # A row the rule gives another mailbox_hash is applied whatever its readers (a
    # row with "" that now covers its mailbox: its readers are not in `reached`).
    due = [(own, email) for own, email in held.items()
           if _row_mailbox_hash(email, reason=rows[own][1]) != rows[own][2] or rows[own][2] in reached]
    say(f"{read:,} readers read; {len(held):,} suppressions of a reader's address, {len(due):,} to apply")
    suppressed: list[int] = []
    for start in range(0, len(due), REAPPLY_BATCH):
        # A batch a transaction: a run stopped half way (0021 is not atomic) leaves no
        # reader suppressed with their links alive, which the next run would pass over.
        with transaction.atomic():
            for own, email in due[start:start + REAPPLY_BATCH]:
                pk, reason, stored = rows[own]
                # Every reader of the mailbox not suppressed is in `reached` when the
                # pass looked for its mailbox (one of the rows'); else the list is searched.
                _, mailbox = _hashes(email)
                among = reached.get(mailbox, []) if mailbox in stored_mailboxes else None
                suppressed += suppression_apply(
                    email=email, row=suppressions(pk=pk, reason=reason, mailbox_hash=stored),
                    apps=apps, among=among)
        done = min(start + REAPPLY_BATCH, len(due))
        if done % REAPPLY_CHUNK == 0:
            say(f"  {done:,} of {len(due):,} applied, {len(suppressed):,} readers suppressed")
    say(f"{len(due):,} applied: {len(suppressed):,} readers suppressed, their links retired")
    return Reapplied(readers_read=read, rows_applied=len(due), readers_suppressed=suppressed)


def _readers_of(
    email: str, *, whole_mailbox: bool, apps: Apps = global_apps, among: Collection[int] | None = None
) -> QuerySet[Subscriber]:
    """The subscribers at `email` (in any case), or at any spelling of its mailbox:
    those addresses.mailbox_spellings finds whose mailbox_key is `email`'s; of
    `among` (ids), when given."""
    readers = apps.get_model("subscribers", "Subscriber").objects.all()
    if among is not None:
        readers = readers.filter(pk__in=list(among))
    email = email_normalise_or_given(email)
    at_address = Q(email__iexact=email)
    if not whole_mailbox:
        return readers.filter(at_address)
    key = mailbox_key(email)
    spellings = readers.filter(mailbox_spellings(email)).values_list("pk", "email")
    return readers.filter(at_address | Q(pk__in=[pk for pk, other in spellings if mailbox_key(other) == key]))


def address_unsuppress_on_confirmation(*, email: str) -> bool:
    """The person confirmed a new subscription of `email` (double opt-in): a
    suppression they may lift themselves (LIFTED_BY_OWN_CONFIRMATION) is removed.
    True if one was."""
    deleted, _ = address_suppressions(email).filter(reason__in=list(LIFTED_BY_OWN_CONFIRMATION)).delete()
    return bool(deleted)


def address_unsuppress(*, email: str) -> bool:
    """Lift the suppression of `email`, of its spelling and its mailbox (what
    email_is_suppressed finds), unless one is a suppression no editor lifts
    (KEPT_FROM_EDITORS: the rows and the subscribers' state stay). The subscribers
    of the mailbox that nothing else suppresses (an erasure of their own spelling)
    go back to where their own choices left them: unsubscribed if they did, active
    if they confirmed, else pending (never subscribed by an editor's click).
    True if a row was lifted."""
    rows = address_suppressions(email)
    if rows.filter(reason__in=list(KEPT_FROM_EDITORS)).exists():
        return False
    deleted, _ = rows.delete()
    now = timezone.now()
    readers = list(_readers_of(email, whole_mailbox=True).filter(status=Subscriber.Status.SUPPRESSED))
    still = emails_suppressed(subscriber.email for subscriber in readers)
    for subscriber in readers:
        if subscriber.email in still:
            continue
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
