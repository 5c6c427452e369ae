"""Sending the daily digest exactly once: dispatch, the ledger, batch sends.

Fan-out in two steps (STYLE.md §4). `digests_dispatch` (beat, every 15 minutes)
selects in one query the readers due now (newsletter/due.py), writes a pending
`Delivery` row per (reader, edition) — unique, so two dispatchers or two ticks
create each row once — and queues batches of delivery ids after commit
(`deliveries_queue`, the one queueing function: "send now" and "retry failed" in
the admin use it too). `digest_send_batch` claims its rows, makes each reader's
digest (newsletter/digest.py) from data loaded once for the batch, sends over one
connection, and records each outcome. This module is the ledger only: it runs
the dispatch, the batch and the sweep; claims and leases are newsletter/leases.py,
a batch's sends and outcomes newsletter/sending.py, the journal
newsletter/journal.py, who is due newsletter/due.py.

The ledger rules (what "exactly once" means here):
1. A row is sent only by whoever moves it pending -> sending (`deliveries_claim`:
   SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, then one UPDATE of the rows
   found pending under that lock). A retried task, a redelivered message or a second batch holding
   the same ids finds nothing pending and sends nothing.
2. A message that went out is in the database within about 50 ms, whatever
   Redis loses afterwards. Each send is journalled in Redis as it happens:
   "attempting" right before the provider call, "sent:<papers><message id>" right
   after it (newsletter/journal.py); then its row is marked sent with the provider's
   message id and its papers (`deliveries_mark_sent`). The other outcomes (failed
   + reason, skipped, back to pending for a retry) are written in one UPDATE at the
   end of the batch. The batch's messages are sent by a pool of threads
   (mail/esp.py), many calls in flight at once while the next digests are made;
   each message keeps this order on its own. The batch's own thread writes the
   rows (one database connection per batch, not one per sending thread): it collects
   the calls that came back after every digest it makes and while it waits for the
   last ones, and marks the rows of the calls collected in one UPDATE at most
   sending.MARK_SENT_WITHIN (50 ms) after the first of them, so a row is marked
   within 50 ms and one digest's making of its call returning (more on a starved
   machine). In that gap, and when the database refuses the write, the journal's
   "sent:<id>" is the record.
   Why not one UPDATE per batch, as before: a batch's sent rows then lived only in
   Redis until the batch ended, so a machine restart that took the worker and a
   Redis without persistence together re-sent every message of the dead worker's
   batches (tests/chaos, "machine restarted"). Why not one per digest made, as
   after that: an UPDATE for each one or two messages was a quarter of a batch's
   time with a fast ESP (docs/benchmarks.md); 50 ms is a few digests' making, far
   shorter than one provider call, and costs one statement per 50 ms of sending.
3. A claim is a lease: the rows are the worker's until `lease_expires_at`,
   LEASE_SECONDS after the claim, and the worker renews it every HEARTBEAT_SECONDS
   while it makes and sends the batch. A lease that was not renewed has a dead (or
   frozen) worker behind it, whatever the task time limit. `deliveries_resolve_stale`
   (beat, every SETTLE_EVERY_SECONDS, and every dispatcher tick) settles the rows
   whose lease lapsed from the journal:
     - "sent:<id>": it went out; the row is marked sent (never sent twice);
     - no entry: never attempted; back to pending and re-queued (never skipped);
     - "attempting": the worker died during the provider call. Anymail cannot ask
       the ESP whether it accepted the message, so we choose AT-LEAST-ONCE: the row
       is re-queued. The residual risk is one duplicate per message that was inside
       its provider call in the killed process (at most ESP_SEND_THREADS); skipping
       a reader's digest silently was judged worse. It is logged as a warning.
       A row is `sending` with its call already returned only in rule 2's gap; if
       Redis loses its "sent" entry in that same crash (a machine restart), those
       messages are re-sent too: on a starved 2-core machine `make chaos` counted
       up to 36 calls in flight or returned and not yet marked, for 16 threads.
   The sweep reads and revokes each entry in one atomic step, and a worker writes
   "attempting" only over an entry that is not revoked: a frozen worker that wakes
   after losing its lease calls the provider for none of those rows, and its final
   UPDATE only touches rows still `sending` under its own claim. A dead worker's
   readers are served within LEASE_SECONDS + SETTLE_EVERY_SECONDS + one batch
   (about a minute and a half), whatever the task time limit.
   Pending rows whose queued message was lost are re-queued too (claiming makes an
   extra message harmless): a worker that takes a batch's message off the queue
   puts a lease on its rows (`deliveries_reserve`), and a row waiting for a retry
   holds one until the retry's countdown plus LEASE_SECONDS; if nobody claimed the
   rows by then, the worker holding the message died, and the message would stay
   invisible in Redis for the visibility timeout. A dispatched row never taken for
   stale_after() had its message lost with the broker.
   Neither the sweep nor a worker's reservation waits for a row lock: rows locked
   by a claim are that claim's (SKIP LOCKED), so a worker frozen inside its claim's
   transaction holds up only its own rows, not the sweep or the other workers.
4. Transient provider errors (timeouts, connection errors, 5xx) stop the batch:
   no further call starts, the rest go back to pending and the task retries them
   with backoff, up to sending.MAX_ATTEMPTS; a 429 slows every worker down
   (mail/esp.py). Permanent errors fail that row only, and the batch goes on
   (newsletter/sending.py).
What a Redis restart without persistence loses: the queued batches (rule 3's sweep
re-queues their rows) and the journal. The journal of rows already marked sent is
not needed any more (rule 2); rows not attempted are fenced by the claim; so only
the messages in flight at that moment, in a worker that dies or loses its lease
before it marks them, may be sent twice, as after a kill. A persistent Redis
(appendonly) keeps those in the journal too."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from subscribers.suppression import emails_suppressed

from . import leases
from .digest_render import DigestProof
from .due import subscribers_due
from .editions import edition_current, edition_freeze
from .journal import ATTEMPTING, journal_revoke, journal_sent
from .leases import BatchLease, deliveries_claim
from .models import Delivery, Edition
from .pictures import pictures_fetch
from .ranking import ranking_data_load
from .sending import BatchOutcome, BatchSender, digest_prepare, outcomes_record
from .tallies import edition_tallies_stale
from .tasks import digest_send_batch as digest_send_batch_task

logger = logging.getLogger(__name__)

# How often beat runs the lease sweep (newsletter/schedules.py has the schedule).
SETTLE_EVERY_SECONDS = 20
# Readers per batch task. Big enough that the per-batch loads (papers, topic scores,
# feedback, already-sent ids: a fixed handful of queries) are shared by many
# readers; small enough that a batch (~1 s of rendering plus one ESP call per
# reader) ends far inside the task time limit and a crash or retry touches few.
BATCH_SIZE = 100
# A dispatch of this many rows or more refreshes the ledger's planner statistics.
ANALYZE_AFTER_ROWS = 10_000
# Rows written per INSERT when a dispatch creates its ledger rows.
CREATE_CHUNK = 1000
# Backoff of retries: BASE x 2^retry seconds, capped, plus up to 50 % jitter so
# batches hit by the same outage do not come back in lockstep.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 30 * 60


def stale_after() -> dt.timedelta:
    """A claim older than this belongs to a dead worker: the task time limit (after
    which Celery kills it) plus a margin."""
    return dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 300)


def chunked(items: Iterable[int], size: int | None = None) -> Iterator[list[int]]:
    size = size or BATCH_SIZE
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- Dispatch: rows and the queue ---------------------------------------------------


def deliveries_create(*, edition: Edition, subscriber_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Pending ledger rows for these readers (a row that exists already is left
    alone: the unique (subscriber, edition) constraint decides) and the ids of the
    pending rows to queue. Freezes the edition: its first digest is going out."""
    if not subscriber_ids:
        return []
    edition_freeze(edition=edition, now=now)
    # One transaction with its tally made stale (edition_dispatch's, or its own if
    # called outside one; no savepoint): a tally kept meanwhile never outlives the
    # rows it missed (newsletter/tallies.py).
    with transaction.atomic(savepoint=False):
        # In chunks, so a dispatch of 100,000 readers never holds 100,000 unsaved rows.
        for chunk in chunked(subscriber_ids, CREATE_CHUNK):
            Delivery.objects.bulk_create(
                [Delivery(subscriber_id=sid, edition=edition) for sid in chunk], ignore_conflicts=True
            )
        edition_tallies_stale(edition_ids=[edition.pk])
    if len(subscriber_ids) >= ANALYZE_AFTER_ROWS and db_connection.vendor == "postgresql":
        # The send batches start at once; autovacuum would refresh the planner's
        # statistics only minutes later, and until then their queries were planned
        # for the table as it was before this dispatch (measured at 100,000 readers:
        # each batch's statements cost 40 % more than at 10,000; docs/benchmarks.md).
        with db_connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {db_connection.ops.quote_name(Delivery._meta.db_table)}")
    return list(
        Delivery.objects.filter(
            edition=edition, subscriber_id__in=subscriber_ids, status=Delivery.Status.PENDING
        ).order_by("id").values_list("id", flat=True)
    )


