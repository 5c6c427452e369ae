"""Celery entry points. Thin: they take ids and ISO dates, call one function, and
own retries and time limits (STYLE.md §3)."""

import datetime as dt
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_received
from django.utils import timezone

logger = logging.getLogger(__name__)

# The morning fetch, when the API is down: the HTTP client already retried within
# seconds (newsletter/ingest.py); the task tries again with the batches' backoff
# (delivery.retry_countdown: 1, 2, 4, 8, 16 minutes, then every half hour, each up to
# half as long again) this many times: 12 to 18 hours, so an outage of the morning
# still brings the day's list to every reader whose hour comes after it (until then
# readers get nothing new, and nothing twice).
FETCH_RETRIES = 28
# A weekday's list still empty at the morning fetch (nothing listed yet that day):
# tried again every half hour (less than the broker's visibility timeout, so no
# retry is delivered twice) until noon UTC of its day. The papers then reach the
# readers whose hour comes after, and those whose hour passed at the next run
# (newsletter/due.py). Before, the day counted as quiet: its list, filled later,
# reached no digest.
EMPTY_LIST_RETRY_SECONDS = 1800
EMPTY_LIST_UNTIL = dt.time(12, 0)


def _least_wait(retries: int, max_retries: int) -> int:
    """The seconds from the attempt that failed after `retries` retries to the last
    retry at the earliest (delivery.retry_countdown without its added spread)."""
    from .delivery import retry_wait_base

    return sum(retry_wait_base(n) for n in range(retries, max_retries))


