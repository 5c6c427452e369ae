import gc
import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("digest")
# Every CELERY_* setting lives in config/settings.py, read from the environment.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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
