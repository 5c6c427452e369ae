"""The editors' admin at production scale: each page's time and queries.

    python -m bench.admin_scale --database postgres://postgres@127.0.0.1:5432/bench_admin
        [--readers 100000] [--editions 25] [--deliveries-per-edition N] [--load/--no-load]
        [--repeat 3] [--only SUBSTRING] [--sql]

With --load (the default) it migrates the database and fills it by SQL
(`INSERT … SELECT generate_series`: seconds for millions of rows, where bench/data.py
builds readers row by row): readers with topics and consent records, a day of papers
per edition, the editions, the ledger (every edition to --deliveries-per-edition
readers; by default 83.6 % of them, so 100,000 readers give 2.09 million rows), the
ESP's events (about 0.43 a delivery, payloads of 200 bytes) and history lines naming
readers. It refuses a database that already has readers: load into an empty one,
or time what is there with --no-load.

Then it opens each admin page through the Django test client as an editor (the
"Editor" group, without the address permission) and as a superuser, signed in with
their one-time code as production asks (ADMIN_TWO_FACTOR on, DEBUG off), and prints
a table: median ms of --repeat runs, the queries (CaptureQueriesContext) and the
slowest query's ms (--sql prints each page's slow queries). docs/benchmarks.md,
"The admin at scale, second pass", quotes it.

PostgreSQL only: the loader is PostgreSQL's SQL, and the figures are about its plans.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_READERS = 100_000
DEFAULT_EDITIONS = 25
# Of the readers, the share each edition went to (the previous pass's 2.09 million
# rows at 100,000 readers and 25 editions).
DELIVERY_SHARE = 0.836
PAPERS_PER_EDITION = 10
HISTORY_LINES_PER_READER = 0.05
EDITOR, SUPERUSER = "bench-editor", "bench-superuser"
# --sql prints each page's queries of at least this many ms, this many characters of each.
SQL_SLOW_MS = 20
SQL_SHOWN = 700


# --- Loading ----------------------------------------------------------------------------

# Each statement reads its sizes from named parameters; the readers' states and the
# ledger's outcomes are in the shares of a live list (2 % pending, 4 % unsubscribed,
# 0.5 % suppressed; 97 % of deliveries sent, 1.5 % failed, 1 % skipped).
LOAD_SQL = [
    ("papers", """
        INSERT INTO newsletter_paper (arxiv_id, title_key, title, abstract, ai_summary, ai_keywords, authors,
            author_count, organization, organization_slug, trending_date, upvotes, num_comments, github_repo,
            project_page, thumbnail_url, pinned, hidden, created_at, updated_at)
        SELECT '2612.' || lpad(g::text, 5, '0'), 'bench paper ' || g, 'Bench paper ' || g,
            'An abstract of a benchmark paper.', '', '[]', '["A. Author", "B. Author"]', 2, '', '',
            %(first_day)s::date + (g - 1) / %(papers)s, 200 - (g - 1) %% %(papers)s, 3, '', '', '', false, false,
            now(), now()
        FROM generate_series(1, %(editions)s * %(papers)s) g"""),
    ("editions", """
        INSERT INTO newsletter_edition (date, note, on_hold, dispatched_at, frozen_at, order_set_by_editor,
            created_at, updated_at)
        SELECT %(first_day)s::date + g, '', false, (%(first_day)s::date + g) + time '06:00',
            (%(first_day)s::date + g) + time '06:00', false, now(), now()
        FROM generate_series(0, %(editions)s - 1) g"""),
    ("edition papers", """
        INSERT INTO newsletter_editionpaper (edition_id, paper_id, position)
        SELECT e.id, p.id, row_number() OVER (PARTITION BY e.id ORDER BY p.upvotes DESC, p.id)
        FROM newsletter_edition e JOIN newsletter_paper p ON p.trending_date = e.date"""),
    ("readers", """
        INSERT INTO subscribers_subscriber (email, status, status_changed_at, keywords, exclude_keywords,
            only_with_code, frequency, weekday, delivery_hour, time_zone, papers_per_digest, skip_empty, source,
            token, confirmation_sent_at, confirmed_at, unsubscribed_at, created_at, updated_at)
        SELECT 'reader' || g || '@example' || (g %% 50) || '.com', s.status, s.changed, '', '', false,
            CASE WHEN g %% 5 = 0 THEN 'weekly' ELSE 'daily' END, g %% 7, 5 + g %% 5, 'UTC', 5, false, 'form',
            md5('t' || g) || md5('u' || g), s.created, CASE WHEN s.status <> 'pending' THEN s.created END,
            CASE WHEN s.status = 'unsubscribed' THEN s.changed END, s.created, s.changed
        FROM generate_series(1, %(readers)s) g,
        LATERAL (SELECT now() - make_interval(days => 400 - g * 400 / %(readers)s) AS created) c,
        LATERAL (SELECT c.created, CASE WHEN g %% 50 = 7 THEN 'pending' WHEN g %% 25 = 3 THEN 'unsubscribed'
                                        WHEN g %% 200 = 11 THEN 'suppressed' WHEN g %% 50 = 9 THEN 'paused'
                                        ELSE 'active' END AS status,
                        least(now(), c.created + make_interval(days => g %% 90)) AS changed) s"""),
    ("readers' topics", """
        INSERT INTO subscribers_subscriber_topics (subscriber_id, topic_id)
        SELECT s.id, t.ids[1 + (s.id * 3 + k) %% cardinality(t.ids)]
        FROM subscribers_subscriber s, generate_series(0, 2) k,
             (SELECT array_agg(id ORDER BY id) AS ids FROM newsletter_topic WHERE is_active) t
        ON CONFLICT DO NOTHING"""),
    ("consent records", """
        INSERT INTO subscribers_consentrecord (subscriber_id, action, source, ip_address, user_agent,
            consent_text_version, detail, created_at)
        SELECT id, 'subscribe', 'form', '192.0.2.1', 'bench', '1', '{}', created_at FROM subscribers_subscriber"""),
    ("deliveries", """
        INSERT INTO newsletter_delivery (subscriber_id, edition_id, status, attempts, claimed_at, sent_at,
            provider_message_id, error, paper_ids, picked, reasons, weekly, created_at, updated_at)
        SELECT s.id, e.id, o.status, 1, o.at, CASE WHEN o.status = 'sent' THEN o.at END,
            CASE WHEN o.status = 'sent' THEN '<' || md5(e.id || '-' || s.id) || '@bench.example>' ELSE '' END,
            CASE WHEN o.status = 'failed' THEN 'The provider refused it (bench).' ELSE '' END,
            CASE WHEN o.status = 'sent' THEN picks.ids ELSE '[]' END, 3, '[]', false, o.at, o.at
        FROM newsletter_edition e
        JOIN subscribers_subscriber s ON s.id %% %(readers)s < %(per_edition)s
        -- Half the edition's papers each (every other one), so a paper went to half its readers.
        JOIN (SELECT edition_id, position %% 2 AS parity, jsonb_agg(paper_id ORDER BY position) AS ids
              FROM newsletter_editionpaper GROUP BY 1, 2) picks
          ON picks.edition_id = e.id AND picks.parity = s.id %% 2
        CROSS JOIN LATERAL (SELECT e.date + time '06:00' + make_interval(secs => s.id %% 7200) AS at,
            CASE WHEN (s.id + e.id) %% 200 < 3 THEN 'failed' WHEN (s.id + e.id) %% 200 < 5 THEN 'skipped'
                 ELSE 'sent' END AS status) o"""),
    ("events", """
        INSERT INTO newsletter_deliveryevent (delivery_id, event_id, event_type, recipient_hash, description,
            payload, occurred_at, created_at)
        SELECT d.id, 'bench-' || d.id || '-' || k.type, k.type, md5(d.subscriber_id::text) || md5('h'),
            '', jsonb_build_object('bench', repeat('x', 180)), d.sent_at + interval '5 minutes',
            d.sent_at + interval '5 minutes'
        FROM newsletter_delivery d
        JOIN (VALUES ('delivered', 300), ('opened', 100), ('clicked', 20), ('deferred', 4), ('bounced', 5),
                     ('complained', 1)) AS k(type, per_thousand)
          -- A hash of the row and the type, not a product of the id: ids run reader by
          -- reader through the editions, so (id * 7919) %% 1000 put every bounce in 5 of
          -- 100 editions and every delivered event in 30 (docs/benchmarks.md).
          ON abs(hashtext(d.id::text || k.type)) %% 1000 < k.per_thousand
        WHERE d.status = 'sent'"""),
    ("history lines", """
        INSERT INTO django_admin_log (action_time, object_id, object_repr, action_flag, change_message,
            content_type_id, user_id)
        SELECT now() - make_interval(mins => s.id::int), s.id::text, s.email, 2, 'Changed status.', %(reader_type)s,
            %(editor)s
        FROM subscribers_subscriber s
        WHERE s.id %% %(history_every)s = 0"""),
]


def users_ensure() -> tuple:
    """The editor (the "Editor" group, no address permission) and the superuser the
    pages are opened as, each with an authenticator app set up."""
    from django.contrib.auth.models import Group, User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    editor, _ = User.objects.get_or_create(username=EDITOR, defaults={"email": "editor@bench.example",
                                                                      "is_staff": True})
    editor.groups.add(Group.objects.get(name="Editor"))
    superuser, _ = User.objects.get_or_create(username=SUPERUSER, defaults={
        "email": "admin@bench.example", "is_staff": True, "is_superuser": True})
    for user in (editor, superuser):
        TOTPDevice.objects.get_or_create(user=user, confirmed=True, defaults={"name": "Authenticator app"})
    return editor, superuser


def data_load(*, readers: int, editions: int, per_edition: int, write: Callable[[str], None]) -> None:
    """Fill an empty, migrated database (LOAD_SQL), then ANALYZE it."""
    import datetime as dt

    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.utils import timezone

    from subscribers.models import Subscriber

    if Subscriber.objects.exists():
        raise SystemExit("This database has readers already: load into an empty one, or use --no-load.")
    editor, _ = users_ensure()
    params = {
        "readers": readers, "editions": editions, "papers": PAPERS_PER_EDITION,
        "per_edition": min(per_edition, readers),
        "first_day": timezone.localdate() - dt.timedelta(days=editions),
        "reader_type": ContentType.objects.get_for_model(Subscriber).pk, "editor": editor.pk,
        "history_every": max(1, round(1 / HISTORY_LINES_PER_READER)),
    }
    with connection.cursor() as cursor:
        for name, sql in LOAD_SQL:
            started = time.perf_counter()
            cursor.execute(sql, params)
            write(f"  loaded {name}: {cursor.rowcount:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        # As autovacuum leaves a table that has lived a while: its statistics, and its
        # visibility map (without it an index-only scan reads the rows too). VACUUM
        # cannot run in a transaction (the test's): there, statistics only.
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
        write(f"  vacuumed and analysed in {time.perf_counter() - started:.1f} s")


# --- Timing -----------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    url: str
    # Only the superuser's (what an editor may not do), or only the editor's.
    who: tuple[str, ...] = ("editor", "superuser")


def pages_list() -> list[Page]:
    """The pages an editor meets, in the order of a morning: the dashboard, the
    edition, the ledger and its filters and searches, the readers."""
    from django.urls import reverse

    from newsletter.models import Delivery, Edition
    from subscribers.models import Subscriber

    edition = Edition.objects.order_by("-date").first()
    delivery = Delivery.objects.filter(status=Delivery.Status.SENT).order_by("-id").first()
    reader = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).order_by("id").first()
    paper_id = edition.entries.order_by("position").values_list("paper_id", flat=True).first() if edition else None
    # A paper of half the ledger ago (an editor withdrawing one that went out weeks
    # before): its rows are far from the newest, which the list's order starts at.
    editions = Edition.objects.order_by("-date")
    older = editions[editions.count() // 2] if editions.count() > 1 else None
    old_paper_id = older.entries.order_by("position").values_list("paper_id", flat=True).first() if older else None
    deliveries = reverse("admin:newsletter_delivery_changelist")
    readers = reverse("admin:subscribers_subscriber_changelist")
    pages = [
        Page("index", reverse("admin:index")),
        Page("dashboard", reverse("admin:newsletter_dashboard")),
        Page("editions", reverse("admin:newsletter_edition_changelist")),
    ]
    if edition:
        change = reverse("admin:newsletter_edition_change", args=[edition.pk])
        pages += [Page("edition's page", change)]
        if reader:
            pages += [Page("edition's preview as a reader", f"{change}?preview_as={reader.pk}")]
    pages += [
        Page("deliveries", deliveries),
        Page("deliveries: status failed", f"{deliveries}?status__exact=failed"),
        Page("deliveries: event bounced", f"{deliveries}?event=bounced"),
        Page("deliveries: event delivered", f"{deliveries}?event=delivered"),
        Page("deliveries: event complained", f"{deliveries}?event=complained"),
    ]
    if edition:
        pages += [Page("deliveries: edition", f"{deliveries}?edition__id__exact={edition.pk}")]
    if paper_id:
        pages += [Page("deliveries: carried paper", f"{deliveries}?carried={paper_id}")]
    if old_paper_id:
        pages += [Page("deliveries: carried paper of weeks ago", f"{deliveries}?carried={old_paper_id}")]
    if reader:
        pages += [Page("deliveries: search whole address", f"{deliveries}?q={reader.email}")]
    if delivery:
        pages += [
            Page("deliveries: search message id", f"{deliveries}?q={delivery.provider_message_id}"),
            Page("deliveries: search part of an address", f"{deliveries}?q=reader12345@", who=("superuser",)),
            # A part of 2 % of the addresses: thousands of readers, tens of thousands of rows.
            Page("deliveries: search a common part of addresses", f"{deliveries}?q=@example7.com",
                 who=("superuser",)),
            Page("delivery's page", reverse("admin:newsletter_delivery_change", args=[delivery.pk])),
        ]
    pages += [
        Page("readers", readers),
        Page("readers: status active", f"{readers}?status__exact=active"),
    ]
    if reader:
        pages += [
            Page("readers: search whole address", f"{readers}?q={reader.email}"),
            Page("reader's page", reverse("admin:subscribers_subscriber_change", args=[reader.pk])),
        ]
    pages += [
        Page("readers: search part of an address", f"{readers}?q=reader12345@", who=("superuser",)),
        Page("papers", reverse("admin:newsletter_paper_changelist")),
        Page("users", reverse("admin:auth_user_changelist"), who=("superuser",)),
    ]
    return pages


def client_signed_in(user):
    """A test client signed in as `user` with both steps: the password (force_login)
    and a code of their app (the session's verified device, config/two_factor.py)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
    session.save()
    return client


def page_time(client, url: str, *, repeat: int) -> dict:
    """Median ms of `repeat` loads (after one to warm caches), the queries of the last
    and its slowest query's ms."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    status = client.get(url).status_code
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            status = client.get(url).status_code
            times.append((time.perf_counter() - started) * 1000)
    timed = sorted(((float(q["time"]) * 1000, q["sql"]) for q in queries.captured_queries), reverse=True)
    return {"ms": statistics.median(times), "queries": len(queries), "slowest_ms": timed[0][0] if timed else 0.0,
            "slow_sql": [(ms, sql) for ms, sql in timed if ms >= SQL_SLOW_MS], "status": status}


def run(*, readers: int = DEFAULT_READERS, editions: int = DEFAULT_EDITIONS, per_edition: int | None = None,
        load: bool = True, repeat: int = 3, only: str = "", show_sql: bool = False,
        write: Callable[[str], None] = print) -> list[dict]:
    """Load (if asked) and time every page; returns a row per page and user."""
    from subscribers.models import Subscriber

    if load:
        per_edition = round(readers * DELIVERY_SHARE) if per_edition is None else per_edition
        write(f"Loading {readers:,} readers, {editions} editions of {per_edition:,} deliveries…")
        data_load(readers=readers, editions=editions, per_edition=per_edition, write=write)
    editor, superuser = users_ensure()
    from newsletter.models import Delivery, DeliveryEvent

    write(f"Timing at {Subscriber.objects.count():,} readers, {Delivery.objects.count():,} deliveries, "
          f"{DeliveryEvent.objects.count():,} events; median of {repeat}")
    clients = {"editor": client_signed_in(editor), "superuser": client_signed_in(superuser)}
    rows = []
    for page in pages_list():
        if only and only not in page.label:
            continue
        for who in page.who:
            row = {"page": page.label, "who": who, "url": page.url,
                   **page_time(clients[who], page.url, repeat=repeat)}
            rows.append(row)
            write(f"  {page.label} ({who}): {row['ms']:,.0f} ms, {row['queries']} queries, "
                  f"slowest {row['slowest_ms']:,.0f} ms" + ("" if row["status"] == 200 else f", HTTP {row['status']}"))
            for ms, sql in row["slow_sql"] if show_sql else ():
                write(f"    {ms:,.0f} ms: {sql[:SQL_SHOWN]}")
    return rows


def report_table(rows: Sequence[dict]) -> str:
    """Markdown: a line per page, the editor's and the superuser's figures side by side."""
    lines = ["| page | editor ms | queries | slowest query ms | superuser ms | queries | slowest query ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    pages: dict[str, dict[str, dict]] = {}
    for row in rows:
        pages.setdefault(row["page"], {})[row["who"]] = row

    def cells(row: dict | None) -> str:
        if row is None:
            return "— | — | —"
        mark = "" if row["status"] == 200 else f" (HTTP {row['status']})"
        return f"{row['ms']:,.0f}{mark} | {row['queries']} | {row['slowest_ms']:,.0f}"

    for label, by_who in pages.items():
        lines.append(f"| {label} | {cells(by_who.get('editor'))} | {cells(by_who.get('superuser'))} |")
    return "\n".join(lines) + "\n"


def django_setup(database: str) -> None:
    """Django on `database` with production's settings (config.settings): DEBUG off
    (template debug info, query logging), sign-in codes on, PostgreSQL's JIT off."""
    os.environ.update({"DATABASE_URL": database, "DEBUG": "false", "ADMIN_TWO_FACTOR": "true",
                       "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "testserver"})
    os.environ.setdefault("SECRET_KEY", "bench-admin-scale-" + "x" * 40)
    os.environ.setdefault("SUPPRESSION_HASH_KEY", "bench-admin-scale")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


def postgres_setup(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments of a benchmark on a PostgreSQL --database (admin_scale, due,
    imports), with Django set up on it (django_setup); any other URL is refused."""
    args = parser.parse_args(argv)
    if not args.database.startswith(("postgres://", "postgresql://")):
        parser.error("--database must be a PostgreSQL URL (postgres://…)")
    django_setup(args.database)
    return args


def machine_line() -> str:
    """The machine a benchmark's figures come from, and how busy it was."""
    from .report import machine_describe

    return f"Machine: {machine_describe()}; load average {os.getloadavg()[0]:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of the database to load and time.")
    parser.add_argument("--readers", type=int, default=DEFAULT_READERS)
    parser.add_argument("--editions", type=int, default=DEFAULT_EDITIONS)
    parser.add_argument("--deliveries-per-edition", type=int,
                        help=f"Readers each edition went to (default {DELIVERY_SHARE:.1%}% of --readers).")
    parser.add_argument("--load", action=argparse.BooleanOptionalAction, default=True,
                        help="Migrate and fill the (empty) database first (default), or time what is there.")
    parser.add_argument("--repeat", type=int, default=3, help="Loads of each page; the median is shown.")
    parser.add_argument("--only", default="", help="Only the pages whose label contains this.")
    parser.add_argument("--sql", action="store_true", help=f"Print each page's queries of {SQL_SLOW_MS} ms or more.")
    args = postgres_setup(parser, argv)
    from django.core.management import call_command

    write = lambda line: print(line, flush=True)
    # DEBUG off serves the static files' hashed names, as production does after
    # collectstatic (quick once they are there).
    call_command("collectstatic", "--noinput", verbosity=0)
    if args.load:
        write("Migrating…")
        call_command("migrate", "--noinput", verbosity=0)
    rows = run(readers=args.readers, editions=args.editions, per_edition=args.deliveries_per_edition,
               load=args.load, repeat=args.repeat, only=args.only, show_sql=args.sql, write=write)
    write("")
    write(machine_line())
    write(report_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
