"""Periodic jobs of the snapshots app (jobs/schedule.py names them by dotted path)."""

from __future__ import annotations

from watchfloor.snapshots import retention


def enforce_retention() -> dict:
    """`retention.enforce`: every tenant's rows past their period, in bounded batches."""
    return retention.enforce()
