"""Migration subscribers 0021 at scale: suppression.suppressions_reapply on a list as
0020 left it, timed, then run again (nothing left to do).

    python -m bench.suppression_reapply --database postgres://postgres@127.0.0.1:5432/bench_reapply
        [--readers 100000] [--suppressions 10000]

It migrates the (empty) database and loads --readers readers, --suppressions of them
suppressed before 0020 (rows by exact address, their mailbox filled as 0020 fills
it): complaints, hard bounces, editors' and erasures (the erased spelling held by a
reader who subscribed again), at Gmail, at a company's domain, and at a "+tag" of
one; a fifth of those mailboxes also have an active reader at another spelling.
Then the migration's function, with the migration's models, as `migrate` runs it
(a transaction a hundred rows): seconds, queries, rows applied, readers suppressed; and again.
It refuses a database that already has readers. PostgreSQL only, as production.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from .admin_scale import machine_line, postgres_setup

DEFAULT_READERS = 100_000
DEFAULT_SUPPRESSIONS = 10_000
# Of the suppressed mailboxes, 1 in this many has an active reader at another spelling.
OTHER_SPELLING_EVERY = 5
# The reasons of the rows, in turn (Suppression.Reason values).
REASONS = ["complained"] * 3 + ["bounced"] * 5 + ["editor", "deleted"]


def spellings(i: int) -> tuple[str, str]:
    """(the suppressed address of mailbox `i`, another spelling of that mailbox)."""
    kind = i % 3
    if kind == 0:
        return f"sup{i}@gmail.com", f"s.up{i}+news@googlemail.com"
    if kind == 1:  # a tag where tags may be refused: a bounce of it stays its own
        return f"sup{i}+news@corp{i % 50}.example", f"sup{i}@corp{i % 50}.example"
    return f"sup{i}@corp{i % 50}.example", f"sup{i}+digest@corp{i % 50}.example"


def audience_load(*, readers: int, suppressions: int) -> dict:
    """The readers and the list as 0020 left them; what was made."""
    from django.db import connection

    from subscribers.suppression import email_hash, mailbox_hash

    emails, statuses, rows = [], [], []
    for i in range(suppressions):
        suppressed, other = spellings(i)
        reason = REASONS[i % len(REASONS)]
        emails.append(suppressed)
        statuses.append("pending" if reason == "deleted" else "suppressed")
        rows.append((email_hash(suppressed), reason, mailbox_hash(suppressed)))
        if i % OTHER_SPELLING_EVERY == 0 and len(emails) < readers:
            emails.append(other)
            statuses.append("active")
    for g in range(readers - len(emails)):
        emails.append(f"read.er{g}@gmail.com" if g % 20 == 0 else f"reader{g}@example{g % 50}.com")
        statuses.append("active")
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO subscribers_subscriber (email, status, status_changed_at, keywords, exclude_keywords,
                only_with_code, frequency, weekday, delivery_hour, time_zone, papers_per_digest, skip_empty,
                source, token, confirmation_sent_at, confirmed_at, created_at, updated_at)
            SELECT e, s, now(), '', '', false, 'daily', 0, 7, 'UTC', 5, false, 'form',
                md5('t' || g) || md5('u' || g), now(), CASE WHEN s <> 'pending' THEN now() END, now(), now()
            FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r(e, s, g)""", [emails, statuses])
        cursor.execute("""
            INSERT INTO subscribers_suppression (email_hash, reason, mailbox_hash, note, created_at)
            SELECT h, r, m, '', now() FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(h, r, m)""",
                       [[h for h, _, _ in rows], [r for _, r, _ in rows], [m for _, _, m in rows]])
        cursor.execute("ANALYZE subscribers_subscriber")
        cursor.execute("ANALYZE subscribers_suppression")
    return {"readers": len(emails), "suppressions": len(rows),
            "other_spellings": sum(1 for i in range(suppressions) if i % OTHER_SPELLING_EVERY == 0)}


def reapply_time(*, write: Callable[[str], None]) -> dict:
    """suppressions_reapply with 0021's models, as `migrate` runs it (not atomic)."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from subscribers.suppression import suppressions_reapply

    apps = MigrationLoader(connection).project_state(("subscribers", "0020_suppression_mailbox")).apps
    started = time.perf_counter()

    def say(line: str) -> None:
        write(f"  [{time.perf_counter() - started:7.2f} s] {line}")

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(1)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        done = suppressions_reapply(apps=apps, progress=say)
    return {"seconds": time.perf_counter() - started, "queries": len(queries),
            "rows_applied": done.rows_applied, "suppressed": len(done.readers_suppressed)}


def run(*, readers: int = DEFAULT_READERS, suppressions: int = DEFAULT_SUPPRESSIONS,
        write: Callable[[str], None] = print) -> list[dict]:
    """Load, then time the migration's function twice; a row per run."""
    from subscribers.models import Subscriber

    if Subscriber.objects.exists():
        raise SystemExit("This database has readers: give the benchmark an empty one of its own.")
    started = time.perf_counter()
    loaded = audience_load(readers=readers, suppressions=suppressions)
    write(f"Loaded {loaded['readers']:,} readers, {loaded['suppressions']:,} suppressions, "
          f"{loaded['other_spellings']:,} mailboxes with a reader at another spelling "
          f"({time.perf_counter() - started:.1f} s)")
    results = []
    for label in ("first run", "second run"):
        write(f"{label.capitalize()}:")
        row = {"run": label, **reapply_time(write=write)}
        results.append(row)
        write(f"{label.capitalize()}: {row['seconds']:.2f} s, {row['queries']:,} queries, "
              f"{row['rows_applied']:,} rows applied, {row['suppressed']:,} readers suppressed")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suppression_reapply",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of an empty database of its own.")
    parser.add_argument("--readers", type=int, default=DEFAULT_READERS)
    parser.add_argument("--suppressions", type=int, default=DEFAULT_SUPPRESSIONS)
    args = postgres_setup(parser, argv)
    from django.core.management import call_command

    print("Migrating…", flush=True)
    call_command("migrate", "--noinput", verbosity=0)
    run(readers=args.readers, suppressions=args.suppressions, write=lambda line: print(line, flush=True))
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
