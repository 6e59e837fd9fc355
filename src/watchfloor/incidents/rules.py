"""The incident rules: alerts open, join, reopen and resolve incidents by themselves.

Per tenant (`IncidentPolicy`):
- a CRITICAL alert opens an incident (`open_on_critical`);
- `group_threshold` alerts of one correlation group (alerts.correlation: one site, or a storm of
  one type across a client's sites) open one incident holding them;
- later alerts of a group whose incident is open join it;
- with `reopen_rule` "within", a new alert whose fingerprint was in an incident RESOLVED less than
  `reopen_within_minutes` ago reopens that incident (else the rules above apply);
- alerts of `excluded_types` are never grouped by a rule (a person may still group them);
- an alert that belongs, or ever belonged, to an incident is never added by a rule again (a
  person who moved it out meant it); a resolved or closed incident never absorbs an alert;
- when every alert of an open incident is resolved — by the source, a person, a bulk action,
  anything — the incident resolves, and its timeline says why;
- an alert whose severity changes updates its incident's severity.

How they run: the alerts app cannot import incidents, so it tells its committed changes to
`settings.ALERT_CHANGE_HOOKS` (`alerts.hooks`), which names `on_alert_changes` here. The work is
set-based per batch: one query reads the batch's alerts with their membership, one the policy,
one the open incidents of their groups and one the groups' ungrouped alerts; only the groups that
open or join an incident write, in one transaction, all of them at once (`rule_writes`: a
constant number of statements however many groups a fold touched). Two batches racing to open
an incident for one group queue on an advisory lock per group (PostgreSQL) and the second joins
the first's.

A failure never reaches the ingestion request (it is committed already: `alerts.hooks` logs it
once as an outage); `sweep` (every 30 s, `incidents.tasks.sweep_incident_rules`) runs the same
rules over the recent alerts no incident holds and over open incidents with nothing left open,
so nothing a failed call left is missed.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.utils import timezone

from watchfloor import sql_rows
from watchfloor.alerts import staging
from watchfloor.alerts.hooks import AlertChanges
from watchfloor.alerts.models import OPEN_STATUSES, Alert, Severity, Status
from watchfloor.incidents import paging, rule_writes, services
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    RULES_POLICIES,
    EventKind,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentPolicy,
    IncidentStatus,
    Origin,
    ReopenRule,
)
from watchfloor.jobs import runtime
from watchfloor.jobs.runtime import enqueue

log = logging.getLogger(__name__)

GROUP_LOCK_CLASS = 0x1C1D  # first key of the advisory lock of one correlation group
AUTO_RESOLVE_NOTE = "Every alert of the incident is resolved."


RULES_TASK = "watchfloor.incidents.tasks.apply_incident_rules"


def on_alert_changes(changes: AlertChanges) -> None:
    """The `ALERT_CHANGE_HOOKS` entry: queue the rules for one committed alert write, off the
    request (a batch of new alerts can open or join dozens of incidents: measured ~2.7 s per
    100-alert batch when run in the request, see docs/decisions.md). The task carries ids only:
    (tenant, how many created, how many changed, created…, changed…, resolved…).

    On a fold drainer's thread where nothing in this process takes a queued task (embedded
    jobs under a forking server: gunicorn's workers, where the drainers run; the scheduler has
    a process of its own), the rules run here, now: the fold is committed and no request
    waits on the drainer; queued, the task would be dropped and the work left to the 30 s
    sweep (and a benchmark of ingestion with the rules on would not count it)."""
    if staging.draining_here() and not runtime.queues_here():
        apply_rules(
            changes.tenant_id,
            candidates=[*changes.created, *changes.changed],
            changed=changes.changed,
            resolved=changes.resolved,
        )
        return
    enqueue(
        RULES_TASK,
        changes.tenant_id,
        len(changes.created),
        len(changes.changed),
        *changes.created,
        *changes.changed,
        *changes.resolved,
    )


def apply_queued(tenant_id: int, n_created: int, n_changed: int, *ids: int) -> RulesReport:
    """The queued task's body (`on_alert_changes`' packing undone)."""
    created = ids[:n_created]
    changed = ids[n_created : n_created + n_changed]
    resolved = ids[n_created + n_changed :]
    return apply_rules(
        tenant_id, candidates=[*created, *changed], changed=changed, resolved=resolved
    )


@dataclass
class RulesReport:
    opened: int = 0
    joined: int = 0
    reopened: int = 0
    resolved: int = 0
    severity: int = 0

    def __iadd__(self, other: RulesReport) -> RulesReport:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


_ROW_FIELDS = (
    "id",
    "status",
    "type",
    "severity",
    "fingerprint",
    "correlation_id",
    "title",
    "client_id",
    "site_id",
)


def _alert_rows(tenant_id: int, ids: set[int]) -> list[dict[str, Any]]:
    """The alerts' rows with `incident_id` (the open incident holding each, or None) and `ever`
    (whether any incident held it)."""
    if connection.vendor == "postgresql":
        return _alert_rows_pg(tenant_id, sorted(ids))
    return list(
        Alert.objects.filter(tenant_id=tenant_id, id__in=ids)
        .annotate(
            incident_id=Subquery(_open_membership().values("incident_id")[:1]),
            ever=Exists(IncidentAlert.objects.filter(alert=OuterRef("pk"))),
        )
        .values(*_ROW_FIELDS, "incident_id", "ever")
    )


def _alert_rows_pg(tenant_id: int, ids: list[int]) -> list[dict[str, Any]]:
    """`_alert_rows` in two statements, the ids bound by the server as one array (a fold hands
    over thousands): the alerts by primary key, then their memberships by alert. With the
    tenant in SQL the planner, on a tenant's first storm (no statistics yet), read all of the
    tenant's alerts to find these (psql, 2,500 ids: 27-31 ms as one statement with two
    subqueries per alert, 7.6 + 4 ms as these two; in process the gain was within the noise,
    docs/decisions.md); the tenant is checked here instead."""
    alerts, members = Alert._meta.db_table, IncidentAlert._meta.db_table
    rows = sql_rows.pg_execute(
        f"SELECT tenant_id, {', '.join(_ROW_FIELDS)} FROM {alerts}"  # noqa: S608 (model names)
        " WHERE id = ANY(%s::bigint[])",
        [ids],
    )
    holding: dict[int, int] = {}
    ever: set[int] = set()
    for alert_id, incident_id, holds in sql_rows.pg_execute(
        f"SELECT alert_id, incident_id, open AND left_at IS NULL FROM {members}"  # noqa: S608
        " WHERE alert_id = ANY(%s::bigint[])",
        [ids],
    ):
        ever.add(alert_id)
        if holds:
            holding.setdefault(alert_id, incident_id)
    out = []
    for row in rows:
        if row[0] != tenant_id:
            continue
        values = dict(zip(_ROW_FIELDS, row[1:], strict=True))
        values["incident_id"] = holding.get(values["id"])
        values["ever"] = values["id"] in ever
        out.append(values)
    return out


def _open_membership():
    return IncidentAlert.objects.filter(alert=OuterRef("pk"), open=True, left_at__isnull=True)


def apply_rules(
    tenant_id: int,
    *,
    candidates=(),
    changed=(),
    resolved=(),
    now: datetime | None = None,
) -> RulesReport:
    """The rules for these alert ids of one tenant: `candidates` may open, join or reopen an
    incident, `changed` may move their incident's severity, `resolved` may resolve theirs."""
    now = now or timezone.now()
    report = RulesReport()
    ids = {*candidates, *changed, *resolved}
    if not ids:
        return report
    rows = _alert_rows(tenant_id, ids)
    resolved_set, changed_set, candidate_set = set(resolved), set(changed), set(candidates)
    # an alert resolved in the batch is no candidate; its incident may be done
    done = {r["incident_id"] for r in rows if r["id"] in resolved_set and r["incident_id"]}
    moved = {
        r["incident_id"]
        for r in rows
        if r["id"] in changed_set and r["incident_id"] and r["status"] != Status.RESOLVED
    }
    fresh = [
        r
        for r in rows
        if r["id"] in candidate_set
        and not r["ever"]
        and r["status"] in OPEN_STATUSES
        and r["correlation_id"] is not None
    ]
    if fresh:
        report += _group(tenant_id, fresh, now)
    if moved - done:
        report.severity += _refresh_severity(moved - done)
    if done:
        report.resolved += resolve_finished(done)
    return report


