"""Set-based writes the pipeline needs and the ORM does not offer: an upsert against the partial
unique index (one active alert per fingerprint) that reports which rows it inserted."""

from __future__ import annotations

from django.db import connection

from watchfloor.alerts.models import Alert

# Rows per INSERT: 40 columns × 500 rows stays under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


def _fields():
    return [f for f in Alert._meta.concrete_fields if not f.primary_key]


def insert_new_alerts(alerts: list[Alert]) -> dict[str, bool]:
    """Insert `alerts` (one per fingerprint); sets their ids. Returns fingerprint → inserted.

    When a concurrent writer committed an active alert with the same fingerprint first, the row
    is not duplicated: `ON CONFLICT` adds this batch's counts to it, and the alert object gets
    that row's id and counts (inserted = False). On SQLite writers are serialized by
    BEGIN IMMEDIATE, so a conflict cannot happen there.
    """
    if not alerts:
        return {}
    fields = _fields()
    qn = connection.ops.quote_name
    table = qn(Alert._meta.db_table)
    columns = ", ".join(qn(f.column) for f in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted_expr = "(xmax = 0)" if connection.vendor == "postgresql" else "1"
    upsert = (
        f" ON CONFLICT ({qn('tenant_id')}, {qn('fingerprint')})"
        f" WHERE NOT ({qn('status')} = 'RESOLVED') DO UPDATE SET"
        f" occurrence_count = {table}.occurrence_count + excluded.occurrence_count,"
        f" suppressed_count = {table}.suppressed_count + excluded.suppressed_count,"
        f" last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at"
        f" RETURNING id, fingerprint, occurrence_count, suppressed_count, status, {inserted_expr}"
    )
    by_fp = {a.fingerprint: a for a in alerts}
    ordered = sorted(alerts, key=lambda a: a.fingerprint)  # one lock order for all writers
    inserted: dict[str, bool] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            params = [
                f.get_db_prep_save(getattr(alert, f.attname), connection)
                for alert in chunk
                for f in fields
            ]
            values = ", ".join([row_sql] * len(chunk))
            # identifiers come from the model, values are parameters
            sql = f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608
            cursor.execute(sql + upsert, params)
            for pk, fp, occurrences, suppressed, status, was_inserted in cursor.fetchall():
                alert = by_fp[fp]
                alert.id = pk
                alert._state.adding = False
                alert._state.db = connection.alias
                if not was_inserted:
                    alert.occurrence_count, alert.suppressed_count = occurrences, suppressed
                    alert.status = status
                inserted[fp] = bool(was_inserted)
    return inserted
