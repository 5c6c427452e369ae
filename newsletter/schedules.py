"""The default Celery beat schedules, kept in django-celery-beat's tables so they can
be changed in the admin: editors may move or switch off the morning fetch, the rest
is the machinery of sending and only superusers change it (newsletter/admin_beat.py).
`schedules_ensure` creates missing ones, gives each its description when it has
none, and leaves what was changed in the admin (time, switch, name) alone."""

import datetime as dt

from celery.schedules import crontab as celery_crontab
from django.db import transaction
from django.db.models import Q
from django.utils.dates import WEEKDAYS
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

# When a day's papers are fetched (UTC), by default: a reader who had the newest
# edition gets the next one from then on, and a reader whose hour holds it waits for
# it (newsletter/due.py). Editors may move it in the admin: `morning_fetch` reads it.
MORNING_FETCH = dt.time(5, 30)
MORNING_FETCH_TASK = "newsletter.tasks.papers_fetch_today"
# The schedule beat made by itself before CELERY_RESULT_EXPIRES was None
# (config/settings.py): schedules_ensure deletes it.
CELERY_BACKEND_CLEANUP_TASK = "celery.backend_cleanup"

PERSONAL_DATA_FORGET_SAYS = (
    "Erases the readers who never confirmed their address within 30 days of their last confirmation "
    "email, and those who unsubscribed or were suppressed over UNSUBSCRIBED_KEPT_DAYS ago (30 by "
    "default; their address stays only as a keyed hash, so it is never mailed again); deletes the "
    "digests' delivery rows and the ESP's events over LEDGER_KEPT_DAYS old (60 by default), keeping "
    "every edition's and the dashboard's figures; empties the ESP's events of what they said about "
    "readers (browser, country, links clicked) after 30 days. Switched off, all of it is kept for good.")

# Descriptions an earlier release gave a default schedule, by task: schedules_ensure
# gives such a schedule its current one (an administrator's own text stays).
DESCRIPTIONS_BEFORE = {
    "newsletter.tasks.personal_data_forget": [(
        "Deletes the readers who never confirmed their address within 30 days of their last "
        "confirmation email, and empties the ESP's events of what they said about readers "
        "(browser, country, links clicked) after 30 days. Switched off, both are kept for good.")],
}