# --- open, join, reopen --------------------------------------------------------------------


def _policy(tenant_id: int) -> IncidentPolicy:
    """The tenant's policy, cached a few seconds (`RULES_POLICIES`; its save invalidates it)."""
    return RULES_POLICIES.get_or_load(tenant_id, lambda: services.policy_for(tenant_id))


def _qualifies(policy: IncidentPolicy, members: list[dict]) -> str | None:
    """The origin of an incident these ungrouped alerts of one group open, or None."""
    if policy.open_on_critical and any(m["severity"] == Severity.CRITICAL for m in members):
        return Origin.CRITICAL_ALERT
    if policy.group_threshold and len(members) >= policy.group_threshold:
        return Origin.ALERT_GROUP
    return None


def _group(tenant_id: int, fresh: list[dict], now: datetime) -> RulesReport:
    report = RulesReport()
    policy = _policy(tenant_id)
    excluded = set(policy.excluded_types or ())
    fresh = [r for r in fresh if r["type"] not in excluded]
    if not fresh:
        return report
    reopen: dict[str, int] = {}
    if policy.reopen_rule == ReopenRule.WITHIN:
        reopen = _recently_resolved(
            tenant_id,
            {r["fingerprint"] for r in fresh},
            now - timedelta(minutes=policy.reopen_within_minutes),
        )
    groups = {r["correlation_id"] for r in fresh if r["fingerprint"] not in reopen}
    open_by_group = _open_incidents(tenant_id, groups) if groups else {}
    # a group with an open incident takes this call's alerts; only a group without one needs
    # all its waiting alerts (the threshold counts them). Reading every group's ungrouped alerts
    # grew with the storm: each fold of a first pass scanned all the alerts so far.
    waiting = groups - open_by_group.keys()
    members = _ungrouped(tenant_id, waiting, excluded) if waiting else {}
    for r in fresh:
        if r["correlation_id"] in open_by_group and r["fingerprint"] not in reopen:
            members.setdefault(r["correlation_id"], []).append(r)
    # the groups that write: an open incident to join, or enough to open one
    acting = {
        g
        for g in groups
        if members.get(g) and (g in open_by_group or _qualifies(policy, members[g]) is not None)
    }
    if not acting and not reopen:
        return report
    touched: set[int] = set()
    with transaction.atomic():
        if reopen:
            report += _reopen(tenant_id, fresh, reopen, touched)
            # the incident pages now, not each alert (incidents.paging)
            paging.absorb_alert_chains(touched, now)
        if acting:
            # a group that may open an incident is locked, then asked again whether it has one:
            # a concurrent call may have opened it meanwhile (then this one joins it). A group
            # that joins needs no lock: its incident's row is locked by the write. The members
            # need no second read: one a concurrent call took is skipped by the membership
            # insert's conflict.
            opening = acting - open_by_group.keys()
            if opening:
                _lock_groups(tenant_id, opening)
                open_by_group = {**open_by_group, **_open_incidents(tenant_id, opening)}
            plan = rule_writes.GroupWrite(members={g: members[g] for g in acting})
            for group in acting:
                if group in open_by_group:
                    plan.join[group] = open_by_group[group]
                elif (origin := _qualifies(policy, members[group])) is not None:
                    plan.open[group] = origin
            # every group in a constant number of statements
            outcome = rule_writes.write_groups(tenant_id, policy, plan, now)
            report.opened += outcome.opened
            report.joined += outcome.joined
    return report


