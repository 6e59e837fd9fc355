"""Read side of the KPI snapshots, always through the user's scope (`KpiSnapshot.objects
.restrict(scope)`: a client-scoped user sees the rows of their clients, a site-scoped user only
the rows of their sites, never a client's total row).

Signatures kept stable for the overview tiles and reports (helper E builds on them):

- `latest(user, f, level="client"|"site", now=None) -> Latest`: the newest window of the last
  day and its rows, one per client (or per site), measures summed over the matching sites when
  a site-level filter applies (or the user sees sites, not clients); each client row carries
  its health score (snapshots/health.py).
- `series(user, measure, range_, f, now=None) -> Series`: a measure over "1h" (12 five-minute
  points) or "7d" (168 hourly points), summed over the matching clients/sites. A user who sees
  every client, with no filter or one city or one state, reads the tenant totals (12 rows for
  an hour, 2,016 for 7 days, whatever the number of clients); anyone else reads their own rows:
  the snapshots for 1 hour, the hourly rollup for 7 days (snapshots/rollups.py keeps both).
- `client_health(user, f, now=None) -> list[HealthRow]`: each client's newest score (the
  `snapshots_client_health` table the snapshot job keeps).

Filters (`SnapshotFilters`) are the overview's: client codes, city, state (case-insensitive),
officer in charge (user id), one site code. Every function runs a fixed number of queries
whatever the number of clients, sites or windows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from django.db.models import Max, QuerySet, Sum, Value
from django.db.models.functions import Upper
from django.utils import timezone

from watchfloor.access.scope import ScopeKind, scope_of
from watchfloor.snapshots import health
from watchfloor.snapshots.compute import latest_closed_window
from watchfloor.snapshots.models import (
    COUNT_MEASURES,
    FLOW_MEASURES,
    MEASURES,
    WINDOW,
    ClientHealth,
    KpiHourly,
    KpiSnapshot,
    KpiTotal,
)
from watchfloor.snapshots.rollups import hour_of
from watchfloor.tenancy.models import Client, Site

RANGES: dict[str, tuple[timedelta, timedelta]] = {  # span, step
    "1h": (timedelta(hours=1), timedelta(minutes=WINDOW)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
}
LATEST_LOOKBACK = timedelta(days=1)
RECENT_LOOKBACK = timedelta(minutes=3 * WINDOW)
Level = Literal["client", "site"]


@dataclass(frozen=True)
class SnapshotFilters:
    clients: tuple[str, ...] = ()  # client codes
    city: str = ""
    state: str = ""
    officer: int | None = None
    site: str = ""  # one site code

    @property
    def site_level(self) -> bool:
        return bool(self.city or self.state or self.officer is not None or self.site)


def snapshots_for(user) -> QuerySet[KpiSnapshot]:
    return KpiSnapshot.objects.restrict(scope_of(user))


def _uses_site_rows(user, f: SnapshotFilters) -> bool:
    """Sum site rows (rather than read client rows) when a site-level filter applies or the
    user sees sites, not whole clients (their clients' total rows are not theirs to see)."""
    return f.site_level or scope_of(user).kind == ScopeKind.ASSIGNED_SITES


def _filtered(qs: QuerySet, user, f: SnapshotFilters, *, sites: bool | None = None) -> QuerySet:
    """`qs` (snapshot rows or hourly rows) at the level the filters need (or site rows when
    `sites`), filtered."""
    if f.clients:
        codes = Client.objects.for_tenant(user.tenant_id).filter(code__in=f.clients)
        qs = qs.filter(client_id__in=codes.values("id"))
    if sites is None:
        sites = _uses_site_rows(user, f)
    if not sites:
        return qs.filter(site_id__isnull=True)
    qs = qs.filter(site_id__isnull=False)
    if f.city:
        qs = qs.filter(city__iexact=f.city)
    if f.state:
        qs = qs.filter(state__iexact=f.state)
    if f.officer is not None:
        qs = qs.filter(officer_in_charge_id=f.officer)
    if f.site:
        sites = Site.objects.for_tenant(user.tenant_id).filter(code=f.site)
        qs = qs.filter(site_id__in=sites.values("id"))
    return qs


@dataclass
class Row:
    client_id: int
    client_code: str
    client_name: str
    site_id: int | None
    site_code: str | None
    site_name: str | None
    city: str
    state: str
    officer_in_charge_id: int | None
    measures: dict[str, int | None]
    health_score: int | None = None


@dataclass
class Latest:
    window_end: datetime | None
    level: Level
    rows: list[Row] = field(default_factory=list)


def _sync_health(measures: dict) -> int | None:
    total = measures.get("devices_total") or 0
    return (100 * (measures.get("devices_synced") or 0)) // total if total else None


def latest(
    user, f: SnapshotFilters, level: Level = "client", *, now: datetime | None = None
) -> Latest:
    """The newest window (of the last day) in the user's scope and its rows (3 queries)."""
    now = now or timezone.now()
    use_sites = level == "site" or _uses_site_rows(user, f)
    rows_in_scope = _filtered(snapshots_for(user), user, f, sites=use_sites)
    # the last few windows first (a few thousand rows at most), the whole day only if the
    # job has not run lately: a day of a 1,000-client estate is ~300k rows to scan
    end = None
    for lookback in (RECENT_LOOKBACK, LATEST_LOOKBACK):
        end = rows_in_scope.filter(window_end__gt=now - lookback).aggregate(end=Max("window_end"))[
            "end"
        ]
        if end is not None:
            break
    if end is None:
        return Latest(None, level)
    base = rows_in_scope
    rows_qs = base.filter(window_end=end)
    out: list[Row] = []
    if level == "site" or not use_sites:
        for snap in rows_qs.select_related("client", "site").order_by("client__code", "site_id"):
            measures = {m: getattr(snap, m) for m in MEASURES}
            out.append(
                Row(
                    snap.client_id,
                    snap.client.code,
                    snap.client.name,
                    snap.site_id,
                    snap.site.code if snap.site else None,
                    snap.site.name if snap.site else None,
                    snap.city,
                    snap.state,
                    snap.officer_in_charge_id,
                    measures,
                    health.score(measures) if snap.site_id is None else None,
                )
            )
        return Latest(end, level, out)
    # client level from site rows: summed per client
    sums = (
        rows_qs.values("client_id", "client__code", "client__name")
        .order_by("client__code")
        .annotate(**{m: Sum(m) for m in COUNT_MEASURES})
    )
    for s in sums:
        measures = {m: int(s[m] or 0) for m in COUNT_MEASURES}
        measures["sync_health"] = _sync_health(measures)
        out.append(
            Row(
                s["client_id"],
                s["client__code"],
                s["client__name"],
                None,
                None,
                None,
                "",
                "",
                None,
                dict(measures),
                health.score(measures),
            )
        )
    return Latest(end, level, out)


@dataclass
class Point:
    at: datetime  # the end of the window (1h) or the start of the hour (7d)
    value: float | None


@dataclass
class Series:
    measure: str
    range: str
    step_seconds: int
    points: list[Point]


def _value(measure: str, sums: dict) -> float | None:
    if measure == "sync_health":
        total = sums.get("devices_total") or 0
        return round(100.0 * (sums.get("devices_synced") or 0) / total, 2) if total else None
    value = sums.get(measure)
    return None if value is None else round(float(value), 2)


def _columns(measure: str) -> tuple[str, ...]:
    return ("devices_synced", "devices_total") if measure == "sync_health" else (measure,)


def _totals(user, f: SnapshotFilters) -> QuerySet[KpiTotal] | None:
    """The tenant totals that answer `f` for `user`, or None: only for a user who sees every
    client (a user scoped to some clients or sites must never read sums that include others),
    and only for no filter (dimension "") or one city or one state alone."""
    scope = scope_of(user)
    if scope.kind != ScopeKind.ALL_CLIENTS or scope.tenant_id is None:
        return None
    if f.clients or f.site or f.officer is not None or (f.city and f.state):
        return None
    qs = KpiTotal.objects.filter(tenant_id=scope.tenant_id)
    if f.city:
        return qs.filter(dimension="city", key=Upper(Value(f.city)))
    if f.state:
        return qs.filter(dimension="state", key=Upper(Value(f.state)))
    return qs.filter(dimension="", key="")


def window_sums(
    user,
    f: SnapshotFilters,
    columns: tuple[str, ...],
    since: datetime,
    until: datetime | None = None,
    *,
    raw: bool = False,
) -> dict[datetime, dict]:
    """{window end: {column: sum}} over the windows ending in (since, until], summed over the
    matching rows: from the tenant totals where they answer (`_totals`), else (or `raw`) the
    snapshots."""
    totals = None if raw else _totals(user, f)
    qs: QuerySet = totals if totals is not None else _filtered(snapshots_for(user), user, f)
    qs = qs.filter(window_end__gt=since)
    if until is not None:
        qs = qs.filter(window_end__lte=until)
    rows = qs.values("window_end").order_by().annotate(**{c: Sum(c) for c in columns})
    return {r["window_end"]: dict(r) for r in rows}


def series(
    user,
    measure: str,
    range_: str,
    f: SnapshotFilters,
    *,
    now: datetime | None = None,
) -> Series:
    """`measure` over the range, one point per step (None where no snapshot exists)."""
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}")
    span, step = RANGES[range_]
    now = now or timezone.now()
    columns = _columns(measure)
    if range_ == "1h":
        end = latest_closed_window(now)
        starts = [end - step * i for i in range(11, -1, -1)]
        grouped = window_sums(user, f, columns, end - span, end)
        points = [
            Point(at, _value(measure, grouped[at]) if at in grouped else None) for at in starts
        ]
        return Series(measure, range_, int(step.total_seconds()), points)
    hour_now = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [hour_now - step * i for i in range(167, -1, -1)]
    by_hour = _hourly(user, f, columns, hours[0])
    points = [Point(h, _value(measure, by_hour[h]) if h in by_hour else None) for h in hours]
    return Series(measure, range_, int(step.total_seconds()), points)


