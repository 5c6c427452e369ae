"""Claims and leases of the delivery ledger (rules 1 and 3 of newsletter/delivery.py).

A row is sent only by whoever moves it pending -> sending (`deliveries_claim`). The
claim is a lease: the rows are the claiming worker's until `lease_expires_at`,
LEASE_SECONDS later, and the worker renews it every HEARTBEAT_SECONDS while it makes
and sends the batch (`BatchLease.beat`). A worker that takes a batch's message off
the queue leases its pending rows (`deliveries_reserve`) until it claims them. A
lease that lapsed has a dead or frozen worker behind it: the sweep
(delivery.deliveries_resolve_stale) settles those rows from the journal.

The constants are read at call time (`leases.LEASE_SECONDS`), so the chaos workers
(tests/chaos/worker.py) can shorten them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection, Sequence

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Delivery

logger = logging.getLogger(__name__)

# How long a claim holds without a heartbeat: far longer than a heartbeat takes to
# come (every HEARTBEAT_SECONDS), far shorter than the task time limit that decided
# staleness before leases.
LEASE_SECONDS = 60
HEARTBEAT_SECONDS = 15


def deliveries_claim(*, delivery_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Move pending rows to sending; return the ids this caller now owns. Rows of an
    edition on hold are not taken: a batch queued, or waiting out a retry, before an
    editor pressed Hold sends nothing of it (it went on sending: 239 digests in the
    2.5 minutes after a hold, in an operator's test). Their lease ends now, so the
    sweep queues them again once the edition is released (it leaves held ones)."""
    # Rows are found by primary key only and their status checked here, under the
    # lock: with `status = 'pending'` in the WHERE, PostgreSQL used the status index
    # and walked every pending entry of the morning's dispatch (dead ones included)
    # in every batch, so a batch cost more the larger the audience.
    with transaction.atomic():
        rows = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(id__in=list(delivery_ids))
            .values_list("id", "status", "edition__on_hold")
        )
        pending = [(pk, held) for pk, status, held in rows if status == Delivery.Status.PENDING]
        ids = [pk for pk, held in pending if not held]
        if held := [pk for pk, on_hold in pending if on_hold]:
            Delivery.objects.filter(id__in=held).update(lease_expires_at=now, updated_at=now)
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=Delivery.Status.SENDING, claimed_at=now, updated_at=now,
                lease_expires_at=now + dt.timedelta(seconds=LEASE_SECONDS),
            )
    return ids


def deliveries_reserve(*, delivery_ids: Sequence[int], now: dt.datetime | None = None) -> int:
    """A worker took a batch's message off the queue (Celery's task_received): its
    pending rows hold a lease until the batch starts and claims them. If that worker
    dies first, its message stays invisible in Redis for the visibility timeout (an
    hour); the lease lets the sweep re-queue the rows a minute later instead."""
    lease = (now or timezone.now()) + dt.timedelta(seconds=LEASE_SECONDS)
    # Rows locked by a claim (the same rows queued twice) are that claim's: skipped,
    # not waited for, as this runs in the worker's consumer, which a claim frozen
    # in its transaction would otherwise stall with it.
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(id__in=list(delivery_ids), status=Delivery.Status.PENDING)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=lease))
            .values_list("id", flat=True)
        )
        return Delivery.objects.filter(id__in=ids).update(lease_expires_at=lease) if ids else 0


def deliveries_lease_renew(*, delivery_ids: Sequence[int], claimed_at: dt.datetime) -> int:
    """The heartbeat: push forward the lease of the rows this claim still holds;
    return how many it still holds (fewer: the sweep took some)."""
    return Delivery.objects.filter(
        id__in=list(delivery_ids), status=Delivery.Status.SENDING, claimed_at=claimed_at
    ).update(lease_expires_at=timezone.now() + dt.timedelta(seconds=LEASE_SECONDS))


class BatchLease:
    """A batch's claim, renewed at most every HEARTBEAT_SECONDS by beat(), which the
    batch calls between digests and while it waits for its provider calls.
    `finished`: the ids the batch has marked sent so far (sending.BatchSender's
    `recorded`, which grows as the calls return): no longer the claim's to renew, and
    not lost. Counted as lost, every batch longer than a heartbeat (an ESP's rate, its
    429s) logged "lease lost on 59 of 100 deliveries" for rows it had sent itself."""

    def __init__(self, *, delivery_ids: Sequence[int], claimed_at: dt.datetime,
                 finished: Collection[int] = frozenset()) -> None:
        self.delivery_ids = list(delivery_ids)
        self.claimed_at = claimed_at
        self.finished = finished
        self.renewed = time.monotonic()

    def beat(self) -> None:
        if time.monotonic() - self.renewed < HEARTBEAT_SECONDS:
            return
        in_hand = [pk for pk in self.delivery_ids if pk not in self.finished]
        try:
            held = deliveries_lease_renew(delivery_ids=in_hand, claimed_at=self.claimed_at)
        except Exception:  # the database is away: the lease may lapse, the journal fences
            logger.exception("could not renew the lease of %s deliveries", len(in_hand))
            return
        self.renewed = time.monotonic()
        if held < len(in_hand):
            logger.warning("lease lost on %s of %s deliveries", len(in_hand) - held, len(in_hand))
