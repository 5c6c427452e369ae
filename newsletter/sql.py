"""Statements the ORM does not write as cheaply as needed, and keys read from text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

_KEY = re.compile(r"[0-9]{1,18}")


def key_from_text(value: object) -> int | None:
    """A row's key as it came in a query string, a form or an ESP's metadata: 1 to 18
    ASCII digits (a bigint), else None. str.isdigit() also takes "²", which int()
    refuses, as it does over 4,300 digits (either raised ValueError, a 500, where the
    page or the webhook meant "no such row"), and int() reads "٧" as 7: our keys are
    written in ASCII, so another script's digits are no key of ours."""
    text = str(value).strip() if value is not None else ""
    return int(text) if _KEY.fullmatch(text) else None


@lru_cache(maxsize=64)
def _rows_update_statement(
    model: type[Model], fields: tuple[str, ...], conditions: tuple[str, ...]
) -> tuple[str, str, str, tuple[Field, ...], tuple[Field, ...]]:
    """The parts of rows_update's statement that depend on the model and the column
    names only, built once per process: the ledger runs it as each provider call
    returns, and the ORM's way (compiling the same statement on every call) cost
    1.2-1.8 ms of CPU against 0.6-0.7 ms for the statement itself (measured on the
    ledger's per-message write).

    On PostgreSQL the rows come as one array per column (unnest), so the statement's
    text is the same whatever the number of rows, and the driver parses it once per
    process: with a VALUES row of placeholders per object, psycopg parsed every
    statement anew (too long for its cache), and that parse was a third of the
    ledger's marks (docs/benchmarks.md). SQLite reads a VALUES list (`head` +
    `placeholder` per row + `tail`; `placeholder` is empty on PostgreSQL)."""
    db = connections[DEFAULT_DB_ALIAS]
    opts = model._meta
    model_fields = tuple(opts.get_field(name) for name in fields)
    pk = opts.pk
    columns = [pk, *model_fields]
    q = db.ops.quote_name
    names = [q(f.column) for f in columns]
    table = q(opts.db_table)
    where_fields = tuple(opts.get_field(name) for name in conditions)
    tail = (
        f" UPDATE {table} SET "
        + ", ".join(f"{name} = v.{name}" for name in names[1:])
        + f" FROM v WHERE {table}.{names[0]} = v.{names[0]}"
        + "".join(f" AND {table}.{q(f.column)} = %s" for f in where_fields)
        + f" RETURNING {table}.{names[0]}"
    )
    if db.vendor == "postgresql":
        arrays = ", ".join(f"%s::{f.db_type(db)}[]" for f in columns)
        head = f"WITH v AS (SELECT * FROM unnest({arrays}) AS v ({', '.join(names)}))"
        return head, "", tail, model_fields, where_fields
    placeholder = "(" + ", ".join("%s" for _ in columns) + ")"
    head = f"WITH v ({', '.join(names)}) AS (VALUES "
    return head, placeholder, ")" + tail, model_fields, where_fields


def rows_update(
    *, objects: Sequence[Model], fields: Sequence[str], where: dict[str, object] | None = None
) -> list:
    """bulk_update() of objects of one model as one UPDATE ... FROM a CTE of the rows:
    the same single statement, without the CASE WHEN per row and per field that
    bulk_update builds, which cost more than rendering the digests (profile in
    docs/benchmarks.md). PostgreSQL reads the rows from arrays (unnest), SQLite >=
    3.33 from a VALUES list. Used by the ledger's writes (newsletter/sending.py:
    deliveries_mark_sent, outcomes_record). `where`: columns a row must still hold
    (field name -> value, not None: an equality) to be updated; the ledger's writes
    only touch rows still held by their own claim. Returns the primary keys of the
    rows updated."""
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
    columns = [[pk.get_db_prep_save(obj.pk, db) for obj in objects]]
    columns += [[f.get_db_prep_save(getattr(obj, f.attname), db) for obj in objects] for f in model_fields]
    conditions = [f.get_db_prep_save(value, db) for f, value in zip(where_fields, where.values(), strict=True)]
    if placeholder:  # a VALUES list: the parameters row by row
        sql = head + ", ".join([placeholder] * len(objects)) + tail
        params = [value for row in zip(*columns, strict=True) for value in row] + conditions
    else:
        sql, params = head + tail, columns + conditions
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
