"""The fault matrix's machinery: a Redis server of its own (so a case may restart it
without touching the machine's), the fake Postmark (tests/chaos/fake_esp.py),
real Celery workers started and killed as processes, and the summary table.

The matrix needs PostgreSQL (it kills a worker's database connection) and starts
processes, so it runs on its own: `make chaos` (CHAOS=1 pytest tests/chaos), which
.ci/run calls after `make test`. Without CHAOS=1 the modules are not collected,
so `make test` on SQLite stays whole and fast."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.own_redis import OwnRedis

ROOT = Path(__file__).resolve().parents[2]

if os.environ.get("CHAOS", "").lower() not in {"1", "true", "yes"}:
    collect_ignore_glob = ["test_*.py"]

WAIT_SECONDS = 240
# Readers of every case: enough for many batches (CHAOS_BATCH_SIZE each), so a fault
# lands somewhere in the middle of a send, not at one point of one batch.
READERS = int(os.environ.get("CHAOS_READERS", "1000"))
# After the last request the ESP must stay quiet this long before counts are read,
# so a late duplicate (a retry, a redelivered message) would still be counted.
QUIET_SECONDS = 1.5
TERMINAL = {"sent", "failed", "skipped"}
ROWS: list[dict] = []


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory):
    server = OwnRedis(tmp_path_factory.mktemp("chaos-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def esp():
    from .fake_esp import FakeEsp

    server = FakeEsp().start()
    yield server
    server.stop()


@dataclass
class Chaos:
    """One case: its processes, readers and the checks run after it."""

    name: str
    redis: OwnRedis
    esp: object
    tmp: Path
    database_url: str
    seed: int = 0
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    batch_size: int = 25
    # Short, so a hanging ESP shows as a timeout within the case.
    requests_timeout: float = 1
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def fault_after(self, low: float = 0.1, high: float = 0.6, readers: int = READERS) -> int:
        """How many messages the ESP takes before the fault: a random moment of the
        send, drawn from the case's printed seed (CHAOS_SEED replays it)."""
        return self.random.randint(int(low * readers), int(high * readers))

    def env(self, **extra) -> dict:
        anymail = {
            "POSTMARK_SERVER_TOKEN": "chaos-server-token",
            "POSTMARK_API_URL": self.esp.url,
            "REQUESTS_TIMEOUT": self.requests_timeout,
        }
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "CELERY_EAGER": "0",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis.url,
            "TEST_EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL": json.dumps(anymail),
            "CHAOS_BATCH_SIZE": str(self.batch_size),
            # No fixed rate unless a case sets one; the ESP's 429s still slow it down.
            "ESP_MAX_PER_SECOND": "0",
            "ESP_SEND_THREADS": "16",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            **{k: str(v) for k, v in {**self.extra_env, **extra}.items()},
        }

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tests.chaos.worker", *args], cwd=ROOT, env=self.env(),
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode:
            pytest.fail(f"{args[0]} failed:\n{result.stdout}\n{result.stderr[-3000:]}")
        return result.stdout.strip()

    def start_worker(self, name: str, **env) -> subprocess.Popen:
        return self._start(name, ["worker", name], env)

    def start_beat(self) -> subprocess.Popen:
        """Celery beat with the project's default schedules (the lease sweep every
        30 s among them), as deployed; left out: the morning fetch (no internet) and
        the scoring of papers without a vector (the factories' papers have none: it
        would load the models and re-score the day in the middle of a case)."""
        from django_celery_beat.models import PeriodicTask

        from newsletter.schedules import schedules_ensure

        schedules_ensure()
        PeriodicTask.objects.filter(task__in=[
            "newsletter.tasks.papers_fetch_today", "newsletter.tasks.papers_missing_rescore",
        ]).update(enabled=False)
        return self._start("beat", ["beat"], {})

    def _start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - the process holds it
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.worker", *args],
            cwd=ROOT, env=self.env(**env), start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
        )
        self.workers[name] = proc
        return proc

    def signal_worker(self, name: str, sig: int) -> None:
        os.killpg(self.workers[name].pid, sig)

    def kill_worker(self, name: str) -> None:
        proc = self.workers[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def dispatch(self, now: dt.datetime) -> str:
        return self._run("dispatch", now.isoformat())

    def dispatch_started(self, now: dt.datetime) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.worker", "dispatch", now.isoformat()],
            cwd=ROOT, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def sweep(self, when: str = "later") -> str:
        return self._run("sweep", when)

    def sweeps_racing(self, count: int = 2) -> list[str]:
        """Several sweeps at the same moment (two dispatcher ticks, beat and a tick)."""
        procs = [subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.worker", "sweep", "now"], cwd=ROOT, env=self.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) for _ in range(count)]
        out = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stderr
            out.append(stdout.strip())
        return out

    def journal_attempting(self, *, unmarked_sent: bool = False) -> set[str]:
        """The addresses whose message is inside its provider call right now (journal
        entries "attempting"): at a kill, the documented duplicates can only be
        among them (newsletter/delivery.py, rule 3). With `unmarked_sent`, also those
        whose call has returned ("sent:<id>") but whose row is not marked sent yet
        (rule 2's gap): if Redis loses the journal in that same moment, they are in
        the same residual risk. Read while the worker is paused."""
        from newsletter.models import Delivery

        client = self.redis.client()
        entries = {int(key.split(b":")[3]): client.get(key)
                   for key in client.scan_iter(match="digest:journal:*", count=1000)}
        ids = [pk for pk, value in entries.items() if value == b"attempting"]
        if unmarked_sent:
            returned = [pk for pk, value in entries.items() if (value or b"").startswith(b"sent:")]
            ids += Delivery.objects.filter(id__in=returned).exclude(
                status=Delivery.Status.SENT).values_list("id", flat=True)
        return {e.lower() for e in Delivery.objects.filter(id__in=ids).values_list("subscriber__email", flat=True)}

    def send_task(self, name: str, *args) -> None:
        from celery import Celery

        app = Celery("chaos", broker=self.redis.url)
        app.conf.task_serializer = "json"
        app.send_task(name, args=list(args))
        app.close()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.tmp.glob("*.log"))
        )

    def wait(self, condition, what, timeout: float = WAIT_SECONDS) -> None:
        """`what`: the text of the failure, or a function that makes it then."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                what = what() if callable(what) else what
                pytest.fail(f"{self.name}: timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.1)

    def ledger(self) -> dict[str, list[str]]:
        from newsletter.models import Delivery

        rows: dict[str, list[str]] = defaultdict(list)
        for email, status in Delivery.objects.values_list("subscriber__email", "status"):
            rows[email.lower()].append(status)
        return rows

    def settle(self, *, due: list[str]) -> None:
        """Wait until every due reader has a row, every row is final, the queue is
        empty and the ESP has been quiet for a moment."""
        wanted = {e.lower() for e in due}

        def done() -> bool:
            ledger = self.ledger()
            if not wanted <= set(ledger):
                return False
            if any(s not in TERMINAL for rows in ledger.values() for s in rows):
                return False
            try:
                if self.redis.client().llen("celery"):
                    return False
            except Exception:  # noqa: BLE001 - Redis may be restarting
                return False
            return self.esp.quiet_for() >= QUIET_SECONDS and not self.esp.in_transit

        def open_rows() -> str:
            from newsletter.models import Delivery

            rows = Delivery.objects.exclude(status__in=TERMINAL)
            sample = list(rows.values_list("id", "status", "attempts", "lease_expires_at", "error")[:10])
            return f"every delivery to reach a final state ({rows.count()} open: {sample})"

        self.wait(done, open_rows)

    def check(self, *, due: list[str], left: list[str] = (), refused: list[str] = (),
              started: float, fault_at: float | None = None, in_flight: set[str] = frozenset(),
              served_within: float | None = None) -> dict:
        """The matrix's invariants; records and prints the row, then asserts.
        `in_flight`: addresses inside a provider call of a process the case killed
        or froze (their duplicates are the documented at-least-once, counted apart);
        `served_within`: seconds after the fault by which every due reader must have
        had their digest."""
        ledger = self.ledger()
        accepted = self.esp.accepted
        due_l = [e.lower() for e in due]
        left_l = [e.lower() for e in left]
        refused_l = [e.lower() for e in refused]
        duplicates = sum(max(0, n - 1) for e, n in accepted.items() if e not in in_flight)
        in_flight_duplicates = sum(max(0, accepted[e] - 1) for e in in_flight)
        served = [self.esp.first_accepted[e] for e in due_l if e in self.esp.first_accepted]
        last_served = (max(served) - (fault_at or started)) if served else float("nan")
        missed = [e for e in due_l if accepted[e] == 0 or ledger.get(e) != ["sent"]]
        mailed_after_leaving = sum(accepted[e] for e in left_l)
        refused_wrong = [
            e for e in refused_l
            if ledger.get(e) != ["failed"] or accepted[e] or self.esp.received[e] != 1
        ]
        row = {
            "case": self.name,
            "seed": self.seed,
            "due": len(due_l),
            "sent": sum(1 for rows in ledger.values() for s in rows if s == "sent"),
            "accepted": sum(accepted.values()),
            "refused": sum(1 for rows in ledger.values() for s in rows if s == "failed"),
            "left_mailed": mailed_after_leaving,
            "duplicates": duplicates,
            "dup_in_flight": in_flight_duplicates,
            "missed": len(missed),
            # From the fault (or the dispatch) to the last due reader's digest.
            "served_s": round(last_served, 1),
        }
        ROWS.append(row)
        print("\n" + " ".join(f"{k}={v}" for k, v in row.items()))
        wrong = {e: rows for e, rows in ledger.items() if rows != ["sent"]}
        doubled = {e: n for e, n in accepted.items() if n > 1}
        details = f"\nseed={self.seed}\nnot sent={wrong}\ntwice={doubled}\n{self.logs()}"
        assert duplicates == 0, f"some reader got a digest twice{details}"
        assert not missed, f"due readers without exactly one digest: {missed}{details}"
        assert mailed_after_leaving == 0, f"a reader who left was mailed{details}"
        assert not refused_wrong, f"refused addresses not failed once: {refused_wrong}{details}"
        assert row["sent"] == len(due_l)
        assert in_flight_duplicates <= len(in_flight)
        if served_within is not None:
            assert last_served <= served_within, f"the last due reader was served {last_served:.0f} s after the fault"
        return row


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if "postgresql" not in db["ENGINE"]:
        pytest.fail(
            "The chaos matrix needs PostgreSQL (it kills a worker's database connection): "
            "run it with DATABASE_URL=postgres://... (make chaos)"
        )
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def chaos(request, transactional_db, own_redis, esp, tmp_path):
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    esp.reset(seed=seed)
    own_redis.client().flushall()
    case = Chaos(
        name=request.node.callspec.id if hasattr(request.node, "callspec") else request.node.name.removeprefix("test_"),
        redis=own_redis, esp=esp, tmp=tmp_path, database_url=_test_database_url(), seed=seed,
    )
    print(f"\n{case.name}: seed {seed} (CHAOS_SEED={seed} replays it)")
    yield case
    for name in list(case.workers):
        case.kill_worker(name)
    if own_redis.proc is None or own_redis.proc.poll() is not None:
        own_redis.start()
    from django.db import connection

    # Nothing of a killed worker may hold a lock while the test database is flushed.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def pytest_terminal_summary(terminalreporter):
    if not ROWS:
        return
    columns = list(ROWS[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in ROWS)) for c in columns}
    line = lambda values: "  ".join(str(values[c]).ljust(widths[c]) for c in columns)
    terminalreporter.section("chaos matrix")
    terminalreporter.write_line(line({c: c for c in columns}))
    terminalreporter.write_line("  ".join("-" * widths[c] for c in columns))
    for row in ROWS:
        terminalreporter.write_line(line(row))
