"""Attendance and device availability over a report's range, from the KPI snapshots (#13 §3).

Each snapshot is a 5-minute window's levels per client and per site; over a range:

- attendance: present share of expected = Σ present / Σ expected over the windows (so a shift
  weighs by how long it was expected), likewise late and missing; plus the mean level per window;
- devices: online share = 1 − Σ offline / Σ total (device-windows online), and the mean fleet.

Both read the snapshots through `snapshots.queries` (`snapshots_for`: the user's scope;
`_filtered`: the overview's filters — client rows, or site rows summed when a site-level filter
applies or the user sees sites only), windows ending in (since, until]. Two grouped queries and
two name look-ups answer both reports whatever the range or the estate: per (UTC day, client),
per site (the `TOP_SITES` lowest shares are kept). Kept apart from the alert-based reports in
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
from watchfloor.snapshots.queries import (
    SnapshotFilters,
    _filtered,
    _uses_site_rows,
    snapshots_for,
)
from watchfloor.tenancy.models import Client, Site

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
    return sorted(known, key=lambda r: (r[key], r["site_id"]))[:TOP_SITES]


def _add(into: dict, row: dict) -> None:
    for c in (*COLUMNS, "windows"):
        into[c] = into.get(c, 0) + int(row.get(c) or 0)


def availability(user, f: OverviewFilters, r: ReportRange) -> dict[str, dict[str, Any]]:
    """{"attendance": {...}, "devices": {...}}: overall, by client, the lowest sites, by day.

    Four queries: the rows grouped by (UTC day, client) — by client, by day and overall are
    summed from it —, the site rows grouped by site, then the names of the clients and of the
    lowest sites. Grouped by ids, not names: grouping 1.2 million rows by joined text columns
    took 2-5 times as long (bench/snapshots.py). A window count is one row per window on client
    rows and site rows; summed site rows (a site-level filter, a site-scoped user) count
    distinct window ends. Each snapshot run writes every client, so a day's windows are the most
    any client has that day."""
    sf = snapshot_filters(f)
    base = _in_range(snapshots_for(user), r)
    windows = Count("window_end", distinct=True) if _uses_site_rows(user, sf) else Count("id")
    sums = {**{c: Sum(c) for c in COLUMNS}, "windows": windows}
    by_client: dict[int, dict] = {}
    by_day: dict[Any, dict] = {}
    overall: dict[str, int] = {}
    for g in (
        _filtered(base, user, sf)
        .annotate(day=TruncDay("window_end", tzinfo=UTC))
        .values("day", "client_id")
        .order_by()
        .annotate(**sums)
    ):
        _add(by_client.setdefault(g["client_id"], {}), g)
        day = by_day.setdefault(g["day"], {"windows": 0})
        day_windows = max(day["windows"], int(g["windows"] or 0))
        _add(day, {**g, "windows": 0})
        day["windows"] = day_windows
    for day in by_day.values():
        _add(overall, day)
    by_site = list(
        _filtered(base, user, sf, sites=True)
        .values("site_id")
        .order_by()
        .annotate(**{**{c: Sum(c) for c in COLUMNS}, "windows": Count("id")})
    )
    att_sites = _worst([{**g, **_attendance(g)} for g in by_site], "present_percent")
    dev_sites = _worst([{**g, **_devices(g)} for g in by_site], "online_percent")
    client_names = {
        c["id"]: c
        for c in Client.objects.filter(id__in=list(by_client)).values("id", "code", "name")
    }
    wanted = {g["site_id"] for g in (*att_sites, *dev_sites)}
    site_names = {
        s["id"]: s
        for s in Site.objects.filter(id__in=list(wanted)).values(
            "id", "code", "name", "client__code", "city", "state"
        )
    }
    # rows of a client or site deleted since (the snapshots keep no foreign key) are left out
    clients = sorted(
        ((cid, g) for cid, g in by_client.items() if cid in client_names),
        key=lambda item: client_names[item[0]]["code"],
    )

    def client_rows(fn) -> list[dict]:
        return [
            {"client": client_names[cid]["code"], "client_name": client_names[cid]["name"], **fn(g)}
            for cid, g in clients
        ]

    def site_rows(rows: list[dict], fn) -> list[dict]:
        out = []
        for g in rows:
            site = site_names.get(g["site_id"])
            if site is None:
                continue
            out.append(
                {
                    "site": site["code"],
                    "site_name": site["name"],
                    "client": site["client__code"],
                    "city": site["city"],
                    "state": site["state"],
                    **fn(g),
                }
            )
        return out

    days = [(day.date().isoformat(), by_day.get(day, {})) for day in r.days]
    return {
        "attendance": {
            "overall": _attendance(overall),
            "by_client": client_rows(_attendance),
            "lowest_sites": site_rows(att_sites, _attendance),
            "daily": [{"day": day, **_attendance(found)} for day, found in days],
        },
        "devices": {
            "overall": _devices(overall),
            "by_client": client_rows(_devices),
            "lowest_sites": site_rows(dev_sites, _devices),
            "daily": [{"day": day, **_devices(found)} for day, found in days],
        },
    }
