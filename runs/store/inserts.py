"""New rows of runs and steps, written as ONE JSON parameter on PostgreSQL.

The ORM's bulk insert sends every column of every row as its own parameter: a fan-out of 200 children is 8,000
parameters that Django compiles and psycopg adapts one by one, and a statement with more than 50 parameters is
parsed again by psycopg at every execution. Here the rows go as a JSON array that `jsonb_populate_recordset`
reads into the table's own row type (so every column is typed as the table types it, NULLs included), and the
statement's text depends only on the table: prepared once per connection. SQLite keeps the ORM's bulk insert.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model

from runs.store.backends import backend


def row_json(objs: Sequence[Model]) -> str:
    """The rows INSERTs of these unsaved instances (of one model) would write, as a JSON array of objects keyed by
    column (datetimes in ISO 8601 with their offset; JSON fields as they are)."""
    rows = []
    for obj in objs:
        row = {}
        for field, column in _insert_fields(type(obj)):
            value = field.pre_save(obj, True)
            row[column] = value.isoformat() if isinstance(value, datetime) else value
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


@cache
def _insert_fields(model: type[Model]) -> tuple[tuple[Any, str], ...]:
    """The fields an INSERT of `model` writes, with their columns (an auto id is the database's)."""
    return tuple((field, str(field.column)) for field in model._meta.concrete_fields
                 if not (field.primary_key and getattr(field, "db_returning", False)))


@cache
def insert_from_json(model: type[Model], source: str = "") -> str:
    """INSERT of `model`'s rows given as one JSON parameter (row_json); with a `source` (a CTE's name), each row
    is inserted only if that CTE returned a row. RETURNING 1 per row inserted."""
    columns = [connection.ops.quote_name(column) for _, column in _insert_fields(model)]
    table = model._meta.db_table
    sources = f"{source}, " if source else ""
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(f'r.{c}' for c in columns)} "
            f"FROM {sources}jsonb_populate_recordset(NULL::{table}, %s::jsonb) AS r RETURNING 1")


def insert_rows(objs: Sequence[Model]) -> None:
    """Insert these unsaved instances of one model, inside the caller's transaction (in one statement on
    PostgreSQL; through the ORM elsewhere). Auto ids are not read back: callers use the rows by their keys."""
    if not objs:
        return
    model = type(objs[0])
    if not backend().single_statement_hops:
        model._default_manager.bulk_create(objs)  # type: ignore[attr-defined]
        return
    with backend().prepared_cursor(connection) as cursor:
        cursor.execute(insert_from_json(model), [row_json(objs)])
