"""The incident rules' writes, set-based: many correlation groups opened or joined at once.

A fold of a storm's first pass touches a hundred groups or more. Written one group at a time
through `services.open_incident` / `services.add_alerts` that cost about a dozen statements per
group (the first pass with the rules on ran at 0.66-0.70x of the rules off, issue 11 §7). Here
the same writes are made for every group of one rules call in a constant number of statements:
lock the incidents to join, insert the new incidents, the memberships, the timeline entries, one
update of the incidents' derived fields, one audit append, one publish, and stop the joined
alerts' own escalation chains.

The outcome is the services' for each group: the same rows, timeline, audit and events (the
rules' tests hold both). Only rules use it: actor None (Watchfloor itself), no capability to
check, alerts of one tenant, read under the groups' advisory locks by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q

from watchfloor import sql_rows
from watchfloor.alerts.models import Severity
from watchfloor.audit.models import Action
from watchfloor.audit.services import record_many
from watchfloor.events import publish_on_commit
from watchfloor.incidents import paging, services
from watchfloor.incidents.events import incident_event
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    EventKind,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentPolicy,
    IncidentStatus,
)

JOIN_REASON = "correlation group"


@dataclass
class GroupWrite:
    """What one rules call writes: groups to join (their open incident) and groups to open
    (the origin), each with its ungrouped member rows (id, severity, title, type)."""

    join: dict[Any, Incident] = field(default_factory=dict)
    open: dict[Any, str] = field(default_factory=dict)
    members: dict[Any, list[dict]] = field(default_factory=dict)


@dataclass
class GroupOutcome:
    opened: int = 0
    joined: int = 0
    touched: set[int] = field(default_factory=set)


def write_groups(
    tenant_id: int, policy: IncidentPolicy, plan: GroupWrite, now: datetime
) -> GroupOutcome:
    """Open and join every group of `plan` (inside the caller's transaction)."""
    outcome = GroupOutcome()
    joining = _lock_open(tenant_id, {i.pk for i in plan.join.values()})
    wanted: dict[int, list[int]] = {}  # incident id -> alert ids it should take
    reason: dict[int, str] = {}
    for group, incident in plan.join.items():
        if incident.pk in joining and plan.members.get(group):
            wanted[incident.pk] = [m["id"] for m in plan.members[group]]
            reason[incident.pk] = JOIN_REASON
    opened = _open_incidents(tenant_id, policy, plan, now)
    for group, incident in opened.items():
        wanted[incident.pk] = [m["id"] for m in plan.members[group]]
        reason[incident.pk] = plan.open[group]
    if not wanted:
        return outcome
    joined = _insert_memberships(tenant_id, wanted, now)
    empty = [i.pk for i in opened.values() if not joined.get(i.pk)]
    if empty:  # every alert of it went to another incident meanwhile (a person): no incident
        IncidentEvent.objects.filter(incident_id__in=empty).delete()
        Incident.objects.filter(pk__in=empty).delete()
    opened = {g: i for g, i in opened.items() if i.pk not in empty}
    incidents = {**{i.pk: i for i in opened.values()}, **joining}
    incidents = {pk: i for pk, i in incidents.items() if joined.get(pk)}
    _timeline(
        tenant_id,
        [
            (pk, EventKind.ALERT_JOINED, {"alert_id": alert_id, "reason": reason[pk]})
            for pk in sorted(incidents)
            for alert_id in joined[pk]
        ],
        now,
    )
    opened_ids = {i.pk for i in opened.values()}
    counts = _recompute(tenant_id, policy, incidents, opened_ids, now)
    audit = []
    events = []
    for pk in sorted(incidents):
        incident = incidents[pk]
        if pk in opened_ids:
            audit.append(
                {
                    "action": Action.INCIDENT_OPEN,
                    "tenant": tenant_id,
                    "entity": incident,
                    "details": {
                        "origin": incident.origin,
                        "alert_ids": joined[pk],
                        "severity": incident.severity,
                    },
                }
            )
            kind = "incident.created"
        else:
            audit.append(
                {
                    "action": Action.INCIDENT_ALERTS,
                    "tenant": tenant_id,
                    "entity": incident,
                    "details": {"joined": joined[pk]},
                }
            )
            kind = "incident.updated"
        events.append(incident_event(kind, incident, alert_count=counts[pk], actor_id=None))
    record_many(audit)
    publish_on_commit(events)
    paging.stop_chains_of(
        [(alert_id, pk, tenant_id) for pk in sorted(incidents) for alert_id in joined[pk]], now
    )
    outcome.opened = len(opened)
    outcome.joined = sum(len(joined[pk]) for pk in incidents)
    outcome.touched = set(incidents)
    return outcome


def _timeline(tenant_id: int, lines: list[tuple[int, str, dict]], now: datetime) -> None:
    """Append (incident id, kind, details) lines at `now`, in this order (ids ascend with it)."""
    if not sql_rows.supported():
        IncidentEvent.objects.bulk_create(
            IncidentEvent(tenant_id=tenant_id, incident_id=pk, at=now, kind=k, details=d)
            for pk, k, d in lines
        )
        return
    sql_rows.insert_rows(
        IncidentEvent,
        ("tenant_id", "incident_id", "at", "kind", "body", "details"),
        [(tenant_id, pk, now, kind, "", details) for pk, kind, details in lines],
        ignore_conflicts=False,
    )


def _lock_open(tenant_id: int, ids: set[int]) -> dict[int, Incident]:
    """The incidents to join, locked, that are still open (a person may have resolved one
    since it was read: its group's alerts wait for the sweep, never join a resolved one)."""
    if not ids:
        return {}
    return {
        i.pk: i
        for i in Incident.objects.select_for_update()
        .filter(tenant_id=tenant_id, pk__in=sorted(ids), status__in=OPEN_INCIDENT_STATUSES)
        .order_by("pk")
    }


def _title(members: list[dict]) -> str:
    first = min(members, key=lambda m: (Severity(m["severity"]).rank, m["id"]))
    return (first["title"] or "")[: services.TITLE_MAX] or first["type"]


def _open_incidents(
    tenant_id: int, policy: IncidentPolicy, plan: GroupWrite, now: datetime
) -> dict[Any, Incident]:
    """group -> a new incident for it (with its OPENED timeline entry), in group order."""
    groups = [g for g in sorted(plan.open, key=str) if plan.members.get(g)]
    if not groups:
        return {}
    fresh = []
    for group in groups:
        members = plan.members[group]
        incident = Incident(
            tenant_id=tenant_id,
            title=_title(members),
            severity=services.worst_severity(m["severity"] for m in members) or Severity.MEDIUM,
            status=IncidentStatus.NEW,
            origin=plan.open[group],
            correlation_id=group,
            opened_at=now,
            updated_at=now,
        )
        services.set_sla_dues(incident, policy)
        fresh.append(incident)
    created = Incident.objects.bulk_create(fresh)
    for incident in created:
        if incident.pk is None:  # a database that returns no ids from a multi-row insert
            incident.save()
    opened = dict(zip(groups, created, strict=True))
    _timeline(
        tenant_id,
        [
            (
                opened[g].pk,
                EventKind.OPENED,
                {"origin": plan.open[g], "alerts": len(plan.members[g])},
            )
            for g in groups
        ],
        now,
    )
    return opened


def _insert_memberships(
    tenant_id: int, wanted: dict[int, list[int]], now: datetime
) -> dict[int, list[int]]:
    """Insert the memberships with ON CONFLICT DO NOTHING RETURNING: an alert a person grouped
    meanwhile is skipped by the one-open-incident constraint, and the rows that come back are
    the ones that joined. Returns incident id -> the alert ids that joined, ascending."""
    # one order for every writer (alert id): no deadlock between two
    rows = sorted({(a, pk) for pk, ids in wanted.items() for a in ids})
    if not _insert_returns_rows():
        return _insert_memberships_orm(tenant_id, rows, now)
    inserted = sql_rows.insert_rows(
        IncidentAlert,
        ("tenant_id", "incident_id", "alert_id", "open", "joined_at"),
        [(tenant_id, pk, alert_id, True, now) for alert_id, pk in rows],
        returning=("incident_id", "alert_id"),
    )
    joined: dict[int, list[int]] = defaultdict(list)
    for pk, alert_id in sorted(inserted):
        joined[pk].append(alert_id)
    return joined


def _insert_returns_rows() -> bool:
    """PostgreSQL, and SQLite from 3.35 (INSERT … RETURNING)."""
    return sql_rows.supported()


def _insert_memberships_orm(
    tenant_id: int, rows: list[tuple[int, int]], now: datetime
) -> dict[int, list[int]]:
    """The same where a multi-row insert returns nothing: read before and after."""
    incidents = sorted({pk for _a, pk in rows})
    pairs = IncidentAlert.objects.filter(
        incident_id__in=incidents, alert_id__in=sorted({a for a, _pk in rows}), left_at__isnull=True
    )
    before = set(pairs.values_list("incident_id", "alert_id"))
    IncidentAlert.objects.bulk_create(
        [
            IncidentAlert(tenant_id=tenant_id, incident_id=pk, alert_id=a, open=True, joined_at=now)
            for a, pk in rows
            if (pk, a) not in before
        ],
        ignore_conflicts=True,
    )
    asked = {(pk, a) for a, pk in rows}
    joined: dict[int, list[int]] = defaultdict(list)
    for pk, alert_id in sorted(
        (set(pairs.values_list("incident_id", "alert_id")) - before) & asked
    ):
        joined[pk].append(alert_id)
    return joined


def _recompute(
    tenant_id: int,
    policy: IncidentPolicy,
    incidents: dict[int, Incident],
    opened: set[int],
    now: datetime,
) -> dict[int, int]:
    """Severity, client and site of each incident from its members (`services`' rule, in two
    grouped queries for all of them), saved in one statement with `updated_at`; a severity
    that moved on an incident that was open already gets its timeline entry and new SLA dues.
    Returns incident id -> how many alerts it holds."""
    members = IncidentAlert.objects.filter(incident_id__in=list(incidents), left_at__isnull=True)
    severities: dict[int, list[str]] = defaultdict(list)
    for pk, severity in members.values_list("incident_id", "alert__severity").distinct():
        severities[pk].append(severity)
    places = {
        row["incident_id"]: row
        for row in members.values("incident_id").annotate(
            alerts=Count("id"),
            clients=Count("alert__client_id", distinct=True),
            no_client=Count("id", filter=Q(alert__client_id__isnull=True)),
            client=Min("alert__client_id"),
            sites=Count("alert__site_id", distinct=True),
            no_site=Count("id", filter=Q(alert__site_id__isnull=True)),
            site=Min("alert__site_id"),
        )
    }
    fields: set[str] = set()
    changed: list[Incident] = []
    timeline: list[tuple[int, str, dict]] = []
    for pk, incident in incidents.items():
        incident.updated_at = now
        row = places.get(pk)
        if row is None:
            continue
        moved: set[str] = set()
        worst = services.worst_severity(severities[pk])
        if worst and worst != incident.severity:
            if pk not in opened:  # a new incident opens at the severity it has
                details = {"from": incident.severity, "to": worst}
                timeline.append((pk, EventKind.SEVERITY, details))
            incident.severity = worst
            moved.add("severity")
            moved.update(services.set_sla_dues(incident, policy))
        one_client = row["clients"] == 1 and not row["no_client"]
        client_id = row["client"] if one_client else None
        one_site = row["sites"] == 1 and not row["no_site"]
        site_id = row["site"] if one_site and client_id is not None else None
        if (client_id, site_id) != (incident.client_id, incident.site_id):
            incident.client_id, incident.site_id = client_id, site_id
            moved.update({"client", "site"})
        if moved:
            changed.append(incident)
            fields |= moved
    _timeline(tenant_id, timeline, now)
    # every incident's updated_at in one statement; the few whose derived fields moved in one more
    Incident.objects.filter(pk__in=sorted(incidents)).update(updated_at=now)
    if changed:
        Incident.objects.bulk_update(changed, sorted(fields))
    return {pk: row["alerts"] for pk, row in places.items()}
