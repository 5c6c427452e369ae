"""The benchmark's Celery runs: CELERY_PROCESSES worker processes of the project's
Celery app (`python -m bench.digests --phase worker`) on the real broker and
database, timed from the dispatch (the beat task's body, in a child process) to
the last ledger row, with the workers' peak memory read from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from .data import PROJECT_DIR
from .report import costs_describe

if TYPE_CHECKING:
    from .digests import Bench, BenchDatabase

# Worker processes of the Celery runs, and batches at once in each (threads pool).
CELERY_PROCESSES = 2
CELERY_THREADS = 4
# How long the workers may take to start, and to connect to the broker once started.
WORKERS_START_SECONDS = 60
WORKERS_CONNECT_SECONDS = 2


def workers_start(*, pool: str, env: dict, log: Path) -> tuple[list[subprocess.Popen], Callable[[], list[int]]]:
    """CELERY_PROCESSES worker processes: separate workers with the threads pool
    (CELERY_THREADS batches at once in each), or one prefork worker with as many
    children. Returns the workers and a function listing the processes that run
    batches."""
    out = log.open("a")
    command = [sys.executable, "-m", "bench.digests", "--phase", "worker", "--pool", pool]
    if pool == "prefork":
        workers = [subprocess.Popen(command + ["--count", str(CELERY_PROCESSES)], env=env,
                                    cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)]
        return workers, lambda: children_of(workers[0].pid)
    workers = [subprocess.Popen(command + ["--count", str(CELERY_THREADS)], env=env, cwd=PROJECT_DIR,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
               for _ in range(CELERY_PROCESSES)]
    return workers, lambda: [w.pid for w in workers if w.poll() is None]


def celery_run(bench: Bench, db: BenchDatabase, n: int, *, reset: bool = True,
               env_extra: dict | None = None) -> dict:
    """CELERY_PROCESSES worker processes on the real broker, from the dispatch to
    the last ledger row."""
    pool = bench.options.worker_pool
    if reset:
        bench.child(db, "reset")
    bench.write(f"Celery, N = {n:,}: starting {CELERY_PROCESSES} worker processes ({pool} pool)…")
    log = bench.options.out_dir / "celery-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    env = {**bench.env(db), **(env_extra or {})}
    workers, processes = workers_start(pool=pool, env=env, log=log)
    peak = {"rss_mb": 0.0}
    try:
        time.sleep(1)
        deadline = time.monotonic() + WORKERS_START_SECONDS
        while len(processes()) < CELERY_PROCESSES and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(WORKERS_CONNECT_SECONDS)
        if any(w.poll() is not None for w in workers):
            raise RuntimeError(f"a Celery worker exited: see {log}")
        bench.write(f"  workers up (pids {', '.join(map(str, processes()))}); dispatching")
        before = [process_costs(pid) for pid in processes()]
        redis_before = redis_cpu_seconds()
        args = [sys.executable, "-m", "bench.digests", "--phase", "celery", "--count", str(n)]
        child = subprocess.Popen(args, env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
        while child.poll() is None:
            for pid in processes():
                peak["rss_mb"] = max(peak["rss_mb"], rss_mb(pid, "VmHWM"))
            time.sleep(1)
        out = child.stdout.read()
        if child.returncode != 0:
            raise RuntimeError("the Celery dispatch step failed")
        row = json.loads(out.strip().splitlines()[-1])
        for pid in processes():
            peak["rss_mb"] = max(peak["rss_mb"], rss_mb(pid, "VmHWM"))
        after = [process_costs(pid) for pid in processes()]
        for key in before[0]:
            spent = sum(a[key] for a in after) - sum(b[key] for b in before)
            row[f"{key}_per_digest"] = spent / max(row["sent"], 1)
        row["redis_seconds_per_digest"] = (redis_cpu_seconds() - redis_before) / max(row["sent"], 1)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    row["worker_peak_rss_mb"] = peak["rss_mb"]
    row["subscribers"] = n
    row["pool"] = pool
    bench.write(f"  celery: {row['sent']:,} sent in {row['wall_seconds']:.1f} s "
                f"({row['digests_per_second']:,.0f} digests/s), worker peak {peak['rss_mb']:.0f} MB")
    bench.write(f"  per digest, the workers together: {costs_describe(row)}")
    return row


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def redis_cpu_seconds() -> float:
    """The Redis server's CPU so far (INFO cpu): the broker's, the journal's and the
    ESP limits' work."""
    import redis

    info = redis.Redis.from_url(settings.REDIS_URL).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def process_costs(pid: int) -> dict:
    """What a process has spent so far, all its threads together: CPU in user code
    and in the kernel (/proc/<pid>/stat), voluntary and involuntary context switches
    (each thread's /proc/<pid>/task/<tid>/status). Zeros for a process gone."""
    costs = dict.fromkeys(("user_seconds", "system_seconds", "voluntary_switches",
                           "involuntary_switches"), 0.0)
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        costs["user_seconds"], costs["system_seconds"] = int(fields[11]) / ticks, int(fields[12]) / ticks
        for task in Path(f"/proc/{pid}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    key = "voluntary_switches" if name.startswith("vol") else "involuntary_switches"
                    costs[key] += int(value)
    except OSError:
        pass
    return costs


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
