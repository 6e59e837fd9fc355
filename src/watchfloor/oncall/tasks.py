"""Thin job and task wrappers: they take primary keys (or nothing), re-read their rows and call
the oncall services. The jobs runtime (`watchfloor.jobs`) runs them by dotted path."""

from __future__ import annotations

from watchfloor.oncall import escalation


# --- escalation ----------------------------------------------------------------------------
def sweep_escalations() -> dict:
    """Every 20 s: open new escalations, take due steps, queue the coming ones."""
    return escalation.sweep()


def take_escalation_step(alert_id: int, token: int) -> None:
    """At a step's due time: take it, unless the escalation moved on since it was queued."""
    escalation.take_step_if_current(alert_id, token)
