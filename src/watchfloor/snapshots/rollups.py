"""What the snapshot job derives from a window, in the window's own transaction: three plain
tables on both databases, each written by one server-side statement (no rows through Python).

- `snapshots_kpi_total` (`KpiTotal`): per tenant and window, the measures summed over every
  client row (dimension "") and over the site rows of each city and each state (key: UPPER of
  the name, as the database computes it, so a read `key = UPPER(%s)` matches exactly the rows
  `city__iexact` matches). A 1-hour series of a user who sees every client reads 12 rows of it
  instead of summing 12 × (number of clients) snapshot rows.
- `snapshots_kpi_hourly` (`KpiHourly`): per tenant, client, site (site_key 0: the client's row)
  and hour, levels averaged over the hour's windows and geofence counts summed. The hour a
  window touches is recomputed from its (at most 12) windows, so a window computed again or
  late gives the same hour as a full rebuild. It replaces a materialized view that recomputed
  8 days on every refresh (45 s for 1.7M snapshot rows).
- `snapshots_client_health` (`ClientHealth`): each client's newest client row, scored
  (health.sql); a window replaces a client's row unless the stored row is newer.

`roll_window(end, tenant_ids)` is the snapshot job's step; `rebuild(since, until)` recomputes a
range (after loading snapshots by other means: the migration that made these tables, a
backfill); `prune(now)` deletes what is older than `KEEP` (the `snapshots.refresh_views` job).
"""

# ruff: noqa: S608 (SQL built from the model's constant column names; values are parameters)
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from django.db import connection

from watchfloor.snapshots import health
from watchfloor.snapshots.models import (
    COUNT_MEASURES,
    FLOW_MEASURES,
    SNAPSHOT_TABLE,
    WINDOW,
)

TOTAL_TABLE = "snapshots_kpi_total"
HOURLY_TABLE = "snapshots_kpi_hourly"
HEALTH_TABLE = "snapshots_client_health"
KEEP = timedelta(days=8)  # the 7-day series reads 168 hours; a day more for the hour boundaries
HOUR = timedelta(hours=1)

_COLS = ", ".join(f'"{c}"' for c in COUNT_MEASURES)
_SUMS = ", ".join(f'SUM("{c}")' for c in COUNT_MEASURES)
_HOURLY = ", ".join(f'SUM("{c}")' if c in FLOW_MEASURES else f'AVG("{c}")' for c in COUNT_MEASURES)


def hour_of(window_end: datetime) -> datetime:
    """The start of the hour a window's end falls in (a window ending on the hour closes the
    hour before)."""
    at = (window_end - timedelta(seconds=1)).astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _param_ts() -> str:
    """A timestamp parameter in a select list (PostgreSQL infers no type for it there)."""
    return "%s::timestamptz" if connection.vendor == "postgresql" else "%s"


def _tenants(tenant_ids: Sequence[int] | None, column: str = "tenant_id") -> tuple[str, list]:
    if tenant_ids is None:
        return "", []
    if not tenant_ids:
        return " AND 1 = 0", []
    return f" AND {column} IN ({', '.join(['%s'] * len(tenant_ids))})", list(tenant_ids)