def deliveries_queue(*, delivery_ids: Sequence[int]) -> int:
    """Queue ledger rows to the batch task in batches of BATCH_SIZE, after commit (a
    worker must find the rows this transaction wrote). The one queueing function:
    the dispatcher, stale rows, "send now" and "retry failed" all use it. Returns
    the number of batches."""
    batches = list(chunked(delivery_ids))
    for batch in batches:
        digest_send_batch_task.delay_on_commit(batch)
    return len(batches)


def edition_dispatch(
    *, edition: Edition, now: dt.datetime, any_hour: bool = False, email: str | None = None,
    queue: bool = True,
) -> list[int]:
    """Write a pending row for every reader due for `edition` (at their hour, or
    `any_hour`; only the reader with address `email` if given) and queue them
    unless `queue` is False (send_digests sends them in its own process). Returns
    the ids of the pending rows. A run for the readers due at their hour records
    itself (Edition.dispatched_at): the runs that do not come after it are caught up
    by the next (due.catch_up_since)."""
    with transaction.atomic():
        due = subscribers_due(now=now, edition=edition, any_hour=any_hour, email=email)
        subscriber_ids = list(due.order_by("id").values_list("id", flat=True))
        delivery_ids = deliveries_create(edition=edition, subscriber_ids=subscriber_ids, now=now)
        if not any_hour and email is None:
            Edition.objects.filter(pk=edition.pk).filter(
                Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now)).update(dispatched_at=now)
        if queue:
            deliveries_queue(delivery_ids=delivery_ids)
    return delivery_ids


