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

import contextlib
import threading
import time
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
    outside one). Nothing to tell, or no hook configured: nothing is registered. On a thread
    that coalesces (`coalescing`, a fold worker's), the committed changes wait in the thread's
    buffer for its next `flush`."""
    if not alert_changes or not settings.ALERT_CHANGE_HOOKS:
        return

    def run_alert_hooks() -> None:
        buffer = getattr(_local, "buffer", None)
        if buffer is None:
            call_hooks(alert_changes)
        else:
            buffer.add(alert_changes)

    transaction.on_commit(run_alert_hooks)


# --- coalescing on a fold worker -----------------------------------------------------------------
#
# A fold worker's committed changes collect here and the hooks get them merged, per tenant,
# when the worker goes idle (nothing staged), or once they are HOOK_COALESCE_SECONDS old or
# HOOK_COALESCE_IDS long. Meant to spare the incident rules their fixed part (reads, locks, a
# transaction) per fold under load; measured on 2 cores, merging for 0.5 s made a storm's first
# pass slower (the last merged call runs after the drain, on one core), so the default is 0:
# handed over after every fold, as without coalescing (a setting; not measured on more cores).


class _Buffer:
    def __init__(self) -> None:
        self.by_tenant: dict[int, tuple[dict, dict, dict]] = {}
        self.since: float | None = None
        self.ids = 0

    def add(self, c: AlertChanges) -> None:
        if self.since is None:
            self.since = time.monotonic()
        created, changed, resolved = self.by_tenant.setdefault(c.tenant_id, ({}, {}, {}))
        created.update(dict.fromkeys(c.created))
        changed.update(dict.fromkeys(c.changed))
        resolved.update(dict.fromkeys(c.resolved))
        self.ids += len(c.created) + len(c.changed) + len(c.resolved)

    def due(self) -> bool:
        if self.since is None:
            return False
        age = time.monotonic() - self.since
        return age >= settings.HOOK_COALESCE_SECONDS or self.ids >= settings.HOOK_COALESCE_IDS

    def take(self) -> list[AlertChanges]:
        out = [
            changes(t, created=a, changed=b, resolved=c) for t, (a, b, c) in self.by_tenant.items()
        ]
        self.by_tenant, self.since, self.ids = {}, None, 0
        return out


_local = threading.local()


@contextlib.contextmanager
def coalescing():
    """Collect the committed changes of this thread's writes until `flush` (a fold worker's
    loop; whatever is left is flushed when the block ends)."""
    before = getattr(_local, "buffer", None)
    _local.buffer = _Buffer()
    try:
        yield
    finally:
        flush(force=True)
        _local.buffer = before


def flush(*, force: bool = False) -> int:
    """Call the hooks with what this thread collected, merged per tenant, when it is due (or
    `force`: the worker is idle or stopping). Returns how many changes went out."""
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.since is None or not (force or buffer.due()):
        return 0
    batch = buffer.take()
    for alert_changes in batch:
        call_hooks(alert_changes)
    return len(batch)


def preload() -> None:
    """Import every hook now, not on the first call. The incident rules import ~280 modules
    (their services, paging, the notification channels: 0.37 s measured), so the first fold
    of a new process, the first storm after a start, waited that long in every drainer; a
    server imports them before it forks (its workers inherit them) and a fold worker before its
    first fold. A hook that cannot be imported is recorded as that hook's outage (logged once),
    as its calls would be."""
    for path in settings.ALERT_CHANGE_HOOKS:
        try:
            import_string(path)
        except Exception as exc:  # a broken hook never stops the fold or the server
            degrade.record_failure(f"alert hook {path}", exc)


def call_hooks(alert_changes: AlertChanges) -> None:
    for path in settings.ALERT_CHANGE_HOOKS:
        component = f"alert hook {path}"
        try:
            import_string(path)(alert_changes)
        except Exception as exc:  # a hook never fails the committed write
            degrade.record_failure(component, exc)
        else:
            degrade.record_success(component)
