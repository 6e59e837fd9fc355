"""The SLA job: records each incident target that passed (acknowledge, resolve), once.

An incident's targets are fixed when it opens (`ack_due_at`, `resolve_due_at`, from the
tenant's `IncidentPolicy` and its severity). Every 30 s `record_breaches` finds the open
incidents whose target passed and is not yet recorded — through the partial indexes
`incident_ack_due` / `incident_resolve_due`, which hold only the rows still waiting — and for
each: sets `ack_breached_at` / `resolve_breached_at`, appends an SLA_BREACH timeline event,
audits it and publishes `incident.updated` (the services' `record_event`).

Once per breach: the rows are locked (`SKIP LOCKED`: two job runs split the work instead of
waiting for each other) and the column is set with a conditional UPDATE, so a second run, or a
concurrent one, finds nothing left to record. The recorded moment is when the job saw it; the
due time is in the event's details.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from watchfloor.audit.models import Action
from watchfloor.audit.services import record_many
from watchfloor.incidents import services
from watchfloor.incidents.models import OPEN_INCIDENT_STATUSES, EventKind, Incident

BATCH = 500
AUDIT_ACTION = Action.INCIDENT_SLA_BREACH


class Target:
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


# target → (due column, breached column, the partial index condition "still waiting")
_TARGETS = {
    Target.ACKNOWLEDGE: (
        "ack_due_at",
        "ack_breached_at",
        Q(ack_breached_at__isnull=True, acknowledged_at__isnull=True),
    ),
    Target.RESOLVE: (
        "resolve_due_at",
        "resolve_breached_at",
        Q(resolve_breached_at__isnull=True, resolved_at__isnull=True),
    ),
}


def _due(target: str, now: datetime):
    due, _breached, waiting = _TARGETS[target]
    return Incident.objects.filter(
        waiting, status__in=OPEN_INCIDENT_STATUSES, **{f"{due}__lte": now}
    )


def _record_batch(target: str, now: datetime) -> int:
    due_column, breached_column, _waiting = _TARGETS[target]
    with transaction.atomic():
        incidents = list(
            _due(target, now).select_for_update(skip_locked=True).order_by(due_column, "id")[:BATCH]
        )
        if not incidents:
            return 0
        ids = [i.id for i in incidents]
        # conditional: a row another run recorded meanwhile is not recorded twice
        Incident.objects.filter(id__in=ids, **{f"{breached_column}__isnull": True}).update(
            **{breached_column: now, "updated_at": now}
        )
        audit = []
        for incident in incidents:
            due_at = getattr(incident, due_column)
            setattr(incident, breached_column, now)
            incident.updated_at = now
            minutes = max(0, int((now - due_at).total_seconds() // 60))
            services.record_event(
                incident,
                EventKind.SLA_BREACH,
                body=f"The {target} target passed ({minutes} min late).",
                details={"target": target, "due_at": due_at.isoformat()},
            )
            audit.append(
                {
                    "action": AUDIT_ACTION,
                    "tenant": incident.tenant_id,
                    "entity": incident,
                    "details": {
                        "target": target,
                        "due_at": due_at.isoformat(),
                        "severity": incident.severity,
                    },
                }
            )
        record_many(audit)
        return len(incidents)


def record_breaches(now: datetime | None = None) -> dict:
    """Record every passed target not yet recorded, batch after batch: counts per target."""
    now = now or timezone.now()
    counts = {}
    for target in (Target.ACKNOWLEDGE, Target.RESOLVE):
        total = 0
        while True:
            n = _record_batch(target, now)
            total += n
            if n < BATCH:
                break
        counts[target] = total
    return counts
