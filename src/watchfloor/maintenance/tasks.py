"""Periodic maintenance work, run by the jobs runtime (`watchfloor.jobs.schedule`: Celery beat,
or the embedded scheduler of `watchfloor serve`): thin wrappers around services."""

from __future__ import annotations

from watchfloor.maintenance.services import announce_transitions


def announce_maintenance_transitions() -> int:
    return announce_transitions()
