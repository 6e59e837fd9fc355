"""Read side of the overview's field tiles: tickets, SLA breaches, attendance, work orders and
devices, from the newest KPI snapshot in the user's scope, with a trend per tile.

`field_tiles(user, f, range_, now=None)` answers in a fixed number of queries whatever the size
of the estate (one or two to find the newest window, one aggregate over its rows, one grouped
query for the trends, over the tenant totals where they answer: queries.window_sums): the
filters, the scope and the level (client rows, or site rows summed when a site-level filter
applies or the user sees sites only) are `snapshots.queries`' own, so the tiles drill down by
client, city, state, officer and site exactly like the alert tiles.

When no snapshot exists in the last day, `figures` is None: the page says so (never zeros).
Trends are the last hour (12 five-minute points) or, for an overview range longer than an hour,
the last 7 days (168 hourly points); a point is None where no snapshot exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Max, Sum
from django.utils import timezone

from watchfloor.snapshots.compute import latest_closed_window
from watchfloor.snapshots.models import ATTENDANCE_MEASURES
from watchfloor.snapshots.queries import (
    LATEST_LOOKBACK,
    RANGES,
    RECENT_LOOKBACK,
    SnapshotFilters,
    _filtered,
    _hourly,
    snapshots_for,
    window_sums,
)

PRIORITIES = ("p1", "p2", "p3", "p4")
OPEN_TICKETS = tuple(f"tickets_open_{p}" for p in PRIORITIES)
OVERDUE_TICKETS = tuple(f"tickets_overdue_{p}" for p in PRIORITIES)
COLUMNS: tuple[str, ...] = (
    *OPEN_TICKETS,
    *OVERDUE_TICKETS,
    "work_orders_open",
    "work_orders_overdue",
    *ATTENDANCE_MEASURES,
    "devices_total",
    "devices_offline",
)
# the overview's ranges whose trend is the last hour; any longer range gets 7 days
HOUR_RANGES = frozenset({"", "1h"})


def trend_range(overview_range: str) -> str:
    return "1h" if overview_range in HOUR_RANGES else "7d"


def _percent(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def figures_of(s: dict[str, Any]) -> dict[str, Any]:
    """The five tiles' figures from summed columns."""
    n = {c: int(s.get(c) or 0) for c in COLUMNS}
    return {
        "tickets": {
            "open": sum(n[c] for c in OPEN_TICKETS),
            "overdue": sum(n[c] for c in OVERDUE_TICKETS),
            "open_by_priority": {p.upper(): n[f"tickets_open_{p}"] for p in PRIORITIES},
        },
        "sla": {
            "breaches": sum(n[c] for c in OVERDUE_TICKETS),
            "by_priority": {p.upper(): n[f"tickets_overdue_{p}"] for p in PRIORITIES},
        },
        "attendance": {
            "expected": n["attendance_expected"],
            "present": n["attendance_present"],
            "late": n["attendance_late"],
            "missing": n["attendance_missing"],
            "present_percent": _percent(n["attendance_present"], n["attendance_expected"]),
        },
        "work_orders": {"open": n["work_orders_open"], "overdue": n["work_orders_overdue"]},
        "devices": {
            "total": n["devices_total"],
            "offline": n["devices_offline"],
            "online_percent": _percent(
                n["devices_total"] - n["devices_offline"], n["devices_total"]
            ),
        },
    }


def _trend_values(s: dict[str, Any] | None) -> dict[str, float | None]:
    """Each tile's trend value at one point (None: no snapshot)."""
    if s is None:
        return dict.fromkeys(TREND_KEYS)
    v = {c: float(s.get(c) or 0) for c in COLUMNS}
    return {
        "tickets": round(sum(v[c] for c in OPEN_TICKETS), 2),
        "sla": round(sum(v[c] for c in OVERDUE_TICKETS), 2),
        "attendance": _percent(v["attendance_present"], v["attendance_expected"]),
        "work_orders": round(v["work_orders_overdue"], 2),
        "devices": round(v["devices_offline"], 2),
    }


# what each tile's trend draws
TREND_KEYS = ("tickets", "sla", "attendance", "work_orders", "devices")
TREND_MEANING = {
    "tickets": "open tickets",
    "sla": "tickets past their SLA",
    "attendance": "present share of expected, percent",
    "work_orders": "overdue work orders",
    "devices": "offline devices",
}


@dataclass
class FieldTiles:
    window_end: datetime | None
    figures: dict[str, Any] | None
    range: str
    step_seconds: int
    points: list[datetime]
    trends: dict[str, list[float | None]]


def _newest_window(user, f: SnapshotFilters, now: datetime):
    rows = _filtered(snapshots_for(user), user, f)
    for lookback in (RECENT_LOOKBACK, LATEST_LOOKBACK):
        end = rows.filter(window_end__gt=now - lookback).aggregate(end=Max("window_end"))["end"]
        if end is not None:
            return rows, end
    return rows, None


def field_tiles(
    user, f: SnapshotFilters, overview_range: str = "", *, now: datetime | None = None
) -> FieldTiles:
    now = now or timezone.now()
    rows, end = _newest_window(user, f, now)
    figures = None
    if end is not None:
        sums = rows.filter(window_end=end).aggregate(**{c: Sum(c) for c in COLUMNS})
        figures = figures_of(sums)
    range_ = trend_range(overview_range)
    span, step = RANGES[range_]
    if range_ == "1h":
        last = latest_closed_window(now)
        points = [last - step * i for i in range(11, -1, -1)]
        grouped = window_sums(user, f, COLUMNS, last - span, last)
    else:
        hour_now = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        points = [hour_now - step * i for i in range(167, -1, -1)]
        grouped = _hourly(user, f, COLUMNS, points[0])
    at_points = [_trend_values(grouped.get(at)) for at in points]
    trends = {key: [p[key] for p in at_points] for key in TREND_KEYS}
    return FieldTiles(end, figures, range_, int(step.total_seconds()), points, trends)
