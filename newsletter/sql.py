"""Statements the ORM does not write as cheaply as needed."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.db import connection as db
from django.db.models import Field, Model


def rows_update(
    *, objects: Sequence[Model], fields: Sequence[str], where: dict[str, object] | None = None
) -> None:
    """bulk_update() of objects of one model as one UPDATE ... FROM (VALUES ...):
    the same single statement, without the CASE WHEN per row and per field that
    bulk_update builds, which cost more than rendering the digests (profile in
    docs/benchmarks.md). PostgreSQL and SQLite >= 3.33 both run UPDATE ... FROM a
    VALUES CTE. Used by the ledger's end-of-batch write (newsletter/sending.py, outcomes_record).
    `where`: columns a row must still hold (field name -> value) to be updated; the
    ledger's write only touches rows still held by its own claim."""
    if not objects:
        return
    opts = objects[0]._meta
    model_fields = [opts.get_field(name) for name in fields]
    pk = opts.pk
    # PostgreSQL types a VALUES column from its values, so NULLs and strings need a
    # cast to the column's type; SQLite must not cast (CAST AS datetime is numeric).
    cast = db.vendor == "postgresql"
    columns = [pk, *model_fields]
    placeholder = "(" + ", ".join(
        f"%s::{f.db_type(db)}" if cast else "%s" for f in columns
    ) + ")"
    params: list = []
    for obj in objects:
        params.append(pk.get_db_prep_save(obj.pk, db))
        params += [f.get_db_prep_save(getattr(obj, f.attname), db) for f in model_fields]
    q = db.ops.quote_name
    names = [q(f.column) for f in columns]
    table = q(opts.db_table)
    sql = (
        f"WITH v ({', '.join(names)}) AS (VALUES {', '.join([placeholder] * len(objects))}) "
        f"UPDATE {table} SET "
        + ", ".join(f"{name} = v.{name}" for name in names[1:])
        + f" FROM v WHERE {table}.{names[0]} = v.{names[0]}"
    )
    for name, value in (where or {}).items():
        field = opts.get_field(name)
        sql += f" AND {table}.{q(field.column)} = %s"
        params.append(field.get_db_prep_save(value, db))
    with db.cursor() as cursor:
        cursor.execute(sql, params)


@lru_cache(maxsize=64)
def _row_update_statement(
    model: type[Model], columns: tuple[str, ...], conditions: tuple[str, ...]
) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    opts = model._meta
    q = db.ops.quote_name
    set_fields = tuple(opts.get_field(name) for name in columns)
    where_fields = (opts.pk, *(opts.get_field(name) for name in conditions))
    sql = (
        f"UPDATE {q(opts.db_table)} SET "
        + ", ".join(f"{q(f.column)} = %s" for f in set_fields)
        + " WHERE "
        + " AND ".join(f"{q(f.column)} = %s" for f in where_fields)
    )
    return sql, set_fields, where_fields


def row_update(
    *, model: type[Model], pk: object, values: dict[str, object], where: dict[str, object] | None = None
) -> int:
    """filter(pk=pk, **where).update(**values) for one row, as a statement built once
    per process: the ORM compiled the same UPDATE on every call, 1.2-1.8 ms of CPU
    against 0.6-0.7 ms for the statement itself (measured on the ledger's per-message
    write, newsletter/delivery.py's delivery_mark_sent). `where` values must not be
    None (an equality). Returns the number of rows changed (0 or 1)."""
    where = where or {}
    sql, set_fields, where_fields = _row_update_statement(model, tuple(values), tuple(where))
    params = [f.get_db_prep_save(value, db) for f, value in zip(set_fields, values.values(), strict=True)]
    params.append(where_fields[0].get_db_prep_save(pk, db))
    params += [f.get_db_prep_save(value, db) for f, value in zip(where_fields[1:], where.values(), strict=True)]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
