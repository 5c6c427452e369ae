"""Sending the daily digest exactly once: dispatch, the ledger, batch sends.

Fan-out in two steps (STYLE.md §4). `digests_dispatch` (beat, every 15 minutes)
selects in one query the readers due now, writes a pending `Delivery` row per
(reader, edition) — unique, so two dispatchers or two ticks create each row once —
and queues batches of delivery ids after commit. `digest_send_batch` claims its
rows, ranks the batch from data loaded once, renders and sends over one
connection, and records each outcome.

The ledger rules (what "exactly once" means here):
1. A row is sent only by whoever moves it pending -> sending (`deliveries_claim`:
   SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, then one UPDATE of the rows
   found pending under that lock). A retried task, a redelivered message or a second batch holding
   the same ids finds nothing pending and sends nothing.
2. Outcomes are written in one UPDATE at the end of the batch (sent + provider
   message id, failed + reason, skipped, or back to pending for a retry), which
   keeps a batch's queries constant. Between the claim and that write, every send is
   journalled in Redis as it happens: "attempting" right before the provider call,
   "sent:<message id>" right after it (`_journal_*`).
3. A worker killed mid-batch leaves its rows in `sending`. `deliveries_resolve_stale`
   (run by every dispatcher tick) looks at rows claimed more than STALE_AFTER ago —
   longer than the task time limit, so their worker is certainly gone — and reads
   the journal:
     - "sent:<id>": it went out; the row is marked sent (never sent twice);
     - no entry: never attempted; back to pending and re-queued (never skipped);
     - "attempting": the worker died during the provider call. Anymail cannot ask
       the ESP whether it accepted the message, so we choose AT-LEAST-ONCE: the row
       is re-queued. The residual risk is one duplicate per killed worker, only for
       the single message in flight at the moment of death; skipping a reader's
       digest silently was judged worse. It is logged as a warning.
   Pending rows untouched for STALE_AFTER (a queued message lost with the broker)
   are re-queued too; claiming makes an extra message harmless.
4. Transient provider errors (timeouts, connection errors, 429, 5xx) stop the batch
   (more requests would meet the same outage or rate limit); the failed row and the
   rest go back to pending and the task retries them with exponential backoff and
   jitter, up to MAX_ATTEMPTS. Permanent errors (refused or invalid address, other
   4xx) fail that row only, with the reason, and the batch goes on.
If Redis (the journal) is lost together with a crashed worker, rule 3 would treat
sent rows as never attempted: Redis should persist (appendonly) in production."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice

import redis
from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.conf import settings
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from subscribers.models import Subscriber, Suppression
from subscribers.selectors import email_hash
from subscribers.tokens import subscriber_links, subscriber_manage_url

from .archive import delivery_view_url
from .digest_render import DigestProof, digest_proof
from .editions import edition_current, edition_freeze, note_html
from .feedback import feedback_url, subscriber_fingerprint
from .models import Delivery, Edition, Topic
from .ranking import (
    DigestSelection,
    RankedPaper,
    RankingData,
    digest_candidates,
    digest_select,
    ranking_data_load,
)
from .rendering import email_base_context
from .sending import email_message

logger = logging.getLogger(__name__)

# Readers per batch task. Big enough that the per-batch loads (papers, topic scores,
# feedback, already-sent ids: a fixed handful of queries) are shared by many
# readers; small enough that a batch (~1 s of rendering plus one ESP call per
# reader) ends far inside the task time limit and a crash or retry touches few.
BATCH_SIZE = 100
# A dispatch of this many rows or more refreshes the ledger's planner statistics.
ANALYZE_AFTER_ROWS = 10_000
# Total tries of one delivery against transient provider errors.
MAX_ATTEMPTS = 5
# Backoff of retries: BASE x 2^retry seconds, capped, plus up to 50 % jitter so
# batches hit by the same outage do not come back in lockstep.
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 30 * 60
# How long a Redis journal entry lives: longer than any claim can stay unresolved.
JOURNAL_TTL_SECONDS = 3 * 24 * 3600
# HTTP statuses an ESP uses for "try again later".
TRANSIENT_STATUSES = {408, 429}
DIGEST_TEMPLATE = "digest"
# About two lines at 600 px: the reader scans, the link has the rest.
ABSTRACT_MAX_CHARS = 160


def stale_after() -> dt.timedelta:
    """A claim older than this belongs to a dead worker: the task time limit (after
    which Celery kills it) plus a margin."""
    return dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 300)


def chunked(items: Iterable[int], size: int | None = None) -> Iterator[list[int]]:
    size = size or BATCH_SIZE
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- Who is due --------------------------------------------------------------------


def _local_slots(*, now: dt.datetime, time_zones: Iterable[str]) -> dict[tuple[int, int], list[str]]:
    """Group time zones by their (local hour, local weekday) at `now`: done in Python
    over the distinct zones, so the due query is a plain IN per group."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    slots: dict[tuple[int, int], list[str]] = {}
    for name in time_zones:
        try:
            local = now.astimezone(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown time zone %r: its readers are treated as UTC", name)
            local = now.astimezone(dt.UTC)
        slots.setdefault((local.hour, local.weekday()), []).append(name)
    return slots


def _schedule_q(*, hour: int, weekday: int, time_zones: list[str]) -> Q:
    """Readers of these zones whose digest is due at this local hour and weekday:
    daily readers on weekdays (Daily Papers has no weekend lists), weekly readers
    on their chosen weekday."""
    due_day = Q(frequency=Subscriber.Frequency.WEEKLY, weekday=weekday)
    if weekday < 5:
        due_day |= Q(frequency=Subscriber.Frequency.DAILY)
    return Q(time_zone__in=time_zones, delivery_hour=hour) & due_day


def subscribers_receiving(*, now: dt.datetime):
    """Readers who get digests at all: active, or paused until a date that has come
    (a pause ends by itself: subscribers/services.py sends again "from paused_until
    on"). Suppressed and unsubscribed readers have their own statuses; suppressed
    addresses are checked again at send time."""
    today = now.astimezone(dt.UTC).date()
    return Subscriber.objects.filter(
        Q(status=Subscriber.Status.ACTIVE, paused_until__isnull=True)
        | Q(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED], paused_until__lte=today)
    )


