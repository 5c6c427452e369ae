"""/health/ for a load balancer or an uptime monitor: the database answers, Redis
(broker, cache, send journal) answers, beat sent the dispatcher recently, and a
worker ran it.
200 when all pass, 503 naming the check that failed. No personal data, no
settings; cheap enough to poll every few seconds. Each process keeps its answer for
settings.HEALTH_ANSWER_SECONDS: the page is public, and a flood of requests cost
four queries and a Redis connection each (a security review, 7 December 2026); now
one round of checks a process per interval, and a probe every few seconds still
sees a change within it.

Not the morning fetch of papers (models.PaperFetch): Hugging Face unreachable for
hours is not this site failing, and a 503 here would have a load balancer take the
public pages and the unsubscribe links out of service for it (readers whose hour
comes meanwhile get nothing new: tasks.FETCH_RETRIES). The dashboard and the
edition page say what the fetch met, and when it is tried again.

Beat first runs the dispatcher up to 15 minutes after it starts, so in the first
STARTING_SECONDS after the installation's first start (when its database was
migrated) a dispatcher that never ran is "starting": 200 with a note. After that it
is "beat stopped": 503."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

DISPATCH_TASK = "newsletter.tasks.digests_dispatch"
# The dispatcher's interval (newsletter/schedules.py) plus a margin.
STARTING_SECONDS = 20 * 60


class Starting(Exception):
    """Not failing: too early to tell (module docstring)."""


def first_started_at() -> dt.datetime | None:
    """When this installation first started: its first migration's time."""
    from django.db.migrations.recorder import MigrationRecorder

    return (
        MigrationRecorder.Migration.objects.filter(app="newsletter", name="0001_initial")
        .values_list("applied", flat=True).first()
    )


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def redis_check() -> str:
    """"ok"; raises redis.RedisError when Redis does not answer (the health page, send_digests)."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _beat(now: dt.datetime) -> str:
    from django_celery_beat.models import PeriodicTask

    task = (
        PeriodicTask.objects.filter(task=DISPATCH_TASK, enabled=True)
        .order_by("-last_run_at").only("last_run_at").first()
    )
    if task is None:
        raise RuntimeError("the dispatcher is not scheduled")
    if task.last_run_at is None:
        started = first_started_at()
        if started is not None and now - started < dt.timedelta(seconds=STARTING_SECONDS):
            raise Starting(
                f"starting: first started {int((now - started).total_seconds() // 60)} minutes ago; "
                "the dispatcher first runs within 15 minutes of beat's start"
            )
        raise RuntimeError("beat stopped: the dispatcher has never run")
    age = now - task.last_run_at
    if age > dt.timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS):
        raise RuntimeError(
            f"beat stopped: the dispatcher last ran {int(age.total_seconds() // 60)} minutes ago"
        )
    return f"ok (last run {int(age.total_seconds())} s ago)"


def _workers(now: dt.datetime) -> str:
    """A worker runs the dispatcher that beat sends: the current edition's last
    dispatcher run (Edition.dispatched_at, kept in the database, so a restarted Redis
    forgets nothing) is recent. With beat alive and every worker gone, beat's own
    record (_beat) stays fresh while no digest goes out. Nothing to tell with no
    edition of the last days with papers (editions.edition_current's rule), or one an
    editor holds."""
    from .editions import EDITION_MAX_AGE_DAYS
    from .models import Edition

    today = now.astimezone(dt.UTC).date()
    edition = (
        Edition.objects.filter(date__range=(today - dt.timedelta(days=EDITION_MAX_AGE_DAYS), today),
                               entries__isnull=False)
        .order_by("-date").only("date", "on_hold", "dispatched_at", "created_at").first()
    )
    if edition is None or edition.on_hold:
        return "ok (no edition to send)"
    last = edition.dispatched_at or edition.created_at
    age = now - last
    if age > dt.timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS):
        done = "last dispatched" if edition.dispatched_at else "made, never dispatched,"
        raise RuntimeError(
            f"no dispatcher run has finished for {int(age.total_seconds() // 60)} minutes (the edition of "
            f"{edition.date.isoformat()} was {done} then): no worker is taking tasks, or the task "
            "fails (the worker's log says which)"
        )
    return f"ok (the dispatcher last ran {int(age.total_seconds())} s ago)"


# A probe every few seconds during an outage: the failure is logged once a minute per
# check, per process.
_LOG_EVERY = dt.timedelta(minutes=1)
_logged_at: dict[str, dt.datetime] = {}


def _log_due(name: str, now: dt.datetime) -> bool:
    last = _logged_at.get(name)
    if last is not None and now - last < _LOG_EVERY:
        return False
    _logged_at[name] = now
    return True


def health_check(*, now: dt.datetime | None = None) -> tuple[str, dict[str, str]]:
    """("ok" | "starting" | "fail", a line per check)."""
    now = now or timezone.now()
    results: dict[str, str] = {}
    status = "ok"
    for name, check in (("database", _database), ("redis", redis_check), ("beat", lambda: _beat(now)),
                        ("workers", lambda: _workers(now))):
        try:
            results[name] = check()
        except Starting as note:
            status = "starting" if status == "ok" else status
            results[name] = str(note)
        except RuntimeError as exc:  # our own verdicts (_beat, _workers): no detail of the machine
            status = "fail"
            results[name] = f"fail: {type(exc).__name__}: {exc}"[:300]
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            # A driver's message names hosts, ports and database roles ("connection to
            # server at 127.0.0.1, port 5432 failed: FATAL: role digest does not
            # exist"), and the page is public: the kind of error here, the whole of it
            # in the log.
            status = "fail"
            if _log_due(name, now):
                logger.error("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = f"fail: {type(exc).__name__} (the server's log has the details)"
    return status, results


# (when it was made, monotonic; its status; its checks), shared by this process's threads.
_answer: tuple[float, str, dict[str, str]] | None = None
_answer_lock = threading.Lock()


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    global _answer
    with _answer_lock:  # one round of checks at a time: a flood waits for it, not beside it
        if _answer is None or time.monotonic() - _answer[0] >= settings.HEALTH_ANSWER_SECONDS:
            _answer = (time.monotonic(), *health_check())
        _, status, checks = _answer
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "fail" else 200)
