"""The default Celery beat schedules, kept in django-celery-beat's tables so editors
can change them in the admin. `schedules_ensure` creates missing ones and leaves
ones an editor changed alone."""

import datetime as dt

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

# When a day's papers are fetched (UTC): a reader who had the newest edition gets
# the next one from then on (newsletter/due.py, next_digest_at).
MORNING_FETCH = dt.time(5, 30)

# name shown in the admin -> (task, crontab fields, or {"every": seconds})
DEFAULT_SCHEDULES = {
    "Fetch today's trending papers (every morning)": (
        "newsletter.tasks.papers_fetch_today",
        {"minute": str(MORNING_FETCH.minute), "hour": str(MORNING_FETCH.hour), "day_of_week": "*"},
    ),
    # Readers choose a local hour; every 15 minutes also covers half- and
    # quarter-hour time zones and settles stale deliveries within a quarter hour.
    "Send the digests due now (every 15 minutes)": (
        "newsletter.tasks.digests_dispatch",
        {"minute": "*/15", "hour": "*", "day_of_week": "*"},
    ),
    # A dead worker's readers wait for its lease to lapse (60 s) plus this interval:
    # newsletter/delivery.py, rule 3, and SETTLE_EVERY_SECONDS there.
    "Settle deliveries of dead workers (every 20 seconds)": (
        "newsletter.tasks.deliveries_settle",
        {"every": 20},
    ),
    # After an upgrade of the relevance model: the papers bootstrap left without a
    # vector (older than the digests' week), 300 a run (newsletter/relevance.py).
    "Score papers left without a vector (every 5 minutes)": (
        "newsletter.tasks.papers_missing_rescore",
        {"every": 300},
    ),
    # An editor's change made while Redis was away: the pages stored before it are not
    # served for longer than this once Redis is back, even if the process that made
    # the change is gone (newsletter/page_cache.py, PageTagDebt).
    "Refresh public pages changed while Redis was away (every minute)": (
        "newsletter.tasks.page_tag_debts_settle",
        {"every": 60},
    ),
    # A reader who unsubscribed while Redis was away still gets the goodbye email
    # (subscribers/models.py, OwedEmail).
    "Send the emails owed since Redis was away (every minute)": (
        "subscribers.tasks.owed_emails_send",
        {"every": 60},
    ),
}


@transaction.atomic
def schedules_ensure() -> list[str]:
    """Create each default schedule that does not exist yet; return the names created."""
    created = []
    for name, (task, cron) in DEFAULT_SCHEDULES.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if "every" in cron:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=cron["every"], period=IntervalSchedule.SECONDS
            )
            PeriodicTask.objects.create(name=name, task=task, interval=interval)
        else:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                **cron, day_of_month="*", month_of_year="*", timezone="UTC"
            )
            PeriodicTask.objects.create(name=name, task=task, crontab=crontab)
        created.append(name)
    return created
