"""Attendance and device availability over a report's range, from the KPI snapshots (#13 §3).

Each snapshot is a 5-minute window's levels per client and per site; over a range:

- attendance: present share of expected = Σ present / Σ expected over the windows (so a shift
  weighs by how long it was expected), likewise late and missing; plus the mean level per window;
- devices: online share = 1 − Σ offline / Σ total (device-windows online), and the mean fleet.

Both read the snapshots through `snapshots.queries` (`snapshots_for`: the user's scope;
`_filtered`: the overview's filters — client rows, or site rows summed when a site-level filter
applies or the user sees sites only), windows ending in (since, until]. Three grouped queries
answer both reports whatever the range or the estate: per client, per site (the `TOP_SITES`
lowest shares are kept) and per UTC day. Kept apart from the alert-based reports in
`reports/queries.py`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay

from watchfloor.alerts.overview_queries import OverviewFilters
from watchfloor.reports.queries import ReportRange
from watchfloor.snapshots.models import KpiSnapshot
from watchfloor.snapshots.queries import SnapshotFilters, _filtered, snapshots_for

TOP_SITES = 50
COLUMNS = (
    "attendance_expected",
    "attendance_present",
    "attendance_late",
    "attendance_missing",
    "devices_total",
    "devices_offline",
)


def snapshot_filters(f: OverviewFilters) -> SnapshotFilters:
    return SnapshotFilters(
        clients=f.clients, city=f.city, state=f.state, officer=f.officer, site=f.site
    )


def _in_range(qs: QuerySet[KpiSnapshot], r: ReportRange) -> QuerySet[KpiSnapshot]:
    return qs.filter(window_end__gt=r.since, window_end__lte=r.until)


def _sums() -> dict:
    return {
        **{c: Sum(c) for c in COLUMNS},
        "windows": Count("window_end", distinct=True),
    }


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(total: int, windows: int) -> float | None:
    return round(total / windows, 1) if windows else None


def _attendance(row: dict) -> dict[str, Any]:
    s = {c: int(row.get(c) or 0) for c in COLUMNS}
    windows = int(row.get("windows") or 0)
    expected = s["attendance_expected"]
    return {
        "snapshots": windows,
        "expected_mean": _mean(expected, windows),
        "present_mean": _mean(s["attendance_present"], windows),
        "late_mean": _mean(s["attendance_late"], windows),
        "missing_mean": _mean(s["attendance_missing"], windows),
        "present_percent": _percent(s["attendance_present"], expected),
        "late_percent": _percent(s["attendance_late"], expected),
        "missing_percent": _percent(s["attendance_missing"], expected),
    }


def _devices(row: dict) -> dict[str, Any]:
    total = int(row.get("devices_total") or 0)
    offline = int(row.get("devices_offline") or 0)
    windows = int(row.get("windows") or 0)
    return {
        "snapshots": windows,
        "total_mean": _mean(total, windows),
        "offline_mean": _mean(offline, windows),
        "online_percent": _percent(total - offline, total),
    }


def _worst(rows: list[dict], key: str) -> list[dict]:
    """The TOP_SITES rows with the lowest `key` (rows without a share left out)."""
    known = [r for r in rows if r[key] is not None]
    return sorted(known, key=lambda r: (r[key], r["site"]))[:TOP_SITES]


def availability(user, f: OverviewFilters, r: ReportRange) -> dict[str, dict[str, Any]]:
    """{"attendance": {...}, "devices": {...}}: overall, by client, the lowest sites, by day."""
    sf = snapshot_filters(f)
    base = _in_range(snapshots_for(user), r)
    rows = _filtered(base, user, sf)
    by_client = list(
        rows.values("client__code", "client__name").order_by("client__code").annotate(**_sums())
    )
    by_site = list(
        _filtered(base, user, sf, sites=True)
        .values("site__code", "site__name", "client__code", "site__city", "site__state")
        .order_by("site__code")
        .annotate(**_sums())
    )
    by_day = {
        d["day"]: d
        for d in rows.annotate(day=TruncDay("window_end", tzinfo=UTC))
        .values("day")
        .order_by("day")
        .annotate(**_sums())
    }
    overall: dict[str, int] = {c: sum(int(g[c] or 0) for g in by_client) for c in COLUMNS}
    # windows overall: the most any client has (each client row is one per window)
    overall["windows"] = max((g["windows"] for g in by_client), default=0)

    def client_rows(fn) -> list[dict]:
        return [
            {"client": g["client__code"], "client_name": g["client__name"], **fn(g)}
            for g in by_client
        ]

    def site_rows(fn) -> list[dict]:
        return [
            {
                "site": g["site__code"],
                "site_name": g["site__name"],
                "client": g["client__code"],
                "city": g["site__city"],
                "state": g["site__state"],
                **fn(g),
            }
            for g in by_site
        ]

    days = []
    for day in r.days:
        found = by_day.get(day)
        days.append((day.date().isoformat(), found))

    return {
        "attendance": {
            "overall": _attendance(overall),
            "by_client": client_rows(_attendance),
            "lowest_sites": _worst(site_rows(_attendance), "present_percent"),
            "daily": [{"day": day, **_attendance(found or {})} for day, found in days],
        },
        "devices": {
            "overall": _devices(overall),
            "by_client": client_rows(_devices),
            "lowest_sites": _worst(site_rows(_devices), "online_percent"),
            "daily": [{"day": day, **_devices(found or {})} for day, found in days],
        },
    }
