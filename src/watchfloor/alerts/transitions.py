"""What an ingested event does to the status of its fingerprint's alert: one table.

The ingestion pipeline looks every status change up here (operators' actions have their own
rules in `alerts/services.py`). A missing entry means the event changes nothing: the pipeline
reports it `unchanged`, or `unknown` when no alert is active for the fingerprint.
"""

from __future__ import annotations

from enum import StrEnum

from watchfloor.alerts.models import ACTIVE_STATUSES, OPEN_STATUSES, Status


class Step(StrEnum):
    """An ingested event as the status table sees it."""

    TRIGGER = "trigger"  # the problem is there, and nothing hides it now
    TRIGGER_HIDDEN = "trigger_hidden"  # ... a maintenance window or back-pressure hides it now
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


# (status of the active alert, None when there is none; step) → its new status
TRANSITIONS: dict[tuple[Status | None, Step], Status] = {
    (None, Step.TRIGGER): Status.NEW,
    (None, Step.TRIGGER_HIDDEN): Status.SUPPRESSED,
    # an open alert stays as operators left it; a repeat that a window matches is only counted
    **{(status, Step.TRIGGER): status for status in OPEN_STATUSES},
    **{(status, Step.TRIGGER_HIDDEN): status for status in OPEN_STATUSES},
    # a hidden alert that keeps firing opens once nothing hides it (window over, pressure gone)
    (Status.SUPPRESSED, Step.TRIGGER): Status.NEW,
    (Status.SUPPRESSED, Step.TRIGGER_HIDDEN): Status.SUPPRESSED,
    (Status.NEW, Step.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    **{(status, Step.RESOLVE): Status.RESOLVED for status in ACTIVE_STATUSES},
}


def next_status(current: str | None, step: Step) -> Status | None:
    """The status after `step`, or None when the step does not apply to an alert in `current`."""
    return TRANSITIONS.get((Status(current) if current is not None else None, step))


def status_after(current: str | None, step: Step) -> Status:
    """The status after a step the caller knows applies (a trigger always does)."""
    status = next_status(current, step)
    if status is None:
        raise LookupError(f"no transition from {current} by {step}")
    return status