# name shown in the admin -> (task, crontab fields or {"every": an interval}, description
# shown in the admin's list and page)
DEFAULT_SCHEDULES = {
    "Fetch today's trending papers (every morning)": (
        MORNING_FETCH_TASK,
        {"minute": str(MORNING_FETCH.minute), "hour": str(MORNING_FETCH.hour), "day_of_week": "*"},
        ("Fetches the day's trending papers from Hugging Face and makes the day's edition; "
        "it also fetches the weekday before again, for the papers listed late and the final "
        "upvotes. Readers whose hour comes before it get the day before's edition. Move it "
        "with “Every day at”; switched off, no new papers come in and readers get "
        "no new edition."),
    ),
    # Readers choose a local hour; every 15 minutes also covers half- and
    # quarter-hour time zones and settles stale deliveries within a quarter hour.
    "Send the digests due now (every 15 minutes)": (
        "newsletter.tasks.digests_dispatch",
        {"minute": "*/15", "hour": "*", "day_of_week": "*"},
        "Sends each reader the edition at their own local hour. Switched off, no digest goes out.",
    ),
    # A dead worker's readers wait for its lease to lapse (60 s) plus this interval:
    # newsletter/delivery.py, rule 3, and SETTLE_EVERY_SECONDS there.
    "Settle deliveries of dead workers (every 20 seconds)": (
        "newsletter.tasks.deliveries_settle",
        {"every": dt.timedelta(seconds=20)},
        ("Hands the readers of a worker that died mid-send to another, so each reader gets "
        "the edition once."),
    ),
    # After an upgrade of the relevance model: the papers bootstrap left without a
    # vector (older than the digests' week), 300 a run (newsletter/relevance.py).
    "Score papers left without a vector (every 5 minutes)": (
        "newsletter.tasks.papers_missing_rescore",
        {"every": dt.timedelta(minutes=5)},
        ("After an upgrade of the relevance model: scores the older papers that have no "
        "vector of it yet, 300 at a time. Does nothing when all are scored."),
    ),
    # A paper's picture the CDN would not give is shown by no page or digest
    # (newsletter/pictures.py): asked again, it comes back when the CDN gives it.
    "Fetch again the pictures that could not be had (every 30 minutes)": (
        "newsletter.tasks.papers_pictures_missing_fetch",
        {"every": dt.timedelta(minutes=30)},
        ("Asks Hugging Face again for the pictures of the week's papers it would not give; "
        "one it gives now shows again on the pages and in the digests not sent yet. Switched off, "
        "such a paper shows no picture until it is listed again."),
    ),
    # An editor's change made while Redis was away: the pages stored before it are not
    # served for longer than this once Redis is back, even if the process that made
    # the change is gone (newsletter/page_cache.py, PageTagDebt).
    "Refresh public pages changed while Redis was away (every minute)": (
        "newsletter.tasks.page_tag_debts_settle",
        {"every": dt.timedelta(minutes=1)},
        "Refreshes the public pages an editor changed while Redis was unreachable.",
    ),
    # Django keeps expired sessions until clearsessions runs.
    "Delete expired sign-ins (every day)": (
        "newsletter.tasks.sessions_clear",
        {"every": dt.timedelta(days=1)},
        "Deletes editors' sign-in sessions that have expired. Nobody is signed out by it.",
    ),
    # What is past its time (docs/data-retention.md; newsletter/retention.py).
    "Forget personal data past its time (every day)": (
        "newsletter.tasks.personal_data_forget",
        {"every": dt.timedelta(days=1)},
        PERSONAL_DATA_FORGET_SAYS,
    ),
    # A reader who unsubscribed while Redis was away still gets the goodbye email
    # (subscribers/models.py, OwedEmail).
    "Send the emails owed since Redis was away (every minute)": (
        "subscribers.tasks.owed_emails_send",
        {"every": dt.timedelta(minutes=1)},
        "Sends the emails owed while Redis was unreachable (a goodbye after an unsubscribe).",
    ),
}


# Beat's interval periods longer than a second, longest first, with their length in seconds.
INTERVAL_PERIODS = ((IntervalSchedule.DAYS, 86400), (IntervalSchedule.HOURS, 3600), (IntervalSchedule.MINUTES, 60))


def interval_in_periods(seconds: int) -> tuple[int, str]:
    """(every, period) of an interval of `seconds`, in the longest of beat's periods it
    is a whole number of: (1, "days"), (5, "minutes"), (20, "seconds"). The admin says
    a schedule as django-celery-beat words it (IntervalSchedule.__str__): "every day",
    "every 5 minutes", where kept in seconds it said "every 86400 seconds". Migration
    0039 moved the intervals made before to it."""
    for period, length in INTERVAL_PERIODS:
        if seconds >= length and seconds % length == 0:
            return seconds // length, period
    return seconds, IntervalSchedule.SECONDS