def _recently_resolved(tenant_id: int, fingerprints: set[str], since: datetime) -> dict[str, int]:
    """fingerprint → the incident resolved since `since` that held an alert of it (the latest)."""
    found: dict[str, int] = {}
    for fingerprint, incident_id in (
        IncidentAlert.objects.filter(
            tenant_id=tenant_id,
            alert__fingerprint__in=fingerprints,
            incident__status=IncidentStatus.RESOLVED,
            incident__resolved_at__gte=since,
            left_at__isnull=True,
        )
        .order_by("incident__resolved_at", "incident_id")
        .values_list("alert__fingerprint", "incident_id")
    ):
        found[fingerprint] = incident_id  # ordered: the latest wins
    return found


def _reopen(tenant_id: int, fresh: list[dict], reopen: dict[str, int], touched) -> RulesReport:
    report = RulesReport()
    by_incident: dict[int, list[int]] = defaultdict(list)
    for r in fresh:
        if r["fingerprint"] in reopen:
            by_incident[reopen[r["fingerprint"]]].append(r["id"])
    incidents = Incident.objects.select_for_update().filter(
        tenant_id=tenant_id, id__in=sorted(by_incident)
    )
    for incident in incidents.order_by("id"):
        alerts = list(Alert.objects.filter(id__in=by_incident[incident.id]).order_by("id"))
        if incident.status == IncidentStatus.RESOLVED:
            incident = services.reopen_incident(
                incident,
                actor=None,
                reason=f"Alert #{alerts[0].id} fired again within the reopen window.",
            )
            report.reopened += 1
        if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
            continue  # a concurrent hand closed it: the alert waits for the sweep
        report.joined += len(services.add_alerts(incident, alerts, actor=None, reason="reopened"))
        touched.add(incident.id)
    return report


