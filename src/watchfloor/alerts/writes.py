"""Set-based writes the pipeline needs and the ORM does not offer.

- `insert_new_alerts`: an upsert against the partial unique index (one active alert per
  fingerprint) that reports which rows it inserted;
- `update_alerts`: many rows, many fields, one statement.

On PostgreSQL the insert goes by binary COPY through a staging table (`copy_rows`: a first
pass's thousands of rows without psycopg's Python array dumper); the update passes one array per
column and reads them back with `unnest(…)`: the SQL text is the same for every batch size, so
psycopg converts it once instead of re-parsing a statement with thousands of placeholders per
request (profiled: ~8 ms of a 100-alert request). SQLite gets a `VALUES` list. Identifiers come
from the model; values are always parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connection, connections

from watchfloor import copy_rows, sql_rows
from watchfloor.alerts.models import OPEN_STATUSES, Alert, Status, SuppressionReason

# Rows per statement on SQLite: 40 columns × 500 rows stays under its parameter limit.
SQLITE_CHUNK = 500


def _status_literal(status: Status) -> str:
    """A status constant as a SQL literal (the model's constants only, never input)."""
    if not status.value.isidentifier():
        raise ValueError(f"not a plain status constant: {status.value!r}")
    return f"'{status.value}'"


def active_predicate(table: str = "") -> str:
    """The partial unique index's predicate (models.ACTIVE_CONDITION), so ON CONFLICT and the
    planner recognise it."""
    column = f"{table}.status" if table else "status"
    return f"NOT ({column} = {_status_literal(Status.RESOLVED)})"


# A conflict means a concurrent writer opened the fingerprint first: the row is locked (a no-op
# write) and reported as not inserted; the pipeline then folds this batch's run into it as a
# repeat, so its counts, suppression and content change are applied like any other repeat's.
_UPSERT_TAIL = (
    f" ON CONFLICT (tenant_id, fingerprint) WHERE {active_predicate()} DO UPDATE SET"
    " updated_at = {table}.updated_at RETURNING id, fingerprint, {inserted}"
)


def _insert_fields():
    return [f for f in Alert._meta.concrete_fields if not f.primary_key]


def _column(field) -> str:
    """A concrete field's quoted column name (the stubs allow None, for non-concrete fields)."""
    assert field.column is not None
    return connection.ops.quote_name(field.column)


def _column_type(field) -> str:
    """The PostgreSQL type of a field's column, for `%s::<type>[]` casts."""
    return copy_rows.column_type(field)


def _db():
    """This thread's connection itself: `django.db.connection` is a proxy that looks it up on
    every attribute access, and every field's `get_db_prep_save` reads several (profiled: ~1 s
    of a 10,000-alert first pass)."""
    return connections[DEFAULT_DB_ALIAS]


# Fields whose `get_db_prep_save` hands back a plain str or int unchanged (None stays None).
_PASS_THROUGH = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
    "URLField",
}


def _column_values(alerts: list[Alert], field, db) -> list:
    """One column's values for `alerts`, as the database takes them."""
    values = [getattr(a, field.attname) for a in alerts]
    kind = field.get_internal_type()
    if kind in _PASS_THROUGH:
        return [
            v if v is None or type(v) is str or type(v) is int else field.get_db_prep_save(v, db)
            for v in values
        ]
    if kind == "JSONField" and db.vendor == "postgresql" and field.encoder is None:
        # the JSON text itself (orjson), cast by the statement's `::jsonb[]`: Django's Jsonb
        # wrapper would run json.dumps per value inside psycopg's array dumper
        return [v if v is None else orjson.dumps(v).decode() for v in values]
    if kind == "DateTimeField" and db.vendor == "postgresql":
        # an aware datetime is what Django hands psycopg unchanged (a naive one gets its warning)
        return [
            v
            if v is None or (type(v) is datetime and v.tzinfo is not None)
            else field.get_db_prep_save(v, db)
            for v in values
        ]
    return [field.get_db_prep_save(v, db) for v in values]


def _rows(alerts: list[Alert], fields) -> list[list]:
    """Per alert, its values of `fields` (for SQLite's VALUES lists)."""
    db = _db()
    columns = [_column_values(alerts, f, db) for f in fields]
    return [list(row) for row in zip(*columns, strict=True)]


def _pg_execute(sql: str, params: list) -> list[tuple]:
    """`sql_rows.pg_execute`: array parameters in binary, bound by the server."""
    return sql_rows.pg_execute(sql, params)