def _days_said(days: set[int]) -> str | None:
    """Cron's days of the week (0 is Sunday) as a person says them: "every day",
    "weekdays", "Mondays and Thursdays"."""
    if days == set(range(7)):
        return "every day"
    if days == set(range(1, 6)):
        return "weekdays"
    names = [f"{WEEKDAYS[(day - 1) % 7]}s" for day in sorted(days, key=lambda day: (day - 1) % 7)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def crontab_in_words(crontab: CrontabSchedule) -> str:
    """A crontab as a person says it, in the shapes these schedules take (a time of
    day, on some days of the week, in the crontab's zone; a step of minutes; once an
    hour): "every day at 05:30 UTC", "Mondays at 06:00 Europe/Paris", "every 15
    minutes", "every hour on the hour". Any other shape (days of the month, months,
    a few hours) in django-celery-beat's raw form, "30 5 1 * * (m/h/dM/MY/d) UTC",
    which the list showed for all of them; cron_descriptor's "At 05:30 AM" (the
    superuser's page) is not the house's 24-hour clock."""
    try:
        cron = celery_crontab(minute=crontab.minute, hour=crontab.hour, day_of_week=crontab.day_of_week,
                              day_of_month=crontab.day_of_month, month_of_year=crontab.month_of_year)
    except ValueError:
        return str(crontab)
    minutes, hours, zone = sorted(cron.minute), cron.hour, str(crontab.timezone)
    every_day_of_the_year = cron.day_of_month == set(range(1, 32)) and cron.month_of_year == set(range(1, 13))
    if not every_day_of_the_year or not cron.day_of_week:
        return str(crontab)
    if len(hours) == 1 and len(minutes) == 1:
        return f"{_days_said(cron.day_of_week)} at {min(hours):02d}:{minutes[0]:02d} {zone}"
    if hours != set(range(24)) or cron.day_of_week != set(range(7)):
        return str(crontab)
    # A zone whose offset is not whole hours moves "on the hour" (UTC's), not a step.
    in_zone = "" if zone == "UTC" else f" ({zone})"
    if len(minutes) == 1:
        past = "on the hour" if minutes == [0] else f"at {minutes[0]} past"
        return f"every hour {past}{in_zone}"
    step = minutes[1] - minutes[0]
    if minutes == list(range(0, 60, step)) and 60 % step == 0:
        return "every minute" if step == 1 else f"every {step} minutes"
    return str(crontab)


@transaction.atomic
def schedules_ensure() -> list[str]:
    """Create each default schedule whose task has none yet, and give those that exist
    their description when it is blank or an earlier release's (DESCRIPTIONS_BEFORE);
    return the names created. A schedule is found
    by its task, not its name: one an administrator renamed (and switched off) is
    still the default's, never made again beside it. Beat's own "celery.backend_cleanup"
    is deleted (CELERY_BACKEND_CLEANUP_TASK)."""
    PeriodicTask.objects.filter(task=CELERY_BACKEND_CLEANUP_TASK).delete()
    created = []
    for name, (task, cron, description) in DEFAULT_SCHEDULES.items():
        if PeriodicTask.objects.filter(Q(task=task) | Q(name=name)).exists():  # (the name is unique)
            PeriodicTask.objects.filter(task=task, description__in=["", *DESCRIPTIONS_BEFORE.get(task, [])]).update(
                description=description)
            continue
        if "every" in cron:
            every, period = interval_in_periods(int(cron["every"].total_seconds()))
            interval = IntervalSchedule.objects.filter(every=every, period=period).first()
            interval = interval or IntervalSchedule.objects.create(every=every, period=period)
            PeriodicTask.objects.create(name=name, task=task, interval=interval, description=description)
        else:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                **cron, day_of_month="*", month_of_year="*", timezone="UTC"
            )
            PeriodicTask.objects.create(name=name, task=task, crontab=crontab, description=description)
        created.append(name)
    return created


def morning_fetch(*, on: dt.date | None = None) -> dt.time:
    """The time of day (UTC) the morning fetch runs, as its schedule stands in the
    admin: the enabled crontab of the fetch task with one hour and one minute
    ("30" and "5"), read in the crontab's own zone on the day `on` (default: today).
    MORNING_FETCH when there is no such schedule (none, disabled, or "every hour")."""
    task = (PeriodicTask.objects.filter(task=MORNING_FETCH_TASK, enabled=True, crontab__isnull=False)
            .select_related("crontab").order_by("id").first())
    if task is None:
        return MORNING_FETCH
    cron = task.crontab
    if not (cron.hour.isdigit() and cron.minute.isdigit()):
        return MORNING_FETCH
    on = on or dt.datetime.now(dt.UTC).date()
    local = dt.datetime.combine(on, dt.time(int(cron.hour) % 24, int(cron.minute) % 60), tzinfo=cron.timezone)
    return local.astimezone(dt.UTC).time()