def edition_send(
    *, edition: Edition, now: dt.datetime, any_hour: bool = False, email: str | None = None,
    queue: bool = True,
) -> list[int]:
    """The one way an edition's digests start going out: beat's run (digests_dispatch),
    an editor's "Send now" (curation.edition_send_now, in a task) and send_digests.
    Before its first digest, the edition's pictures; then edition_dispatch, with
    these arguments. Returns the ids of the pending rows."""
    if edition.frozen_at is None:
        # Its first digests may go out now. The import fetched its pictures in the
        # background, unless the broker was away then: a picture nobody tried was
        # linked, and one the CDN would not give was a broken box at the top of
        # readers' emails. Each is tried here first (one on disk: a file open).
        pictures_fetch(paper_ids=list(edition.entries.filter(paper__picture_missing_at__isnull=True)
                                      .values_list("paper_id", flat=True)))
    return edition_dispatch(edition=edition, now=now, any_hour=any_hour, email=email, queue=queue)


def digests_dispatch(*, now: dt.datetime | None = None) -> int:
    """The beat task's body: resolve stale rows, then queue today's edition for the
    readers due now. Returns the number of deliveries queued."""
    now = now or timezone.now()
    deliveries_resolve_stale(now=now)
    edition = edition_current(now=now)
    if edition is None or edition.on_hold:
        return 0
    return len(edition_send(edition=edition, now=now))


# --- The batch ------------------------------------------------------------------------

# Sent after every batch with `outcome` (its BatchOutcome): for measurements and
# monitoring; nothing in the apps listens. The benchmark's workers time the provider
# calls with it (bench/esp.py).
batch_sent = Signal()