def _open_incidents(tenant_id: int, groups: set) -> dict:
    """correlation id → the id of its open incident (the oldest when a person made two)."""
    found: dict = {}
    if connection.vendor == "postgresql":
        # the groups as one array bound by the server: a storm's fold asks for hundreds, and
        # psycopg's client-side binding of an IN list of that many was a sixth of the rules
        rows = sql_rows.pg_execute(
            f"SELECT correlation_id, id FROM {Incident._meta.db_table}"  # noqa: S608 (model)
            " WHERE tenant_id = %s AND status = ANY(%s::varchar[])"
            " AND correlation_id = ANY(%s::uuid[]) ORDER BY opened_at DESC, id DESC",
            [tenant_id, list(OPEN_INCIDENT_STATUSES), list(groups)],
        )
    else:
        rows = list(
            Incident.objects.for_tenant(tenant_id)
            .open()
            .filter(correlation_id__in=groups)
            .order_by("-opened_at", "-id")
            .values_list("correlation_id", "id")
        )
    for group, incident_id in rows:
        found[group] = incident_id
    return found


def _ungrouped(tenant_id: int, groups: set, excluded: set[str]) -> dict:
    """correlation id → its open alerts that no incident holds or held (rows, oldest first)."""
    qs = (
        Alert.objects.for_tenant(tenant_id)
        .filter(status__in=OPEN_STATUSES, correlation_id__in=groups)
        .exclude(Exists(IncidentAlert.objects.filter(alert=OuterRef("pk"))))
    )
    if excluded:
        qs = qs.exclude(type__in=excluded)
    members: dict = defaultdict(list)
    for row in qs.order_by("id").values(
        "id", "severity", "title", "type", "correlation_id", "client_id", "site_id"
    ):
        members[row["correlation_id"]].append(row)
    return members


