"""Statements the ORM does not write as cheaply as needed."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model


@lru_cache(maxsize=64)
def _rows_update_statement(
    model: type[Model], fields: tuple[str, ...], conditions: tuple[str, ...]
) -> tuple[str, str, str, tuple[Field, ...], tuple[Field, ...]]:
    """The parts of rows_update's statement that depend on the model and the column
    names only, built once per process: the ledger runs it as each provider call
    returns, and the ORM's way (compiling the same statement on every call) cost
    1.2-1.8 ms of CPU against 0.6-0.7 ms for the statement itself (measured on the
    ledger's per-message write)."""
    db = connections[DEFAULT_DB_ALIAS]
    opts = model._meta
    model_fields = tuple(opts.get_field(name) for name in fields)
    pk = opts.pk
    # PostgreSQL types a VALUES column from its values, so NULLs and strings need a
    # cast to the column's type; SQLite must not cast (CAST AS datetime is numeric).
    cast = db.vendor == "postgresql"
    columns = [pk, *model_fields]
    placeholder = "(" + ", ".join(f"%s::{f.db_type(db)}" if cast else "%s" for f in columns) + ")"
    q = db.ops.quote_name
    names = [q(f.column) for f in columns]
    table = q(opts.db_table)
    head = f"WITH v ({', '.join(names)}) AS (VALUES "
    tail = (
        f") UPDATE {table} SET "
        + ", ".join(f"{name} = v.{name}" for name in names[1:])
        + f" FROM v WHERE {table}.{names[0]} = v.{names[0]}"
    )
    where_fields = tuple(opts.get_field(name) for name in conditions)
    tail += "".join(f" AND {table}.{q(f.column)} = %s" for f in where_fields)
    tail += f" RETURNING {table}.{names[0]}"
    return head, placeholder, tail, model_fields, where_fields


def rows_update(
    *, objects: Sequence[Model], fields: Sequence[str], where: dict[str, object] | None = None
) -> list:
    """bulk_update() of objects of one model as one UPDATE ... FROM (VALUES ...):
    the same single statement, without the CASE WHEN per row and per field that
    bulk_update builds, which cost more than rendering the digests (profile in
    docs/benchmarks.md). PostgreSQL and SQLite >= 3.33 both run UPDATE ... FROM a
    VALUES CTE. Used by the ledger's writes (newsletter/sending.py: deliveries_mark_sent,
    outcomes_record). `where`: columns a row must still hold (field name -> value,
    not None: an equality) to be updated; the ledger's writes only touch rows still
    held by their own claim. Returns the primary keys of the rows updated."""
    if not objects:
        return []
    # The connection itself, looked up once: through django.db.connection (a proxy
    # that finds this thread's connection on every attribute read) the parameters'
    # get_db_prep_save calls cost twice as much, ~30 us a row (docs/benchmarks.md).
    db = connections[DEFAULT_DB_ALIAS]
    where = where or {}
    head, placeholder, tail, model_fields, where_fields = _rows_update_statement(
        type(objects[0]), tuple(fields), tuple(where)
    )
    pk = objects[0]._meta.pk
    params: list = []
    for obj in objects:
        params.append(pk.get_db_prep_save(obj.pk, db))
        params += [f.get_db_prep_save(getattr(obj, f.attname), db) for f in model_fields]
    params += [f.get_db_prep_save(value, db) for f, value in zip(where_fields, where.values(), strict=True)]
    sql = head + ", ".join([placeholder] * len(objects)) + tail
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
