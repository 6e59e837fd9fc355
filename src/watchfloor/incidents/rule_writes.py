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

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Count

from watchfloor import sql_rows
from watchfloor.alerts.models import SEVERITY_RANK, Severity
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
    """What one rules call writes: groups to join (the id of their open incident) and groups to
    open (the origin), each with its ungrouped member rows (id, severity, title, type, client_id,
    site_id)."""

    join: dict[Any, int] = field(default_factory=dict)
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
    joining, held = _lock_open(tenant_id, set(plan.join.values()))
    rows: dict[int, dict[int, dict]] = {}  # incident id -> its joining alerts' rows by id
    reason: dict[int, str] = {}
    for group, incident_id in plan.join.items():
        if incident_id in joining and plan.members.get(group):
            rows[incident_id] = {m["id"]: m for m in plan.members[group]}
            reason[incident_id] = JOIN_REASON
    opened = _open_incidents(tenant_id, policy, plan, now)
    for group, incident in opened.items():
        rows[incident.pk] = {m["id"]: m for m in plan.members[group]}
        reason[incident.pk] = plan.open[group]
    if not rows:
        return outcome
    joined = _insert_memberships(tenant_id, {pk: list(r) for pk, r in rows.items()}, now)
    empty = [i.pk for i in opened.values() if not joined.get(i.pk)]
    if empty:  # every alert of it went to another incident meanwhile (a person): no incident
        Incident.objects.filter(pk__in=empty).delete()
    opened = {g: i for g, i in opened.items() if i.pk not in empty}
    incidents = {**{i.pk: i for i in opened.values()}, **joining}
    incidents = {pk: i for pk, i in incidents.items() if joined.get(pk)}
    opened_ids = {i.pk for i in opened.values()}
    group_of = {i.pk: g for g, i in opened.items()}
    joined_rows = {pk: [rows[pk][a] for a in joined[pk]] for pk in incidents}
    severity_lines = _derive(policy, incidents, opened_ids, joined_rows, now)
    # the whole call's timeline in one insert, in order per incident: OPENED, then one
    # ALERT_JOINED line for the alerts that joined in this call (a storm's first pass joins
    # thousands: a line each was a third of the rules' writes), then a severity change
    lines: list[tuple[int, str, dict]] = []
    for pk in sorted(incidents):
        if pk in opened_ids:
            group = group_of[pk]
            details = {"origin": plan.open[group], "alerts": len(plan.members[group])}
            lines.append((pk, EventKind.OPENED, details))
        lines.append((pk, EventKind.ALERT_JOINED, {"alert_ids": joined[pk], "reason": reason[pk]}))
        if pk in severity_lines:
            lines.append((pk, EventKind.SEVERITY, severity_lines[pk]))
    _timeline(tenant_id, lines, now)
    _save_derived(incidents, now)
    # how many alerts each holds now: what it held when locked, and what joined
    counts = {pk: held.get(pk, 0) + len(joined[pk]) for pk in incidents}
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
    # an alert that joined stops escalating on its own: a chain it has is stopped here; one it
    # does not have yet is never opened (the escalation sweep skips alerts an open incident
    # holds, and the incidents' paging sweep gives them their stopped chain)
    paging.stop_active_chains(
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


def _lock_open(tenant_id: int, ids: set[int]) -> tuple[dict[int, Incident], dict[int, int]]:
    """The incidents to join, locked, that are still open (a person may have resolved one
    since it was read: its group's alerts wait for the sweep, never join a resolved one), and
    how many alerts each holds now."""
    if not ids:
        return {}, {}
    if connection.vendor == "postgresql":
        # one statement, ids bound by the server and rows in binary: a storm's fold joins a
        # hundred incidents, and their dozen timestamps each parsed from text were most of this
        meta = Incident._meta
        names = [f.attname for f in meta.concrete_fields]  # what from_db takes
        columns = [str(f.column) for f in meta.concrete_fields]  # what the table calls them
        members = IncidentAlert._meta.db_table
        rows = sql_rows.pg_execute(
            f"SELECT {', '.join('i.' + c for c in columns)},"  # noqa: S608 (model identifiers)
            f" (SELECT count(*) FROM {members} m WHERE m.incident_id = i.id"
            " AND m.left_at IS NULL)"
            f" FROM {meta.db_table} i WHERE i.tenant_id = %s AND i.id = ANY(%s::bigint[])"
            " AND i.status = ANY(%s::varchar[]) ORDER BY i.id FOR UPDATE OF i",
            [tenant_id, sorted(ids), list(OPEN_INCIDENT_STATUSES)],
        )
        incidents = {row[0]: Incident.from_db(DEFAULT_DB_ALIAS, names, row[:-1]) for row in rows}
        return incidents, {row[0]: int(row[-1]) for row in rows}
    locked = {
        i.pk: i
        for i in Incident.objects.select_for_update()
        .filter(tenant_id=tenant_id, pk__in=sorted(ids), status__in=OPEN_INCIDENT_STATUSES)
        .order_by("pk")
    }
    counts = dict(
        IncidentAlert.objects.filter(incident_id__in=sorted(locked), left_at__isnull=True)
        .values("incident_id")
        .annotate(n=Count("id"))
        .values_list("incident_id", "n")
    )
    return locked, {pk: counts.get(pk, 0) for pk in locked}


def _title(members: list[dict]) -> str:
    first = min(members, key=lambda m: (SEVERITY_RANK[m["severity"]], m["id"]))
    return (first["title"] or "")[: services.TITLE_MAX] or first["type"]


def _open_incidents(
    tenant_id: int, policy: IncidentPolicy, plan: GroupWrite, now: datetime
) -> dict[Any, Incident]:
    """group -> a new incident for it, in group order (its timeline is the caller's)."""
    groups = [g for g in sorted(plan.open, key=str) if plan.members.get(g)]
    if not groups:
        return {}
    fresh = []
    for group in groups:
        members = plan.members[group]
        client_id, site_id = _place(members)
        incident = Incident(
            tenant_id=tenant_id,
            title=_title(members),
            client_id=client_id,
            site_id=site_id,
            severity=services.worst_severity(m["severity"] for m in members) or Severity.MEDIUM,
            status=IncidentStatus.NEW,
            origin=plan.open[group],
            correlation_id=group,
            opened_at=now,
            updated_at=now,
        )
        services.set_sla_dues(incident, policy)
        fresh.append(incident)
    if sql_rows.supported():
        sql_rows.insert_models(fresh)
    else:
        Incident.objects.bulk_create(fresh)
        for incident in fresh:
            if incident.pk is None:  # a database that returns no ids from a multi-row insert
                incident.save()
    return dict(zip(groups, fresh, strict=True))


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
    values = [(tenant_id, pk, alert_id, True, now) for alert_id, pk in rows]
    joined: dict[int, list[int]] = defaultdict(list)
    if connection.vendor == "postgresql":
        # A conflict is rare (a person grouped one of these alerts meanwhile): a plain insert
        # first, in a savepoint, and the conflict-skipping one only if it failed. ON CONFLICT
        # checks every unique index before each row and RETURNING sends every row back: 10,000
        # memberships took 100 ms that way, 60 ms plain (docs/decisions.md).
        try:
            with transaction.atomic():
                sql_rows.insert_rows(IncidentAlert, _MEMBER_COLUMNS, values, ignore_conflicts=False)
        except IntegrityError:
            pass
        else:
            for alert_id, pk in rows:
                joined[pk].append(alert_id)
            return joined
    inserted = sql_rows.insert_rows(
        IncidentAlert, _MEMBER_COLUMNS, values, returning=("incident_id", "alert_id")
    )
    for pk, alert_id in sorted(inserted):
        joined[pk].append(alert_id)
    return joined


_MEMBER_COLUMNS = ("tenant_id", "incident_id", "alert_id", "open", "joined_at")


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


def _place(rows: list[dict]) -> tuple[int | None, int | None]:
    """Client and site of these alert rows (`services.place_of`, the one rule)."""
    return services.place_of((r["client_id"], r["site_id"]) for r in rows)


def _derive(
    policy: IncidentPolicy,
    incidents: dict[int, Incident],
    opened: set[int],
    joined_rows: dict[int, list[dict]],
    now: datetime,
) -> dict[int, dict]:
    """Severity, client and site of each incident after its alerts joined, set on the instances
    from the rows in hand (no read): an open incident's fields already hold for its earlier
    members, and a join can only raise the severity. A severity that moved gets new SLA dues;
    returns incident id -> the SEVERITY line's details for an incident open before this call."""
    lines: dict[int, dict] = {}
    for pk, incident in incidents.items():
        incident.updated_at = now
        new = joined_rows[pk]
        if pk in opened:  # its fields were set from the group's rows: those that joined decide
            worst = services.worst_severity(r["severity"] for r in new)
            client_id, site_id = _place(new)
        else:
            worst = services.worst_severity([incident.severity, *(r["severity"] for r in new)])
            same = {incident.client_id} == {r["client_id"] for r in new}
            client_id = incident.client_id if same else None
            site_ok = client_id is not None and {incident.site_id} == {r["site_id"] for r in new}
            site_id = incident.site_id if site_ok else None
        if worst and worst != incident.severity:
            if pk not in opened:  # a new incident opens at the severity it has
                lines[pk] = {"from": incident.severity, "to": worst}
            incident.severity = worst
            services.set_sla_dues(incident, policy)
        incident.client_id, incident.site_id = client_id, site_id
    return lines


_DERIVED = (
    "severity",
    "client_id",
    "site_id",
    "ack_due_at",
    "ack_risk_at",
    "resolve_due_at",
    "resolve_risk_at",
    "updated_at",
)
_DERIVED_TYPES = (
    "varchar",
    "bigint",
    "bigint",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "timestamptz",
)


def _save_derived(incidents: dict[int, Incident], now: datetime) -> None:
    """Every touched incident's derived fields and `updated_at` in one statement (PostgreSQL:
    an UPDATE from column arrays; elsewhere the ORM's bulk update)."""
    ordered = [incidents[pk] for pk in sorted(incidents)]
    if connection.vendor != "postgresql":
        Incident.objects.bulk_update(ordered, [f.removesuffix("_id") for f in _DERIVED])
        return
    table = Incident._meta.db_table
    sets = ", ".join(f"{c} = v.{c}" for c in _DERIVED)
    arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *_DERIVED_TYPES))
    sql_rows.pg_execute(
        f"UPDATE {table} SET {sets} FROM unnest({arrays})"  # noqa: S608 (model identifiers)
        f" AS v(id, {', '.join(_DERIVED)}) WHERE {table}.id = v.id",
        [[i.pk for i in ordered], *([getattr(i, c) for i in ordered] for c in _DERIVED)],
    )