def subscribers_due(*, now: dt.datetime, edition: Edition, any_hour: bool = False):
    """Readers due for `edition` at `now` with no delivery of it yet: ONE query.
    Served by subscriber_due_idx (delivery_hour, time_zone WHERE status in ...)."""
    receiving = subscribers_receiving(now=now)
    not_yet = ~Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), edition=edition))
    if any_hour:
        return receiving.filter(not_yet)
    time_zones = receiving.values_list("time_zone", flat=True).distinct().order_by()
    slots = _local_slots(now=now, time_zones=list(time_zones))
    schedule = Q(pk__in=[])
    for (hour, weekday), zones in slots.items():
        schedule |= _schedule_q(hour=hour, weekday=weekday, time_zones=zones)
    return receiving.filter(schedule).filter(not_yet)


def deliveries_create(*, edition: Edition, subscriber_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Pending ledger rows for these readers (a row that exists already is left
    alone: the unique (subscriber, edition) constraint decides) and the ids of the
    pending rows to queue. Freezes the edition: its first digest is going out."""
    if not subscriber_ids:
        return []
    edition_freeze(edition=edition, now=now)
    # In chunks, so a dispatch of 100,000 readers never holds 100,000 unsaved rows.
    for chunk in chunked(subscriber_ids, 1000):
        Delivery.objects.bulk_create(
            [Delivery(subscriber_id=sid, edition=edition) for sid in chunk], ignore_conflicts=True
        )
    if len(subscriber_ids) >= ANALYZE_AFTER_ROWS and db_connection.vendor == "postgresql":
        # The send batches start at once; autovacuum would refresh the planner's
        # statistics only minutes later, and until then their queries were planned
        # for the table as it was before this dispatch (issue #6: at 100,000 readers
        # each batch's statements cost 40 % more than at 10,000).
        with db_connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {db_connection.ops.quote_name(Delivery._meta.db_table)}")
    return list(
        Delivery.objects.filter(
            edition=edition, subscriber_id__in=subscriber_ids, status=Delivery.Status.PENDING
        ).order_by("id").values_list("id", flat=True)
    )


def _queue_batches(delivery_ids: Sequence[int]) -> int:
    from .tasks import digest_send_batch

    batches = list(chunked(delivery_ids))
    for batch in batches:
        # After commit: a worker must find the rows this transaction wrote.
        digest_send_batch.delay_on_commit(batch)
    return len(batches)


def digests_dispatch(*, now: dt.datetime | None = None) -> int:
    """The beat task's body: resolve stale rows, then queue today's edition for the
    readers due now. Returns the number of deliveries queued."""
    now = now or timezone.now()
    deliveries_resolve_stale(now=now)
    edition = edition_current(now=now)
    if edition is None or edition.on_hold:
        return 0
    with transaction.atomic():
        subscriber_ids = list(subscribers_due(now=now, edition=edition).values_list("id", flat=True))
        delivery_ids = deliveries_create(edition=edition, subscriber_ids=subscriber_ids, now=now)
        _queue_batches(delivery_ids)
    return len(delivery_ids)


# --- The journal (rule 2 and 3 of the module docstring) ---------------------------

_redis_client: redis.Redis | None = None


def _journal() -> redis.Redis:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis_client


def _journal_key(delivery: Delivery) -> str:
    # The claim time is part of the key: a row claimed again (after a retry) starts
    # a fresh entry, and ids reused by another database never collide.
    db = db_connection.settings_dict["NAME"]
    return f"digest:journal:{db}:{delivery.pk}:{delivery.claimed_at.timestamp():.6f}"


def _journal_write_many(entries: list[tuple[str, str]]) -> None:
    """Several entries in one round trip (a pipeline, not a transaction: each SET
    stands on its own). A "sent" entry that cannot be written is logged, not raised:
    the batch's ledger write records the send all the same."""
    pipe = _journal().pipeline(transaction=False)
    for key, value in entries:
        pipe.set(key, value, ex=JOURNAL_TTL_SECONDS)
    try:
        pipe.execute()
    except redis.RedisError:
        if entries[-1][1] == "attempting":
            raise
        logger.exception("digests sent, but the journal could not record them: %s", entries)


# --- Claiming and sending ------------------------------------------------------------


def deliveries_claim(*, delivery_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Move pending rows to sending; return the ids this caller now owns."""
    # Rows are found by primary key only and their status checked here, under the
    # lock: with `status = 'pending'` in the WHERE, PostgreSQL used the status index
    # and walked every pending entry of the morning's dispatch (dead ones included)
    # in every batch, so a batch cost more the larger the audience (issue #6).
    with transaction.atomic():
        rows = (
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(id__in=list(delivery_ids))
            .values_list("id", "status")
        )
        ids = [pk for pk, status in rows if status == Delivery.Status.PENDING]
        if ids:
            Delivery.objects.filter(id__in=ids).update(
                status=Delivery.Status.SENDING, claimed_at=now, updated_at=now
            )
    return ids


def error_is_transient(exc: BaseException) -> bool:
    """Worth retrying later: rate limits, server errors, timeouts, lost connections."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return False
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        if status is None:
            # No HTTP status: the request never got an answer (network failure).
            return isinstance(exc, AnymailRequestsAPIError)
        return status in TRANSIENT_STATUSES or status >= 500
    return isinstance(exc, OSError | TimeoutError)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # some ESP errors cannot describe themselves
        text = repr(exc.args)
    return f"{type(exc).__name__}: {text}"[:2000]


def retry_countdown(retries: int) -> int:
    base = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
    return int(base + random.uniform(0, base / 2))


@dataclass
class BatchOutcome:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)  # back to pending; the task retries them


def _abstract_short(paper) -> str:
    text = (paper.ai_summary or paper.abstract or "").strip()
    if len(text) <= ABSTRACT_MAX_CHARS:
        return text
    return text[:ABSTRACT_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _feedback_links(subscriber: Subscriber, paper, fingerprint: str) -> dict:
    return {
        "more_url": feedback_url(subscriber=subscriber, paper=paper, vote=1, fingerprint=fingerprint),
        "less_url": feedback_url(subscriber=subscriber, paper=paper, vote=-1, fingerprint=fingerprint),
    }


def _paper_context(ranked: RankedPaper, n: int = 0, links: dict | None = None) -> dict:
    paper = ranked.paper
    return {
        "id": paper.id,
        "n": n,
        "title": paper.title,
        "url": paper.url or paper.arxiv_url,
        "byline": paper.byline,
        "upvotes": paper.upvotes,
        "num_comments": paper.num_comments,
        # Chips for the topics the "why" line does not already name.
        "topics": [t for t in ranked.topics if t not in ranked.reason][:3],
        "reason": ranked.reason,
        "abstract": _abstract_short(paper),
        "arxiv_url": paper.arxiv_url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.github_repo,
        "pinned": paper.pinned,
        **(links or {}),
    }


@lru_cache(maxsize=16)
def _note_html(note: str) -> str:
    """The editor's note is the same in every digest of an edition: Markdown and the
    sanitiser run once per note and process, not once per reader."""
    return note_html(note)


def edition_browser_url(edition: Edition) -> str:
    """The public archive page of the edition (newsletter/views, issue #4 item 7)."""
    return f"{settings.SITE_URL}/editions/{edition.date.isoformat()}/"


def subject_title(title: str, limit: int = 90) -> str:
    return title if len(title) <= limit else title[: limit - 1].rsplit(" ", 1)[0] + "…"


# Inboxes show about this much of a subject on a phone; past it the count is cut off.
SUBJECT_MAX_CHARS = 70
# "TÜLU 3: Pushing Frontiers in ..." is known by what comes before the colon, when short.
SHORT_NAME_MAX_CHARS = 32


def _short_name(title: str) -> str:
    name, colon, _ = title.partition(":")
    return name.strip() if colon and 0 < len(name.strip()) <= SHORT_NAME_MAX_CHARS else title.strip()


def digest_subject(*, site_name: str, date: dt.date, weekly: bool, titles: Sequence[str]) -> str:
    """"Daily Papers Digest, Mon 24 Nov: RLP, TÜLU 3 +3": the brand, the date, as many
    papers (by short name, best first) as fit in SUBJECT_MAX_CHARS, and how many more."""
    head = f"{site_name}, {'week to ' if weekly else ''}{date:%a} {date.day} {date:%b}"
    if not titles:
        return head
    names = [_short_name(t) for t in titles]
    # Two papers known by the same short name ("Agents: ...", "Agents: ...") keep their titles.
    names = [n if names.count(n) == 1 else t for n, t in zip(names, titles, strict=True)]
    for shown in range(len(names), 0, -1):
        more = f" +{len(names) - shown}" if shown < len(names) else ""
        subject = f"{head}: {', '.join(names[:shown])}{more}"
        if len(subject) <= SUBJECT_MAX_CHARS:
            return subject
    more = f" +{len(names) - 1}" if len(names) > 1 else ""
    return f"{head}: {subject_title(names[0], SUBJECT_MAX_CHARS - len(head) - 2 - len(more))}{more}"


def _edition_context(*, edition: Edition, weekly: bool) -> dict:
    """What the digest templates use that is the same for every reader of an edition."""
    period = "this week" if weekly else "today"
    return {
        "edition": edition,
        "edition_date": edition.date,
        "weekly": weekly,
        "period": period,
        "note_html": _note_html(edition.note),
        "note_text": edition.note.strip(),
    }


def digest_context(
    *, edition: Edition, selection: DigestSelection, subscriber: Subscriber | None = None,
    manage_url: str | None = None,
) -> dict:
    """Everything digest.subject.txt / digest.txt / digest.mjml use. `manage_url`:
    the reader's, when the caller made it already (subscriber_links)."""
    if subscriber is not None:
        fingerprint = subscriber_fingerprint(subscriber=subscriber)
        papers = [
            _paper_context(r, n, _feedback_links(subscriber, r.paper, fingerprint))
            for n, r in enumerate(selection.papers, 1)
        ]
    else:
        papers = [_paper_context(r, n) for n, r in enumerate(selection.papers, 1)]
    # Also-trending items carry no feedback links (the templates show none).
    also = [_paper_context(r) for r in selection.also_trending]
    lead = (papers or also or [None])[0]
    total = len(papers) or len(also)
    weekly = subscriber is not None and subscriber.frequency == Subscriber.Frequency.WEEKLY
    context = _edition_context(edition=edition, weekly=weekly)
    period = context["period"]
    subject = digest_subject(
        site_name=email_base_context()["site_name"], date=edition.date, weekly=weekly,
        titles=[p["title"] for p in papers or also],
    )
    summary = preheader = ""
    if lead:
        summary = f"{total} paper{'s' if total != 1 else ''} picked for you {period}"
        if not papers:
            summary = f"{total} trending paper{'s' if total != 1 else ''} {period}"
        preheader = summary
        if papers and papers[0]["reason"]:
            preheader += f" — {papers[0]['reason']}"
    return {
        **context,
        "papers": papers,
        "also_trending": also,
        "also_heading": (
            f"ALSO TRENDING {period.upper()}" if papers
            else f"NOTHING MATCHED YOUR TOPICS {period.upper()}; TRENDING INSTEAD"
        ),
        "subject": subject,
        "summary": summary,  # the header's line under the date
        "preheader": preheader,
        "view_in_browser_url": edition_browser_url(edition),
        "manage_url": manage_url or (subscriber_manage_url(subscriber=subscriber) if subscriber else ""),
    }


def digest_proof_context(*, edition: Edition, weekly: bool, data: RankingData) -> dict:
    """The context of the proof every digest of the edition is assembled from
    (digest_render.py): each candidate paper as a card and as an also-trending item."""
    candidates = digest_candidates(date=edition.date, weekly=weekly, data=data)
    papers = [
        _paper_context(RankedPaper(
            paper=p, score=0, relevance=0, reason="",
            topics=[h.name for h in data.topic_hits.get(p.id, [])[:1]],
        ))
        for p in candidates
    ]
    return {**_edition_context(edition=edition, weekly=weekly), "papers": papers, "also_trending": papers}


def _suppressed_emails(emails: Iterable[str]) -> set[str]:
    by_hash = {email_hash(e): e for e in emails}
    found = Suppression.objects.filter(email_hash__in=list(by_hash)).values_list("email_hash", flat=True)
    return {by_hash[h] for h in found}


# Columns a batch never reads: not loaded, as turning timestamps into aware
# datetimes for 100 rows showed in the issue #6 profile. A batch that read one would
# run a query per row; tests/newsletter/test_batch_queries.py pins the count.
_BATCH_DEFERRED = (
    "created_at",
    *(f"subscriber__{name}" for name in (
        "status_changed_at", "weekday", "delivery_hour", "time_zone", "source",
        "confirmation_sent_at", "confirmed_at", "unsubscribed_at", "created_at", "updated_at",
    )),
    "edition__created_at", "edition__updated_at", "edition__frozen_at",
)


def _deliveries_load(ids: Sequence[int]) -> list[Delivery]:
    return list(
        Delivery.objects.filter(id__in=ids)
        .select_related("subscriber", "edition")
        .defer(*_BATCH_DEFERRED)
        # Ranking needs the readers' topic ids only (ranking.digest_select).
        .prefetch_related(Prefetch("subscriber__topics", queryset=Topic.objects.only("id")))
        .order_by("id")
    )


def digest_send_batch(*, delivery_ids: Sequence[int], now: dt.datetime | None = None) -> BatchOutcome:
    """Claim, rank, render and send a batch; record every outcome (module docstring).
    A fixed number of queries whatever the batch size.

    Every message of the batch is made before the first is sent (100 digests are a
    few MB), so the sending loop does nothing between two provider calls but one
    Redis round trip: the previous message's "sent" and this one's "attempting"."""
    now = now or timezone.now()
    started = time.monotonic()
    outcome = BatchOutcome()
    claimed = deliveries_claim(delivery_ids=delivery_ids, now=now)
    if not claimed:
        return outcome
    deliveries = _deliveries_load(claimed)
    for d in deliveries:
        d.claimed_at = now  # the journal key uses the claim time
    try:
        suppressed = _suppressed_emails(d.subscriber.email for d in deliveries)
        data_by_date = {}
        for date in sorted({d.edition.date for d in deliveries}):
            subscriber_ids = [d.subscriber_id for d in deliveries if d.edition.date == date]
            data_by_date[date] = ranking_data_load(date=date, subscriber_ids=subscriber_ids)
        proofs: dict[tuple[int, bool], DigestProof] = {}
        messages = []
        for delivery in deliveries:
            prepared = _prepare_one(delivery, data_by_date, proofs, suppressed, now, outcome)
            if prepared is not None:
                messages.append(prepared)
        _send_all(messages, outcome)
    finally:
        _outcomes_record(deliveries, now)
    _batch_log(deliveries, outcome, started)
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


def _still_receiving(subscriber: Subscriber, now: dt.datetime) -> bool:
    """subscribers_receiving() for one loaded reader, without a query."""
    today = now.astimezone(dt.UTC).date()
    if subscriber.paused_until is not None and subscriber.paused_until <= today:
        return subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
    return subscriber.status == Subscriber.Status.ACTIVE and subscriber.paused_until is None


def _proof_for(edition: Edition, weekly: bool, data: RankingData, proofs: dict) -> DigestProof:
    key = (edition.pk, weekly)
    if key not in proofs:
        proofs[key] = digest_proof(context=digest_proof_context(edition=edition, weekly=weekly, data=data))
    return proofs[key]


@dataclass
class _Prepared:
    delivery: Delivery
    message: object  # AnymailMessage
    paper_ids: list[int]


def _prepare_one(delivery, data_by_date, proofs, suppressed, now, outcome: BatchOutcome) -> _Prepared | None:
    """Rank and render one reader's digest; set the row's outcome in memory when it
    is not to be sent (suppressed, left, nothing to send) or cannot be made."""
    subscriber = delivery.subscriber
    if subscriber.email in suppressed:
        delivery.status, delivery.error = Delivery.Status.SKIPPED, "address suppressed"
        outcome.skipped.append(delivery.pk)
        return None
    if not _still_receiving(subscriber, now):
        # Left (or paused) after the dispatcher queued the row: the status was read
        # at the claim, so nobody who left before their batch started is mailed
        # (tests/chaos/test_fault_matrix.py).
        delivery.status, delivery.error = Delivery.Status.SKIPPED, f"reader {subscriber.status}"
        outcome.skipped.append(delivery.pk)
        return None
    edition = delivery.edition
    data = data_by_date[edition.date]
    selection = digest_select(subscriber=subscriber, date=edition.date, data=data)
    if selection.skip or not selection.paper_ids:
        delivery.status = Delivery.Status.SKIPPED
        delivery.error = "nothing matched and the reader skips such days"
        outcome.skipped.append(delivery.pk)
        return None
    try:
        manage_url, unsubscribe_url = subscriber_links(subscriber=subscriber)
        context = digest_context(
            edition=edition, selection=selection, subscriber=subscriber, manage_url=manage_url
        )
        # The reader's own copy, by a signed link (newsletter/archive.py).
        context["view_in_browser_url"] = delivery_view_url(delivery=delivery)
        context["unsubscribe_url"] = unsubscribe_url
        proof = _proof_for(edition, context["weekly"], data, proofs)
        message = email_message(
            to=subscriber.email,
            rendered=proof.render(context),
            unsubscribe_url=unsubscribe_url,
            tags=["digest"],
            metadata={"delivery_id": delivery.pk, "edition": edition.date.isoformat()},
        )
    except Exception as exc:  # recorded on the row; the batch goes on
        reason = _describe(exc)
        logger.exception("digest %s could not be made: %s", delivery.pk, reason)
        delivery.status, delivery.error = Delivery.Status.FAILED, reason
        outcome.failed.append(delivery.pk)
        return None
    return _Prepared(delivery, message, selection.paper_ids)


def _send_all(messages: list[_Prepared], outcome: BatchOutcome) -> None:
    """Send the batch's messages over one connection, journalling each (rule 2): its
    "attempting" goes to Redis in the same round trip as the previous message's
    "sent", so each "sent" is written before anything else happens, as before."""
    if not messages:
        return
    connection = get_connection()
    stopped: str | None = None
    sent_entry: tuple[str, str] | None = None  # (key, "sent:<id>") not yet written
    try:
        connection.open()
        for item in messages:
            delivery = item.delivery
            if stopped is not None:
                delivery.status, delivery.error = Delivery.Status.PENDING, f"not attempted: {stopped}"
                outcome.retry.append(delivery.pk)
                continue
            delivery.attempts += 1
            message = item.message
            message.connection = connection
            try:
                entries = [(_journal_key(delivery), "attempting")]
                if sent_entry is not None:
                    entries.insert(0, sent_entry)
                    sent_entry = None
                # Journalled before the call: if this fails, nothing was sent (retry later).
                _journal_write_many(entries)
                message.send()
            except Exception as exc:  # every failure is recorded on the row
                stopped = _send_failed(delivery, exc, outcome)
                continue
            message_id = message.anymail_status.message_id
            message_id = "" if message_id is None else str(message_id)
            sent_entry = (_journal_key(delivery), f"sent:{message_id}")
            delivery.status, delivery.sent_at = Delivery.Status.SENT, delivery.claimed_at
            delivery.provider_message_id, delivery.error = message_id, ""
            delivery.paper_ids = item.paper_ids
            outcome.sent.append(delivery.pk)
    finally:
        if sent_entry is not None:
            _journal_write_many([sent_entry])
        connection.close()


def _send_failed(delivery: Delivery, exc: BaseException, outcome: BatchOutcome) -> str | None:
    """Record a failed send on its row; return the reason when the error is transient
    and should stop the batch (rule 4)."""
    reason = _describe(exc)
    transient = error_is_transient(exc) or isinstance(exc, redis.RedisError)
    if transient and delivery.attempts < MAX_ATTEMPTS:
        logger.warning("digest %s: transient error, will retry: %s", delivery.pk, reason)
        delivery.status, delivery.error = Delivery.Status.PENDING, reason
        outcome.retry.append(delivery.pk)
        return reason
    if transient:
        reason = f"gave up after {delivery.attempts} attempts: {reason}"
    logger.error("digest %s failed: %s", delivery.pk, reason)
    delivery.status, delivery.error = Delivery.Status.FAILED, reason
    outcome.failed.append(delivery.pk)
    return None


def _outcomes_record(deliveries: list[Delivery], now: dt.datetime) -> None:
    """One UPDATE for the whole batch. A row still `sending` here (an exception
    escaped mid-batch) stays `sending` for deliveries_resolve_stale to settle from
    the journal."""
    done = [d for d in deliveries if d.status != Delivery.Status.SENDING]
    journal_keys = [_journal_key(d) for d in done]
    for d in done:
        d.updated_at = now
        if d.status == Delivery.Status.PENDING:
            d.claimed_at = None
    if done:
        _ledger_update(
            done,
            ["status", "attempts", "claimed_at", "sent_at", "provider_message_id", "error",
             "paper_ids", "updated_at"],
        )
        try:
            _journal().delete(*journal_keys)
        except redis.RedisError:  # entries expire by themselves
            pass


def _ledger_update(deliveries: list[Delivery], fields: list[str]) -> None:
    """bulk_update() as one UPDATE ... FROM (VALUES ...): the same single statement,
    without the CASE WHEN per row and per field that bulk_update builds, which cost
    more than rendering the digests (issue #6 profile, docs/benchmarks.md).
    PostgreSQL and SQLite >= 3.33 both run UPDATE ... FROM a VALUES CTE."""
    from django.db import connection as db

    opts = Delivery._meta
    model_fields = [opts.get_field(name) for name in fields]
    pk = opts.pk
    # PostgreSQL types a VALUES column from its values, so NULLs and strings need a
    # cast to the column's type; SQLite must not cast (CAST AS datetime is numeric).
    cast = db.vendor == "postgresql"
    columns = [pk, *model_fields]
    placeholder = "(" + ", ".join(
        f"%s::{f.db_type(db)}" if cast else "%s" for f in columns
    ) + ")"
    params: list = []
    for delivery in deliveries:
        params.append(pk.get_db_prep_save(delivery.pk, db))
        params += [f.get_db_prep_save(getattr(delivery, f.attname), db) for f in model_fields]
    q = db.ops.quote_name
    names = [q(f.column) for f in columns]
    table = q(opts.db_table)
    sql = (
        f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([placeholder] * len(deliveries))}) "
        f"UPDATE {table} SET "
        + ", ".join(f"{name} = v.{name}" for name in names[1:])
        + f" FROM v WHERE {table}.{names[0]} = v.{names[0]}"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params)


