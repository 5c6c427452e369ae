"""Statements the ORM does not write as cheaply as needed."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection as db
from django.db.models import Model


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