def lock_active_alerts(tenant_id: int, fingerprints: list[str]) -> list[Alert]:
    """The active alerts with these fingerprints, locked for this transaction (PostgreSQL).

    Locked in id order, so concurrent batches over the same alerts queue instead of deadlocking;
    `FOR NO KEY UPDATE`, not `FOR UPDATE`, so another batch committing a child alert (its
    deferred foreign-key check takes KEY SHARE on the parent) is not blocked by it: with the
    stronger lock, cold starts deadlocked at COMMIT (measured, bench/ingest.py --cold).
    A constant statement with an array parameter: the ORM's `fingerprint__in` compiles a new
    query per batch size (~1.3 ms of Python per 100-alert request, profiled).
    """
    table = connection.ops.quote_name(Alert._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT * FROM {table} WHERE tenant_id = %s AND {active_predicate()}"  # noqa: S608
            " AND fingerprint = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
        )
        return list(Alert.objects.raw(sql, [tenant_id, fingerprints]))
    placeholders = ", ".join(["%s"] * len(fingerprints))
    sql = (
        f"SELECT * FROM {table} WHERE tenant_id = %s AND {active_predicate()}"  # noqa: S608
        f" AND fingerprint IN ({placeholders}) ORDER BY id"
    )
    return list(Alert.objects.raw(sql, [tenant_id, *fingerprints]))


def reserve_alert_ids(n: int) -> list[int] | None:
    """`n` ids from the alerts' sequence (PostgreSQL; None on SQLite), so a batch knows its new
    alerts' ids before it inserts them: a child correlated under a new root of the same batch
    is inserted with its parent already set, instead of an UPDATE of every such child after the
    insert (a non-HOT update: `parent` is indexed). An id a lost insert race leaves unused is a
    gap in the sequence, as a rolled-back insert leaves."""
    if connection.vendor != "postgresql" or n < 1:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Alert._meta.db_table, n],
        )
        return [row[0] for row in cursor.fetchall()]


def insert_new_alerts(alerts: list[Alert]) -> dict[str, bool]:
    """Insert `alerts` (one per fingerprint); sets their ids. Returns fingerprint → inserted.

    When a concurrent writer committed an active alert with the same fingerprint first, the row
    is not duplicated: `ON CONFLICT` locks that row and changes nothing in it; the alert object
    gets its id (inserted = False) and the caller folds its event into it as a repeat, reading
    the stored row with `lock_active_alerts` (a round trip only when a race was lost: returning
    every column for every inserted row would cost the common case). On SQLite writers are
    serialized by BEGIN IMMEDIATE, so a conflict cannot happen there.
    """
    if not alerts:
        return {}
    fields = _insert_fields()
    if all(a.id is not None for a in alerts):  # ids reserved first (`reserve_alert_ids`)
        fields = [Alert._meta.pk, *fields]
    qn = connection.ops.quote_name
    table = qn(Alert._meta.db_table)
    columns = ", ".join(_column(f) for f in fields)
    postgres = connection.vendor == "postgresql"
    tail = _UPSERT_TAIL.format(table=table, inserted="(xmax = 0)" if postgres else "1")
    by_fp = {a.fingerprint: a for a in alerts}
    ordered = sorted(alerts, key=lambda a: a.fingerprint)  # one lock order for all writers
    if postgres:  # binary COPY into a staging table, then one INSERT … SELECT (copy_rows)
        db = _db()
        tuples = list(zip(*(_column_values(ordered, f, db) for f in fields), strict=True))
        returned = copy_rows.insert_by_copy(
            Alert, fields, tuples, tail=tail, order_by='"fingerprint" COLLATE "C"'
        )
        return _note_inserted(by_fp, returned)
    rows = _rows(ordered, fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returned = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), SQLITE_CHUNK):
            chunk = rows[start : start + SQLITE_CHUNK]
            values = ", ".join([row_sql] * len(chunk))
            sql = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608
            cursor.execute(sql + tail, [v for row in chunk for v in row])
            returned += cursor.fetchall()
    return _note_inserted(by_fp, returned)


def _note_inserted(by_fp: dict[str, Alert], returned: list) -> dict[str, bool]:
    """Set each alert's id from the RETURNING rows; fingerprint → inserted."""
    inserted: dict[str, bool] = {}
    for pk, fp, was_inserted in returned:
        alert = by_fp[fp]
        alert.id = pk
        alert._state.adding = False
        alert._state.db = connection.alias
        inserted[fp] = bool(was_inserted)
    return inserted


