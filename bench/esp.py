"""The benchmark against a latent ESP (`python -m bench.digests --esp-latency MS,...`):
the same audience through the Celery workers, first with anymail's test backend,
then with anymail's real Postmark backend talking HTTP to the fake Postmark of
tests/chaos (served by the parent process) at each latency, 1 % of calls 5x
slower; then, with --esp-rate, once more with the ESP's rate limited
(ESP_MAX_PER_SECOND). Each worker reports every provider call's duration to a
Redis list that the parent reads (`esp_calls_record`)."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from django.conf import settings

from .data import PROJECT_DIR
from .report import percentile
from .workers import CELERY_PROCESSES, celery_run

if TYPE_CHECKING:
    from .digests import Bench, BenchDatabase

ESP_BACKEND = "anymail.backends.postmark.EmailBackend"
ESP_DEFAULT_SUBSCRIBERS = 5_000
# The rate-limited run (--esp-rate): its audience and latency.
ESP_RATE_SUBSCRIBERS = 1_000
ESP_RATE_LATENCY_MS = 100
# Where the workers report each provider call's duration (a Redis list).
ESP_CALLS_KEY = "bench:esp-calls"


def esp_calls_record() -> None:
    """In a benchmark worker: after each batch, its provider calls' durations
    (BatchOutcome.call_seconds, from the ledger's public `batch_sent` signal) go to a
    Redis list the parent reads."""
    import redis

    from newsletter.delivery import batch_sent

    client = redis.Redis.from_url(settings.REDIS_URL)

    def record(sender, outcome, **kwargs) -> None:
        if outcome.call_seconds:
            client.rpush(ESP_CALLS_KEY, *(f"{d:.6f}" for d in outcome.call_seconds))

    batch_sent.connect(record, weak=False)


def esp_runs(bench: Bench, db: BenchDatabase) -> dict:
    """The runs against the fake Postmark; returns the report's "esp" section."""
    import redis

    sys.path.insert(0, str(PROJECT_DIR))
    from tests.chaos.fake_esp import SERVER_TOKEN, FakeEsp

    opts = bench.options
    n = opts.esp_subscribers
    bench.write(f"ESP runs, N = {n:,}: building the audience…")
    bench.child(db, "audience", count=n)
    calls = redis.Redis.from_url(opts.redis or settings.REDIS_URL)
    fake = FakeEsp().start()
    rows = []
    try:
        anymail = {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_API_URL": fake.url}

        def run(label: str, latency_ms: float | None, count: int, rate: int = 0) -> None:
            env = {"ESP_MAX_PER_SECOND": str(rate)}
            if latency_ms is not None:
                env.update({"EMAIL_BACKEND": ESP_BACKEND, "TEST_EMAIL_BACKEND": ESP_BACKEND,
                            "ANYMAIL": json.dumps(anymail)})
                fake.reset()
                fake.latency = latency_ms / 1000
            calls.delete(ESP_CALLS_KEY)
            bench.write(f"{label}:")
            row = celery_run(bench, db, count, env_extra=env)
            time.sleep(1)  # the last batches' call durations, pushed as each one ends
            durations = sorted(float(d) for d in calls.lrange(ESP_CALLS_KEY, 0, -1))
            row.update({
                "label": label, "latency_ms": latency_ms, "rate": rate,
                "call_p50_ms": 1000 * percentile(durations, 0.5) if durations else None,
                "call_p99_ms": 1000 * percentile(durations, 0.99) if durations else None,
                "esp_max_per_second": fake.max_per_second() if latency_ms is not None else None,
                "esp_throttled": fake.throttled if latency_ms is not None else None,
                "esp_max_in_flight": fake.max_in_transit if latency_ms is not None else None,
            })
            rows.append(row)
            bench.write(f"  p99 provider call {row['call_p99_ms'] or 0:.0f} ms; ESP saw at most "
                        f"{row['esp_max_per_second'] or 0} calls in a second, "
                        f"{row['esp_max_in_flight'] or 0} at once")

        run("anymail test backend (no HTTP)", None, n)
        for latency in opts.esp_latencies:
            run(f"fake Postmark, {latency} ms", latency, n)
        if opts.esp_rate:
            run(f"fake Postmark, {ESP_RATE_LATENCY_MS} ms, ESP_MAX_PER_SECOND={opts.esp_rate}",
                ESP_RATE_LATENCY_MS, min(n, ESP_RATE_SUBSCRIBERS), rate=opts.esp_rate)
    finally:
        fake.stop()
    return {"subscribers": n, "pool": opts.worker_pool, "processes": CELERY_PROCESSES,
            "rows": rows}
