"""Every write to incidents: open, membership (join, remove, move, merge), lifecycle, people,
notes, edits, the timeline entries of the other incident modules, and the tenant's policy.

Each public function is one transaction: it checks the actor's capability (actor None means
Watchfloor itself: a rule, the SLA job, escalation — no capability to check), locks the incident
row (two people acting at once: one wins, the other sees the new status and gets
`IllegalTransition`, a 409), appends timeline entries (`IncidentEvent`), writes the audit log
and publishes `incident.created` / `incident.updated` after commit.

Membership: an alert belongs to at most one open incident. The partial unique constraint
`incident_alert_one_open_incident` is the guarantee; joins insert with ON CONFLICT DO NOTHING
and read back which alerts actually joined, so two writers grouping the same alert at once
(two rules, a rule and a person) never fail and never both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.alerts import services as alert_services
from watchfloor.alerts.models import SEVERITY_RANK, Alert, Severity, Status
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem
from watchfloor.events import publish_on_commit
from watchfloor.incidents.events import incident_event
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    EventKind,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentPolicy,
    IncidentResponder,
    IncidentStatus,
    Origin,
    ReopenRule,
    default_sla_minutes,
)
from watchfloor.incidents.queries import assignable_people

TITLE_MAX = 500
SUMMARY_MAX = 10_000
NOTE_MAX = 10_000
EXTERNAL_REF_MAX = 200
URL_MAX = 1000
ALERTS_MAX = 500  # alerts one call may group
RESPONDERS_MAX = 50
AT_RISK = 0.75  # past this share of a target's time, the target is "at risk"

# policy bounds (the API validates the same ranges; the service refuses anything else)
THRESHOLD_MAX = 1000
MINUTES_MIN, MINUTES_MAX = 1, 525_600  # one minute .. one year
EXCLUDED_TYPES_MAX = 200
TYPE_MAX = 100
SLA_TARGETS = ("acknowledge", "resolve")


# --- errors -----------------------------------------------------------------------------------


class IncidentError(ValueError):
    """The request cannot be carried out as asked (the API answers 422 naming `field`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class IllegalTransition(Exception):
    """The incident's status does not allow this action (the API answers 409)."""

    def __init__(self, action: str, status: str):
        super().__init__(f"Cannot {action} an incident that is {status}.")
        self.action, self.status = action, status


# --- helpers ----------------------------------------------------------------------------------


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _locked_pair(a: Incident, b: Incident) -> tuple[Incident, Incident]:
    """Lock two incidents in id order (two merges in opposite directions cannot deadlock)."""
    locked = Incident.objects.select_for_update().filter(pk__in=[a.pk, b.pk]).order_by("pk")
    rows = {i.pk: i for i in locked}
    return rows[a.pk], rows[b.pk]


def _actor_id(actor) -> int | None:
    return actor.pk if actor is not None else None


def _check(actor, capability: Capability) -> None:
    if actor is not None:
        require_capability(actor, capability)


def _same_tenant(incident: Incident, actor) -> None:
    if actor is not None and actor.tenant_id != incident.tenant_id:
        # callers fetch through access_incident; this is the last guard, never reached by the API
        raise IncidentError("incident", "Not found.")


def _event(incident: Incident, kind: str, *, actor=None, body="", details=None, at=None):
    return IncidentEvent(
        tenant_id=incident.tenant_id,
        incident=incident,
        at=at or timezone.now(),
        actor=actor,
        kind=kind,
        body=body,
        details=details or {},
    )


def _timeline(events: list[IncidentEvent]) -> None:
    if events:
        IncidentEvent.objects.bulk_create(events)


def _save(incident: Incident, fields: Iterable[str], now: datetime | None = None) -> None:
    incident.updated_at = now or timezone.now()
    incident.save(update_fields=[*dict.fromkeys(fields), "updated_at"])


def _audit(action: Action | str, incident: Incident, *, actor, details: dict) -> None:
    record(action, actor=actor, tenant=incident.tenant_id, entity=incident, details=details)


def _publish(incident: Incident, kind: str = "incident.updated", *, actor=None) -> None:
    publish_on_commit([incident_event(kind, incident, actor_id=_actor_id(actor))])


def _require_open(incident: Incident, action: str) -> None:
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise IllegalTransition(action, incident.status)


def _clean_text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise IncidentError(field, "Required.")
    if len(value) > limit:
        raise IncidentError(field, f"At most {limit} characters.")
    if problem := text_problem(value):
        raise IncidentError(field, problem)
    return value


def _clean_url(value: str, field: str) -> str:
    value = _clean_text(value, field, URL_MAX)
    if value:
        try:
            URLValidator(schemes=["http", "https"])(value)
        except ValidationError:
            raise IncidentError(field, "An http(s) URL.") from None
    return value


# --- SLA --------------------------------------------------------------------------------------


def _targets(policy: IncidentPolicy, severity: str) -> dict[str, int]:
    table = policy.sla_minutes or {}
    fallback = default_sla_minutes()[severity]
    chosen = table.get(severity) or {}
    return {t: int(chosen.get(t) or fallback[t]) for t in SLA_TARGETS}


def set_sla_dues(incident: Incident, policy: IncidentPolicy) -> list[str]:
    """The SLA moments of the targets not met yet, from its opening and current severity."""
    minutes = _targets(policy, incident.severity)
    fields: list[str] = []
    start = incident.opened_at
    if incident.acknowledged_at is None and incident.ack_breached_at is None:
        incident.ack_due_at = start + timedelta(minutes=minutes["acknowledge"])
        incident.ack_risk_at = start + timedelta(minutes=minutes["acknowledge"] * AT_RISK)
        fields += ["ack_due_at", "ack_risk_at"]
    if incident.resolved_at is None and incident.resolve_breached_at is None:
        incident.resolve_due_at = start + timedelta(minutes=minutes["resolve"])
        incident.resolve_risk_at = start + timedelta(minutes=minutes["resolve"] * AT_RISK)
        fields += ["resolve_due_at", "resolve_risk_at"]
    return fields


# --- membership -------------------------------------------------------------------------------


def worst_severity(severities: Iterable[str]) -> str | None:
    """The worst of these severity values (None when there are none)."""
    return min(severities, key=SEVERITY_RANK.__getitem__, default=None)


def _members(incident: Incident):
    """The alerts in the incident now (joined and not left)."""
    return Alert.objects.filter(
        pk__in=IncidentAlert.objects.filter(incident=incident, left_at__isnull=True).values(
            "alert_id"
        )
    )


def place_of(places: Iterable[tuple[int | None, int | None]]) -> tuple[int | None, int | None]:
    """An incident's client and site from its alerts' (client id, site id): the one client they
    share, else none; the one site they share when they share a client, else none."""
    clients: set[int | None] = set()
    sites: set[int | None] = set()
    for client_id, site_id in places:
        clients.add(client_id)
        sites.add(site_id)
    client = clients.pop() if len(clients) == 1 else None
    site = sites.pop() if len(sites) == 1 and client is not None else None
    return client, site


def _recompute(incident: Incident, *, actor=None, now=None) -> tuple[list[str], list]:
    """Severity, client and site from the member alerts (kept when it holds none). Returns the
    changed fields and the timeline entries to add."""
    rows = list(_members(incident).values_list("severity", "client_id", "site_id"))
    if not rows:
        return [], []
    fields: list[str] = []
    events = []
    worst = worst_severity(r[0] for r in rows)
    if worst and worst != incident.severity:
        events.append(
            _event(
                incident,
                EventKind.SEVERITY,
                actor=actor,
                details={"from": incident.severity, "to": worst},
                at=now,
            )
        )
        incident.severity = worst
        fields.append("severity")
        if incident.is_open:
            fields += set_sla_dues(incident, policy_for(incident.tenant_id))
    client_id, site_id = place_of((r[1], r[2]) for r in rows)
    if (client_id, site_id) != (incident.client_id, incident.site_id):
        incident.client_id, incident.site_id = client_id, site_id
        fields += ["client", "site"]
    return fields, events


def _join(incident: Incident, alerts: list[Alert], *, actor, reason: str, now) -> list[int]:
    """Insert memberships; an alert already in an open incident (this one or another) is skipped
    by the partial unique constraints (ON CONFLICT DO NOTHING). Returns the ids that joined."""
    ids = sorted({a.pk for a in alerts})  # one order for every writer: no deadlock between two
    if not ids:
        return []
    before = set(
        IncidentAlert.objects.filter(
            incident=incident, alert_id__in=ids, left_at__isnull=True
        ).values_list("alert_id", flat=True)
    )
    IncidentAlert.objects.bulk_create(
        [
            IncidentAlert(
                tenant_id=incident.tenant_id,
                incident=incident,
                alert_id=pk,
                open=True,
                joined_at=now,
                joined_by=actor,
            )
            for pk in ids
            if pk not in before
        ],
        ignore_conflicts=True,
    )
    after = set(
        IncidentAlert.objects.filter(
            incident=incident, alert_id__in=ids, left_at__isnull=True
        ).values_list("alert_id", flat=True)
    )
    joined = [pk for pk in ids if pk in after and pk not in before]
    _timeline(
        [
            _event(
                incident,
                EventKind.ALERT_JOINED,
                actor=actor,
                details={"alert_id": pk, "reason": reason},
                at=now,
            )
            for pk in joined
        ]
    )
    return joined


def _alerts_of_tenant(alerts: Iterable[Alert], tenant_id: int, actor) -> list[Alert]:
    """The alerts, once each. A person groups at most ALERTS_MAX at once; a rule (actor None)
    is not bounded: a storm's correlation group may hold more, and must still become one."""
    alerts = list(dict.fromkeys(alerts))
    if actor is not None and len(alerts) > ALERTS_MAX:
        raise IncidentError("alert_ids", f"At most {ALERTS_MAX} alerts at once.")
    if any(a.tenant_id != tenant_id for a in alerts):
        raise IncidentError("alert_ids", "Alerts of another tenant.")
    return alerts


def _leave(incident: Incident, alert_id: int, *, now) -> bool:
    return bool(
        IncidentAlert.objects.filter(
            incident=incident, alert_id=alert_id, left_at__isnull=True
        ).update(open=False, left_at=now)
    )


# --- open and membership ----------------------------------------------------------------------


@transaction.atomic
def open_incident(
    alerts: Iterable[Alert],
    *,
    actor=None,
    origin: str,
    title: str = "",
    tenant,
    correlation_id=None,
) -> Incident:
    """A new incident holding `alerts` (those not already in another open incident).

    `actor` None: a rule opened it. Client/site/severity come from the alerts; the SLA targets
    from the tenant's policy. Raises `IncidentError("alert_ids")` when no alert could join.
    """
    tenant_id = getattr(tenant, "pk", tenant)
    _check(actor, Capability.ASSIGN_INCIDENTS)
    if actor is not None and actor.tenant_id != tenant_id:
        raise IncidentError("tenant", "Not your tenant.")
    if origin not in Origin.values:
        raise IncidentError("origin", f"One of {', '.join(Origin.values)}.")
    alerts = _alerts_of_tenant(alerts, tenant_id, actor)
    if not alerts:
        raise IncidentError("alert_ids", "At least one alert.")
    title = _clean_text(title, "title", TITLE_MAX)
    if not title:
        first = min(alerts, key=lambda a: (Severity(a.severity).rank, a.pk))
        title = first.title[:TITLE_MAX] or first.type
    now = timezone.now()
    incident = Incident(
        tenant_id=tenant_id,
        title=title,
        severity=worst_severity(a.severity for a in alerts) or Severity.MEDIUM,
        status=IncidentStatus.NEW,
        origin=origin,
        correlation_id=correlation_id,
        opened_at=now,
        opened_by=actor,
        updated_at=now,
    )
    set_sla_dues(incident, policy_for(tenant_id))
    incident.save()
    _timeline(
        [
            _event(
                incident,
                EventKind.OPENED,
                actor=actor,
                details={"origin": origin, "alerts": len(alerts)},
                at=now,
            )
        ]
    )
    joined = _join(incident, alerts, actor=actor, reason=origin, now=now)
    if not joined:
        raise IncidentError("alert_ids", "Every alert is already in an open incident.")
    fields, events = _recompute(incident, actor=actor, now=now)
    _timeline([e for e in events if e.kind != EventKind.SEVERITY])  # opened at that severity
    if fields:
        _save(incident, fields, now)
    _audit(
        Action.INCIDENT_OPEN,
        incident,
        actor=actor,
        details={"origin": origin, "alert_ids": joined, "severity": incident.severity},
    )
    _publish(incident, "incident.created", actor=actor)
    return incident


@transaction.atomic
def add_alerts(incident: Incident, alerts: Iterable[Alert], *, actor=None, reason="") -> list[int]:
    """Join alerts to an open incident (a resolved or closed one never takes an alert). Alerts
    already in an open incident are skipped. Returns the ids that joined."""
    _check(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    reason = _clean_text(reason, "reason", 200)
    incident = _locked(incident)
    _require_open(incident, "add alerts to")
    alerts = _alerts_of_tenant(alerts, incident.tenant_id, actor)
    now = timezone.now()
    joined = _join(incident, alerts, actor=actor, reason=reason or "added", now=now)
    if joined:
        fields, events = _recompute(incident, actor=actor, now=now)
        _timeline(events)
        _save(incident, fields, now)
        _audit(Action.INCIDENT_ALERTS, incident, actor=actor, details={"joined": joined})
        _publish(incident, actor=actor)
    return joined


@transaction.atomic
def remove_alert(incident: Incident, alert: Alert, *, actor) -> Incident:
    """Take an alert out of an open incident (it may then join another)."""
    _check(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    incident = _locked(incident)
    _require_open(incident, "remove alerts from")
    now = timezone.now()
    if not _leave(incident, alert.pk, now=now):
        raise IncidentError("alert_id", "The alert is not in this incident.")
    _timeline(
        [
            _event(
                incident, EventKind.ALERT_LEFT, actor=actor, details={"alert_id": alert.pk}, at=now
            )
        ]
    )
    fields, events = _recompute(incident, actor=actor, now=now)
    _timeline(events)
    _save(incident, fields, now)
    _audit(Action.INCIDENT_ALERTS, incident, actor=actor, details={"removed": [alert.pk]})
    _publish(incident, actor=actor)
    return incident


@transaction.atomic
def move_alert(alert: Alert, *, source: Incident, target: Incident, actor) -> Incident:
    """Move an alert from one open incident to another; returns the target."""
    _check(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(source, actor)
    _same_tenant(target, actor)
    if source.pk == target.pk:
        raise IncidentError("target_id", "The alert is already in this incident.")
    source, target = _locked_pair(source, target)
    _require_open(source, "move alerts out of")
    _require_open(target, "move alerts into")
    now = timezone.now()
    if not _leave(source, alert.pk, now=now):
        raise IncidentError("alert_id", "The alert is not in this incident.")
    if not _join(target, [alert], actor=actor, reason=f"moved from #{source.pk}", now=now):
        raise IncidentError("alert_id", "The alert is in another open incident.")
    _timeline(
        [
            _event(
                source,
                EventKind.ALERT_LEFT,
                actor=actor,
                details={"alert_id": alert.pk, "to_incident": target.pk},
                at=now,
            )
        ]
    )
    for incident in (source, target):
        fields, events = _recompute(incident, actor=actor, now=now)
        _timeline(events)
        _save(incident, fields, now)
        _publish(incident, actor=actor)
    _audit(
        Action.INCIDENT_ALERTS,
        source,
        actor=actor,
        details={"moved": [alert.pk], "to_incident": target.pk},
    )
    return target


@transaction.atomic
def merge_incidents(source: Incident, *, into: Incident, actor) -> Incident:
    """Move every alert of `source` into `into` and close `source` (merged_into points at the
    survivor); both must be open. Returns the survivor."""
    _check(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(source, actor)
    _same_tenant(into, actor)
    if source.pk == into.pk:
        raise IncidentError("into_id", "An incident cannot be merged into itself.")
    source, into = _locked_pair(source, into)
    _require_open(source, "merge")
    _require_open(into, "merge into")
    now = timezone.now()
    members = list(
        IncidentAlert.objects.filter(incident=source, left_at__isnull=True).values_list(
            "alert_id", flat=True
        )
    )
    IncidentAlert.objects.filter(incident=source, left_at__isnull=True).update(
        open=False, left_at=now
    )
    joined = _join(
        into,
        list(Alert.objects.filter(pk__in=members)),
        actor=actor,
        reason=f"merged from #{source.pk}",
        now=now,
    )
    previous = source.status
    source.status = IncidentStatus.CLOSED
    source.closed_at, source.closed_by, source.merged_into = now, actor, into
    _save(source, ["status", "closed_at", "closed_by", "merged_into"], now)
    _timeline(
        [
            _event(source, EventKind.MERGED, actor=actor, details={"into": into.pk}, at=now),
            _event(
                source,
                EventKind.STATUS,
                actor=actor,
                details={"from": previous, "to": IncidentStatus.CLOSED},
                at=now,
            ),
            _event(
                into,
                EventKind.MERGED,
                actor=actor,
                details={"from": source.pk, "alerts": len(joined)},
                at=now,
            ),
        ]
    )
    fields, events = _recompute(into, actor=actor, now=now)
    _timeline(events)
    _save(into, fields, now)
    _audit(
        Action.INCIDENT_MERGE,
        into,
        actor=actor,
        details={"from": source.pk, "alert_ids": joined},
    )
    _publish(source, actor=actor)
    _publish(into, actor=actor)
    return into


@transaction.atomic
def refresh_severity(incident: Incident) -> Incident:
    """Severity (and client/site) from its alerts now: call after an alert's severity changed."""
    incident = _locked(incident)
    now = timezone.now()
    fields, events = _recompute(incident, now=now)
    if fields:
        _timeline(events)
        _save(incident, fields, now)
        _publish(incident)
    return incident


# --- lifecycle --------------------------------------------------------------------------------


def _status(incident: Incident, to: str, *, actor, now) -> IncidentEvent:
    event = _event(
        incident, EventKind.STATUS, actor=actor, details={"from": incident.status, "to": to}, at=now
    )
    incident.status = to
    return event


def _mark_acknowledged(incident: Incident, actor, now) -> list[str]:
    if incident.acknowledged_at is not None:
        return []
    incident.acknowledged_at, incident.acknowledged_by = now, actor
    return ["acknowledged_at", "acknowledged_by"]


def _open_alert_ids(incident: Incident, statuses) -> list[int]:
    return list(
        _members(incident).filter(status__in=statuses).order_by("pk").values_list("pk", flat=True)
    )


@transaction.atomic
def acknowledge_incident(incident: Incident, *, actor) -> Incident:
    """NEW → ACKNOWLEDGED; also acknowledges its unacknowledged alerts (NEW or ESCALATED), which
    stops their escalation: someone has the incident."""
    require_capability(actor, Capability.ACK_ALERTS)
    _same_tenant(incident, actor)
    incident = _locked(incident)
    if incident.status != IncidentStatus.NEW:
        raise IllegalTransition("acknowledge", incident.status)
    now = timezone.now()
    event = _status(incident, IncidentStatus.ACKNOWLEDGED, actor=actor, now=now)
    fields = ["status", *_mark_acknowledged(incident, actor, now)]
    _save(incident, fields, now)
    _timeline([event])
    pending = _open_alert_ids(incident, [Status.NEW, Status.ESCALATED])
    acked: list[int] = []
    if pending:
        acked = alert_services.bulk_acknowledge(
            pending, actor=actor, details={"via": "incident", "incident_id": incident.pk}
        ).done
    _audit(Action.ACKNOWLEDGE, incident, actor=actor, details={"alert_ids": acked})
    _publish(incident, actor=actor)
    return incident


def acknowledge_incident_from_link(incident_id: int, *, actor) -> bool:
    """The one-click link of a page about an incident (oncall.ack_links, which checked the
    link and that its recipient still sees the incident's lead alert): acknowledge it as the
    recipient. False when it is no longer NEW (someone was first) or not the actor's tenant's."""
    incident = Incident.objects.filter(pk=incident_id, tenant_id=actor.tenant_id).first()
    if incident is None:
        return False
    try:
        acknowledge_incident(incident, actor=actor)
    except IllegalTransition:
        return False
    return True


def _people(incident: Incident, ids: set[int], field: str) -> dict[int, object]:
    found = {u.pk: u for u in assignable_people(incident).filter(pk__in=ids)}
    missing = sorted(ids - set(found))
    if missing:
        raise IncidentError(
            field,
            f"Not a user of this tenant who can see this incident and act on alerts: {missing}",
        )
    return found


@transaction.atomic
def assign_incident(
    incident: Incident,
    *,
    actor,
    commander=None,
    responders: Iterable = (),
    remove_responders: Iterable = (),
) -> Incident:
    """Set the commander and/or add (and remove) responders. A NEW or ACKNOWLEDGED incident
    becomes ASSIGNED (assigning acknowledges it if nobody had); IN_PROGRESS stays."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    incident = _locked(incident)
    _require_open(incident, "assign")
    add_ids = {getattr(u, "pk", u) for u in responders}
    drop_ids = {getattr(u, "pk", u) for u in remove_responders}
    if len(add_ids) > RESPONDERS_MAX:
        raise IncidentError("responder_ids", f"At most {RESPONDERS_MAX} at once.")
    if commander is None and not add_ids and not drop_ids:
        raise IncidentError("commander_id", "Name a commander or responders.")
    now = timezone.now()
    wanted = add_ids | ({commander.pk} if commander is not None else set())
    people = _people(incident, wanted, "commander_id" if commander is not None else "responder_ids")
    events, fields, changes = [], [], {}
    if commander is not None and commander.pk != incident.commander_id:
        events.append(
            _event(
                incident,
                EventKind.COMMANDER,
                actor=actor,
                details={"from": incident.commander_id, "to": commander.pk},
                at=now,
            )
        )
        incident.commander = people[commander.pk]
        fields.append("commander")
        changes["commander_id"] = commander.pk
    existing = set(
        IncidentResponder.objects.filter(incident=incident).values_list("user_id", flat=True)
    )
    added = sorted(add_ids - existing)
    IncidentResponder.objects.bulk_create(
        [
            IncidentResponder(
                tenant_id=incident.tenant_id,
                incident=incident,
                user_id=uid,
                added_at=now,
                added_by=actor,
            )
            for uid in added
        ]
    )
    removed = sorted((drop_ids - add_ids) & existing)
    IncidentResponder.objects.filter(incident=incident, user_id__in=removed).delete()
    events += [
        _event(incident, EventKind.RESPONDER, actor=actor, details={"added": uid}, at=now)
        for uid in added
    ]
    events += [
        _event(incident, EventKind.RESPONDER, actor=actor, details={"removed": uid}, at=now)
        for uid in removed
    ]
    if added:
        changes["responders_added"] = added
    if removed:
        changes["responders_removed"] = removed
    if incident.status in (IncidentStatus.NEW, IncidentStatus.ACKNOWLEDGED) and (
        incident.commander_id is not None or added or existing - set(removed)
    ):
        events.append(_status(incident, IncidentStatus.ASSIGNED, actor=actor, now=now))
        fields += ["status", *_mark_acknowledged(incident, actor, now)]
    _save(incident, fields, now)
    _timeline(events)
    _audit(Action.ASSIGN, incident, actor=actor, details=changes)
    _publish(incident, actor=actor)
    return incident


@transaction.atomic
def start_incident(incident: Incident, *, actor) -> Incident:
    """Work has started: IN_PROGRESS (acknowledges it if nobody had)."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    incident = _locked(incident)
    if incident.status not in (
        IncidentStatus.NEW,
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.ASSIGNED,
    ):
        raise IllegalTransition("start", incident.status)
    now = timezone.now()
    event = _status(incident, IncidentStatus.IN_PROGRESS, actor=actor, now=now)
    _save(incident, ["status", *_mark_acknowledged(incident, actor, now)], now)
    _timeline([event])
    _audit(Action.INCIDENT_UPDATE, incident, actor=actor, details={"to": incident.status})
    _publish(incident, actor=actor)
    return incident


def _close_memberships(incident: Incident) -> None:
    IncidentAlert.objects.filter(incident=incident, left_at__isnull=True, open=True).update(
        open=False
    )


@transaction.atomic
def resolve_incident(incident: Incident, *, actor, note: str) -> Incident:
    """RESOLVED: its open alerts are resolved with the note (through the alerts' own service:
    audited and published per alert), its memberships stop being open, so it takes no alert
    any more. `actor` None (Watchfloor: every alert was resolved another way) resolves no
    alert itself."""
    _check(actor, Capability.ACK_ALERTS)
    _same_tenant(incident, actor)
    note = _clean_text(note, "note", NOTE_MAX, required=actor is not None)
    incident = _locked(incident)
    _require_open(incident, "resolve")
    now = timezone.now()
    resolved: list[int] = []
    skipped: dict[int, str] = {}
    open_ids = _open_alert_ids(incident, [s for s in Status if s != Status.RESOLVED])
    if actor is not None and open_ids:
        outcome = alert_services.bulk_resolve(
            open_ids,
            actor=actor,
            note=note[: alert_services.NOTE_MAX],
            details={"via": "incident", "incident_id": incident.pk},
        )
        resolved, skipped = outcome.done, outcome.skipped
    event = _status(incident, IncidentStatus.RESOLVED, actor=actor, now=now)
    incident.resolved_at, incident.resolved_by, incident.resolution_note = now, actor, note
    fields = ["status", "resolved_at", "resolved_by", "resolution_note"]
    fields += _mark_acknowledged(incident, actor, now)
    _save(incident, fields, now)
    _close_memberships(incident)
    events = [event]
    if note:
        events.append(_event(incident, EventKind.NOTE, actor=actor, body=note, at=now))
    events += [
        _event(incident, EventKind.ALERT_RESOLVED, actor=actor, details={"alert_id": pk}, at=now)
        for pk in resolved
    ]
    _timeline(events)
    _audit(
        Action.RESOLVE,
        incident,
        actor=actor,
        details={"alert_ids": resolved, "skipped": sorted(skipped), "note_length": len(note)},
    )
    _publish(incident, actor=actor)
    return incident


@transaction.atomic
def close_incident(incident: Incident, *, actor) -> Incident:
    """RESOLVED → CLOSED: frozen. Nothing changes a closed incident any more (no alert joins,
    no reopening: a later alert opens a new incident)."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    incident = _locked(incident)
    if incident.status != IncidentStatus.RESOLVED:
        raise IllegalTransition("close", incident.status)
    now = timezone.now()
    event = _status(incident, IncidentStatus.CLOSED, actor=actor, now=now)
    incident.closed_at, incident.closed_by = now, actor
    _save(incident, ["status", "closed_at", "closed_by"], now)
    _close_memberships(incident)
    _timeline([event])
    _audit(Action.INCIDENT_CLOSE, incident, actor=actor, details={})
    _publish(incident, actor=actor)
    return incident


@transaction.atomic
def reopen_incident(incident: Incident, *, actor=None, reason: str) -> Incident:
    """RESOLVED → NEW again (a person, or the tenant's reopen rule with actor None). A closed
    incident never reopens. Its alerts are members again, except those that have joined
    another open incident meanwhile (they leave this one)."""
    _check(actor, Capability.ACK_ALERTS)
    _same_tenant(incident, actor)
    reason = _clean_text(reason, "reason", NOTE_MAX, required=True)
    incident = _locked(incident)
    if incident.status != IncidentStatus.RESOLVED:
        raise IllegalTransition("reopen", incident.status)
    now = timezone.now()
    members = IncidentAlert.objects.filter(incident=incident, left_at__isnull=True)
    elsewhere = set(
        IncidentAlert.objects.filter(
            alert_id__in=members.values("alert_id"), open=True, left_at__isnull=True
        )
        .exclude(incident=incident)
        .values_list("alert_id", flat=True)
    )
    events = [
        _status(incident, IncidentStatus.NEW, actor=actor, now=now),
        _event(incident, EventKind.NOTE, actor=actor, body=reason, at=now),
    ]
    if elsewhere:
        members.filter(alert_id__in=elsewhere).update(open=False, left_at=now)
        events += [
            _event(incident, EventKind.ALERT_LEFT, actor=actor, details={"alert_id": pk}, at=now)
            for pk in sorted(elsewhere)
        ]
    members.exclude(alert_id__in=elsewhere).update(open=True)
    incident.resolved_at = incident.resolved_by = None
    incident.resolution_note = ""
    incident.reopen_count += 1
    fields = ["status", "resolved_at", "resolved_by", "resolution_note", "reopen_count"]
    _save(incident, fields, now)
    _timeline(events)
    _audit(
        Action.REOPEN,
        incident,
        actor=actor,
        details={"reopen_count": incident.reopen_count, "left": sorted(elsewhere)},
    )
    _publish(incident, actor=actor)
    return incident


# --- notes, edits, others' timeline entries ---------------------------------------------------


@transaction.atomic
def add_note(incident: Incident, *, actor, body: str) -> IncidentEvent:
    """An internal note on the timeline (never on a client's status page). The audit entry
    holds its length only (notes may name people)."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    body = _clean_text(body, "body", NOTE_MAX, required=True)
    incident = _locked(incident)
    if incident.status == IncidentStatus.CLOSED:
        raise IllegalTransition("add a note to", incident.status)
    now = timezone.now()
    event = _event(incident, EventKind.NOTE, actor=actor, body=body, at=now)
    event.save()
    _save(incident, [], now)
    _audit(
        Action.COMMENT, incident, actor=actor, details={"event_id": event.pk, "length": len(body)}
    )
    _publish(incident, actor=actor)
    return event


EDITABLE = {
    "title": lambda v: _clean_text(v, "title", TITLE_MAX, required=True),
    "summary": lambda v: _clean_text(v, "summary", SUMMARY_MAX),
    "runbook_url": lambda v: _clean_url(v, "runbook_url"),
    "external_ref": lambda v: _clean_text(v, "external_ref", EXTERNAL_REF_MAX),
}


@transaction.atomic
def edit_incident(incident: Incident, *, actor, **values) -> Incident:
    """Change the title, summary, runbook link or external reference (not once closed)."""
    require_capability(actor, Capability.ASSIGN_INCIDENTS)
    _same_tenant(incident, actor)
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise IncidentError(unknown[0], "Not an editable field.")
    cleaned = {name: EDITABLE[name](value) for name, value in values.items() if value is not None}
    incident = _locked(incident)
    if incident.status == IncidentStatus.CLOSED:
        raise IllegalTransition("edit", incident.status)
    changed = [name for name, value in cleaned.items() if getattr(incident, name) != value]
    if not changed:
        return incident
    for name in changed:
        setattr(incident, name, cleaned[name])
    now = timezone.now()
    _save(incident, changed, now)
    _timeline(
        [_event(incident, EventKind.EDITED, actor=actor, details={"fields": changed}, at=now)]
    )
    _audit(Action.INCIDENT_UPDATE, incident, actor=actor, details={"fields": changed})
    _publish(incident, actor=actor)
    return incident


@transaction.atomic
def record_event(
    incident: Incident, kind: str, *, actor=None, body: str = "", details: dict | None = None
) -> IncidentEvent:
    """A timeline entry of another incident module (NOTIFICATION, SLA_BREACH, STATUS_UPDATE):
    the caller checked its own capability and audits its own action; this appends the entry
    and publishes the incident's change."""
    if kind not in EventKind.values:
        raise IncidentError("kind", "Not a timeline entry kind.")
    now = timezone.now()
    event = _event(incident, kind, actor=actor, body=body, details=details, at=now)
    event.save()
    Incident.objects.filter(pk=incident.pk).update(updated_at=now)
    incident.updated_at = now
    _publish(incident, actor=actor)
    return event


# --- policy -----------------------------------------------------------------------------------


def policy_for(tenant_id) -> IncidentPolicy:
    """The tenant's incident policy, created with the defaults on first use."""
    tenant_id = getattr(tenant_id, "pk", tenant_id)
    policy = IncidentPolicy.objects.filter(tenant_id=tenant_id).first()
    if policy is not None:
        return policy
    policy, _ = IncidentPolicy.objects.get_or_create(
        tenant_id=tenant_id, defaults={"updated_at": timezone.now()}
    )
    return policy


def _clean_policy(values: dict, current: IncidentPolicy) -> dict:
    out = {}
    for name, value in values.items():
        if name == "open_on_critical":
            if not isinstance(value, bool):
                raise IncidentError(name, "true or false.")
        elif name == "group_threshold":
            if isinstance(value, bool) or not isinstance(value, int):
                raise IncidentError(name, "An integer.")
            if not 0 <= value <= THRESHOLD_MAX:
                raise IncidentError(name, f"Between 0 and {THRESHOLD_MAX}.")
        elif name == "reopen_within_minutes":
            if isinstance(value, bool) or not isinstance(value, int):
                raise IncidentError(name, "An integer.")
            if not MINUTES_MIN <= value <= MINUTES_MAX:
                raise IncidentError(name, f"Between {MINUTES_MIN} and {MINUTES_MAX}.")
        elif name == "reopen_rule":
            if value not in ReopenRule.values:
                raise IncidentError(name, f"One of {', '.join(ReopenRule.values)}.")
        elif name == "excluded_types":
            if not isinstance(value, list | tuple) or len(value) > EXCLUDED_TYPES_MAX:
                raise IncidentError(name, f"A list of at most {EXCLUDED_TYPES_MAX} types.")
            types = []
            for i, t in enumerate(value):
                if not isinstance(t, str):
                    raise IncidentError(f"{name}.{i}", "A type name.")
                types.append(_clean_text(t, f"{name}.{i}", TYPE_MAX, required=True))
            value = sorted(set(types))
        elif name == "sla_minutes":
            value = _clean_sla(value, current.sla_minutes)
        else:
            raise IncidentError(name, "Not a policy setting.")
        out[name] = value
    return out


def _clean_sla(value, current: dict | None) -> dict:
    """The new table: the current targets with those named in `value` changed."""
    if not isinstance(value, dict):
        raise IncidentError("sla_minutes", "Targets per severity.")
    table = default_sla_minutes()
    for severity, targets in (current or {}).items():
        if severity in table and isinstance(targets, dict):
            table[severity].update(
                {t: m for t, m in targets.items() if t in SLA_TARGETS and isinstance(m, int)}
            )
    for severity, targets in value.items():
        if severity not in Severity.values:
            raise IncidentError(f"sla_minutes.{severity}", "Not a severity.")
        if not isinstance(targets, dict):
            raise IncidentError(f"sla_minutes.{severity}", "acknowledge and resolve minutes.")
        for target, minutes in targets.items():
            field = f"sla_minutes.{severity}.{target}"
            if target not in SLA_TARGETS:
                raise IncidentError(field, "acknowledge or resolve.")
            if isinstance(minutes, bool) or not isinstance(minutes, int):
                raise IncidentError(field, "An integer.")
            if not MINUTES_MIN <= minutes <= MINUTES_MAX:
                raise IncidentError(field, f"Between {MINUTES_MIN} and {MINUTES_MAX}.")
            table[severity][target] = minutes
    for severity, targets in table.items():
        if targets["acknowledge"] > targets["resolve"]:
            raise IncidentError(
                f"sla_minutes.{severity}.acknowledge", "At most the resolve target."
            )
    return table


@transaction.atomic
def update_policy(tenant_id, *, actor, **values) -> IncidentPolicy:
    """Change the tenant's incident policy (`noc:configure`); every value is checked first and
    nothing is stored if one is out of range. New SLA targets apply to incidents opened after."""
    require_capability(actor, Capability.CONFIGURE)
    tenant_id = getattr(tenant_id, "pk", tenant_id)
    if actor.tenant_id != tenant_id:
        raise IncidentError("tenant", "Not your tenant.")
    policy = policy_for(tenant_id)
    policy = IncidentPolicy.objects.select_for_update().get(pk=policy.pk)
    cleaned = _clean_policy(values, policy)
    changed = [n for n, v in cleaned.items() if getattr(policy, n) != v]
    before = {n: getattr(policy, n) for n in changed}
    for name in changed:
        setattr(policy, name, cleaned[name])
    if changed:
        policy.updated_at, policy.updated_by = timezone.now(), actor
        policy.save(update_fields=[*changed, "updated_at", "updated_by"])
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant_id,
        entity=policy,
        details={
            "what": "incident_policy",
            "changed": changed,
            "before": {n: v for n, v in before.items() if n != "excluded_types"},
        },
    )
    return policy
