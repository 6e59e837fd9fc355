"""The snapshots app's periodic jobs (jobs/schedule.py names them): thin wrappers."""

from __future__ import annotations

from django.utils import timezone

from watchfloor.snapshots import compute, partitions, rollups


def compute_snapshots() -> dict:
    """`snapshots.compute`, every 5 minutes: the window that just ended, every tenant."""
    return compute.compute_window()


def refresh_views() -> dict:
    """`snapshots.refresh_views`, every 5 minutes (the name is the jobs page's, from when the
    rollups were materialized views): the partitions ahead (PostgreSQL) and the rollup rows
    older than `rollups.KEEP` deleted. The rollups themselves are written by each
    `snapshots.compute` run (snapshots/rollups.py)."""
    now = timezone.now()
    created = partitions.ensure_partitions(now)
    return {"pruned": rollups.prune(now), "partitions_created": len(created)}
