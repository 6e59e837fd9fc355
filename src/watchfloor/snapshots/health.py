"""A client's health score, 0 (worst) to 100, from one snapshot row: 100 minus capped penalties.

- tickets past SLA: 10 per P1, 5 per P2, 2 per P3/P4, at most 40;
- work orders past deadline: 3 each, at most 15;
- attendance: 25 × (missing + late/2) / expected (integer division), at most 25;
- devices: 20 × offline / total (integer division);
- open alerts: 10 per CRITICAL, 4 per HIGH, 5 per security anomaly, at most 20.

All integer arithmetic, so `score()` here (any row in memory) and `sql(vendor)` (what the
snapshot job writes into `snapshots_client_health`, snapshots/rollups.py) give the same number;
tests/snapshots check it on both databases.
"""

from __future__ import annotations

from collections.abc import Mapping


def score(row: Mapping[str, int]) -> int:
    def g(name: str) -> int:
        return int(row.get(name) or 0)

    tickets = min(
        40,
        10 * g("tickets_overdue_p1")
        + 5 * g("tickets_overdue_p2")
        + 2 * (g("tickets_overdue_p3") + g("tickets_overdue_p4")),
    )
    work_orders = min(15, 3 * g("work_orders_overdue"))
    expected = g("attendance_expected")
    attendance = (
        min(25, (25 * (2 * g("attendance_missing") + g("attendance_late"))) // (2 * expected))
        if expected
        else 0
    )
    total = g("devices_total")
    devices = (20 * g("devices_offline")) // total if total else 0
    alerts = min(
        20,
        10 * g("alerts_open_critical") + 4 * g("alerts_open_high") + 5 * g("security_anomalies"),
    )
    return max(0, 100 - tickets - work_orders - attendance - devices - alerts)


SQL = """GREATEST(0, 100
  - LEAST(40, 10 * tickets_overdue_p1 + 5 * tickets_overdue_p2
              + 2 * (tickets_overdue_p3 + tickets_overdue_p4))
  - LEAST(15, 3 * work_orders_overdue)
  - CASE WHEN attendance_expected > 0 THEN LEAST(25,
        (25 * (2 * attendance_missing + attendance_late)) / (2 * attendance_expected))
    ELSE 0 END
  - CASE WHEN devices_total > 0 THEN (20 * devices_offline) / devices_total ELSE 0 END
  - LEAST(20, 10 * alerts_open_critical + 4 * alerts_open_high + 5 * security_anomalies))"""


def sql(vendor: str) -> str:
    """`SQL` for a database: SQLite spells GREATEST and LEAST as its many-argument MAX, MIN."""
    if vendor == "postgresql":
        return SQL
    return SQL.replace("GREATEST(", "MAX(").replace("LEAST(", "MIN(")
