"""Thin job and task wrappers: they take primary keys (or nothing), re-read their rows and call
the oncall services. The jobs runtime (`watchfloor.jobs`) runs them by dotted path."""

from __future__ import annotations

from watchfloor.oncall import escalation, notify, schedule_services


# --- escalation ----------------------------------------------------------------------------
def sweep_escalations() -> dict:
    """Every 20 s: open new escalations, take due steps, queue the coming ones."""
    return escalation.sweep()


def take_escalation_step(alert_id: int, token: int) -> None:
    """At a step's due time: take it, unless the escalation moved on since it was queued."""
    escalation.take_step_if_current(alert_id, token)


# --- notifications -------------------------------------------------------------------------
# a send task drains what is due in batches (a storm's 1,000 pages share one due time, so one
# task); the bound keeps one run from holding a worker for ever behind a failing destination
DRAIN_BATCHES = 50


def send_delivery(delivery_id: int) -> None:
    """At a delivery's due time (or retry): send it, unless it is not due, taken or settled.

    It sends every delivery due by then in claimed batches (a step paging many people, or many
    steps falling due together, queue one task each: the first sends them all, several at
    once, and the others find theirs taken), then its own if a batch limit left it out."""
    notify.send_due(batches=DRAIN_BATCHES)
    notify.deliver(delivery_id)


def send_due_deliveries() -> dict:
    """Every 15 s: the safety net that sends every due or stuck delivery nobody queued."""
    return notify.send_due(batches=DRAIN_BATCHES)


# --- schedules -----------------------------------------------------------------------------
def refresh_calendars() -> dict:
    """Every 15 min: re-fetch every iCalendar URL layer; a failing feed keeps its last good
    calendar and records the error ({"ok", "failed", "gone"} counts)."""
    return schedule_services.refresh_url_layers()
