"""Who is due for a digest: readers receiving at all, and those whose local hour and
weekday have come for an edition they have no delivery of yet (and, after runs that
did not give it, those whose hour passed meanwhile: catch_up_since). Read by the
dispatcher (newsletter/delivery.py) and checked again at send time, and by the pages
that tell a reader when their next digest comes (`next_digest_at`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dates import MONTHS, WEEKDAYS

from subscribers.models import Subscriber, zone_known

from .editions import edition_date_current
from .models import Delivery, Edition
from .schedules import MORNING_FETCH, morning_fetch

logger = logging.getLogger(__name__)

# How often beat runs the dispatcher (newsletter/schedules.py: minute */15): a reader
# is taken at the first run inside their local hour on a day they are due.
DISPATCH_EVERY = dt.timedelta(minutes=15)
# Daily readers get digests Monday to Friday (Daily Papers has no weekend lists).
DAILY_WEEKDAYS = range(5)
# How far back a run looks for runs that did not come (catch_up_since): a day, the
# life of an edition; a daily reader whose hour passed longer ago gets the next one.
CATCH_UP_WITHIN = dt.timedelta(days=1)
# A weekly reader's day comes once a week: one that passed while no run came (beat
# or every worker down for more than a day, a weekend's outage) is caught up within
# the week (weekly_catch_up_since). Looking a day back only, such a reader got
# nothing until the next week's digest, and the missed week's papers never.
WEEKLY_CATCH_UP_WITHIN = dt.timedelta(days=7)


def waits_for_fetch(*, local: dt.datetime, at: dt.datetime, newest: dt.date | None = None,
                    fetch_at: dt.time = MORNING_FETCH) -> bool:
    """Whether a reader whose clock reads `local` at the run `at` waits for the
    morning fetch: it falls inside their hour (05:30 UTC is 07:30 in Berlin in
    summer), its list is not here yet (`newest`: the date of the edition the run
    has), and the run after it has not come. Without this, the runs before it
    would send a reader who has not had the day before's edition (a new reader, one
    back from a pause) that one, and the runs after it the new one as well: two
    digests in one hour. Waiting, they get the new one, once (a reader who had the
    list before that one is given it instead: _owed_q). The run at the fetch's
    own minute waits too: the two beat tasks start together. `fetch_at`: the fetch's
    time of day, UTC (schedules.morning_fetch)."""
    hour_start = local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    fetch = dt.datetime.combine(hour_start.date(), fetch_at, tzinfo=dt.UTC)
    in_hour = hour_start <= fetch < hour_start + dt.timedelta(hours=1)
    return in_hour and at < fetch + DISPATCH_EVERY and (newest is None or newest < fetch.date())


def hours_taken(local: dt.datetime) -> list[tuple[dt.date, int]]:
    """The (local date, hour) slots whose readers the runs inside `local`'s hour take:
    its own, after any hour the clocks skipped just before it (02:00 on the last
    Sunday of March in Paris, 02:00 on a Friday in Israel, 00:00 in Havana). A
    reader of a skipped hour gets that day's digest in the hour the clocks jump to,
    as cron runs a job of a skipped hour, instead of none that day. The hour that
    is lived twice when summer time ends takes its readers twice, and the ledger's
    unique row sends each edition once."""
    hour_start = local.replace(minute=0, second=0, microsecond=0)
    before = (hour_start.astimezone(dt.UTC) - dt.timedelta(hours=1)).astimezone(local.tzinfo)
    wall, now_wall = before.replace(tzinfo=None) + dt.timedelta(hours=1), hour_start.replace(tzinfo=None)
    taken = []
    while wall < now_wall:  # wall-clock hours the jump passed over
        taken.append((wall.date(), wall.hour))
        wall += dt.timedelta(hours=1)
    return [*taken, (local.date(), local.hour)]


def _local_slots(
    *, now: dt.datetime, time_zones: Iterable[str], newest: dt.date, fetch_at: dt.time,
) -> dict[tuple[dt.date, int, bool], list[str]]:
    """Group time zones by their (local date, local hour, waits_for_fetch) at `now`,
    a zone under each slot its runs take (hours_taken) (`newest`: the date of the
    edition being sent; `fetch_at`: the morning fetch's time): done in Python over
    the distinct zones, so the due query is a plain IN per group."""
    slots: dict[tuple[dt.date, int, bool], list[str]] = {}
    for name in time_zones:
        if (zone := zone_known(name)) is None:
            logger.warning("unknown time zone %r: its readers are treated as UTC", name)
            zone = dt.UTC
        local = now.astimezone(zone)
        waits = waits_for_fetch(local=local, at=now, newest=newest, fetch_at=fetch_at)
        for day, hour in hours_taken(local):
            slots.setdefault((day, hour, waits), []).append(name)
    return slots


def _schedule_q(*, hour: int, weekday: int, time_zones: list[str]) -> Q:
    """Readers of these zones whose digest is due at this local hour and weekday:
    daily readers on weekdays (Daily Papers has no weekend lists), weekly readers
    on their chosen weekday."""
    due_day = Q(frequency=Subscriber.Frequency.WEEKLY, weekday=weekday)
    if weekday in DAILY_WEEKDAYS:
        due_day |= Q(frequency=Subscriber.Frequency.DAILY)
    return Q(time_zone__in=time_zones, delivery_hour=hour) & due_day


def _time_zones_listed() -> list[str]:
    """The distinct zones of readers who may receive (served by subscriber_due_idx)."""
    return list(
        Subscriber.objects.filter(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED])
        .values_list("time_zone", flat=True).distinct().order_by()
    )


def subscribers_receiving(*, slots: dict[tuple[dt.date, int, bool], list[str]]):
    """Readers who get digests at all: active, or paused until a date that has come
    where they are (digests start again on `paused_until` in the reader's zone:
    subscribers/services.py). Suppressed and unsubscribed readers have their own
    statuses; suppressed addresses are checked again at send time. `slots`:
    _local_slots of every zone readers have, at the moment asked about."""
    by_date: dict[dt.date, list[str]] = {}
    for (day, _hour, _waits), zones in slots.items():
        by_date.setdefault(day, []).extend(zones)
    pause_over = Q(pk__in=[])
    for day, zones in by_date.items():
        pause_over |= Q(time_zone__in=zones, paused_until__lte=day)
    return Subscriber.objects.filter(
        Q(status=Subscriber.Status.ACTIVE, paused_until__isnull=True)
        | (Q(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED]) & pause_over)
    )


def subscriber_still_receiving(*, subscriber: Subscriber, now: dt.datetime) -> bool:
    """subscribers_receiving() for one loaded reader, without a query."""
    if subscriber.pause_ended(now=now):
        return subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
    return subscriber.status == Subscriber.Status.ACTIVE and subscriber.paused_until is None


def _slots_schedule_q(slots: dict[tuple[dt.date, int, bool], list[str]], *, owed: Q | None = None) -> Q:
    """The readers due in these slots (_local_slots), leaving out those who wait
    unless `owed` holds for them (_owed_q: they keep the rhythm of a list a day late)."""
    schedule = Q(pk__in=[])
    for (day, hour, waits), zones in slots.items():
        if not waits:
            schedule |= _schedule_q(hour=hour, weekday=day.weekday(), time_zones=zones)
        elif owed is not None:
            schedule |= _schedule_q(hour=hour, weekday=day.weekday(), time_zones=zones) & owed
    return schedule


# A run gives no reader a second digest within this long (the runs of one local hour):
# _owed_q's readers, given the list before at the first runs of an hour that holds the
# morning fetch, are not given the day's at the runs after it.
ONE_DIGEST_WITHIN = dt.timedelta(hours=1)


def _owed_q(edition: Edition) -> Q:
    """Readers who had the edition before `edition`: in an hour that holds the morning
    fetch, before the day's list is here, they are given `edition` (the list before
    it) instead of waiting for the day's. A reader whose hour came before the fetch
    gets each list the day after (Friday's on Monday); when the clocks go back that
    hour comes to hold the fetch (midnight in New York from 04:00 UTC to 05:00), and
    waiting for the day's list skipped the one before it for good: Friday's papers
    reached no digest. So such a reader keeps their rhythm, one digest a day; a new
    reader, or one back from a pause, has not had it and waits (waits_for_fetch)."""
    before = Edition.objects.filter(date__lt=edition.date).order_by("-date").values("pk")[:1]
    return Q(Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), edition=Subquery(before))))


def run_at_or_after(moment: dt.datetime) -> dt.datetime:
    """The dispatcher's first run (beat: minute */15) at or after `moment`."""
    step = DISPATCH_EVERY.total_seconds()
    return dt.datetime.fromtimestamp(-(-moment.timestamp() // step) * step, tz=dt.UTC)


def run_floor(moment: dt.datetime) -> dt.datetime:
    """The dispatcher's run whose quarter hour `moment` is in (at or before it)."""
    step = DISPATCH_EVERY.total_seconds()
    return dt.datetime.fromtimestamp(moment.timestamp() // step * step, tz=dt.UTC)


def catch_up_since(*, edition: Edition, now: dt.datetime, fetch_at: dt.time) -> dt.datetime | None:
    """The first of the runs before `now` that should have given `edition` to the
    readers due at them and did not, or None when there were none (every ordinary
    run). Such runs did not come, or came without this edition: beat or every worker
    was down (queued runs taken late all run at the moment they are taken), the
    day's list came late (after an outage of the API that the fetch rode out), or an
    editor held the edition. Counted from the last run that dispatched it
    (Edition.dispatched_at), never before its first due run (the first that does not
    wait for its date's morning fetch, `fetch_at`, UTC: waits_for_fetch), and at
    most CATCH_UP_WITHIN back."""
    this_run = run_floor(now)
    due_from = run_at_or_after(dt.datetime.combine(edition.date, fetch_at, tzinfo=dt.UTC) + DISPATCH_EVERY)
    since = max(due_from, this_run - CATCH_UP_WITHIN)
    if edition.dispatched_at is not None:
        since = max(since, run_at_or_after(edition.dispatched_at + dt.timedelta(microseconds=1)))
    return since if since < this_run else None


def weekly_catch_up_since(*, edition: Edition, now: dt.datetime) -> dt.datetime | None:
    """The first run before `now` that did not come, within WEEKLY_CATCH_UP_WITHIN:
    after the last run made, this edition's (Edition.dispatched_at) or, at its first
    run, the newest of any edition's (one query: the runs that did not come were
    the edition before's, and the day's list may have been fetched first when beat
    came back). None when no run was missed (every ordinary run) and on a site whose
    dispatcher never ran."""
    this_run = run_floor(now)
    last = edition.dispatched_at
    if last is None:
        last = Edition.objects.aggregate(last=Max("dispatched_at"))["last"]
        if last is None:
            return None
    since = max(this_run - WEEKLY_CATCH_UP_WITHIN, run_at_or_after(last + dt.timedelta(microseconds=1)))
    return since if since < this_run else None


def _missed_q(*, edition: Edition, since: dt.datetime, until: dt.datetime, time_zones: list[str],
              fetch_at: dt.time) -> Q:
    """Readers the runs from `since` until `until` (the run of now, left out) owed
    `edition`: due at one of them by the dispatcher's own slot rule (_local_slots),
    and confirmed before a run that would have taken them (those who joined during
    those runs are checked one by one, subscriber_due_at: a few, one query). Not
    those given a digest since (the edition before, to a new reader, while the list
    was missing: one digest a day). A catch-up, once: the ledger's row for this
    edition."""
    runs, slots = [], {}
    at = since
    while at < until:
        runs.append(at)
        for key, zones in _local_slots(now=at, time_zones=time_zones, newest=edition.date,
                                       fetch_at=fetch_at).items():
            slots.setdefault(key, {}).update(dict.fromkeys(zones))
        at += DISPATCH_EVERY
    schedule = _slots_schedule_q({key: list(zones) for key, zones in slots.items()})
    joined = Subscriber.objects.filter(schedule, confirmed_at__gte=since, confirmed_at__lt=until)
    owed = [reader.pk for reader in joined if any(
        subscriber_due_at(subscriber=reader, at=run, fetch_at=fetch_at, newest=edition.date)
        for run in runs if run > reader.confirmed_at)]
    joined_before = Q(confirmed_at__isnull=True) | Q(confirmed_at__lt=since) | Q(pk__in=owed)
    given_since = Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), created_at__gte=since))
    return schedule & joined_before & ~Q(given_since)


def subscribers_due(*, now: dt.datetime, edition: Edition, any_hour: bool = False,
                    email: str | None = None):
    """Readers due for `edition` at `now` with no delivery of it yet: ONE query after
    listing the readers' zones and reading the morning fetch's schedule. Served by
    subscriber_due_idx (delivery_hour, time_zone WHERE status in ...). `any_hour`:
    whatever their hour. `email`: only that reader, whatever their hour. After runs
    that did not give it (catch_up_since: the dispatcher down, the list late, the
    edition held), also the readers whose hour passed meanwhile (_missed_q), in the
    same query (and one before it, for the readers who joined meanwhile); weekly
    readers whose day passed while no run came, up to a week back
    (weekly_catch_up_since)."""
    zones = _time_zones_listed()
    fetch_at = morning_fetch(on=now.astimezone(dt.UTC).date())
    slots = _local_slots(now=now, time_zones=zones, newest=edition.date, fetch_at=fetch_at)
    receiving = subscribers_receiving(slots=slots)
    not_yet = ~Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), edition=edition))
    if email:
        return receiving.filter(not_yet, email__iexact=email.strip())
    if any_hour:
        return receiving.filter(not_yet)
    # Bounded by `now` too: a run told another time than the clock's (send_digests
    # --date, a replay) is not held back by rows the clock stamped after it.
    given_now = Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), created_at__lte=now,
                                               created_at__gt=now - ONE_DIGEST_WITHIN))
    schedule = _slots_schedule_q(slots, owed=_owed_q(edition)) & ~Q(given_now)
    until = run_floor(now)
    if (since := catch_up_since(edition=edition, now=now, fetch_at=fetch_at)) is not None:
        schedule |= _missed_q(edition=edition, since=since, until=until, time_zones=zones, fetch_at=fetch_at)
        until = since
    weekly_since = weekly_catch_up_since(edition=edition, now=now)
    if weekly_since is not None and weekly_since < until:  # the runs before those: weekly readers'
        schedule |= Q(frequency=Subscriber.Frequency.WEEKLY) & _missed_q(
            edition=edition, since=weekly_since, until=until, time_zones=zones, fetch_at=fetch_at)
    return receiving.filter(schedule).filter(not_yet)


