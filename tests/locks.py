"""Rows another connection holds locked, as a process frozen inside its transaction
(a worker stopped by SIGSTOP, a paused VM) holds them: for tests of code that must
pass over such rows, not wait for them. PostgreSQL only (tests marked postgresql,
with django_db(transaction=True), so the other connection sees the rows)."""

import contextlib
import threading
from collections.abc import Callable

from django.db import connection, connections, transaction
from django.db.models import QuerySet


@contextlib.contextmanager
def rows_locked_elsewhere(rows: Callable[[], QuerySet]):
    """A second connection locks `rows()` (SELECT ... FOR UPDATE) inside a transaction
    held open until the block ends. This connection gets a lock_timeout meanwhile,
    so a statement that waits for those locks fails the test instead of hanging it."""
    locked, release = threading.Event(), threading.Event()

    def frozen():
        try:
            with transaction.atomic():
                list(rows().select_for_update().values_list("pk"))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=frozen)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        release.set()
        holder.join(10)
