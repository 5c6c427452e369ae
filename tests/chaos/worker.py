"""The processes of the chaos matrix: a real Celery worker, the dispatcher, and the
dispatcher's stale sweep, each in its own process against the test database, the
matrix's own Redis and the fake Postmark (tests/chaos/conftest.py sets the env).

    python -m tests.chaos.worker worker NAME
    python -m tests.chaos.worker dispatch NOW_ISO
    python -m tests.chaos.worker sweep

Only pacing is scaled down (smaller batches, seconds of backoff instead of
minutes), so a case runs in seconds; the code under test is the production code."""

import datetime as dt
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.utils import timezone

from newsletter import delivery

delivery.BATCH_SIZE = int(os.environ.get("CHAOS_BATCH_SIZE", "4"))
delivery.RETRY_BASE_SECONDS = 1
delivery.RETRY_MAX_SECONDS = 2


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "worker":
        from config.celery import app

        app.worker_main([
            "worker", "--pool=solo", "--without-heartbeat", "--without-mingle",
            "--without-gossip", "-l", "info", "-n", f"{argv[1]}@%h",
        ])
    elif command == "dispatch":
        print(delivery.digests_dispatch(now=dt.datetime.fromisoformat(argv[1])), flush=True)
    elif command == "sweep":
        # The dispatcher's sweep as it runs once every claim is stale (an hour later).
        print(delivery.deliveries_resolve_stale(
            now=timezone.now() + dt.timedelta(hours=1)), flush=True)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
