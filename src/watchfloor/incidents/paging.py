"""Paging once per incident: when alerts are grouped into an incident, the incident pages,
not each alert.

- `absorb_alert_chains`: an alert in an open incident stops its own escalation chain (reason
  "in incident #n"); one that has none yet gets a stopped one. Called by the rules when they
  reopen, and by the sweep for every member without one. The rules' set-based join stops only
  the active chains (`stop_active_chains`): the escalation sweep never opens a chain for an
  alert an open incident holds (`held_by_open_incident`, settings.ESCALATION_HOLDER).
- `open_incident_escalations`: every open, unacknowledged incident without one gets its
  `IncidentEscalation`: the escalation policy of its client (else the tenant's default) in the
  version in force when the incident opened — later edits change only later incidents.
- `take_due_steps`: each step whose time has come pages the step's targets once for the
  incident (`oncall.notify.page_many`, the page says "incident #n" with its link and runbook:
  `Delivery.context`), appends a NOTIFICATION timeline event and an audit entry. An incident
  acknowledged (or past NEW), resolved or closed meanwhile stops its chain instead, and its
  pages not yet sent are cancelled. An incident reopened pages again from its first step.

`sweep` runs the three every 20 s (`incidents.tasks.sweep_incident_paging`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from watchfloor import sql_rows
from watchfloor.alerts.models import Alert, Severity
from watchfloor.audit.models import Action
from watchfloor.audit.services import record_many
from watchfloor.incidents import services
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    EventKind,
    Incident,
    IncidentAlert,
    IncidentEscalation,
    IncidentStatus,
)
from watchfloor.oncall.escalation import (
    PolicyBook,
    Targets,
    advance,
    ensure_default_policies,
    stop,
)
from watchfloor.oncall.models import (
    AlertEscalation,
    Delivery,
    DeliveryStatus,
    EscalationState,
)
from watchfloor.oncall.notify import PageRequest, page_many
from watchfloor.oncall.policies import Step

STEP_BATCH = 200


# --- alerts' own chains ------------------------------------------------------------------------


def absorb_alert_chains(incident_ids, now: datetime | None = None) -> int:
    """Stop the escalation chains of the alerts these open incidents hold; returns how many
    alerts were taken over (stopped, or given a stopped chain)."""
    now = now or timezone.now()
    members = list(
        IncidentAlert.objects.filter(
            incident_id__in=list(incident_ids),
            open=True,
            left_at__isnull=True,
            incident__status__in=OPEN_INCIDENT_STATUSES,
        ).values_list("alert_id", "incident_id", "tenant_id")
    )
    return _stop_chains(members, now)


def stop_active_chains(members: list[tuple[int, int, int]], now: datetime) -> int:
    """Stop the active chains of these (alert id, incident id, tenant id) that just joined an
    open incident (the rules' set-based join). An alert without a chain gets none here: the
    escalation sweep never opens one for an alert an open incident holds, and this module's
    sweep gives it its stopped chain. Returns how many chains were stopped."""
    if not members:
        return 0
    incident_of = {alert_id: incident_id for alert_id, incident_id, _t in members}
    with transaction.atomic():
        return _stop_active(incident_of, list(incident_of), now)


def _stop_chains(members: list[tuple[int, int, int]], now: datetime) -> int:
    if not members:
        return 0
    incident_of = {alert_id: incident_id for alert_id, incident_id, _t in members}
    with transaction.atomic():
        # alerts without a chain get a stopped one (the sweep never opens it); the insert says
        # which had none, the rest may have an active chain to stop
        fresh = _insert_stopped_chains(members, now)
        existing = [a for a in incident_of if a not in fresh]
        return len(fresh) + _stop_active(incident_of, existing, now)


def _stop_active(incident_of: dict[int, int], alert_ids: list[int], now: datetime) -> int:
    """Stop the active chains of these alerts (a chain another transaction holds is skipped:
    the sweep takes it over later)."""
    if not alert_ids:
        return 0
    if connection.vendor == "postgresql":
        # which have an active chain, the ids as one array bound by the server (a storm's fold
        # asks for thousands; an IN list that long bound client-side cost more than the query)
        ids = [
            alert_id
            for (alert_id,) in sql_rows.pg_execute(
                f"SELECT alert_id FROM {AlertEscalation._meta.db_table}"  # noqa: S608 (model)
                " WHERE alert_id = ANY(%s::bigint[]) AND state = %s",
                [sorted(alert_ids), EscalationState.ACTIVE.value],
            )
        ]
        if not ids:
            return 0
        alert_ids = ids
    active = list(
        AlertEscalation.objects.select_for_update(skip_locked=True)
        .filter(alert_id__in=alert_ids, state=EscalationState.ACTIVE)
        .order_by("alert_id")
    )
    for escalation in active:
        escalation.state = EscalationState.STOPPED
        escalation.stop_reason = f"in incident #{incident_of[escalation.alert_id]}"
        escalation.next_at = None
        escalation.token += 1
        escalation.updated_at = now
    if active:
        AlertEscalation.objects.bulk_update(
            active, ["state", "stop_reason", "next_at", "token", "updated_at"]
        )
    return len(active)


def _insert_stopped_chains(members: list[tuple[int, int, int]], now: datetime) -> set[int]:
    """A STOPPED chain for each alert that has none; returns the alerts that got one."""
    rows = sorted(
        (alert_id, tenant_id, EscalationState.STOPPED, f"in incident #{incident_id}", now, now)
        for alert_id, incident_id, tenant_id in members
    )
    columns = ("alert_id", "tenant_id", "state", "stop_reason", "created_at", "updated_at")
    if sql_rows.supported():
        inserted = sql_rows.insert_rows(AlertEscalation, columns, rows, returning=("alert_id",))
        return {alert_id for (alert_id,) in inserted}
    ids = [r[0] for r in rows]
    had = set(AlertEscalation.objects.filter(alert_id__in=ids).values_list("alert_id", flat=True))
    AlertEscalation.objects.bulk_create(
        [AlertEscalation(**dict(zip(columns, r, strict=True))) for r in rows if r[0] not in had],
        ignore_conflicts=True,
    )
    return {a for a in ids if a not in had}


def _unabsorbed_members():
    """Memberships of open incidents whose alert still escalates on its own (or may start to)."""
    return IncidentAlert.objects.filter(
        open=True,
        left_at__isnull=True,
        incident__status__in=OPEN_INCIDENT_STATUSES,
    ).exclude(
        Exists(
            AlertEscalation.objects.filter(alert_id=OuterRef("alert_id")).exclude(
                state=EscalationState.ACTIVE
            )
        )
    )


def held_by_open_incident() -> Exists:
    """settings.ESCALATION_HOLDER: over an alert row (`OuterRef("pk")`), whether an open incident
    holds it. The escalation sweep opens no chain for such an alert: the incident pages."""
    return Exists(
        IncidentAlert.objects.filter(
            alert_id=OuterRef("pk"),
            open=True,
            left_at__isnull=True,
            incident__status__in=OPEN_INCIDENT_STATUSES,
        )
    )


# --- the incident's chain ----------------------------------------------------------------------


def open_incident_escalations(now: datetime) -> int:
    """Give every open incident nobody acknowledged, and without one, its escalation."""
    incidents = list(
        Incident.objects.filter(status=IncidentStatus.NEW, acknowledged_at__isnull=True)
        .exclude(Exists(IncidentEscalation.objects.filter(incident_id=OuterRef("pk"))))
        .only("id", "tenant_id", "client_id", "severity", "opened_at")[:5000]
    )
    if not incidents:
        return 0
    book = PolicyBook({i.tenant_id for i in incidents})
    rows = []
    for incident in incidents:
        version = book.version_for(incident.tenant_id, incident.client_id, incident.opened_at)
        chain = book.chain(version, incident.severity) if version else []
        first = None
        if chain and version is not None:
            first = incident.opened_at + chain[0].delay
        rows.append(
            IncidentEscalation(
                incident_id=incident.id,
                tenant_id=incident.tenant_id,
                policy_version=version,
                next_step=0,
                next_at=first,
                state=EscalationState.ACTIVE if chain else EscalationState.DONE,
                stop_reason="" if chain else "no escalation step applies",
                token=1,
                created_at=now,
                updated_at=now,
            )
        )
    IncidentEscalation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _stop_reason(incident: Incident) -> str:
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        return incident.status.lower()
    if incident.status != IncidentStatus.NEW:  # acknowledged, assigned, in progress
        return "acknowledged"
    return ""


def _lead_alerts(incident_ids: list[int]) -> dict[int, Alert]:
    """incident id → the alert its page is sent with: the worst, then the oldest, it holds."""
    rank = {s.value: i for i, s in enumerate(Severity)}
    best: dict[int, Alert] = {}
    for membership in (
        IncidentAlert.objects.filter(incident_id__in=incident_ids, left_at__isnull=True)
        .select_related("alert", "alert__site", "alert__client")
        .order_by("incident_id", "alert__first_seen_at", "alert_id")
    ):
        alert = membership.alert
        current = best.get(membership.incident_id)
        if current is None or rank[alert.severity] < rank[current.severity]:
            best[membership.incident_id] = alert
    return best


def _counts(incident_ids: list[int]) -> dict[int, int]:
    return dict(
        IncidentAlert.objects.filter(incident_id__in=incident_ids, left_at__isnull=True)
        .values("incident_id")
        .annotate(n=Count("id"))
        .values_list("incident_id", "n")
    )


def _cancel_pages(incident_ids: list[int], reason: str, now: datetime) -> int:
    if not incident_ids:
        return 0
    match = Q()
    for incident_id in incident_ids:
        match |= Q(context__incident__id=incident_id)
    return Delivery.objects.filter(match, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELLED,
        next_attempt_at=None,
        last_error=f"The incident's escalation stopped: {reason}"[:500],
        updated_at=now,
    )


def _take_batch(now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        escalations = list(
            IncidentEscalation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=EscalationState.ACTIVE, next_at__lte=now)
            .select_related("incident", "policy_version")
            .order_by("next_at")[:STEP_BATCH]
        )
        if not escalations:
            return 0, 0
        book = PolicyBook(())
        taking: list[tuple[IncidentEscalation, list[Step]]] = []
        stopped = 0
        for escalation in escalations:
            incident = escalation.incident
            version = escalation.policy_version
            chain = book.chain(version, incident.severity) if version else []
            reason = _stop_reason(incident)
            if not reason and escalation.next_step >= len(chain):
                reason = "the policy version is gone" if version is None else "every step taken"
            if reason:
                stop(escalation, reason, now)
                stopped += 1
            else:
                taking.append((escalation, chain))
        ids = [e.incident_id for e, _ in taking]
        leads = _lead_alerts(ids) if ids else {}
        counts = _counts(ids) if ids else {}
        taking = [(e, c) for e, c in taking if e.incident_id in leads]
        steps = [chain[e.next_step] for e, chain in taking]
        targets = Targets([e.incident for e, _ in taking], steps, now)
        pages, audit, notes = [], [], []
        for (escalation, chain), step in zip(taking, steps, strict=True):
            incident = escalation.incident
            people, channels, report = targets.resolve(incident, step)
            context = {
                "incident": {
                    "id": incident.id,
                    "title": incident.title,
                    "severity": incident.severity,
                    "alert_count": counts.get(incident.id, 0),
                    "runbook_url": incident.runbook_url,
                }
            }
            pages.append(
                PageRequest(
                    leads[incident.id],
                    step.index,
                    people,
                    channels,
                    escalation.next_at or now,
                    context,
                )
            )
            details = {
                "step": step.index + 1,
                "of": len(chain),
                "round": step.round + 1,
                "targets": report,
            }
            notes.append((incident, details))
            audit.append(
                {
                    "action": Action.ESCALATION_STEP,
                    "tenant": incident.tenant_id,
                    "entity": incident,
                    "details": details,
                }
            )
            advance(escalation, chain, now)
        deliveries = page_many(pages)
        per_incident: dict[int, int] = {}
        for delivery in deliveries:
            key = int(delivery.context["incident"]["id"])
            per_incident[key] = per_incident.get(key, 0) + 1
        for incident, details in notes:
            services.record_event(
                incident,
                EventKind.NOTIFICATION,
                body=f"Escalation step {details['step']} of {details['of']} paged.",
                details={**details, "deliveries": per_incident.get(incident.id, 0)},
            )
        record_many(audit)
        stopped_ids = [e.incident_id for e in escalations if e.state == EscalationState.STOPPED]
        _cancel_pages(stopped_ids, "acknowledged or resolved", now)
        IncidentEscalation.objects.bulk_update(
            escalations, ["next_step", "next_at", "state", "stop_reason", "token", "updated_at"]
        )
        return len(taking), stopped


def stop_settled(now: datetime) -> int:
    """Stop at once the chains of incidents acknowledged, resolved or closed (not only at their
    next step), and cancel their pages not yet sent."""
    with transaction.atomic():
        settled = list(
            IncidentEscalation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=EscalationState.ACTIVE)
            .filter(~Q(incident__status=IncidentStatus.NEW))
            .select_related("incident")
        )
        for escalation in settled:
            stop(escalation, _stop_reason(escalation.incident) or "acknowledged", now)
        if settled:
            IncidentEscalation.objects.bulk_update(
                settled, ["next_at", "state", "stop_reason", "token", "updated_at"]
            )
            _cancel_pages([e.incident_id for e in settled], "acknowledged or resolved", now)
    return len(settled)


def restart_reopened(now: datetime) -> int:
    """An incident reopened (NEW again after it was resolved) pages again from the first step of
    its chain, the step's delay after now (same policy version: the one in force when it
    opened)."""
    with transaction.atomic():
        reopened = list(
            IncidentEscalation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                state=EscalationState.STOPPED,
                stop_reason=IncidentStatus.RESOLVED.lower(),
                incident__status=IncidentStatus.NEW,
            )
            .select_related("incident", "policy_version")
        )
        book = PolicyBook(())
        for escalation in reopened:
            version = escalation.policy_version
            chain = book.chain(version, escalation.incident.severity) if version else []
            escalation.token += 1
            escalation.updated_at = now
            escalation.next_step = 0
            if chain:
                escalation.state = EscalationState.ACTIVE
                escalation.stop_reason = ""
                escalation.next_at = now + chain[0].delay
            else:
                escalation.state = EscalationState.DONE
                escalation.stop_reason = "no escalation step applies"
                escalation.next_at = None
        if reopened:
            IncidentEscalation.objects.bulk_update(
                reopened, ["next_step", "next_at", "state", "stop_reason", "token", "updated_at"]
            )
    return len(reopened)


def take_due_steps(now: datetime) -> tuple[int, int]:
    taken = stopped = 0
    while True:
        t, s = _take_batch(now)
        taken, stopped = taken + t, stopped + s
        if t + s < STEP_BATCH:
            return taken, stopped


def sweep(now: datetime | None = None) -> dict:
    """The periodic job: take over the chains of alerts in incidents, open the incidents'
    escalations, stop the settled ones, take the due steps."""
    now = now or timezone.now()
    ensure_default_policies()
    members = list(_unabsorbed_members().values_list("alert_id", "incident_id", "tenant_id")[:5000])
    absorbed = _stop_chains(members, now)
    opened = open_incident_escalations(now)
    settled = stop_settled(now)
    restarted = restart_reopened(now)
    taken, stopped = take_due_steps(now)
    return {
        "absorbed": absorbed,
        "opened": opened,
        "restarted": restarted,
        "steps": taken,
        "stopped": stopped + settled,
    }
