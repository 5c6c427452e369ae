"""The readers' import at the form's limit: a file of new addresses checked (dry run),
imported with prior consent, and imported with a confirmation email each.

    python -m bench.imports --database postgres://postgres@127.0.0.1:5432/bench_imports [--rows 10000] [--repeat 3]

`subscribers_import` (subscribers/csv_io.py) on --rows new addresses of 97 domains,
each case in a transaction rolled back at its end: the median ms of --repeat runs, the
queries of one, the readers made. The emails' queueing after commit (one broker
message each, subscribers.services.journey_emails_queue_new) is not in the figures: a
rolled-back import queues none. The settings are production's
(bench.admin_scale.django_setup: DEBUG off, JIT off); the database is migrated first.
docs/benchmarks.md, "An import of 10,000 readers", quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from .admin_scale import machine_line, postgres_setup

# (label, dry_run, prior_consent)
CASES = [
    ("check (dry run)", True, False),
    ("import, prior consent", False, True),
    ("import, a confirmation email each", False, False),
]


def import_file(rows: int) -> str:
    """A CSV of `rows` new addresses over 97 domains, half of them with a topic."""
    return "email,topics\n" + "".join(
        f"bench-import-{i}@d{i % 97}.example.org,{'' if i % 2 else 'agents'}\n" for i in range(rows))


def case_time(*, text: str, dry_run: bool, prior_consent: bool, repeat: int) -> dict:
    """One case: median ms of `repeat` imports, the queries of one, the readers made."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from subscribers.csv_io import subscribers_import

    timings, queries, made = [], 0, 0
    for _ in range(repeat):
        with transaction.atomic():
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                report = subscribers_import(text=text, consent_source="Benchmark", prior_consent=prior_consent,
                                            dry_run=dry_run)
                timings.append((time.perf_counter() - started) * 1000)
            queries, made = len(captured.captured_queries), report.created
            transaction.set_rollback(True)
    return {"ms": statistics.median(timings), "queries": queries, "readers": made}


def run(*, rows: int = 10_000, repeat: int = 3, write: Callable[[str], None] = print) -> list[dict]:
    """Time every case on a file of `rows` new addresses; a row per case."""
    from django.core.management import call_command

    from newsletter.models import Topic

    call_command("migrate", verbosity=0)
    if not Topic.objects.filter(slug="agents").exists():
        raise SystemExit("The default topics are missing (the migrations make them): is this a fresh database?")
    text = import_file(rows)
    write(f"A file of {rows:,} new addresses, median of {repeat}")
    results = []
    for label, dry_run, prior_consent in CASES:
        row = {"case": label, **case_time(text=text, dry_run=dry_run, prior_consent=prior_consent, repeat=repeat)}
        results.append(row)
        write(f"  {label}: {row['ms']:,.0f} ms, {row['queries']} queries, {row['readers']:,} readers")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a database to time on (migrated first).")
    parser.add_argument("--rows", type=int, default=10_000, help="New addresses in the file (the form takes 10,000).")
    parser.add_argument("--repeat", type=int, default=3, help="Imports of each case; the median is shown.")
    args = postgres_setup(parser, argv)
    run(rows=args.rows, repeat=args.repeat, write=lambda line: print(line, flush=True))
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
