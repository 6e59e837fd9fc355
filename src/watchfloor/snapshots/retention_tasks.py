"""The retention job's thin wrapper (jobs/schedule.py names it by dotted path)."""

from __future__ import annotations

from watchfloor.snapshots import retention


def enforce_retention() -> dict:
    """`retention.enforce`: every tenant's rows past their period, in bounded batches."""
    return retention.enforce()