def subscriber_due_at(*, subscriber: Subscriber, at: dt.datetime, fetch_at: dt.time,
                      newest: dt.date | None = None) -> bool:
    """subscribers_due()'s rule for one loaded reader at the moment `at`: receiving, at
    their local hour, on a day they are due. `fetch_at`: the morning fetch's time
    (schedules.morning_fetch); `newest`: the date of the edition the run has (None:
    its day's list not fetched yet)."""
    if not subscriber_still_receiving(subscriber=subscriber, now=at):
        return False
    local = at.astimezone(subscriber.zone)
    days = [day for day, hour in hours_taken(local) if hour == subscriber.delivery_hour]
    if not days or waits_for_fetch(local=local, at=at, newest=newest, fetch_at=fetch_at):
        return False
    if subscriber.frequency == Subscriber.Frequency.WEEKLY:
        return days[0].weekday() == subscriber.weekday
    return days[0].weekday() in DAILY_WEEKDAYS


def next_digest_at(*, subscriber: Subscriber, now: dt.datetime,
                   had: dt.date | None = None, fetch_at: dt.time | None = None) -> dt.datetime | None:
    """The dispatcher's first run after `now` that takes this reader (None for a
    reader who gets no digests: pending, unsubscribed, suppressed). `had`: the
    newest edition's date they have a delivery of; the next one is the following
    day's, there from its morning fetch on. `fetch_at`: that fetch's time of day
    (default: as scheduled, newsletter/schedules.py). When the dispatcher has no
    edition for them now (editions.edition_date_current: none at most
    EDITION_MAX_AGE_DAYS old, or only one they had), the first run that can take
    them comes after the next morning fetch: tomorrow's once today's has passed.
    Until 7 December 2026 a page promised a digest "within 15 minutes" after the
    fetch time whether or not a list had come (a fresh site, the API listing
    nothing for days), and the run sent nothing. Two queries (edition_date_current)."""
    if subscriber.status not in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED):
        return None
    if fetch_at is None:
        fetch_at = morning_fetch(on=now.astimezone(dt.UTC).date())
    start = now
    if subscriber.paused_until is not None:  # its first hour where they are
        start = max(start, dt.datetime.combine(subscriber.paused_until, dt.time(), tzinfo=subscriber.zone))
    if had is not None:
        start = max(start, dt.datetime.combine(had + dt.timedelta(days=1), fetch_at, tzinfo=dt.UTC))
    newest = edition_date_current(now=now)
    if newest is None or (had is not None and had >= newest):
        fetch = dt.datetime.combine(now.astimezone(dt.UTC).date(), fetch_at, tzinfo=dt.UTC)
        start = max(start, fetch if now <= fetch else fetch + dt.timedelta(days=1))
    at = run_at_or_after(start)
    for _ in range(int(dt.timedelta(days=8) / DISPATCH_EVERY)):  # a week holds every slot
        if subscriber_due_at(subscriber=subscriber, at=at, fetch_at=fetch_at):
            return at
        at += DISPATCH_EVERY
    return None


@dataclass(frozen=True)
class NextDigest:
    """When a reader's next digest comes, in their zone, as pages say it: `when`
    "within 15 minutes", "today around 07:00 CET (Europe/Paris)", "tomorrow around
    …", "on Monday 7 December around …"; `day` the same without the time. Both ""
    for a reader who gets none."""
    when: str = ""
    day: str = ""


def next_digest(*, subscriber: Subscriber, now: dt.datetime | None = None) -> NextDigest:
    now = now or timezone.now()
    had = (Delivery.objects.filter(subscriber=subscriber).order_by("-edition__date")
           .values_list("edition__date", flat=True).first())
    at = next_digest_at(subscriber=subscriber, now=now, had=had)
    if at is None:
        return NextDigest()
    local = at.astimezone(subscriber.zone)
    if local.minute and at - now <= DISPATCH_EVERY:  # inside their hour already
        soon = f"within {DISPATCH_EVERY.seconds // 60} minutes"
        return NextDigest(when=soon, day=soon)
    days = (local.date() - now.astimezone(subscriber.zone).date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, f"on {WEEKDAYS[local.weekday()]} {local.day} {MONTHS[local.month]}")
    return NextDigest(when=f"{day} around {subscriber.delivery_time(on=local.date())}", day=day)