def retry_wait_base(retries: int) -> int:
    """The seconds before retry number `retries` + 1 at the earliest: doubling from
    RETRY_BASE_SECONDS, capped at RETRY_MAX_SECONDS."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)


def retry_countdown(retries: int) -> int:
    """retry_wait_base with up to half of it again at random, so the retries of a
    batch that failed together do not all come back at once."""
    base = retry_wait_base(retries)
    return int(base + random.uniform(0, base / 2))


# Columns a batch never reads: not loaded, as turning timestamps into aware
# datetimes for 100 rows showed in the profile (docs/benchmarks.md). A batch that
# read one would run a query per row; tests/newsletter/test_batch_queries.py pins
# the count. The reader's weekday, delivery hour and time zone are read (the
# digest's footer says when it comes, in their zone: Subscriber.schedule), so they
# come in the same query.
_BATCH_DEFERRED = (
    "created_at", "lease_expires_at",
    *(f"subscriber__{name}" for name in (
        "status_changed_at", "source",
        "confirmation_sent_at", "confirmed_at", "unsubscribed_at", "created_at", "updated_at",
    )),
    "edition__created_at", "edition__updated_at", "edition__frozen_at",
)


def _deliveries_load(ids: Sequence[int]) -> list[Delivery]:
    return list(
        Delivery.objects.filter(id__in=ids)
        .select_related("subscriber", "edition")
        .defer(*_BATCH_DEFERRED)
        # The readers' topics come with the ranking data (ranking_data_load).
        .order_by("id")
    )


def digest_send_batch(
    *, delivery_ids: Sequence[int], now: dt.datetime | None = None, retry_in: int = RETRY_MAX_SECONDS,
) -> BatchOutcome:
    """Claim, make and send a batch of digests; record every outcome (module
    docstring). A fixed number of queries whatever the batch size, plus at most one
    per 50 ms of sending (rule 2: sending.MARK_SENT_WITHIN) and one per
    heartbeat in a batch longer than HEARTBEAT_SECONDS.

    Each digest goes to the sending threads as soon as it is made, so the provider
    calls of the first readers are in flight while the next digests are made. Rows
    sent back to pending for a retry hold a lease until `retry_in` seconds (the
    task's countdown) plus leases.LEASE_SECONDS."""
    now = now or timezone.now()
    started = time.monotonic()
    outcome = BatchOutcome()
    claimed = deliveries_claim(delivery_ids=delivery_ids, now=now)
    if not claimed:
        return outcome
    sender = BatchSender(outcome)
    lease = BatchLease(delivery_ids=claimed, claimed_at=now, finished=sender.recorded)
    deliveries = _deliveries_load(claimed)
    for d in deliveries:
        d.claimed_at = now  # the journal key uses the claim time
    try:
        suppressed = emails_suppressed(d.subscriber.email for d in deliveries)
        data_by_date = {}
        for date in sorted({d.edition.date for d in deliveries}):
            subscriber_ids = [d.subscriber_id for d in deliveries if d.edition.date == date]
            data_by_date[date] = ranking_data_load(date=date, subscriber_ids=subscriber_ids)
        proofs: dict[tuple[int, bool], DigestProof] = {}
        for delivery in deliveries:
            making = time.perf_counter()
            prepared = digest_prepare(delivery=delivery, data_by_date=data_by_date, proofs=proofs,
                                      suppressed=suppressed, now=now, outcome=outcome)
            if prepared is not None:
                outcome.made_seconds.append(time.perf_counter() - making)
                sender.submit(prepared)
            lease.beat()
    finally:
        # Whatever happened while making digests, the calls in flight are waited for
        # and recorded: their messages may have gone out.
        sender.wait(lease)
        outcomes_record(deliveries=deliveries, now=now, retry_in=retry_in, recorded=sender.recorded)
    _batch_log(deliveries, outcome, started)
    batch_sent.send(sender=BatchOutcome, outcome=outcome)
    return outcome


def _batch_log(deliveries: list[Delivery], outcome: BatchOutcome, started: float) -> None:
    """One structured line per batch (ids and counts only, never an address): the
    runbook in README.md reads these. `extra` carries the same fields for a JSON
    log formatter."""
    fields = {
        "edition": ",".join(sorted({d.edition.date.isoformat() for d in deliveries})),
        "batch_size": len(deliveries),
        "sent": len(outcome.sent),
        "failed": len(outcome.failed),
        "skipped": len(outcome.skipped),
        "retry": len(outcome.retry),
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    logger.info(
        "digest batch " + " ".join(f"{k}=%s" for k in fields), *fields.values(),
        extra={"digest_batch": fields},
    )


# --- Stale rows (rule 3) --------------------------------------------------------------


def _queue_is_empty() -> bool:
    """No message waits in the batch task's queue (workers may hold some)."""
    app = digest_send_batch_task.app
    try:
        with app.connection_for_read() as conn:
            declared = conn.default_channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
    except Exception as exc:  # no broker, no answer: assume a backlog
        if "NOT_FOUND" in str(exc):  # kombu's Redis transport: an empty queue has no key
            return True
        logger.warning("could not read the queue's length", exc_info=True)
        return False
    return declared.message_count == 0


def deliveries_resolve_stale(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Settle rows whose lease lapsed (a worker died or froze), and re-queue pending
    rows whose queued message was lost; see rule 3 of the module docstring."""
    now = now or timezone.now()
    cutoff = now - stale_after()
    counts = {"sent": 0, "requeued": 0, "in_flight": 0}
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.SENDING)
            # Rows claimed before leases existed have none: the old rule for them.
            .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, claimed_at__lt=cutoff))
        )
        entries = journal_revoke(stale)
        requeue: list[int] = []
        for delivery, entry in zip(stale, entries, strict=True):
            delivery.updated_at = now
            delivery.lease_expires_at = None
            sent = journal_sent(entry)
            if sent is not None:
                delivery.status, delivery.sent_at = Delivery.Status.SENT, delivery.claimed_at
                delivery.provider_message_id, delivery.error = sent.message_id, ""
                if sent.paper_ids is not None:  # what the reader got, as the worker would have
                    delivery.paper_ids, delivery.picked = sent.paper_ids, sent.picked
                    delivery.reasons, delivery.weekly = list(sent.reasons), sent.weekly
                    delivery.chips = list(sent.chips)
                counts["sent"] += 1
                continue
            if entry == ATTEMPTING:
                logger.warning(
                    "digest %s: worker died during the provider call; re-sending (at-least-once)",
                    delivery.pk,
                )
                delivery.attempts += 1
                counts["in_flight"] += 1
            delivery.status, delivery.claimed_at = Delivery.Status.PENDING, None
            delivery.error = "interrupted (worker lost); re-queued"
            requeue.append(delivery.pk)
        if stale:
            Delivery.objects.bulk_update(
                stale, ["status", "sent_at", "provider_message_id", "error", "claimed_at",
                        "lease_expires_at", "attempts", "paper_ids", "picked", "reasons", "weekly", "chips",
                        "updated_at"],
            )
        # Pending rows: a retry nobody took by its lease (the worker holding its
        # message died), or a dispatched row never claimed for stale_after() (the
        # broker lost the queue). Re-queuing one whose message still exists is
        # harmless: the claim lets one of them through.
        lost = Delivery.objects.filter(status=Delivery.Status.PENDING).filter(
            Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, updated_at__lt=cutoff)
        )
        if _queue_is_empty():
            # Nothing waits in the queue, so an unleased pending row untouched for a
            # lease's time is in no message but one a worker took off the queue without
            # leasing its rows (Celery's consumer buffers a message before it is
            # "received"), and that worker died: Redis would hide it for an hour.
            lost = lost | Delivery.objects.filter(
                status=Delivery.Status.PENDING, lease_expires_at__isnull=True,
                updated_at__lt=now - dt.timedelta(seconds=leases.LEASE_SECONDS),
            )
        # Locked rows are skipped, not waited for: a worker inside its claim holds
        # them (they are about to be its own), or another sweep re-queues them. A
        # worker frozen in that transaction (SIGSTOP, a paused VM) would otherwise
        # stall this sweep, and every one after it, until it woke.
        lost = (
            lost.exclude(edition__on_hold=True)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        lost_ids = [i for i in lost if i not in requeue]
        # Touched, so the next sweep does not re-queue them again straight away.
        Delivery.objects.filter(id__in=lost_ids).update(updated_at=now, lease_expires_at=None)
        requeue.extend(lost_ids)
        counts["requeued"] = len(requeue)
        deliveries_queue(delivery_ids=requeue)
    # Beat runs this every SETTLE_EVERY_SECONDS: a line each time, INFO, buried the
    # batch lines the runbook reads. INFO only when it settled or re-queued a row.
    logger.log(logging.INFO if any(counts.values()) else logging.DEBUG,
               "stale deliveries settled: sent=%s requeued=%s in_flight=%s",
               counts["sent"], counts["requeued"], counts["in_flight"])
    return counts


# Rows send_digests leaves pending (a transient error) hold a lease this long: then
# the sweep queues them to the workers. No retry task of this process waits for them,
# so the batch task's longest backoff (RETRY_MAX_SECONDS, half an hour) was only a wait.
INLINE_RETRY_SECONDS = 60


def deliveries_send_inline(*, delivery_ids: Sequence[int], progress=None) -> BatchOutcome:
    """Send these rows in this process, batch after batch, as the batch task would
    (send_digests). `progress(done, total, outcome)` is called after each batch.
    Rows left pending by transient errors go to the workers about two minutes later
    (the sweep, once their INLINE_RETRY_SECONDS lease has ended)."""
    total = BatchOutcome()
    done = 0
    for batch in chunked(delivery_ids):
        outcome = digest_send_batch(delivery_ids=batch, retry_in=INLINE_RETRY_SECONDS)
        for name in ("sent", "failed", "skipped", "retry", "lost"):
            getattr(total, name).extend(getattr(outcome, name))
        done += len(batch)
        if progress is not None:
            progress(done, len(delivery_ids), total)
    return total
