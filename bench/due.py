"""The dispatcher's due query at production scale: an ordinary run, a catch-up of
hours, and the weekly readers' catch-up after beat was down for days.

    python -m bench.due --database postgres://postgres@127.0.0.1:5432/bench_due [--zones 40] [--repeat 5]

On a database `python -m bench.admin_scale` loaded (readers, editions, the ledger).
--zones N first spreads the readers over N of the world's time zones (an UPDATE that
stays; the loader puts every reader in UTC, where one run matches few slots). Then,
for each scenario, in a transaction rolled back at its end, the run's edition is made
as if the last run that came was that long before this one (Edition.dispatched_at),
and `due.subscribers_due` is evaluated (the readers' ids) --repeat times: the median
ms, the queries and the readers found. The settings are production's
(bench.admin_scale.django_setup: DEBUG off, JIT off). docs/benchmarks.md quotes it.

PostgreSQL only, as the loader.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from .admin_scale import machine_line, postgres_setup

# Where readers live: whole-hour, half-hour and 45-minute offsets, both hemispheres'
# summer times (the slots a run matches are one per zone and offset).
ZONES = [
    "UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Warsaw", "Europe/Kyiv",
    "Europe/Istanbul", "Europe/Moscow", "Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Asia/Dubai",
    "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka", "Asia/Bangkok",
    "Asia/Shanghai", "Asia/Singapore", "Asia/Seoul", "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney",
    "Pacific/Auckland", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Santiago",
    "America/Bogota", "America/Mexico_City", "America/New_York", "America/Toronto", "America/Chicago",
    "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
    "America/St_Johns",
]
# (label, how long before this run the last run that came was).
SCENARIOS = [
    ("an ordinary run", dt.timedelta(minutes=15)),
    ("3 hours of runs missed", dt.timedelta(hours=3)),
    ("beat down 2 days (weekly catch-up)", dt.timedelta(days=2)),
    ("beat down 7 days (weekly catch-up)", dt.timedelta(days=7)),
]


def zones_spread(count: int) -> int:
    """Give the readers `count` of ZONES in turn, five readers in a row to a zone (by
    their place in id order); the rows changed. bench.admin_scale gives five readers
    in a row the hours 5 to 9, so each zone has readers of every hour. Taken by the
    id itself, which zone got which hour turned on where the id sequence stood: on a
    test database after other tests, no reader of a zone at 09:00 UTC had its hour
    then, and an ordinary run found none (tests/bench/test_due.py failed one run in
    several)."""
    from django.db import connection

    zones = ZONES[:count]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscribers_subscriber s SET time_zone = (%s::text[])[1 + (r.place / 5) %% %s] "
            "FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS place FROM subscribers_subscriber) r "
            "WHERE r.id = s.id",
            [zones, len(zones)])
        changed = cursor.rowcount
        cursor.execute("ANALYZE subscribers_subscriber")
    return changed


def scenario_time(*, gap: dt.timedelta, now: dt.datetime, repeat: int) -> dict:
    """subscribers_due for a new edition of `now`'s day whose last run came `gap`
    before this one: median ms of `repeat`, the queries of one, the readers found.
    Nothing it makes is kept."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from newsletter.due import run_floor, subscribers_due
    from newsletter.models import Edition

    this_run = run_floor(now)
    timings, queries, found = [], 0, 0
    with transaction.atomic():
        Edition.objects.filter(date=now.date()).delete()
        edition = Edition.objects.create(date=now.date(), dispatched_at=this_run - gap)
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                found = len(list(subscribers_due(now=now, edition=edition).values_list("pk", flat=True)))
                timings.append((time.perf_counter() - started) * 1000)
            queries = len(captured.captured_queries)
        transaction.set_rollback(True)
    return {"ms": statistics.median(timings), "queries": queries, "readers": found}


def default_run() -> dt.datetime:
    """The run timed by default: a Tuesday's at 09:00 UTC, a weekday whose catch-ups of
    two days and a week span a weekend (daily readers get no weekend digests), the
    first more than a week after the newest edition loaded, so no scenario's runs that
    did not come had given anyone a digest (as in an outage)."""
    from django.db.models import Max

    from newsletter.models import Edition

    after = (Edition.objects.aggregate(newest=Max("date"))["newest"] or dt.date.today()) + dt.timedelta(days=7)
    days = (1 - after.weekday()) % 7 or 7
    return dt.datetime.combine(after + dt.timedelta(days=days), dt.time(9), tzinfo=dt.UTC)


def run(*, now: dt.datetime | None = None, repeat: int = 5, zones: int = 0,
        write: Callable[[str], None] = print) -> list[dict]:
    """Spread the zones (if asked) and time every scenario; a row per scenario."""
    from newsletter.models import Delivery
    from subscribers.models import Subscriber

    if zones:
        write(f"Spreading the readers over {zones} time zones: {zones_spread(zones):,} readers")
    now = now or default_run()
    write(f"At {Subscriber.objects.count():,} readers in {Subscriber.objects.values('time_zone').distinct().count()} "
          f"zones, {Delivery.objects.count():,} deliveries; run of {now:%Y-%m-%d %H:%M} UTC, median of {repeat}")
    rows = []
    for label, gap in SCENARIOS:
        row = {"scenario": label, **scenario_time(gap=gap, now=now, repeat=repeat)}
        rows.append(row)
        write(f"  {label}: {row['ms']:,.1f} ms, {row['queries']} queries, {row['readers']:,} readers due")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.due", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a database bench.admin_scale loaded.")
    parser.add_argument("--zones", type=int, default=0, choices=range(len(ZONES) + 1), metavar=f"0..{len(ZONES)}",
                        help="First spread the readers over this many time zones (kept).")
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each scenario; the median is shown.")
    parser.add_argument("--at", type=dt.datetime.fromisoformat,
                        help="The run's moment, e.g. 2026-12-07T08:00+00:00 (default: a Tuesday's at 09:00 UTC, over a week after the newest edition).")
    args = postgres_setup(parser, argv)
    run(now=args.at, repeat=args.repeat, zones=args.zones, write=lambda line: print(line, flush=True))
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
