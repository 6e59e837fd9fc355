"""Periodic maintenance work, called by the web nodes' ticker (realtime.hub) and, once the jobs
app exists, by Celery beat: thin wrappers around services."""

from __future__ import annotations

from watchfloor.maintenance.services import announce_transitions


def announce_maintenance_transitions() -> int:
    return announce_transitions()