# --- Stale rows (rule 3) --------------------------------------------------------------


def deliveries_resolve_stale(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Settle rows a dead worker left in `sending`, and re-queue pending rows whose
    queued message was lost; see the module docstring for the rule."""
    now = now or timezone.now()
    cutoff = now - stale_after()
    counts = {"sent": 0, "requeued": 0, "in_flight": 0}
    with transaction.atomic():
        stale = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.SENDING, claimed_at__lt=cutoff)
        )
        entries = _journal().mget([_journal_key(d) for d in stale]) if stale else []
        requeue: list[int] = []
        for delivery, entry in zip(stale, entries, strict=True):
            entry = entry.decode() if entry else None
            delivery.updated_at = now
            if entry and entry.startswith("sent:"):
                delivery.status, delivery.sent_at = Delivery.Status.SENT, delivery.claimed_at
                delivery.provider_message_id = entry.removeprefix("sent:")
                delivery.error = ""
                counts["sent"] += 1
                continue
            if entry == "attempting":
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
                        "attempts", "updated_at"],
            )
        # Rows that must stay pending for a while (a retry countdown) are bounded by
        # RETRY_MAX_SECONDS < stale_after(); re-queuing them early is harmless.
        lost = Delivery.objects.filter(status=Delivery.Status.PENDING, updated_at__lt=cutoff)
        lost = lost.exclude(edition__on_hold=True).values_list("id", flat=True)
        lost_ids = [i for i in lost if i not in requeue]
        # Touched, so the next tick does not re-queue them again straight away.
        Delivery.objects.filter(id__in=lost_ids).update(updated_at=now)
        requeue.extend(lost_ids)
        counts["requeued"] = len(requeue)
        _queue_batches(requeue)
    return counts