def by_hour(per_window: dict[datetime, dict], columns: tuple[str, ...]) -> dict:
    """Per-window sums grouped by the hour each window closes in: levels averaged over the
    hour's windows, flows (geofence counts) summed."""
    acc: dict[datetime, list[dict]] = defaultdict(list)
    for end, r in per_window.items():
        acc[hour_of(end)].append(r)
    return {
        hour: {
            c: (
                sum(w[c] or 0 for w in windows)
                if c in FLOW_MEASURES
                else sum(w[c] or 0 for w in windows) / len(windows)
            )
            for c in columns
        }
        for hour, windows in acc.items()
    }


def _hourly(user, f: SnapshotFilters, columns: tuple[str, ...], since: datetime) -> dict:
    """{hour start: {column: value}} summed over the matching rows (hour = the hour a window's
    end falls in; a window ending on the hour closes the hour before): the tenant totals'
    windows grouped by hour where they answer (≤ 2,016 rows for 7 days), else the hourly
    rollup (one row per client or site and hour)."""
    if _totals(user, f) is not None:
        return by_hour(window_sums(user, f, columns, since), columns)
    qs = _filtered(KpiHourly.objects.restrict(scope_of(user)), user, f).filter(hour__gte=since)
    rows = qs.values("hour").order_by().annotate(**{c: Sum(c) for c in columns})
    return {r["hour"]: r for r in rows}


@dataclass
class HealthRow:
    client_id: int
    client_code: str
    client_name: str
    window_end: datetime
    score: int
    sync_health: int | None


def client_health(user, f: SnapshotFilters, *, now: datetime | None = None) -> list[HealthRow]:
    """Each visible client's newest health score (of the last day), worst first. Clients only
    (a site-scoped user, or a site-level filter, gets the latest() client rows summed from
    their sites, scored the same way)."""
    if _uses_site_rows(user, f):
        found = latest(user, f, "client", now=now)
        rows = [
            HealthRow(
                r.client_id,
                r.client_code,
                r.client_name,
                found.window_end,  # type: ignore[arg-type]
                r.health_score or 0,
                r.measures.get("sync_health"),
            )
            for r in found.rows
        ]
        return sorted(rows, key=lambda r: (r.score, r.client_code))
    now = now or timezone.now()
    qs = ClientHealth.objects.restrict(scope_of(user)).filter(window_end__gt=now - LATEST_LOOKBACK)
    if f.clients:
        qs = qs.filter(client__code__in=f.clients)
    return [
        HealthRow(h.client_id, h.client.code, h.client.name, h.window_end, h.score, h.sync_health)
        for h in qs.select_related("client").order_by("score", "client__code")
    ]
