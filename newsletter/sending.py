"""A batch's sends (rules 2 and 4 of newsletter/delivery.py, which runs the batch):
each reader's digest made or the reason it is not sent (`digest_prepare`), the
provider calls (`BatchSender`), what a failed call means (`mail.errors.send_error_is_transient`,
`send_failed`), and the rows' outcomes (`deliveries_mark_sent` as the calls return,
`outcomes_record` for the rest at the end of the batch).

Rule 4: transient provider errors (timeouts, connection errors, 5xx, the journal's
Redis away) stop the batch, since more requests would meet the same outage: no
further call starts, the failed row and the rest go back to pending and the task
retries them with exponential backoff and jitter, up to MAX_ATTEMPTS. A 429 is
mail/esp.py's to absorb (the shared rate halves, the same message is tried again
after its next slot); only a 429 lasting esp.THROTTLED_RETRY_SECONDS reaches here.
Permanent errors (refused or invalid address, other 4xx) fail that row only, with
the reason, and the batch goes on."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field

from django.db import utils as db_utils
from django.utils import timezone

from mail import esp
from mail.errors import send_error_is_transient
from subscribers.addresses import error_describe_masked

from . import digest, leases
from .due import subscriber_still_receiving
from .journal import LeaseLost, journal_forget, journal_key, journal_record
from .models import Delivery
from .sql import rows_update

logger = logging.getLogger(__name__)

# Total tries of one delivery against transient provider errors.
MAX_ATTEMPTS = 5
# Rows of calls that came back are marked sent together, at most this long after
# the first of them was collected (rule 2 of newsletter/delivery.py): one UPDATE for
# the calls of 50 ms instead of one per digest made, while the window in which only
# the journal knows a message went out stays far shorter than a provider call.
MARK_SENT_WITHIN = 0.05


@dataclass
class BatchOutcome:
    """What a batch did, by delivery id, and how long its work took: the task
    retries `retry`; send_digests reports the counts; the benchmark (bench/) reads
    the durations."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # back to pending; the task retries them
    lost: list[int] = field(default_factory=list)  # the sweep took them (the lease lapsed)
    call_seconds: list[float] = field(default_factory=list)  # each sent message's provider call
    # Each digest handed to the provider: how long making it took (rank, links,
    # assembly, message), in the order they were made.
    made_seconds: list[float] = field(default_factory=list)


@dataclass
class PreparedDigest:
    delivery: Delivery
    message: object  # AnymailMessage
    paper_ids: list[int]
    picked: int  # how many of paper_ids are the reader's picks (Delivery.picked)
    reasons: list[str]  # each pick's "why" line (Delivery.reasons)
    weekly: bool  # Delivery.weekly
    chips: list[list[str]]  # the topics beside each paper (Delivery.chips)


def digest_prepare(
    *, delivery: Delivery, data_by_date: dict, proofs: dict, suppressed: Collection[str],
    now: dt.datetime, outcome: BatchOutcome,
) -> PreparedDigest | None:
    """Make one reader's digest (newsletter/digest.py); set the row's outcome in
    memory when it is not to be sent (suppressed, left, nothing to send) or cannot
    be made."""
    subscriber = delivery.subscriber
    if subscriber.email in suppressed:
        delivery.status, delivery.error = Delivery.Status.SKIPPED, "address suppressed"
        outcome.skipped.append(delivery.pk)
        return None
    if not subscriber_still_receiving(subscriber=subscriber, now=now):
        # Left (or paused) after the dispatcher queued the row: the status was read
        # at the claim, so nobody who left before their batch started is mailed
        # (tests/chaos/test_fault_matrix.py).
        delivery.status, delivery.error = Delivery.Status.SKIPPED, f"reader {subscriber.status}"
        outcome.skipped.append(delivery.pk)
        return None
    edition = delivery.edition
    try:
        made = digest.digest_make(
            edition=edition, subscriber=subscriber, data=data_by_date[edition.date],
            delivery=delivery, proofs=proofs, now=now,
        )
    except Exception as exc:  # recorded on the row; the batch goes on
        reason = error_describe_masked(exc)
        logger.exception("digest %s could not be made: %s", delivery.pk, reason)
        delivery.status, delivery.error = Delivery.Status.FAILED, reason
        outcome.failed.append(delivery.pk)
        return None
    if made.message is None:
        delivery.status = Delivery.Status.SKIPPED
        # Not every such reader skips empty days: their filters (only papers with code,
        # left-out words) may keep out every paper, or they had each one already (a
        # weekly's papers are never sent twice): then there is nothing at all to send.
        delivery.error = ("nothing matched and the reader skips such days" if made.selection.skip
                          else "no paper of the edition is left for them (their filters, or they had each one already)")
        outcome.skipped.append(delivery.pk)
        return None
    return PreparedDigest(delivery, made.message, made.paper_ids, made.picked, made.reasons, made.weekly,
                          made.chips)


class NotAttempted(Exception):
    """The batch stopped (rule 4) before this message's provider call."""


