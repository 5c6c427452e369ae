"""config/celery.py: which of Celery's own lines an operator reads, and the worker
process's garbage collector."""

import datetime as dt
import gc
import logging
import logging.handlers

import pytest
from celery import Celery
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.signals import worker_init, worker_process_init

from config.celery import BEAT_SENDING, GC_THRESHOLDS, QUIET_TASKS
from config.celery import app as celery_app
from newsletter.schedules import DEFAULT_SCHEDULES

SETTLE = "newsletter.tasks.deliveries_settle"
BATCH = "newsletter.tasks.digest_send_batch"
FETCH = "newsletter.tasks.papers_fetch_today"


def _received(name: str, logger: str = "celery.worker.strategy") -> None:
    """The "received" record as celery/worker/strategy.py makes it."""
    context = {"id": "7", "name": name, "args": "()", "kwargs": "{}", "eta": None}
    logging.getLogger(logger).info(LOG_RECEIVED, context, extra={"data": context})


def test_the_quiet_tasks_are_the_scheduled_tasks_beat_runs_every_minute_or_more_often():
    """A task renamed, or a new every-minute schedule, would be loud again: the quiet
    ones are exactly the registered tasks beat runs at least once a minute (the sweep
    every 20 s, the pages' and the owed emails' catch-ups every minute), not the
    five-minute rescoring, which logs only when it scored papers."""
    every_minute = {task for task, cron, _ in DEFAULT_SCHEDULES.values()
                    if cron.get("every", dt.timedelta(days=1)) <= dt.timedelta(minutes=1)}
    assert QUIET_TASKS == every_minute
    assert QUIET_TASKS <= set(celery_app.tasks)


def test_celerys_own_lines_about_the_every_minute_tasks_are_debug(caplog):
    """A worker logs "Task ...[id] received" and "succeeded" for every task it takes,
    and beat "Sending due task" for every one it sends; for the sweep and the other
    tasks beat runs every minute or more often (QUIET_TASKS) these lines are DEBUG,
    the batches' and the morning fetch's stay INFO."""
    caplog.set_level(logging.INFO)
    for name in (SETTLE, BATCH):
        _received(name)
        context = {"id": "8", "name": name, "return_value": "{}", "runtime": 0.05}
        logging.getLogger("celery.app.trace").info(LOG_SUCCESS, context, extra={"data": context})
    beat = logging.getLogger("celery.beat")
    beat.info(BEAT_SENDING, "Settle deliveries of dead workers (every 20 seconds)", SETTLE)
    beat.info(BEAT_SENDING, "Fetch today's trending papers (every morning)", FETCH)

    assert [r.getMessage() for r in caplog.records] == [
        f"Task {BATCH}[7] received",
        f"Task {BATCH}[8] succeeded in 0.05s: {{}}",
        f"Scheduler: Sending due task Fetch today's trending papers (every morning) ({FETCH})",
    ]


@pytest.fixture
def worker_log():
    """The worker's logger with a handler of no level of its own, as the console's in
    settings.LOGGING, that keeps what reaches it (`.buffer`)."""
    logger = logging.getLogger("celery.worker.strategy")
    handler, level = logging.handlers.BufferingHandler(capacity=100), logger.level
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_quiet_line_reaches_the_log_only_where_debug_is_asked_for_and_as_debug(worker_log):
    """The logger took the line as INFO before the filter lowered it: at LOG_LEVEL=INFO
    it must not reach a handler (it would print as "DEBUG" in an INFO log, every 20 s);
    with `--loglevel DEBUG` it is there, as DEBUG."""
    logger, handler = worker_log
    logger.setLevel(logging.INFO)
    _received(SETTLE)
    assert handler.buffer == []

    logger.setLevel(logging.DEBUG)
    _received(SETTLE)
    [line] = handler.buffer
    assert (line.levelname, line.getMessage()) == ("DEBUG", f"Task {SETTLE}[7] received")


class _OtherAppsWorker:
    app = Celery("elsewhere", set_as_current=False)  # the project's app stays the current one


@pytest.fixture
def collector_as_before():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.parametrize("signal", [worker_process_init, worker_init], ids=["prefork child", "threads pool"])
def test_a_worker_process_starts_with_its_collector_tuned(signal, collector_as_before):
    """A prefork child (worker_process_init) and a threads-pool worker, which runs the
    batches in its own process (worker_init), each move what is loaded to the permanent
    generation and collect young objects every 50,000 allocations, not 700: the
    collector took 13-15 % of a worker's time (docs/benchmarks.md)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    # A worker of another app: Celery's Django fixup leaves it alone (with no sender
    # it warns), so only this module's receivers act on the signal.
    signal.send(sender=_OtherAppsWorker())
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
