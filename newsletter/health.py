"""/health/ for a load balancer or an uptime monitor: the database answers, Redis
(broker, cache, send journal) answers, and beat ran the dispatcher recently.
200 when all pass, 503 naming the check that failed. No personal data, no
settings; cheap enough to poll every few seconds."""

from __future__ import annotations

import datetime as dt

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

DISPATCH_TASK = "newsletter.tasks.digests_dispatch"


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _redis() -> str:
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
        raise RuntimeError("the dispatcher has never run")
    age = now - task.last_run_at
    if age > dt.timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS):
        raise RuntimeError(f"the dispatcher last ran {int(age.total_seconds() // 60)} minutes ago")
    return f"ok (last run {int(age.total_seconds())} s ago)"


def health_check(*, now: dt.datetime | None = None) -> tuple[bool, dict[str, str]]:
    now = now or timezone.now()
    results: dict[str, str] = {}
    healthy = True
    for name, check in (("database", _database), ("redis", _redis), ("beat", lambda: _beat(now))):
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            healthy = False
            results[name] = f"fail: {type(exc).__name__}: {exc}"[:300]
    return healthy, results


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    healthy, checks = health_check()
    return JsonResponse({"status": "ok" if healthy else "fail", "checks": checks},
                        status=200 if healthy else 503)
