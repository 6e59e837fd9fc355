"""The real-time event shapes for alerts (documented in docs/api.md, "Real-time events").

Events carry ids and codes, not people: receivers look up and mask what they show.
"""

from __future__ import annotations

from watchfloor.alerts.models import Alert


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def alert_payload(alert: Alert) -> dict:
    return {
        "id": alert.id,
        "client_id": alert.client_id,
        "site_id": alert.site_id,
        "source": alert.source,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "fingerprint": alert.fingerprint,
        "occurrence_count": alert.occurrence_count,
        "suppressed_count": alert.suppressed_count,
        "suppression_reason": alert.suppression_reason,
        "correlation_id": str(alert.correlation_id) if alert.correlation_id else None,
        "parent_id": alert.parent_id,
        "escalation_level": alert.escalation_level,
        "assignee_id": alert.assignee_id,
        "first_seen_at": _iso(alert.first_seen_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_at": _iso(alert.resolved_at),
    }


def alert_event(kind: str, alert: Alert, **extra) -> dict:
    """`kind` is alert.created, alert.updated or alert.resolved."""
    return {"type": kind, "tenant_id": alert.tenant_id, "alert": alert_payload(alert), **extra}
