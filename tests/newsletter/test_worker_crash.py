"""A real Celery worker on real Redis and the test database, killed with SIGKILL in
the middle of a batch, then restarted: every due reader ends with exactly one sent
delivery and exactly one email (newsletter/delivery.py, rules 1-3).

Works on PostgreSQL (the worker uses the live test database) and on SQLite (the
in-memory test database is copied to a file the worker and the sweep use)."""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from newsletter.delivery import deliveries_create
from newsletter.editions import edition_assemble
from newsletter.models import Delivery
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 11, 24)
READERS = 6
WAIT_SECONDS = 90
# The dispatcher's sweep, as it runs once the dead worker's claims are stale.
SWEEP_AN_HOUR_LATER = (
    "import datetime as dt; from django.utils import timezone; "
    "from newsletter.delivery import deliveries_resolve_stale as r; "
    "print(r(now=timezone.now() + dt.timedelta(hours=1)))"
)


class SlowBackend(AnymailTestBackend):
    """An ESP that takes a while per message (so the kill lands mid-batch) and writes
    down every call it starts and every message it accepted, in files the test
    reads."""

    def post_to_esp(self, payload, message):
        with open(os.environ["SLOW_ESP_STARTED"], "a") as started:
            started.write(payload.recipient_emails[0] + "\n")
        time.sleep(float(os.environ["SLOW_ESP_SECONDS"]))
        with open(os.environ["SLOW_ESP_LOG"], "a") as log:
            log.write(payload.recipient_emails[0] + "\n")
        return super().post_to_esp(payload, message)


def _database_url(tmp_path: Path) -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        # The test database is in memory: copy it to a file both processes can open.
        path = tmp_path / "crash.sqlite3"
        target = sqlite3.connect(path)
        connection.ensure_connection()
        connection.connection.backup(target)
        target.close()
        return f"sqlite:///{path}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _statuses(database_url: str) -> dict[str, list[str]]:
    """Each reader's delivery statuses, read the way the worker sees them."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(
                "SELECT s.email, d.status FROM newsletter_delivery d "
                "JOIN subscribers_subscriber s ON s.id = d.subscriber_id"
            ).fetchall()
    else:
        rows = list(Delivery.objects.values_list("subscriber__email", "status"))
    result: dict[str, list[str]] = {}
    for email, status in rows:
        result.setdefault(email, []).append(status)
    return result


def _env(database_url: str, log: Path) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CELERY_EAGER": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "TEST_EMAIL_BACKEND": "tests.newsletter.test_worker_crash.SlowBackend",
        "SLOW_ESP_SECONDS": "0.5",
        # One provider call at a time, so the kill lands between two of the batch's
        # messages (tests/chaos kills a worker with 50 calls in flight).
        "ESP_SEND_THREADS": "1",
        "SLOW_ESP_LOG": str(log),
        "SLOW_ESP_STARTED": str(log.with_suffix(".started")),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def _worker(env: dict, tmp_path: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info",
         "-n", f"{name}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT,
    )


def _wait(condition, what: str, worker_logs: list[Path]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(p.read_text()[-3000:] for p in worker_logs if p.exists())
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


def _sent_lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


# send_task goes to the broker even though this process runs tasks eagerly: intended.
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_leaves_everyone_with_exactly_one_digest(tmp_path):
    topic = TopicFactory(name="Continual learning")
    for n in range(3):
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, upvotes=50 - n), topic=topic)
    edition = edition_assemble(date=DAY)
    readers = [SubscriberFactory() for _ in range(READERS)]
    for reader in readers:
        reader.topics.add(topic)
    ids = deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=dt.datetime.now(dt.UTC))
    database_url = _database_url(tmp_path)
    log = tmp_path / "esp.log"
    env = _env(database_url, log)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    celery_app.control.purge()  # nothing left over from an earlier run
    celery_app.send_task("newsletter.tasks.digest_send_batch", args=[ids])
    first = _worker(env, tmp_path, "first")
    try:
        # Killed inside the third send's provider call: two messages accepted, the
        # third started and not answered (SLOW_ESP_SECONDS to go).
        _wait(lambda: len(_sent_lines(log.with_suffix(".started"))) >= 3, "the third call", logs)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    sent_before_kill = _sent_lines(log)
    assert 2 <= len(sent_before_kill) < READERS
    # A message that went out is marked sent as its call returns (ledger rule 2); the
    # rest of the batch is still claimed by the dead worker.
    at_kill = _statuses(database_url)
    assert at_kill[sent_before_kill[0]] == ["sent"]
    assert {s for email, rows in at_kill.items() if email not in sent_before_kill for s in rows} == {"sending"}

    second = _worker(env, tmp_path, "second")
    try:
        # The dispatcher's sweep, run once the claims are stale (here: an hour later).
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             SWEEP_AN_HOUR_LATER],
            cwd=ROOT, env=env, check=True, timeout=60,
        )
        _wait(
            lambda: all(s == ["sent"] for s in _statuses(database_url).values()),
            "every delivery sent", logs,
        )
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(timeout=10)

    statuses = _statuses(database_url)
    assert sorted(statuses) == sorted(r.email for r in readers)
    assert all(s == ["sent"] for s in statuses.values())
    # Each reader got exactly one email: none skipped, none twice.
    assert sorted(_sent_lines(log)) == sorted(r.email for r in readers)