@shared_task(bind=True, max_retries=FETCH_RETRIES)
def papers_fetch_today(self, date: str | None = None) -> int:
    """Fetch a Daily Papers date (by default today's, UTC) and upsert it, then the
    list before it again, now complete (ingest.papers_fetch_morning). While the API
    is unreachable (ingest.IngestUnavailable is a ConnectionError) it is tried again,
    for the same date: a retry after midnight still fetches the day it was for; so it
    is when a rate-limited API's Retry-After waits take the task past its soft time
    limit. A malformed response (IngestError) is not retried: it would be refused
    again. A weekday's list still empty is tried again until noon UTC
    (EMPTY_LIST_UNTIL). Every attempt's outcome is recorded for the editors
    (ingest.paper_fetch_record, models.PaperFetch)."""
    from .delivery import retry_countdown
    from .ingest import (
        IngestError,
        paper_fetch_failure_record,
        paper_fetch_record,
        papers_fetch_morning,
    )
    from .models import PaperFetch

    day = dt.date.fromisoformat(date) if date else timezone.now().date()
    now = timezone.now()
    # Every attempt is recorded (ingest.paper_fetch_record) for the editors' pages.
    try:
        result = papers_fetch_morning(today=day)
    except (ConnectionError, TimeoutError, SoftTimeLimitExceeded) as exc:
        countdown = retry_countdown(self.request.retries)
        tries_left = self.max_retries - self.request.retries
        paper_fetch_failure_record(
            date=day, at=now, exc=exc,
            next_attempt_at=now + dt.timedelta(seconds=countdown) if tries_left > 0 else None,
            tries_until=now + dt.timedelta(seconds=_least_wait(self.request.retries, self.max_retries))
            if tries_left > 0 else None,
        )
        raise self.retry(exc=exc, kwargs={"date": day.isoformat()}, countdown=countdown) from exc
    except IngestError as exc:
        paper_fetch_failure_record(date=day, at=now, exc=exc)
        raise
    until = dt.datetime.combine(day, EMPTY_LIST_UNTIL, tzinfo=dt.UTC)
    total = result.total
    again = not total and day.weekday() < 5 and now < until
    paper_fetch_record(
        date=day, at=now, result=result,
        outcome=PaperFetch.Outcome.IMPORTED if total else PaperFetch.Outcome.EMPTY,
        next_attempt_at=now + dt.timedelta(seconds=EMPTY_LIST_RETRY_SECONDS) if again else None,
        tries_until=until if again else None,
    )
    if again:
        logger.info("Daily Papers for %s lists nothing yet: trying again in %d minutes",
                    day.isoformat(), EMPTY_LIST_RETRY_SECONDS // 60)
        raise self.retry(kwargs={"date": day.isoformat()}, countdown=EMPTY_LIST_RETRY_SECONDS)
    return total


@shared_task
def digests_dispatch() -> int:
    """Every 15 minutes: settle stale deliveries and queue the readers due now."""
    from .delivery import digests_dispatch as dispatch

    return dispatch(now=timezone.now())


@shared_task
def deliveries_settle() -> dict:
    """Every 20 seconds: settle deliveries whose worker stopped renewing its lease."""
    from .delivery import deliveries_resolve_stale

    return deliveries_resolve_stale(now=timezone.now())


@shared_task
def page_tag_debts_settle() -> int:
    """Every minute: bump the public pages' tags a process could not bump while Redis
    was away, in case that process is gone (newsletter/page_cache.py)."""
    from .page_cache import tag_debts_settle

    bumped = tag_debts_settle()
    if bumped:  # Celery's own lines for this task are DEBUG (config/celery.py, QUIET_TASKS)
        logger.info("public pages changed while Redis was away refreshed: %s tags", bumped)
    return bumped


@shared_task
def sessions_clear() -> None:
    """Every day: delete the expired sign-in sessions (editors'), which Django leaves
    in the database until `clearsessions` runs; nothing ran it, so every sign-in
    stayed a row for good (an operator's upgrade walkthrough)."""
    from importlib import import_module

    from django.conf import settings

    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


# A run of the forgetting stopped by the task's time limit goes on this long after.
RETENTION_CONTINUE_SECONDS = 60


@shared_task(bind=True)
def personal_data_forget(self) -> dict:
    """Every day: forget what is past its time (docs/data-retention.md): readers who
    never confirmed, readers who left the list, the ledger's rows and the ESP's
    events past LEDGER_KEPT_DAYS, the events' payloads (retention.retention_apply).
    Each batch is committed as it is done, so a run stopped by the soft time limit
    (CELERY_TASK_SOFT_TIME_LIMIT, 9 minutes) keeps what it did, and queues the rest
    RETENTION_CONTINUE_SECONDS later, until it is all done: the first run on a
    deploy that had kept a long ledger (4 million rows: about 8 minutes) finishes
    that day by itself. It stopped there and left the rest, the ESP's events
    included, for the next day's run (and the next)."""
    from dataclasses import asdict

    from .retention import retention_apply

    try:
        return asdict(retention_apply())
    except SoftTimeLimitExceeded:
        logger.warning("data retention reached the task's time limit with more to forget: "
                       "what it did is kept, the rest goes on in %s s", RETENTION_CONTINUE_SECONDS)
        self.apply_async(countdown=RETENTION_CONTINUE_SECONDS)
        return {"continues": True}


@shared_task(soft_time_limit=240, time_limit=280)
def papers_missing_rescore() -> int:
    """Every 5 minutes: embed and score, newest first, a share of the papers left
    without a vector (after an upgrade of the relevance model: bootstrap scores the
    papers digests can pick and leaves the rest here). Each chunk is committed as it
    is done, so a run cut short keeps what it did."""
    from .relevance import RESCORE_BACKGROUND_LIMIT
    from .relevance import papers_missing_rescore as rescore

    return rescore(limit=RESCORE_BACKGROUND_LIMIT)


@shared_task
def papers_pictures_fetch(paper_ids: list[int]) -> dict:
    """After an import: fetch the new and changed papers' pictures, so pages and the
    digests know which cannot be had before a reader sees a broken one
    (pictures.pictures_fetch; a failure is asked again later, newsletter/pictures.py)."""
    from .pictures import pictures_fetch

    return pictures_fetch(paper_ids=paper_ids)


@shared_task(soft_time_limit=480, time_limit=540)
def papers_pictures_missing_fetch() -> dict:
    """Every 30 minutes: fetch again the pictures of the week's papers that could not
    be had (pictures.pictures_missing_fetch): one the CDN would not give for a while
    comes back to the pages and the digests not sent yet."""
    from .pictures import pictures_missing_fetch

    return pictures_missing_fetch()


@shared_task
def edition_send_now(edition_id: int, now: str) -> int:
    """An editor's "Send now" (curation.edition_send_now): the edition's pictures,
    then its readers who have not had it, as beat's run sends them."""
    from .curation import edition_send_now_run

    return edition_send_now_run(edition_id=edition_id, now=dt.datetime.fromisoformat(now))


@shared_task(bind=True, max_retries=None)
def digest_send_batch(self, delivery_ids: list[int]) -> dict:
    """Send one batch of digests. Rows hit by a transient provider error come back
    pending and are retried here with exponential backoff and jitter; the ledger
    (newsletter/delivery.py) caps attempts per row and makes a retry or a
    redelivered message send nothing twice."""
    from . import delivery

    # Chosen before the batch: rows sent back to pending hold a lease until then.
    countdown = delivery.retry_countdown(self.request.retries)
    outcome = delivery.digest_send_batch(delivery_ids=delivery_ids, retry_in=countdown)
    if outcome.retry:
        raise self.retry(kwargs={"delivery_ids": outcome.retry}, countdown=countdown)
    return {"sent": len(outcome.sent), "failed": len(outcome.failed), "skipped": len(outcome.skipped)}


@task_received.connect
def _batch_received(sender=None, request=None, **kwargs) -> None:
    """A worker took a batch's message off the queue: lease its rows until the batch
    runs (newsletter/leases.py, deliveries_reserve). Not for a retry waiting for
    its countdown: its rows already hold a lease until then."""
    if request is None or request.name != digest_send_batch.name or request.eta:
        return
    from .leases import deliveries_reserve

    ids = request.kwargs.get("delivery_ids") or (request.args[0] if request.args else [])
    try:
        deliveries_reserve(delivery_ids=ids)
    except Exception:  # the batch still runs; only its recovery after a crash is slower
        logger.exception("could not lease %s received deliveries", len(ids))
