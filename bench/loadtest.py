"""`make loadtest`: the public pages under load, with production settings.

Starts gunicorn as docker-compose.yml does (2 gthread workers of 8 threads, no
access log: caddy writes it there) on loopback with DEBUG=false, PostgreSQL and
Redis, fills the database with the sample day and publishes its edition, then runs
each scenario with locust (bench/locustfile.py, headless, bounded in time) and
prints one table:

    50 readers browsing      home, day page, editions, an edition, feed, health
    200 users on the home    each asking 4 times a second (LOADTEST_HOME_RATE)
    20 users subscribing     from one address: form, then POST (429 past the limit)
    cache miss               an editor pins or unpins a paper, then the home page
                             is asked once: sequential, 30 times, CPU of gunicorn

Needs DATABASE_URL (PostgreSQL) and REDIS_URL, each a database of its own: the first is
migrated and filled, the second gets the subscribe scenario's queued emails (purged at
the end). Run it without `nice`; the load generator shares the cores with gunicorn.

    python -m bench.loadtest [--seconds 60] [--only home] [--port 8765]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SAMPLE_DAY = "2025-11-24"
MISS_ROUNDS = 30


@dataclass
class Scenario:
    name: str
    title: str
    user_class: str
    users: int
    processes: int  # locust worker processes: enough to offer the load, no more
    request_name: str = "Aggregated"  # the locust row whose latencies are reported


SCENARIOS = [
    Scenario("readers", "50 readers browsing (home, day page, editions, feed, health)",
             "Reader", 50, 1),
    Scenario("home", "200 users on the home page", "HomeCrowd", 200, 2),
    Scenario("subscribe", "20 users subscribing from one address", "Subscriber", 20, 1,
             request_name="/subscribe/ (POST)"),
]


@dataclass
class Row:
    title: str
    requests: int
    rps: float
    p50: float
    p95: float
    p99: float
    errors: int
    cpu_ms_per_request: float
    note: str = ""


def production_env(var_dir: Path) -> dict[str, str]:
    db = os.environ.get("DATABASE_URL", "")
    if not db.startswith(("postgres://", "postgresql://")):
        sys.exit("make loadtest needs DATABASE_URL=postgres://… (a database of its own).")
    if not os.environ.get("REDIS_URL"):
        sys.exit("make loadtest needs REDIS_URL=redis://…/N (a Redis database of its own).")
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "SUPPRESSION_HASH_KEY": os.environ.get("SUPPRESSION_HASH_KEY") or secrets.token_urlsafe(32),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "VAR_DIR": str(var_dir),
        # A fresh key prefix: an empty page cache and fresh rate-limit counters
        # without flushing anyone's Redis.
        "CACHE_KEY_PREFIX": f"loadtest-{secrets.token_hex(4)}",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def site_prepare(env: dict) -> None:
    manage(env, "bootstrap")  # migrate, schedules, the sample day, an admin
    manage(env, "collectstatic", "--noinput")
    manage(env, "shell", "-c", (
        "import datetime as dt\n"
        "from newsletter.editions import edition_assemble, edition_freeze\n"
        f"edition_freeze(edition=edition_assemble(date=dt.date.fromisoformat('{SAMPLE_DAY}')))\n"
    ))


def production_site(name: str, *, prepare: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark against the site with production settings
    (production_env, its files under var/<name>, `extra` on top), made this process's
    own (Django can be set up next), the database prepared first unless `prepare` is
    off (an earlier run from this checkout did it)."""
    var_dir = BASE_DIR / "var" / name
    var_dir.mkdir(parents=True, exist_ok=True)
    env = production_env(var_dir) | (extra or {})
    if prepare:
        print("Preparing the database (migrate, sample day, its edition published)…", flush=True)
        site_prepare(env)
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))
    return env


