"""The benchmark of the whole digest path: `make bench`, i.e.
`python -m bench.digests`. docs/benchmarks.md has the figures.

    python -m bench.digests                      # N = 1,000, 10,000, 100,000
    python -m bench.digests --subscribers 1000 --skip-celery
    python -m bench.digests --esp-latency 0,50,100,300 --esp-rate 50

For each audience size N it builds, in a database of its own (created here and
dropped at the end), N subscribers with varied preferences and one day of P papers
(bench/data.py), then runs the real path — who is due (`subscribers_due`), the
ledger rows (`deliveries_create`), and `digest_send_batch` batch after batch: rank,
render HTML and text, build the message with its headers, hand it to anymail's
test backend, record the outcomes — and reports digests per second, ms per digest
(p50/p95), SQL queries per batch, peak memory and wall time (bench/report.py).
Beside it, in the same run: the render floor (mjml2html alone on one finished
digest), django-newsletter sending one newsletter to the same N (bench/dnl.py) and
the same path through 2 real Celery worker processes (bench/workers.py). With
--esp-latency, the runs against a latent ESP instead (bench/esp.py).

Every measured step runs in a fresh child process (`--phase`, bench/phases.py);
this parent only creates the database, starts the children and writes the report.
The benchmark uses the apps' public functions only; nothing in the apps imports it
(tests/architecture/test_imports.py)."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from .data import DEFAULT_PAPERS, PROJECT_DIR, SAMPLE_FILE
from .esp import ESP_DEFAULT_SUBSCRIBERS, esp_runs
from .phases import BENCH_EMAIL_BACKEND, child_main
from .report import costs_describe, esp_plot, machine_describe, report_plot, report_table
from .workers import celery_run

DNL_RUNNER = PROJECT_DIR / "bench" / "dnl.py"
# Where `make bench` installs django-newsletter (pip install --target): it cannot
# share the virtualenv, its package is called `newsletter` too (bench/dnl.py).
DNL_TARGET = PROJECT_DIR / "var" / "bench" / "django-newsletter"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_DATABASE_NAME = "bench_digests"


@dataclass
class BenchDatabase:
    """A database of the benchmark's own: a PostgreSQL database created on the
    server of DATABASE_URL (or of --database) and dropped at the end, or a
    temporary SQLite file."""

    url: str
    label: str
    drop: Callable[[], None] = field(repr=False, default=lambda: None)

    @classmethod
    def create(cls, *, url: str | None, suffix: str = "") -> BenchDatabase:
        import dj_database_url

        base = url or os.environ.get("DATABASE_URL") or ""
        config = dj_database_url.parse(base) if base else {"ENGINE": "sqlite3"}
        if "postgresql" in config["ENGINE"]:
            name = (config["NAME"] if url else DEFAULT_DATABASE_NAME) + suffix
            server = {"host": config.get("HOST") or "127.0.0.1", "port": config.get("PORT") or 5432,
                      "user": config.get("USER") or "postgres", "password": config.get("PASSWORD") or None}
            _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', guard=name)
            _pg_admin(server, f'CREATE DATABASE "{name}"', guard=name)
            auth = server["user"] + (f":{server['password']}" if server["password"] else "")
            db_url = f"postgres://{auth}@{server['host']}:{server['port']}/{name}"
            return cls(url=db_url, label=f"PostgreSQL {name} on {server['host']}:{server['port']}",
                       drop=lambda: _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                                              guard=name))
        folder = Path(tempfile.mkdtemp(prefix="bench_digests_"))
        path = folder / f"bench{suffix}.sqlite3"
        return cls(url=f"sqlite:///{path}", label=f"SQLite {path}",
                   drop=lambda: shutil.rmtree(folder, ignore_errors=True))


def _pg_admin(server: dict, sql: str, *, guard: str) -> None:
    import psycopg

    # Only databases made for the benchmark are ever dropped.
    if not guard.startswith("bench"):
        raise ValueError(f"refusing to create or drop {guard!r}: its name must start with 'bench'")
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **server) as conn:
        conn.execute(sql)


@dataclass
class BenchOptions:
    sizes: Sequence[int] = DEFAULT_SIZES
    papers: int = DEFAULT_PAPERS
    database: str | None = None
    redis: str | None = None
    skip_celery: bool = False
    esp_latencies: list[int] | None = None  # --esp-latency: ms of each fake-ESP run
    esp_subscribers: int = ESP_DEFAULT_SUBSCRIBERS
    esp_rate: int | None = None  # --esp-rate: ESP_MAX_PER_SECOND of one more run
    worker_pool: str = "threads"
    skip_django_newsletter: bool = False
    celery_subscribers: int | None = None  # default: the largest of `sizes`
    dnl_max: int | None = None  # largest N for django-newsletter (default: all)
    profile: bool = False
    out_dir: Path = PROJECT_DIR / "var" / "bench"


class Bench:
    def __init__(self, options: BenchOptions, write: Callable[[str], None]):
        self.options = options
        self.write = write
        self.results: dict = {"sizes": {}, "celery": None, "machine": machine_describe()}
        self.secret_key = "bench-" + secrets.token_urlsafe(48)
        self.suppression_hash_key = "bench-" + secrets.token_urlsafe(32)

    # Children ------------------------------------------------------------------------
    def env(self, db: BenchDatabase) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = db.url
        env["REDIS_URL"] = self.options.redis or settings.REDIS_URL
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"))
        # config.settings_test picks the backend from TEST_EMAIL_BACKEND, config.settings
        # from EMAIL_BACKEND: set both for the Celery workers.
        env["EMAIL_BACKEND"] = env["TEST_EMAIL_BACKEND"] = BENCH_EMAIL_BACKEND
        env["CELERY_EAGER"] = "0"
        # Measured as in production: DEBUG off (template debug info, query logging).
        env["DEBUG"] = "false"
        env.setdefault("SECRET_KEY", self.secret_key)
        # Required with DEBUG off; the benchmark's database is its own, any key will do.
        env.setdefault("SUPPRESSION_HASH_KEY", self.suppression_hash_key)
        env.setdefault("SECURE_SSL_REDIRECT", "false")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def child(self, db: BenchDatabase, phase: str, **kwargs) -> dict:
        args = [sys.executable, "-m", "bench.digests", "--phase", phase]
        for key, value in kwargs.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        done = subprocess.run(args, env=self.env(db), cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                              stderr=None, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark step {phase} failed (exit {done.returncode})")
        return json.loads(done.stdout.strip().splitlines()[-1])

    # The run -------------------------------------------------------------------------
    def run(self) -> dict:
        opts = self.options
        db = BenchDatabase.create(url=opts.database)
        self.results["database"] = db.label
        self.write(f"Benchmark database: {db.label} (created for this run, dropped at the end)")
        try:
            self.write("Migrating the benchmark database…")
            subprocess.run([sys.executable, str(PROJECT_DIR / "manage.py"), "migrate", "--noinput",
                            "-v", "0"], env=self.env(db), cwd=PROJECT_DIR, check=True)
            made = self.child(db, "papers", papers=opts.papers)
            self.results["papers"] = made["edition_papers"]
            self.write(f"One day of {made['edition_papers']} papers loaded.")
            if opts.esp_latencies is not None:
                self.results["esp"] = esp_runs(self, db)
                return self.results
            celery_n = opts.celery_subscribers or max(opts.sizes)
            for n in sorted(opts.sizes):
                self.write(f"N = {n:,}: building the audience…")
                self.child(db, "audience", count=n)
                self.write(f"N = {n:,}: sending through the real path…")
                extra = {}
                if opts.profile:
                    extra["profile_path"] = opts.out_dir / f"profile-{n}.txt"
                row = self.child(db, "send", **extra)
                self.results["sizes"][n] = {"path": row}
                self.write(f"  {row['sent']:,} sent, {row['skipped']:,} skipped, "
                           f"{row['digests_per_second']:,.0f} digests/s, peak {row['peak_rss_mb']:.0f} MB, "
                           f"garbage collector {row.get('gc_seconds', 0):.1f} s")
                self.write(f"  per digest: {costs_describe(row)}")
                if not opts.skip_django_newsletter and (opts.dnl_max is None or n <= opts.dnl_max):
                    self.write(f"N = {n:,}: django-newsletter…")
                    self.results["sizes"][n]["django_newsletter"] = self.dnl_run(n)
                if not opts.skip_celery and n == celery_n:
                    self.results["celery"] = celery_run(self, db, n)
            if not opts.skip_celery and celery_n not in opts.sizes:
                self.write(f"Celery, N = {celery_n:,}: building the audience…")
                self.child(db, "audience", count=celery_n)
                self.results["celery"] = celery_run(self, db, celery_n, reset=False)
        finally:
            db.drop()
            self.write(f"Benchmark database dropped: {db.label}")
        return self.results

    def dnl_run(self, n: int) -> dict | None:
        if not (DNL_TARGET / "newsletter").exists():
            self.write(f"  django-newsletter is not installed in {DNL_TARGET}: run `make bench` "
                       "(or --skip-django-newsletter)")
            return None
        db = BenchDatabase.create(url=self.options.database, suffix="_dnl")
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = str(DNL_TARGET)
            env.pop("DJANGO_SETTINGS_MODULE", None)
            done = subprocess.run(
                [sys.executable, str(DNL_RUNNER), "--subscribers", str(n), "--database", db.url,
                 "--sample", str(SAMPLE_FILE)],
                env=env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, text=True, check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            db.drop()
        self.write(f"  django-newsletter: {row['sent']:,} sent, {row['ms_per_email']:.2f} ms per email")
        return row


def bench_main(*, options: BenchOptions, write: Callable[[str], None]) -> dict:
    """Run everything, print the table, write var/bench/results.{md,json} and the plot."""
    results = Bench(options, write).run()
    table = report_table(results)
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    plot = report_plot(results, out / "bench.png") if results["sizes"] else None
    if results.get("esp"):
        esp_plot(results["esp"], out / "bench-esp.png")
    write("")
    write(table)
    write(f"Written: {out / 'results.md'}, {out / 'results.json'}"
          + (f", {plot}" if plot else " (no plot: pip install -e '.[bench]' for matplotlib)"))
    return results


# --- The command line -----------------------------------------------------------------


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"takes numbers separated by commas, got {value!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("needs at least one positive number")
    return sizes


def _latencies(value: str) -> list[int]:
    try:
        latencies = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"takes milliseconds separated by commas, got {value!r}") from exc
    if not latencies or min(latencies) < 0:
        raise argparse.ArgumentTypeError("needs at least one latency, none negative")
    return latencies


def parser_make() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.digests",
        description="Benchmark the digest path against the render floor, django-newsletter and Celery.",
    )
    parser.add_argument("--subscribers", type=_sizes, default=list(DEFAULT_SIZES), metavar="N[,N...]",
                        help="Audience sizes N, comma separated (default 1000,10000,100000).")
    parser.add_argument("--papers", type=int, default=DEFAULT_PAPERS,
                        help="Papers of the day (the 73 sample papers, varied beyond that).")
    parser.add_argument("--database", help="Database URL for the benchmark's own database "
                        "(created and dropped; a PostgreSQL name must start with 'bench'). "
                        "Default: bench_digests on DATABASE_URL's server, else a temp SQLite file.")
    parser.add_argument("--redis", help="Redis URL of the Celery broker and the journal "
                        "(default: REDIS_URL).")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--skip-django-newsletter", action="store_true")
    parser.add_argument("--celery-subscribers", type=int,
                        help="N for the Celery run (default: the largest --subscribers).")
    parser.add_argument("--django-newsletter-max", type=int,
                        help="Run django-newsletter only for N up to this.")
    parser.add_argument("--profile", action="store_true",
                        help="Profile each send with pyinstrument (var/bench/profile-N.txt).")
    parser.add_argument("--out", default=str(PROJECT_DIR / "var" / "bench"),
                        help="Folder for results.md, results.json and bench.png.")
    parser.add_argument("--esp-latency", type=_latencies, metavar="MS[,MS...]",
                        help="Instead of the sizes: the same audience through Celery with "
                        "anymail's test backend, then anymail's Postmark backend against a "
                        "local fake Postmark answering in MS ms (1 %% of calls 5x slower).")
    parser.add_argument("--esp-subscribers", type=int, default=ESP_DEFAULT_SUBSCRIBERS,
                        help="Audience of the --esp-latency runs.")
    parser.add_argument("--esp-rate", type=int,
                        help="One more run with ESP_MAX_PER_SECOND set to this.")
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads",
                        help="Celery pool of the benchmark's worker processes.")
    # Internal: one measured step, in a child process (bench/phases.py).
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-path", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout=None) -> int:
    """Parse the options and run the benchmark (or, with --phase, one step of it).
    Django must be set up (as `python -m bench.digests` does)."""
    stdout = stdout or sys.stdout
    opts = parser_make().parse_args(argv)
    if opts.phase:
        result = child_main(phase=opts.phase, count=opts.count, papers=opts.papers,
                            profile=opts.profile_path or "", pool=opts.pool, stderr=sys.stderr)
        print(json.dumps(result, default=str), file=stdout, flush=True)
        return 0
    # On a bare machine (no REDIS_URL, no --redis) the journal, the rate limits and the
    # Celery run get a real Redis of their own, as `make run` and `make test` do.
    embedded, redis_url = None, opts.redis
    if not redis_url and not os.environ.get("REDIS_URL"):
        from config.devrun import redis_ensure

        env: dict = {}
        embedded = redis_ensure(env, int(os.environ.get("EMBEDDED_REDIS_BENCH_PORT", "6382")))
        redis_url = env["REDIS_URL"]
    if redis_url:
        # This process reads that server too (its CPU around the Celery run, the ESP
        # runs' call times), not the settings' default.
        settings.REDIS_URL = redis_url
    options = BenchOptions(
        sizes=opts.subscribers,
        papers=opts.papers,
        database=opts.database,
        redis=redis_url,
        skip_celery=opts.skip_celery,
        skip_django_newsletter=opts.skip_django_newsletter,
        celery_subscribers=opts.celery_subscribers,
        dnl_max=opts.django_newsletter_max,
        profile=opts.profile,
        out_dir=Path(opts.out),
        esp_latencies=opts.esp_latency,
        esp_subscribers=opts.esp_subscribers,
        esp_rate=opts.esp_rate,
        worker_pool=opts.pool,
    )
    try:
        bench_main(options=options, write=lambda line: print(line, file=stdout, flush=True))
    finally:
        if embedded is not None:
            from config.devrun import stop_all

            stop_all([embedded])
    return 0


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    sys.exit(main())
