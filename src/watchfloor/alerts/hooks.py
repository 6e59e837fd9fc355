"""What happened to alerts, told to the apps above once it is committed.

The alerts app imports no app above it (incidents, for one, groups alerts into incidents), so
the pipeline and the alert services do not call those apps: after a write commits they hand an
`AlertChanges` (the tenant, and the ids of the alerts created, changed and resolved) to every
dotted path in `settings.ALERT_CHANGE_HOOKS`, imported when called, like the jobs schedule's
targets.

A hook never fails the write that triggered it: the write is committed by then, and its answer
(an ingestion request's 2xx) must not depend on what the layers above do with it. A hook that
raises is logged once as an outage of that hook (`watchfloor.degrade`), and once more when it
works again; each hook's owner runs a periodic sweep that catches up whatever a failed call
left undone (e.g. `incidents.tasks.sweep_incident_rules`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from watchfloor import degrade


@dataclass(frozen=True)
class AlertChanges:
    tenant_id: int
    created: tuple[int, ...] = ()  # new alerts that opened (not the ones stored suppressed)
    # alerts whose severity, type or status changed (not a plain repeat bumping counters)
    changed: tuple[int, ...] = ()
    resolved: tuple[int, ...] = ()  # resolved by anything: the source, a person, a bulk action

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.resolved)


def changes(
    tenant_id: int,
    *,
    created: Iterable[int] = (),
    changed: Iterable[int] = (),
    resolved: Iterable[int] = (),
) -> AlertChanges:
    return AlertChanges(
        tenant_id,
        tuple(dict.fromkeys(created)),
        tuple(dict.fromkeys(changed)),
        tuple(dict.fromkeys(resolved)),
    )


def after_commit(alert_changes: AlertChanges) -> None:
    """Call the hooks with `alert_changes` once the current transaction commits (at once
    outside one). Nothing to tell, or no hook configured: nothing is registered."""
    if not alert_changes or not settings.ALERT_CHANGE_HOOKS:
        return

    def run_alert_hooks() -> None:
        call_hooks(alert_changes)

    transaction.on_commit(run_alert_hooks)


def call_hooks(alert_changes: AlertChanges) -> None:
    for path in settings.ALERT_CHANGE_HOOKS:
        component = f"alert hook {path}"
        try:
            import_string(path)(alert_changes)
        except Exception as exc:  # a hook never fails the committed write
            degrade.record_failure(component, exc)
        else:
            degrade.record_success(component)
