"""Editions' sent and failed digests, counted once they are settled and kept
(EditionTally), for the editions' list in the admin.

An edition is settled when none of its rows is pending or sending: the workers
only ever change a row they claimed, and they claim pending rows, so nothing
changes its figures until one of these writes its rows again, each of which calls
edition_tallies_stale after it, in its own transaction:

- delivery.deliveries_create: new rows (a later run's readers, "Send now");
- curation.deliveries_retry_failed: failed rows back to pending;
- subscribers.services._subscriber_forget: an erasure deletes the reader's rows,
  counted first as gone (edition_tallies_rows_deleting), so the figures stay.

The rule (docs/data-retention.md, "Figures"): an edition's figures count every
digest it sent, failed or skipped and every bounce and complaint about them, also
of readers erased since and of rows pruned since, as the dashboard's SentDay does:
they are counts of what the service did, not data about a person. A pruned
edition (retention.deliveries_prune) shows the figures it had when its pruning
began (EditionTally.figures); nothing stales or recounts it again.

A release without this module writes rows and stales nothing: bootstrap, run at
each upgrade, forgets every kept figure (edition_tallies_forget).

A new path that writes a settled edition's rows (a status set from outside the
claim, a delete) must call it too: tests/newsletter/test_tallies.py holds each.

A count taken while such a write was under way is not kept: each staling raises
the tally's generation, and keeping writes only the tallies whose generation is
still the one read before counting, locked (a tally a stale holds locked, in a
transaction still open, is skipped)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from .models import Delivery, DeliveryEvent, Edition, EditionTally

# The statuses of rows a worker may still change: an edition with any is not settled.
OPEN_STATUSES = (Delivery.Status.PENDING, Delivery.Status.SENDING)


def edition_tallies_stale(*, edition_ids: Iterable[int]) -> None:
    """Forget the kept figures of these editions, after their rows were written (in
    the same transaction): the editions' list counts their rows again until they
    settle. Two statements: the rows made if missing, so that a count under way
    meets this one's generation, then raised."""
    ids = sorted(set(edition_ids))  # in one order, so two of these never deadlock
    if not ids:
        return
    EditionTally.objects.bulk_create([EditionTally(edition_id=pk) for pk in ids], ignore_conflicts=True)
    EditionTally.objects.filter(edition_id__in=ids, pruned_at__isnull=True).update(
        sent=None, failed=None, counted_at=None, generation=F("generation") + 1)


# What a deleted row adds to its edition's figures, by the tally's field.
_GONE_BY_STATUS = {Delivery.Status.SENT: "sent_gone", Delivery.Status.FAILED: "failed_gone",
                   Delivery.Status.SKIPPED: "skipped_gone"}
_GONE_BY_EVENT = {"bounced": "bounced_gone", "complained": "complained_gone"}


def edition_tallies_rows_deleting(*, deliveries: QuerySet[Delivery]) -> list[int]:
    """Count these rows, about to be deleted in the same transaction (an erasure),
    as gone on their editions' tallies, so that the editions' figures stay what they
    were (the rule above). Rows of a pruned edition add nothing: its figures are
    kept whole. Call edition_tallies_stale for the editions returned after deleting.
    Two reads grouped by edition (the rows' statuses; their bounces and
    complaints, which outlive the rows without their link) and an UPDATE a tally."""
    gone: dict[int, dict[str, int]] = {}
    for edition_id, status, n in (deliveries.values_list("edition_id", "status")
                                  .annotate(n=Count("*")).order_by()):
        if status in _GONE_BY_STATUS:
            gone.setdefault(edition_id, {})[_GONE_BY_STATUS[status]] = n
    events = (DeliveryEvent.objects.filter(delivery__in=deliveries.values("pk"), event_type__in=list(_GONE_BY_EVENT))
              .values_list("delivery__edition_id", "event_type")
              .annotate(n=Count("delivery_id", distinct=True)).order_by())
    for edition_id, event_type, n in events:
        gone.setdefault(edition_id, {})[_GONE_BY_EVENT[event_type]] = n
    editions = sorted(set(deliveries.values_list("edition_id", flat=True).distinct().order_by()))
    if editions:
        EditionTally.objects.bulk_create([EditionTally(edition_id=pk) for pk in editions], ignore_conflicts=True)
    for edition_id in sorted(gone):  # in one order, so two erasures never deadlock
        EditionTally.objects.filter(edition_id=edition_id, pruned_at__isnull=True).update(
            **{name: F(name) + n for name, n in gone[edition_id].items()})
    return editions


def edition_tallies_forget() -> int:
    """Forget every kept figure (bootstrap, at each upgrade): a release before
    EditionTally (4e8248f and older), run again after a rollback, writes settled
    editions' rows (an editor's retry, an erasure) and stales nothing, so the list
    would show the figures of before the rollback for good. Costs one count of the
    editions gone out at the list's next look (docs/benchmarks.md: 792 ms once for
    100 editions at 8.36 million deliveries). Returns how many were forgotten."""
    # A pruned edition's figures are not in its rows any more: never counted again.
    return EditionTally.objects.filter(sent__isnull=False, pruned_at__isnull=True).update(
        sent=None, failed=None, counted_at=None, generation=F("generation") + 1)


def edition_tallies_keep() -> int:
    """Count and keep the figures of the editions gone out that have none kept and
    are settled. One query when there are none; else five, and an UPDATE for each
    edition kept, which happens once each time an edition settles (first after it
    goes out, again after it was made stale). Returns how many were kept."""
    missing = list(
        Edition.objects.filter(frozen_at__isnull=False)
        .exclude(pk__in=EditionTally.objects.filter(sent__isnull=False).values("edition_id"))
        .order_by().values_list("pk", flat=True)
    )
    if not missing:
        return 0
    EditionTally.objects.bulk_create([EditionTally(edition_id=pk) for pk in missing], ignore_conflicts=True)
    # Read before counting: a stale after this raises it, and the UPDATE below misses.
    generations = dict(EditionTally.objects.filter(edition_id__in=missing).values_list("edition_id", "generation"))
    counts: dict[int, dict[str, int]] = {pk: {} for pk in missing}
    # COUNT(*) by delivery_edition_status_idx (edition, status), from the index alone.
    rows = (Delivery.objects.filter(edition_id__in=missing).values_list("edition_id", "status")
            .annotate(n=Count("*")).order_by())
    for edition_id, status, n in rows:
        counts[edition_id][status] = n
    settled = [pk for pk, by_status in counts.items() if not any(by_status.get(s) for s in OPEN_STATUSES)]
    now = timezone.now()
    kept = 0
    with transaction.atomic():
        # A tally a stale holds locked (a dispatch under way) is left for a later
        # look, not waited for: the list would wait for the whole dispatch.
        unchanged = [
            pk for pk, generation in EditionTally.objects.select_for_update(skip_locked=True)
            .filter(edition_id__in=settled).values_list("edition_id", "generation")
            if generation == generations.get(pk)
        ]
        for edition_id in unchanged:
            by_status = counts[edition_id]
            kept += EditionTally.objects.filter(edition_id=edition_id).update(
                sent=by_status.get(Delivery.Status.SENT, 0) + F("sent_gone"),
                failed=by_status.get(Delivery.Status.FAILED, 0) + F("failed_gone"),
                counted_at=now,
            )
    return kept