def gunicorn_command(*, port: int, workers: int, threads: int) -> list[str]:
    """As docker-compose.yml starts it. No control socket: a run beside another
    gunicorn of the same user would take over its ~/.gunicorn/gunicorn.ctl, and delete
    it when the run ends."""
    return [PYTHON, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--threads", str(threads), "--no-control-socket"]


def gunicorn_start(env: dict, *, port: int, workers: int, threads: int) -> subprocess.Popen:
    process = subprocess.Popen(
        gunicorn_command(port=port, workers=workers, threads=threads),
        env=env, cwd=BASE_DIR, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
            return process
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    gunicorn_stop(process)
    sys.exit("gunicorn did not answer within 60 s")


def gunicorn_stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes, every thread of each (gthread workers serve from
    their threads), from /proc/<pid>/task/<tid>/schedstat (nanoseconds)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
    return total / 1e9


def locust_run(scenario: Scenario, *, url: str, seconds: int, out: Path,
               env: dict) -> tuple[Path, int]:
    """Run one scenario: (locust's stats CSV, how many requests were answered 429)."""
    prefix = out / scenario.name
    refused = out / f"{scenario.name}_refused.txt"
    refused.unlink(missing_ok=True)
    subprocess.run(
        [PYTHON, "-m", "locust", "-f", str(BASE_DIR / "bench" / "locustfile.py"), "--headless",
         "--users", str(scenario.users), "--spawn-rate", str(scenario.users),
         "--run-time", f"{seconds}s", "--stop-timeout", "5", "--host", url,
         "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR",
         *(["--processes", str(scenario.processes)] if scenario.processes > 1 else []),
         scenario.user_class],
        env={**env, "LOADTEST_DAY": SAMPLE_DAY, "LOADTEST_REFUSED_FILE": str(refused)},
        check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    count = sum(int(line) for line in refused.read_text().split()) if refused.exists() else 0
    return Path(f"{prefix}_stats.csv"), count


def scenario_run(scenario: Scenario, *, url: str, seconds: int, out: Path, env: dict,
                 master: int) -> Row:
    pids = worker_pids(master)
    cpu_start = cpu_seconds(pids)
    stats, refused = locust_run(scenario, url=url, seconds=seconds, out=out, env=env)
    cpu = cpu_seconds(pids) - cpu_start
    rows = {row["Name"]: row for row in csv.DictReader(stats.open())}
    total, shown = rows["Aggregated"], rows[scenario.request_name]
    count = int(total["Request Count"])
    note = ""
    if scenario.name == "subscribe":
        note = f"{refused} answered 429 (limit held)"
    return Row(
        title=scenario.title, requests=count, rps=float(total["Requests/s"]),
        p50=float(shown["50%"]), p95=float(shown["95%"]), p99=float(shown["99%"]),
        errors=int(total["Failure Count"]), cpu_ms_per_request=cpu * 1000 / max(count, 1),
        note=note,
    )


def miss_run(*, url: str, master: int) -> list[Row]:
    """The first request after an editor's change, against a stored page: one at a
    time, so the CPU gunicorn spent is that request's."""
    import django

    django.setup()
    from newsletter.curation import papers_flag_set
    from newsletter.models import Paper

    paper = Paper.objects.filter(trending_date=SAMPLE_DAY).order_by("-upvotes").last()
    pids = worker_pids(master)
    headers = {"Accept-Encoding": "gzip, deflate, br"}

    def fetch() -> tuple[float, float]:
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/", headers=headers)) as r:
            r.read()
        return (time.perf_counter() - started) * 1000, (cpu_seconds(pids) - cpu) * 1000

    for _ in range(6):  # every worker warm
        fetch()
    misses, hits = [], []
    for round_ in range(MISS_ROUNDS):
        papers_flag_set(papers=[paper], pinned=round_ % 2 == 0)
        misses.append(fetch())
        hits.append(fetch())
    papers_flag_set(papers=[paper], pinned=False)

    def row(title: str, samples: list[tuple[float, float]]) -> Row:
        wall = sorted(s[0] for s in samples)
        def pick(q: float) -> float:
            return wall[min(len(wall) - 1, int(q * len(wall)))]

        return Row(
            title=title, requests=len(samples), rps=0.0, p50=pick(0.5), p95=pick(0.95),
            p99=pick(0.99), errors=0, cpu_ms_per_request=sum(s[1] for s in samples) / len(samples),
        )

    return [
        row("Cache miss: home page right after an editor pins a paper", misses),
        row("Cache hit: the same page asked again", hits),
    ]


def table(rows: list[Row], *, seconds: int) -> str:
    lines = [
        (f"| scenario ({seconds} s) | requests | requests/s | p50 / p95 / p99 | errors "
         "| gunicorn CPU per request |"),
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        rps = f"{r.rps:,.1f}" if r.rps else "sequential"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.title} | {r.requests:,} | {rps} | {r.p50:.0f} / {r.p95:.0f} / {r.p99:.0f} ms "
            f"| {r.errors}{note} | {r.cpu_ms_per_request:.1f} ms |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each scenario")
    parser.add_argument("--port", type=int, default=8765)
    # As docker-compose.yml runs it: gthread workers keep a browser's connection open
    # between requests (sync workers close it after each), one worker per core.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (compose: 2)")
    parser.add_argument("--threads", type=int, default=8,
                        help="threads per worker (compose: 8); 1 runs sync workers")
    parser.add_argument("--only", choices=[s.name for s in SCENARIOS] + ["miss"], action="append",
                        help="run only these scenarios (repeatable)")
    args = parser.parse_args()
    if importlib.util.find_spec("locust") is None:
        # Without it every scenario's stats file is missing: say why, not a traceback.
        sys.exit("locust is not installed: `make loadtest` installs it (pip install -e '.[loadtest]').")

    url = f"http://127.0.0.1:{args.port}"
    # The site's own address: the page cache stores the pages of that host (and of
    # ALLOWED_HOSTS' names as listed), not of every port (page_cache._host_stored).
    env = production_site("loadtest", extra={"SITE_URL": url})  # the cache-miss scenario acts as the editor, in this process
    out = Path(env["VAR_DIR"])
    server = gunicorn_start(env, port=args.port, workers=args.workers, threads=args.threads)
    rows: list[Row] = []
    try:
        for scenario in SCENARIOS:
            if args.only and scenario.name not in args.only:
                continue
            print(f"Running: {scenario.title}, {args.seconds} s…", flush=True)
            rows.append(scenario_run(scenario, url=url, seconds=args.seconds, out=out, env=env,
                                     master=server.pid))
        if not args.only or "miss" in args.only:
            print("Running: cache misses…", flush=True)
            rows.extend(miss_run(url=url, master=server.pid))
    finally:
        gunicorn_stop(server)
        from config.celery import app

        app.control.purge()  # the subscribe scenario's confirmation emails
    print()
    kind = f"gthread workers of {args.threads} threads" if args.threads > 1 else "sync workers"
    print(f"gunicorn: {args.workers} {kind} on {url}; DEBUG=false, PostgreSQL, Redis; "
          f"load: locust {locust_version()} FastHttpUser (bench/locustfile.py)")
    print(table(rows, seconds=args.seconds))
    return 0


def locust_version() -> str:
    from importlib.metadata import version

    return version("locust")


if __name__ == "__main__":
    sys.exit(main())
