import gc
import logging
import os

from celery import Celery
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("digest")
# Every CELERY_* setting lives in config/settings.py, read from the environment.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The tasks beat runs every minute or more often (newsletter/schedules.py). Celery's
# "received" and "succeeded" lines for them, and beat's "Sending due task", are
# logged at DEBUG (QuietTaskLines, in settings.LOGGING): at INFO they were two worker
# lines every 20 s that buried the batch lines the runbook reads. Each of these
# logs at INFO itself when it did something; a failure is still Celery's ERROR.
QUIET_TASKS = frozenset({
    "newsletter.tasks.deliveries_settle",
    "newsletter.tasks.page_tag_debts_settle",
    "subscribers.tasks.owed_emails_send",
})
BEAT_SENDING = "Scheduler: Sending due task %s (%s)"  # celery/beat.py, Scheduler.apply_entry


class QuietTaskLines(logging.Filter):
    """Lowers Celery's routine lines about QUIET_TASKS to DEBUG: shown only where
    DEBUG is (LOG_LEVEL=DEBUG, `--loglevel DEBUG`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in (LOG_RECEIVED, LOG_SUCCESS):
            task = (getattr(record, "data", None) or {}).get("name")
        elif record.msg == BEAT_SENDING and len(record.args or ()) == 2:
            task = record.args[1]
        else:
            return True
        if task not in QUIET_TASKS or record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        # The logger let it through as INFO; handlers seldom have a level of their own.
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

# Young-generation collections every 50,000 allocations instead of 700: a batch of
# digests allocates hundreds of thousands of short-lived objects that reference
# counting frees anyway (profiled: the collector took 13-15 % of a worker's time;
# docs/benchmarks.md).
GC_THRESHOLDS = (50_000, 20, 20)


def gc_tune() -> None:
    """Tune the garbage collector of a long-lived worker process: everything loaded
    so far (Django, the apps, the templates) moves to the permanent generation, so a
    full collection no longer walks it, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@worker_process_init.connect
def _worker_process_init(**kwargs) -> None:
    gc_tune()


@worker_init.connect
def _worker_init(**kwargs) -> None:
    """The threads pool runs batches in the worker process itself."""
    gc_tune()