class BatchSender:
    """The batch's provider calls, made by the process's sending threads
    (mail/esp.py). Each call keeps rule 2 on its own ("attempting" journalled right
    before it, "sent:<id>" right after, then its row marked sent); once a call meets
    a transient error no further call starts (rule 4). The rows are changed only
    here, in the batch's own thread, as the calls' results come back: the batch
    thread collects them after every digest it makes and while it waits, and marks
    the rows of the calls collected in one UPDATE at most MARK_SENT_WITHIN after
    the first of them (and before the batch ends)."""

    def __init__(self, outcome: BatchOutcome) -> None:
        self.outcome = outcome
        self.stopped: str | None = None  # why, set by the sending thread that met it
        self.lease_lost = False
        self.in_flight: dict[Future, PreparedDigest] = {}
        # Calls that came back, appended by their sending thread (deque.append is atomic).
        self.finished: deque[Future] = deque()
        # Rows already marked sent in the database as their calls came back (rule
        # 2); the end-of-batch write leaves them out.
        self.recorded: set[int] = set()
        # Sent by the calls collected since the last write, to be marked within
        # MARK_SENT_WITHIN of the first (monotonic time of its collect).
        self.unmarked: list[Delivery] = []
        self.unmarked_since = 0.0
        # The database refused a write: the rest of the batch's sent rows wait for
        # the end-of-batch write (or, if that fails too, for the sweep and the journal).
        self.database_failed = False

    def submit(self, item: PreparedDigest) -> None:
        if self.stopped is not None:
            self._not_attempted(item)
            return
        future = esp.esp_pool().submit(self._call, item, journal_key(item.delivery))
        self.in_flight[future] = item
        future.add_done_callback(self.finished.append)
        self._collect(timeout=0)

    def _call(self, item: PreparedDigest, key: str) -> esp.EspCall:
        """In a sending thread: one message, journalled."""

        def before_call() -> None:
            if self.stopped is not None:
                raise NotAttempted(self.stopped)

        try:
            # The journal's "attempting" and "sent:<id>" go with the call's slot.
            call = esp.esp_send(item.message, before_call=before_call, record=journal_record(
                key, paper_ids=item.paper_ids, picked=item.picked, reasons=item.reasons, weekly=item.weekly,
                chips=item.chips))
        except esp.EspRecordRefused:  # rule 3's fence: the sweep revoked the entry
            self.lease_lost, self.stopped = True, "lease lost"
            raise LeaseLost(key) from None
        except NotAttempted:
            raise
        except Exception as exc:
            if send_error_is_transient(exc) and item.delivery.attempts + 1 < MAX_ATTEMPTS:
                self.stopped = error_describe_masked(exc)
            raise
        return call

    def _collect(self, *, timeout: float | None) -> None:
        if timeout == 0:
            # After every digest: the calls that finished since, as their threads
            # noted them, instead of futures.wait installing a waiter on (and removing
            # it from) every call in flight under all their locks (~5 % of a worker's
            # CPU in a profile; 125-150 us per look at 100 calls in flight).
            done = []
            while self.finished:
                future = self.finished.popleft()
                if future in self.in_flight:
                    done.append(future)
        else:
            done, _ = futures_wait(list(self.in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            self._record(self.in_flight.pop(future), future)
        if self.unmarked and (
            not self.in_flight or time.monotonic() - self.unmarked_since >= MARK_SENT_WITHIN
        ):
            self._sent_write()

    def _record(self, item: PreparedDigest, future: Future) -> None:
        delivery = item.delivery
        try:
            call = future.result()
        except NotAttempted:
            self._not_attempted(item)
            return
        except LeaseLost:
            # The sweep re-queued the row: it is no longer this batch's to record.
            self.outcome.lost.append(delivery.pk)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
            delivery.attempts += 1
            send_failed(delivery=delivery, exc=exc, outcome=self.outcome)
            return
        delivery.attempts += 1
        delivery.status, delivery.sent_at = Delivery.Status.SENT, delivery.claimed_at
        delivery.provider_message_id, delivery.error = call.message_id, ""
        delivery.paper_ids, delivery.picked, delivery.reasons = item.paper_ids, item.picked, item.reasons
        delivery.weekly, delivery.chips = item.weekly, item.chips
        self.outcome.sent.append(delivery.pk)
        self.outcome.call_seconds.append(call.seconds)
        if not self.unmarked:
            self.unmarked_since = time.monotonic()
        self.unmarked.append(delivery)

    def _sent_write(self) -> None:
        """The rows of the messages the ESP took since the last collect, marked sent
        at once (rule 2), so the database alone knows they went out, whatever Redis
        loses afterwards."""
        unmarked, self.unmarked = self.unmarked, []
        if not unmarked or self.database_failed:
            return
        try:
            held = deliveries_mark_sent(deliveries=unmarked)
        except db_utils.Error:  # e.g. the connection dropped: the batch goes on
            logger.exception("digests %s sent, but their rows could not be marked sent yet",
                             [d.pk for d in unmarked])
            self.database_failed = True
            return
        self.recorded.update(d.pk for d in unmarked)
        for delivery in unmarked:
            if delivery.pk not in held:
                # The lease lapsed during the call and the sweep settled the row from
                # the journal: "sent:<id>" (marked sent) or "attempting" (re-queued, rule 3).
                logger.warning("digest %s went out after the sweep had taken its row", delivery.pk)

    def _not_attempted(self, item: PreparedDigest) -> None:
        if self.lease_lost:
            self.outcome.lost.append(item.delivery.pk)
            return
        delivery = item.delivery
        delivery.status, delivery.error = Delivery.Status.PENDING, f"not attempted: {self.stopped}"
        self.outcome.retry.append(delivery.pk)

    def wait(self, lease: leases.BatchLease) -> None:
        """Until every call has come back, renewing the lease meanwhile; the rows of
        the last calls are marked sent as the last one is collected (_collect)."""
        pool = esp.esp_pool()
        while self.in_flight:
            timeout = leases.HEARTBEAT_SECONDS / 3
            if pool.quick:
                # Looked at every QUICK_CALL_SECONDS while the batch waits: a quick
                # provider's call that turned slow must not hold the messages queued
                # behind it, now that no new digest's submit will (SendingPool.nudge).
                # A slow pool needs none: it wakes threads at every submit and call end.
                pool.nudge()
                timeout = esp.QUICK_CALL_SECONDS
            if self.unmarked:  # until the collected rows are due to be marked
                timeout = min(timeout, max(0.0, self.unmarked_since + MARK_SENT_WITHIN - time.monotonic()))
            self._collect(timeout=timeout)
            lease.beat()


def send_failed(*, delivery: Delivery, exc: BaseException, outcome: BatchOutcome) -> None:
    """Record a failed send on its row (in memory): back to pending for a retry when
    the error is transient and attempts remain (rule 4), else failed with the reason."""
    reason = error_describe_masked(exc)
    transient = send_error_is_transient(exc)
    if transient and delivery.attempts < MAX_ATTEMPTS:
        logger.warning("digest %s: transient error, will retry: %s", delivery.pk, reason)
        delivery.status, delivery.error = Delivery.Status.PENDING, reason
        outcome.retry.append(delivery.pk)
        return
    if transient:
        reason = f"gave up after {delivery.attempts} attempts: {reason}"
    logger.error("digest %s failed: %s", delivery.pk, reason)
    delivery.status, delivery.error = Delivery.Status.FAILED, reason
    outcome.failed.append(delivery.pk)


def deliveries_mark_sent(*, deliveries: Sequence[Delivery]) -> set[int]:
    """Mark rows of one claim sent as their provider calls return (rule 2): status,
    the provider's message id, what the reader got, from each row's fields in
    memory. Only the rows that claim still holds (a row the sweep took meanwhile is
    left alone: rule 3); returns the ids of the rows marked. One UPDATE."""
    claimed_at = deliveries[0].claimed_at
    if any(d.claimed_at != claimed_at for d in deliveries):
        raise ValueError("rows of one claim only: the guard compares one claim time")
    for d in deliveries:
        d.status, d.error, d.lease_expires_at, d.updated_at = Delivery.Status.SENT, "", None, claimed_at
    return set(rows_update(
        objects=deliveries,
        fields=["status", "attempts", "sent_at", "provider_message_id", "error", "paper_ids",
                "picked", "reasons", "weekly", "chips", "lease_expires_at", "updated_at"],
        where={"status": Delivery.Status.SENDING, "claimed_at": claimed_at},
    ))


def outcomes_record(
    *, deliveries: list[Delivery], now: dt.datetime, retry_in: int, recorded: Collection[int],
) -> None:
    """One UPDATE for the rest of the batch (failed, skipped, back to pending, and
    sent rows not `recorded` one by one), of the rows this claim still holds (a row
    the sweep took meanwhile is left alone: rule 3). A row still `sending` here (an
    exception escaped mid-batch) stays `sending` for deliveries_resolve_stale to
    settle from the journal once its lease lapses. Rows sent back to pending hold a
    lease until `retry_in` seconds (the task's countdown) plus LEASE_SECONDS."""
    settled = [d for d in deliveries if d.status != Delivery.Status.SENDING]
    journal_keys = [journal_key(d) for d in settled]
    done = [d for d in settled if d.pk not in recorded]
    retry_lease = timezone.now() + dt.timedelta(seconds=retry_in + leases.LEASE_SECONDS)
    for d in done:
        d.updated_at = now
        d.lease_expires_at = None
        if d.status == Delivery.Status.PENDING:
            d.claimed_at = None
            d.lease_expires_at = retry_lease
    if done:
        rows_update(
            objects=done,
            fields=["status", "attempts", "claimed_at", "lease_expires_at", "sent_at",
                    "provider_message_id", "error", "paper_ids", "picked", "reasons", "weekly", "chips",
                    "updated_at"],
            where={"status": Delivery.Status.SENDING, "claimed_at": now},
        )
    journal_forget(journal_keys)