def _execute(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def roll_totals(since: datetime, until: datetime, tenant_ids: Sequence[int] | None = None) -> int:
    """The tenant totals of the windows ending in (since, until]; rows written."""
    where, tparams = _tenants(tenant_ids)
    span = [_dt(since), _dt(until)]
    _execute(
        f"DELETE FROM {TOTAL_TABLE} WHERE window_end > %s AND window_end <= %s{where}",
        span + tparams,
    )
    parts = []
    params: list = []
    for dimension, key, rows in (
        ("", "''", "site_id IS NULL"),
        ("city", "UPPER(city)", "site_id IS NOT NULL"),
        ("state", "UPPER(state)", "site_id IS NOT NULL"),
    ):
        group = f"tenant_id, window_end{', ' + key if dimension else ''}"
        parts.append(
            f"SELECT tenant_id, window_end, '{dimension}', {key}, COUNT(*), {_SUMS} "
            f"FROM {SNAPSHOT_TABLE} WHERE {rows} AND window_end > %s AND window_end <= %s"
            f"{where} GROUP BY {group}"
        )
        params += span + tparams
    return _execute(
        f'INSERT INTO {TOTAL_TABLE} (tenant_id, window_end, dimension, "key", summed_rows, '
        f"{_COLS}) " + " UNION ALL ".join(parts),
        params,
    )


def roll_hour(hour: datetime, tenant_ids: Sequence[int] | None = None) -> int:
    """The hourly rows of the hour starting at `hour`, from its windows; rows written."""
    where, tparams = _tenants(tenant_ids)
    _execute(f"DELETE FROM {HOURLY_TABLE} WHERE hour = %s{where}", [_dt(hour), *tparams])
    return _execute(
        f"INSERT INTO {HOURLY_TABLE} (tenant_id, client_id, site_key, site_id, hour, city, "
        f"state, officer_in_charge_id, points, {_COLS}, sync_health) "
        f"SELECT tenant_id, client_id, COALESCE(site_id, 0), MAX(site_id), {_param_ts()}, "
        f"MAX(city), "
        f'MAX(state), MAX(officer_in_charge_id), COUNT(*), {_HOURLY}, AVG("sync_health") '
        f"FROM {SNAPSHOT_TABLE} WHERE window_end > %s AND window_end <= %s{where} "
        f"GROUP BY tenant_id, client_id, COALESCE(site_id, 0)",
        [_dt(hour), _dt(hour), _dt(hour + HOUR), *tparams],
    )


def roll_health(since: datetime, until: datetime, tenant_ids: Sequence[int] | None = None) -> int:
    """Each client's newest row among the windows ending in (since, until], scored, unless its
    stored row is newer; rows written."""
    where, tparams = _tenants(tenant_ids)
    span = [_dt(since), _dt(until)]
    updates = ", ".join(
        f'"{c}" = excluded."{c}"' for c in ("window_end", "score", "sync_health", *COUNT_MEASURES)
    )
    # the measures are columns of `s` only (n has tenant_id, client_id, newest)
    return _execute(
        f"INSERT INTO {HEALTH_TABLE} (tenant_id, client_id, window_end, score, sync_health, "
        f"{_COLS}) SELECT s.tenant_id, s.client_id, s.window_end, {health.sql(connection.vendor)}, "
        f"sync_health, {_COLS} FROM {SNAPSHOT_TABLE} s JOIN (SELECT tenant_id, client_id, "
        f"MAX(window_end) AS newest FROM {SNAPSHOT_TABLE} WHERE site_id IS NULL "
        f"AND window_end > %s AND window_end <= %s{where} GROUP BY tenant_id, client_id) n "
        f"ON s.tenant_id = n.tenant_id AND s.client_id = n.client_id "
        f"AND s.window_end = n.newest WHERE s.site_id IS NULL "
        f"ON CONFLICT (tenant_id, client_id) DO UPDATE SET {updates} "
        f"WHERE {HEALTH_TABLE}.window_end <= excluded.window_end",
        span + tparams,
    )


def roll_window(window_end: datetime, tenant_ids: Sequence[int] | None = None) -> dict:
    """After a window's rows are written: its totals, its hour, each client's health."""
    return {
        "totals": roll_totals(window_end - timedelta(minutes=WINDOW), window_end, tenant_ids),
        "hourly": roll_hour(hour_of(window_end), tenant_ids),
        "health": roll_health(window_end - timedelta(minutes=WINDOW), window_end, tenant_ids),
    }


def rebuild(since: datetime, until: datetime, tenant_ids: Sequence[int] | None = None) -> dict:
    """Recompute every table for the windows ending in (since, until]: totals in one
    statement, each touched hour, and health from each client's newest window in the range."""
    totals = roll_totals(since, until, tenant_ids)
    hourly = 0
    hour = hour_of(since + timedelta(seconds=1))
    while hour < until:
        hourly += roll_hour(hour, tenant_ids)
        hour += HOUR
    # health shows each client's newest row of the last day: the range's last day is enough
    scored = roll_health(max(since, until - timedelta(days=1)), until, tenant_ids)
    return {"totals": totals, "hourly": hourly, "health": scored}


def prune(now: datetime) -> dict:
    """Delete totals, hours and health rows older than KEEP; rows deleted per table."""
    cutoff = _dt(now - KEEP)
    return {
        "totals": _execute(f"DELETE FROM {TOTAL_TABLE} WHERE window_end < %s", [cutoff]),
        "hourly": _execute(f"DELETE FROM {HOURLY_TABLE} WHERE hour < %s", [cutoff]),
        "health": _execute(f"DELETE FROM {HEALTH_TABLE} WHERE window_end < %s", [cutoff]),
    }
