"""Multi-row INSERT … ON CONFLICT DO NOTHING RETURNING for hot set-based writers.

`bulk_create` builds a model instance per row and cannot say which rows a conflict skipped; a
writer that inserts hundreds of rows per fold (the incident rules: memberships, timeline lines,
escalation chains) needs neither. This takes plain tuples, fills the model's Python defaults
for the columns it is not given, adapts each value through its field (datetimes, JSON), and
returns the RETURNING rows: the ones inserted. On PostgreSQL one statement over column arrays
(`unnest`), bound in binary; on SQLite ≥ 3.35 multi-row VALUES in parameter-limit chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.fields import NOT_PROVIDED

# `%s` not preceded by `%` (a literal `%%s` stays): pg_execute binds these as `%b`
_BINARY_PLACEHOLDER = re.compile(r"(?<!%)%s")
CHUNK_PARAMETERS = 30_000  # parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535


def supported() -> bool:
    """Whether this database returns rows from a multi-row insert (else use the ORM)."""
    return bool(connection.features.can_return_rows_from_bulk_insert)


# fields whose values go to the driver as they are (ints, text, booleans, foreign keys to ints):
# adapting 800 rows of them per call through get_db_prep_save was a tenth of the writer's time
AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "CharField",
        "TextField",
        "BooleanField",
    }
)


def _as_is(f: models.Field) -> bool:
    if f.is_relation:
        target = f.target_field  # type: ignore[attr-defined]
        return target.get_internal_type() in AS_IS
    return f.get_internal_type() in AS_IS


def _field(model: type[models.Model], name: str) -> models.Field:
    """A concrete field by name or attname (`incident` or `incident_id`)."""
    return cast(models.Field, model._meta.get_field(name))


def _defaults(model: type[models.Model], given: Sequence[str]) -> list[tuple[models.Field, Any]]:
    """The columns not given that need a value: the fields with a Python default."""
    out = []
    for f in model._meta.concrete_fields:
        if f.attname in given or f.name in given:
            continue
        if f.default is not NOT_PROVIDED:  # an AutoField has none: the database numbers it
            out.append((f, f.get_default()))
    return out


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    returning: Sequence[str] = (),
    ignore_conflicts: bool = True,
) -> list[tuple]:
    """Insert `rows` (values in `columns`' order, by attname: `incident_id`) and return the
    `returning` columns of the rows inserted (a row a conflict skipped returns nothing)."""
    rows = list(rows)
    if not rows:
        return []
    meta = model._meta
    fields = [_field(model, name) for name in columns]
    if any(len(row) != len(fields) for row in rows):
        raise ValueError(f"every row needs {len(fields)} values ({', '.join(columns)})")
    extra = _defaults(model, columns)
    qn = connection.ops.quote_name
    names = [str(f.column) for f in fields] + [str(f.column) for f, _v in extra]
    fixed = [f.get_db_prep_save(v, connection) for f, v in extra]
    adapters = [None if _as_is(f) else f.get_db_prep_save for f in fields]
    per_row = len(names)
    chunk = max(1, CHUNK_PARAMETERS // per_row)
    # table and column names come from the model, quoted; every value is a parameter
    sql_head = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(n) for n in names)}) VALUES "  # noqa: S608
    sql_tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning:
        sql_tail += " RETURNING " + ", ".join(qn(str(_field(model, r).column)) for r in returning)
    if connection.vendor == "postgresql":
        # one statement whatever the count: a column array each, bound by the server in binary
        # (Django's client-side binding renders every value into the SQL text: 10,000 rows took
        # ~0.4 s to send and parse)
        db_fields = [*fields, *(f for f, _v in extra)]
        arrays: list[list[Any]] = [
            _adapted(adapter, column)
            for adapter, column in zip(adapters, zip(*rows, strict=True), strict=True)
        ]
        arrays += [[value] * len(rows) for value in fixed]
        casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in db_fields)
        sql = f"{sql_head.removesuffix(' VALUES ')} SELECT * FROM unnest({casts}){sql_tail}"  # noqa: S608
        return [tuple(r) for r in pg_execute(sql, arrays)]
    placeholder = "(" + ", ".join(["%s"] * per_row) + ")"
    out: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            params: list[Any] = []
            for row in part:
                values = zip(adapters, row, strict=True)
                params += [v if a is None else a(v, connection) for a, v in values]
                params += fixed
            cursor.execute(sql_head + ", ".join([placeholder] * len(part)) + sql_tail, params)
            if returning:
                out += [tuple(r) for r in cursor.fetchall()]
    return out


def _adapted(adapter, column: tuple) -> list[Any]:
    """One column's values for the driver; a value every row shares (the call's `now`, its
    tenant) is adapted once."""
    if adapter is None:
        return list(column)
    first = column[0]
    if all(v is first for v in column):
        return [adapter(first, connection)] * len(column)
    return [adapter(v, connection) for v in column]


def insert_models(objs: Sequence[models.Model]) -> None:
    """`bulk_create` for new instances of one model, through `insert_rows`: every concrete
    column as the instance holds it (no `pre_save`: set `auto_now` fields yourself), and each
    instance's primary key from RETURNING, in order. Django's own adapts each value field by
    field (a storm's rules open a hundred incidents per fold)."""
    if not objs:
        return
    model = type(objs[0])
    pk = model._meta.pk
    assert pk is not None
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    names = [f.attname for f in fields]
    rows = [tuple(getattr(obj, n) for n in names) for obj in objs]
    returned = insert_rows(model, names, rows, returning=(pk.attname,), ignore_conflicts=False)
    if len(returned) != len(objs):  # a database that returns no rows from a multi-row insert
        raise RuntimeError(f"inserted {len(objs)} {model.__name__}, {len(returned)} returned")
    for obj, (key,) in zip(objs, returned, strict=True):
        setattr(obj, pk.attname, key)
        obj._state.adding = False
        obj._state.db = DEFAULT_DB_ALIAS


def pg_execute(sql: str, params: list, *, on: Any = None) -> list[tuple]:
    """Run one statement with array parameters sent as binary, server-side bound (PostgreSQL).

    Django's cursor binds client-side: psycopg renders every array element into the SQL text,
    quoting and escaping each in Python (profiled: 1.8 s of a 10,000-alert first pass's 9.6).
    Bound by the server, nothing is rendered into the SQL; the text is the same whatever the
    batch size, so psycopg prepares it after a few runs (on a connection that prepares). Django's
    connection and its transaction, or `on`, a psycopg connection of the caller's.

    Every `%s` is sent as `%b` (binary): under `%s` psycopg dumps a list of strings or JSON as a
    text array, escaping each element's quotes with a regex in Python, ~23 us an element
    (10,000 JSON values: 227 ms; in binary 3.6 ms). The SQL's casts name every type."""
    import psycopg

    db = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the per-access proxy
    if on is None:
        db.ensure_connection()
        on = db.connection
    # Django's error classes (a deadlock is an OperationalError the fold retries)
    with db.wrap_database_errors, psycopg.Cursor(on) as cursor:
        cursor.execute(_BINARY_PLACEHOLDER.sub("%b", sql), params, binary=True)
        return cursor.fetchall() if cursor.description is not None else []
