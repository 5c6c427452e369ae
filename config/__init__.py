import os

# NumPy's BLAS (OpenBLAS) on one thread per process, unless the environment says
# otherwise; read once, when NumPy is first imported, so it is set here, before
# anything imports it. The product's matrices are small (a day's papers x a reader's
# votes, x the topics), and the product is parallel already (send threads, Celery
# workers, gunicorn): measured on this 2-core machine, OpenBLAS splitting a
# 73 x 256 x 50 product across threads cost 1.3 ms of CPU against 0.025 ms on one
# thread (its threads spin while they wait), which made ranking a reader with many
# votes slower than the loop it replaced (newsletter/preferences.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Importing the Celery app here makes `shared_task` bind to it (cookiecutter-django).
from .celery import app as celery_app

__all__ = ("celery_app",)