def update_alerts(alerts: list[Alert], field_names: list[str]) -> None:
    """Write `field_names` of `alerts` in one statement (per 500 rows on SQLite).

    The ORM's `bulk_update` builds a `CASE WHEN id = … THEN …` per row and field: ~110 ms of
    Python for a 100-alert batch (profiled). The caller holds the rows' locks (`SELECT … FOR
    UPDATE`), so writing absolute values is safe.
    """
    if not alerts:
        return
    opts = Alert._meta
    fields = [opts.get_field(name) for name in field_names]
    qn = connection.ops.quote_name
    table = qn(opts.db_table)
    if connection.vendor == "postgresql":
        db = _db()
        arrays = ", ".join(["%s::bigint[]"] + [f"%s::{_column_type(f)}[]" for f in fields])
        names = ", ".join(["id"] + [f"c{i}" for i in range(len(fields))])
        assign = ", ".join(f"{_column(f)} = v.c{i}" for i, f in enumerate(fields))
        _pg_execute(
            f"UPDATE {table} SET {assign} FROM unnest({arrays}) AS v({names})"  # noqa: S608
            f" WHERE {table}.id = v.id",
            [[a.pk for a in alerts], *(_column_values(alerts, f, db) for f in fields)],
        )
        return
    rows = [[a.pk, *row] for a, row in zip(alerts, _rows(alerts, fields), strict=True)]
    with connection.cursor() as cursor:
        # SQLite names a VALUES list's columns column1, column2, …
        assign = ", ".join(f"{_column(f)} = v.column{i + 2}" for i, f in enumerate(fields))
        row_sql = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
        for start in range(0, len(rows), SQLITE_CHUNK):
            chunk = rows[start : start + SQLITE_CHUNK]
            values = ", ".join([row_sql] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {assign} FROM (VALUES {values}) AS v"  # noqa: S608
                f" WHERE {table}.id = v.column1",
                [v for row in chunk for v in row],
            )


# What a live event shows of an alert (`broadcast.alert_payload`), read back by `bump_repeats`.
FEED_FIELDS = (
    "id",
    "tenant",
    "client",
    "site",
    "source",
    "type",
    "severity",
    "status",
    "title",
    "fingerprint",
    "occurrence_count",
    "suppressed_count",
    "suppression_reason",
    "correlation_id",
    "parent",
    "escalation_level",
    "assignee",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_at",
    "resolved_at",
)


@dataclass(frozen=True)
class _FeedColumns:
    """What `bump_repeats` reads back, worked out once per connection (its SQL text and the
    converters: 0.3 ms of a one-row fold when done per call, bench/profile_ingest.py
    --fold-sizes)."""

    table: str
    returning: str  # PostgreSQL: qualified (the CTE has an id too)
    bare: str  # SQLite's RETURNING names bare columns
    names: tuple[str, ...]
    converting: tuple[tuple[str, int, Any, tuple], ...]  # (name, index, column, converters)


@lru_cache(maxsize=64)
def _feed_columns(ops) -> _FeedColumns:
    """Keyed by the connection's `ops` (one per connection; the cache keeps it alive, so its
    identity is never reused while cached). Only the columns with a converter are visited per
    row: none on PostgreSQL but the correlation UUID."""
    db = ops.connection
    opts = Alert._meta
    table = ops.quote_name(opts.db_table)
    fields = [opts.get_field(name) for name in FEED_FIELDS]
    columns = [ops.quote_name(f.column) for f in fields]
    converting = []
    for index, f in enumerate(fields):
        col = f.get_col(opts.db_table)
        convert = (*ops.get_db_converters(col), *col.get_db_converters(db))
        if convert:
            converting.append((f.attname, index, col, convert))
    return _FeedColumns(
        table=table,
        returning=", ".join(f"{table}.{c}" for c in columns),
        bare=", ".join(columns),
        names=tuple(f.attname for f in fields),
        converting=tuple(converting),
    )


def _bumpable(alias: str, window: str, *, windowed: bool, backpressure: bool) -> str:
    """Which active alerts `bump_repeats` may bump: open with no reason kept (plain, or a
    window now covers it), suppressed by the repeat's own window, or back-pressure suppressed."""
    open_statuses = ", ".join(_status_literal(s) for s in OPEN_STATUSES)
    suppressed = _status_literal(Status.SUPPRESSED)
    shown = f"{alias}.status IN ({open_statuses}) AND {alias}.suppression_reason = ''"
    if backpressure:
        reason = SuppressionReason.BACKPRESSURE.value
        return f"{alias}.status = {suppressed} AND {alias}.suppression_reason = '{reason}'"
    if windowed:
        reason = SuppressionReason.MAINTENANCE.value
        return (
            f"(({shown}) OR ({alias}.status = {suppressed} AND {alias}.suppression_reason ="
            f" '{reason}' AND {alias}.maintenance_window_id = {window}))"
        )
    return shown


