"""The processes of the chaos matrix: a real Celery worker, Celery beat, the
dispatcher, and the dispatcher's stale sweep, each in its own process against the
test database, the matrix's own Redis and the fake Postmark (tests/chaos/conftest.py
sets the env).

    python -m tests.chaos.worker worker NAME
    python -m tests.chaos.worker beat
    python -m tests.chaos.worker dispatch NOW_ISO
    python -m tests.chaos.worker sweep [now|later]

Only pacing is scaled (batches of CHAOS_BATCH_SIZE, seconds of backoff instead of
minutes, and the lease when CHAOS_LEASE_SECONDS is set), so a case runs in
seconds; the code under test is the production code."""

import datetime as dt
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.utils import timezone

from newsletter import delivery, leases

delivery.BATCH_SIZE = int(os.environ.get("CHAOS_BATCH_SIZE", "25"))
delivery.RETRY_BASE_SECONDS = 1
delivery.RETRY_MAX_SECONDS = 2
if os.environ.get("CHAOS_LEASE_SECONDS"):
    leases.LEASE_SECONDS = int(os.environ["CHAOS_LEASE_SECONDS"])
    leases.HEARTBEAT_SECONDS = max(1, leases.LEASE_SECONDS // 4)


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "worker":
        from config.celery import app

        # The threads pool: several batches at once in one process, as deployed.
        app.worker_main([
            "worker", "--pool=threads", f"--concurrency={os.environ.get('CHAOS_CONCURRENCY', '2')}",
            "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info",
            "-n", f"{argv[1]}@%h",
        ])
    elif command == "beat":
        from config.celery import app

        # The database scheduler and the default schedules (newsletter/schedules.py).
        app.start(["beat", "-l", "info", "--max-interval", "5"])
    elif command == "dispatch":
        print(delivery.digests_dispatch(now=dt.datetime.fromisoformat(argv[1])), flush=True)
    elif command == "sweep":
        # "later": the dispatcher's sweep as it runs once every claim is stale.
        later = len(argv) > 1 and argv[1] == "later"
        now = timezone.now() + (dt.timedelta(hours=1) if later else dt.timedelta())
        print(delivery.deliveries_resolve_stale(now=now), flush=True)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