def _lock_groups(tenant_id: int, groups: set) -> None:
    """One transaction-scoped advisory lock per group, in one order (no deadlock between two
    batches). SQLite has one writer at a time: nothing to take."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({_group_key(tenant_id, g) for g in groups})
    with connection.cursor() as cursor:
        # one statement for every group; unnest keeps the array's (sorted) order
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::integer[]) AS k",
            [GROUP_LOCK_CLASS, keys],
        )


def _group_key(tenant_id: int, group: uuid.UUID | str) -> int:
    digest = hashlib.blake2b(f"{tenant_id}:{group}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- severity and auto-resolve -------------------------------------------------------------


def _refresh_severity(incident_ids: set[int]) -> int:
    moved = 0
    for incident in Incident.objects.open().filter(id__in=incident_ids).order_by("id"):
        before = incident.severity
        incident = services.refresh_severity(incident) or incident
        moved += incident.severity != before
    return moved


def _still_open(incident_ids) -> set[int]:
    return set(
        IncidentAlert.objects.filter(incident_id__in=incident_ids, open=True, left_at__isnull=True)
        .exclude(alert__status=Status.RESOLVED)
        .values_list("incident_id", flat=True)
        .distinct()
    )


def _reopened_since(incident_ids) -> set[int]:
    """Incidents reopened (by a person, or the reopen rule) after their last alert resolved:
    someone wants them open, so "every alert resolved" is no reason to resolve them again."""
    reopened = dict(
        IncidentEvent.objects.filter(
            incident_id__in=incident_ids, kind=EventKind.STATUS, details__to=IncidentStatus.NEW
        )
        .values("incident_id")
        .annotate(last=Max("at"))
        .values_list("incident_id", "last")
    )
    if not reopened:
        return set()
    last_resolved = dict(
        IncidentAlert.objects.filter(incident_id__in=list(reopened), left_at__isnull=True)
        .values("incident_id")
        .annotate(last=Max("alert__resolved_at"))
        .values_list("incident_id", "last")
    )
    return {
        pk
        for pk, at in reopened.items()
        if last_resolved.get(pk) is None or last_resolved[pk] <= at
    }


def resolve_finished(incident_ids) -> int:
    """Resolve each open incident of these whose alerts are all resolved (and that holds at
    least one): the rule "every alert resolved → the incident resolves"."""
    incident_ids = set(incident_ids)
    candidates = incident_ids - _still_open(incident_ids) - _reopened_since(incident_ids)
    resolved = 0
    for incident in Incident.objects.open().filter(id__in=candidates).order_by("id"):
        with transaction.atomic():
            locked = Incident.objects.select_for_update().get(pk=incident.pk)
            if not locked.is_open or _still_open([locked.pk]):
                continue
            if not IncidentAlert.objects.filter(incident=locked, left_at__isnull=True).exists():
                continue  # nothing in it (a person's incident): nothing to go by
            services.resolve_incident(locked, actor=None, note=AUTO_RESOLVE_NOTE)
            resolved += 1
    return resolved


# --- the sweep ----------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> dict:
    """The safety net: the rules over the recent open alerts no incident holds or held (first
    seen within `INCIDENT_RULES_LOOKBACK` seconds), and the auto-resolve over every open incident
    whose alerts are all resolved. Idempotent; bounded per run."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.INCIDENT_RULES_LOOKBACK)
    report = RulesReport()
    by_tenant: dict[int, list[int]] = defaultdict(list)
    for tenant_id, alert_id in (
        Alert.objects.filter(status__in=OPEN_STATUSES, first_seen_at__gte=since)
        .exclude(Exists(IncidentAlert.objects.filter(alert=OuterRef("pk"))))
        .order_by("id")
        .values_list("tenant_id", "id")[: settings.INCIDENT_RULES_SWEEP_BATCH]
    ):
        by_tenant[tenant_id].append(alert_id)
    for tenant_id, ids in by_tenant.items():
        report += apply_rules(tenant_id, candidates=ids, now=now)
    finished = (
        Incident.objects.open()
        .filter(Exists(IncidentAlert.objects.filter(incident=OuterRef("pk"), left_at__isnull=True)))
        .exclude(
            Exists(
                IncidentAlert.objects.filter(
                    incident=OuterRef("pk"), open=True, left_at__isnull=True
                ).filter(~Q(alert__status=Status.RESOLVED))
            )
        )
        .values_list("id", flat=True)[: settings.INCIDENT_RULES_SWEEP_BATCH]
    )
    finished_ids = list(finished)
    if finished_ids:
        report.resolved += resolve_finished(finished_ids)
    return report.as_dict()