def bump_repeats(
    tenant_id: int,
    repeats: list[tuple[str, str, int]],
    now,
    *,
    window_id: list[int] | None = None,
    backpressure: bool = False,
) -> list[dict]:
    """Fold plain repeats set-based: `repeats` is (fingerprint, content hash, occurrences).

    A repeat is plain when the active alert of its fingerprint is open (not suppressed, no
    suppression reason kept) and says the same (same content hash): then only its counters move
    (`occurrence_count += n`, `last_seen_at`, `updated_at`; no index covers them, so PostgreSQL
    updates in place). One statement for all of them, no model instance: the rows are locked in
    id order like `lock_active_alerts` (PostgreSQL), updated, and read back as dicts of
    FEED_FIELDS (attribute names) for the live events. Fingerprints not returned are not plain
    (or have no active alert): the caller takes them through the locked path. The caller's
    window check (a maintenance window that matches the event hides it: not plain) comes first.

    Hidden repeats, plain when nothing but the counters and `suppressed_count += n` moves (what
    `pipeline._repeat` does to such an alert): with `window_id` (one per repeat, the maintenance
    window that hides it now), an open alert or one suppressed by that very window; with
    `backpressure` (the caller found the tenant under back-pressure), an alert back-pressure
    suppressed.
    """
    if not repeats:
        return []
    opts = Alert._meta
    feed = _feed_columns(connection.ops)
    table, returning, bare = feed.table, feed.returning, feed.bare
    windowed = window_id is not None
    windows: list[int] = list(window_id) if window_id is not None else []
    stamp = opts.get_field("last_seen_at").get_db_prep_save(now, connection)
    hidden_sql = ""
    if windowed or backpressure:
        hidden_sql = f", suppressed_count = {table}.suppressed_count + %(n)s"
    if connection.vendor == "postgresql":
        which = _bumpable("a", "v.w", windowed=windowed, backpressure=backpressure)
        fps, hashes, counts = (list(col) for col in zip(*repeats, strict=True))
        arrays = [fps, hashes, counts, *([windows] if windowed else [])]
        unnest = "%s::varchar[], %s::varchar[], %s::int[]" + (", %s::bigint[]" if windowed else "")
        names_v = "fp, h, n" + (", w" if windowed else "")
        rows = _pg_execute(
            f"WITH locked AS (SELECT a.id, v.n FROM {table} a"  # noqa: S608
            f" JOIN unnest({unnest}) AS v({names_v})"
            " ON a.fingerprint = v.fp AND a.content_hash = v.h"
            f" WHERE a.tenant_id = %s AND {active_predicate('a')} AND {which}"
            " ORDER BY a.id FOR NO KEY UPDATE OF a)"
            f" UPDATE {table} SET occurrence_count = {table}.occurrence_count + locked.n"
            f"{hidden_sql % {'n': 'locked.n'}}, last_seen_at = %s, updated_at = %s"
            f" FROM locked WHERE {table}.id = locked.id RETURNING {returning}",
            [*arrays, tenant_id, stamp, stamp],
        )
    else:
        rows = []
        which = _bumpable(table, "v.column4", windowed=windowed, backpressure=backpressure)
        marks = "(%s, %s, %s, %s)" if windowed else "(%s, %s, %s)"
        rows_in: list[tuple] = (
            [(*r, w) for r, w in zip(repeats, windows, strict=True)] if windowed else repeats
        )
        with connection.cursor() as cursor:
            for start in range(0, len(rows_in), SQLITE_CHUNK):
                chunk = rows_in[start : start + SQLITE_CHUNK]
                values = ", ".join([marks] * len(chunk))
                # SQLite's RETURNING may name only the updated table's columns
                cursor.execute(
                    f"UPDATE {table} SET occurrence_count = occurrence_count + v.column3"  # noqa: S608
                    f"{hidden_sql % {'n': 'v.column3'}}, last_seen_at = %s, updated_at = %s"
                    f" FROM (VALUES {values}) AS v WHERE {table}.tenant_id = %s"
                    f" AND {table}.fingerprint = v.column1 AND {table}.content_hash = v.column2"
                    f" AND {active_predicate(table)} AND {which} RETURNING {bare}",
                    [stamp, stamp, *(v for row in chunk for v in row), tenant_id],
                )
                rows.extend(cursor.fetchall())
    names, db = feed.names, connection.ops.connection
    out: list[dict] = []
    for row in rows:
        read = dict(zip(names, row, strict=True))
        for name, index, col, convert in feed.converting:
            value = row[index]
            for c in convert:
                value = c(value, col, db)
            read[name] = value
        out.append(read)
    return out
