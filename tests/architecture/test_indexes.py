"""No index of the project's tables is one another index already covers: an index on
columns (a) beside one on (a, b) finds nothing the second does not, and costs every
insert, update and delete of the table, and the disk. Django gives every foreign key
an index of its own, so a key that a composite index or unique constraint starts
with needs `db_index=False` (newsletter 0037, subscribers 0017: the ledger had two
such, 2 of its 9 indexes, at 100,000 rows a day)."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql]

# Every plain b-tree index of the public schema with its columns in order; partial
# indexes, expressions and other operator classes (a `_like` index serves LIKE
# 'prefix%', which its column's unique index does not) are left out, as neither
# covering nor covered.
_INDEXES = """
SELECT t.relname, i.relname, x.indisunique,
       (SELECT array_agg(a.attname ORDER BY k.n)
          FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_am am ON am.oid = i.relam
 WHERE t.relnamespace = 'public'::regnamespace AND am.amname = 'btree'
   AND x.indpred IS NULL AND x.indexprs IS NULL
   AND pg_get_indexdef(x.indexrelid) NOT LIKE '%_pattern_ops%'
"""


def _covered_indexes(tables: set[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES)
        indexes = [row for row in cursor.fetchall() if row[0] in tables]
    covered = []
    for table, name, unique, columns in indexes:
        if unique:
            continue  # a constraint, not only a way to find rows
        for other_table, other, _, other_columns in indexes:
            if other_table == table and other != name and other_columns[:len(columns)] == columns:
                covered.append(f"{table}.{name} ({', '.join(columns)}) is covered by {other}"
                               f" ({', '.join(other_columns)})")
                break
    return covered


def _own_tables() -> set[str]:
    """The tables of this project's models (not the many-to-many tables Django makes
    for them, whose indexes it owns)."""
    return {model._meta.db_table for app in ("newsletter", "subscribers")
            for model in apps.get_app_config(app).get_models() if not model._meta.auto_created}


def test_no_index_of_the_projects_tables_is_covered_by_another():
    assert _own_tables() >= {"newsletter_delivery", "subscribers_subscriber"}
    assert _covered_indexes(_own_tables()) == []


def test_the_check_finds_a_foreign_keys_own_index_beside_a_composite_one():
    """The check itself, on a table of Django's own (auth's permissions: an index
    on the content type beside the unique (content type, codename))."""
    found = _covered_indexes({"auth_permission"})
    assert len(found) == 1 and "(content_type_id) is covered by" in found[0], found
