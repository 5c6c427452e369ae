"""newsletter/migration_operations.py on PostgreSQL: the migrations that add and drop
indexes on the busy tables do it CONCURRENTLY, both ways, so sends, the ESP's webhook
and sign-ups go on writing while an upgrade (or a rollback) runs; an index an
interrupted build left INVALID is built again, not kept."""

import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

BEFORE_INDEX_MIGRATIONS = "0035_retention"  # 0036 adds an index, 0037 drops keys' indexes, 0040 adds a GIN
GIN = "delivery_paper_ids_gin"


def _indexes() -> dict[str, tuple[str, bool]]:
    """The newsletter tables' indexes: name -> (definition, valid)."""
    with connection.cursor() as cursor:
        cursor.execute("""SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
                          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                          JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname LIKE 'newsletter_%%'""")
        return {name: (definition, valid) for name, definition, valid in cursor.fetchall()}


def _index_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if re.match(r"\s*(CREATE|DROP)( UNIQUE)? INDEX", q["sql"])]


def _migrate(*target: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        call_command("migrate", *target, verbosity=0)
    return _index_statements(queries)


def test_an_upgrade_and_a_rollback_build_and_drop_indexes_without_holding_writes_back():
    at_head = _indexes()
    try:
        back = _migrate("newsletter", BEFORE_INDEX_MIGRATIONS)
        assert back, "the rollback changed no index"
        assert all(" CONCURRENTLY " in sql for sql in back), back
        assert f"DROP INDEX CONCURRENTLY IF EXISTS {GIN}" in back
        assert GIN not in _indexes() and "delivery_edition_reader_idx" not in _indexes()
        # The keys' own indexes 0037 dropped are back, built on the side.
        rebuilt = [sql for sql in back if sql.startswith("CREATE INDEX CONCURRENTLY")]
        assert len(rebuilt) == 7, back
    finally:
        forward = _migrate()
    assert forward and all(" CONCURRENTLY " in sql for sql in forward), forward
    assert _indexes() == at_head  # the same indexes, all valid
    assert all(valid for _, valid in at_head.values())


def test_an_index_an_interrupted_build_left_invalid_is_built_again():
    """CREATE INDEX CONCURRENTLY stopped half way (a deploy killed, a lock timeout)
    leaves an INVALID index under the name: `IF NOT EXISTS` alone kept it, and the
    planner never uses an invalid index, so "who got this paper" read every delivery."""
    definition, _ = _indexes()[GIN]
    try:
        _migrate("newsletter", "0039_intervals_in_words")
        with connection.cursor() as cursor:
            cursor.execute(definition)
            cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [GIN])
        assert _indexes()[GIN] == (definition, False)
    finally:
        forward = _migrate()
    assert f"DROP INDEX CONCURRENTLY IF EXISTS {GIN}" in forward
    assert _indexes()[GIN] == (definition, True)
