"""Prometheus counters of the retention job (the `/metrics` endpoint exposes the registry)."""

from __future__ import annotations

from prometheus_client import Counter

DELETED = Counter(
    "watchfloor_retention_deleted_total",
    "Rows the retention job removed because they were past their period, by kind.",
    ["kind"],
)
RUNS = Counter("watchfloor_retention_runs_total", "Completed runs of the retention job.")
SKIPPED = Counter(
    "watchfloor_retention_skipped_total",
    "Batches of the retention job that gave up (a lock or statement timeout, a concurrent "
    "change) and were left for the next run, by table.",
    ["table"],
)
