"""The real-time event shapes for incidents (documented in docs/api.md, "Real-time events").

`incident.created` and `incident.updated` carry an `incident` row: ids, state, the SLA state now
and the commander's name. Nothing is masked here: each receiver (realtime.viewer) filters the
event by its user's scope (an incident sits on its client and site like an alert) and masks the
title and the commander's name for users without `noc:view_pii`.
"""

from __future__ import annotations

from django.utils import timezone

from watchfloor.incidents.models import Incident, IncidentAlert
from watchfloor.incidents.queries import sla_state
from watchfloor.tenancy.queries import person_name


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def incident_payload(incident: Incident, *, alert_count: int | None = None) -> dict:
    if alert_count is None:
        alert_count = IncidentAlert.objects.filter(
            incident_id=incident.pk, left_at__isnull=True
        ).count()
    return {
        "id": incident.pk,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "origin": incident.origin,
        "client_id": incident.client_id,
        "site_id": incident.site_id,
        "alert_count": alert_count,
        "commander_id": incident.commander_id,
        "commander_name": person_name(incident.tenant_id, incident.commander_id),
        "sla": sla_state(incident, timezone.now()),
        "merged_into_id": incident.merged_into_id,
        "opened_at": _iso(incident.opened_at),
        "acknowledged_at": _iso(incident.acknowledged_at),
        "resolved_at": _iso(incident.resolved_at),
        "updated_at": _iso(incident.updated_at),
    }


def incident_event(
    kind: str, incident: Incident, *, alert_count: int | None = None, **extra
) -> dict:
    """`kind` is incident.created or incident.updated; `alert_count` when the caller knows it
    (else it is counted)."""
    return {
        "type": kind,
        "tenant_id": incident.tenant_id,
        "incident": incident_payload(incident, alert_count=alert_count),
        **extra,
    }
