"""The snapshots app's periodic jobs (jobs/schedule.py names them): thin wrappers."""

from __future__ import annotations

from django.utils import timezone

from watchfloor.snapshots import compute, partitions


def compute_snapshots() -> dict:
    """`snapshots.compute`, every 5 minutes: the window that just ended, every tenant."""
    return compute.compute_window()


def refresh_views() -> dict:
    """`snapshots.refresh_views`, every 5 minutes: the hourly rollup and client health views
    (PostgreSQL; nothing on SQLite), and the partitions ahead."""
    created = partitions.ensure_partitions(timezone.now())
    return {**partitions.refresh_views(), "partitions_created": len(created)}
