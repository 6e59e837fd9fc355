"""The escalation engine: who gets paged for an alert nobody acknowledged, and when.

1. `open_escalations` gives every unacknowledged open alert its `AlertEscalation` the first time
   it sees one: the policy of the alert's client (else the tenant's default), in the version in
   force when the alert opened (later edits change only later alerts), read for its severity.
   The ingestion path is not touched: this is set-based work of the sweep.
2. `take_due_steps` takes every step whose time has come, in batches: an alert acknowledged,
   resolved, suppressed or under a maintenance window meanwhile stops its chain instead; any
   other gets the step's targets paged (`notify.page`), moves to ESCALATED one level up, and the
   step goes on its timeline (audit) and out live.
3. `queue_upcoming` hands the steps due within the next minute to the jobs runtime with their
   time and token, so a step is taken when it falls due, not at the next sweep; the sweep is the
   safety net that takes whatever a lost task left.

`escalate_now` is the Escalate action: the next step now, by a person. `reopen` is the Reopen
action: a resolved alert open again, its chain started again from the first step.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from watchfloor import sql_rows
from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text
from watchfloor.access.scope import Reach, ScopeKind, require_capability, scope_of
from watchfloor.alerts.broadcast import alert_event
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.services import ESCALATABLE, IllegalTransition, clean_note, reopen_alert
from watchfloor.audit.models import Action
from watchfloor.audit.services import record, record_many
from watchfloor.events import publish_on_commit
from watchfloor.jobs.runtime import enqueue, enqueue_many
from watchfloor.maintenance.matcher import SuppressionMatcher
from watchfloor.oncall.models import (
    AlertEscalation,
    EscalationPolicy,
    EscalationState,
    PolicyVersion,
    TeamChannel,
)
from watchfloor.oncall.notify import PageRequest, page, page_many
from watchfloor.oncall.policies import Step, TargetKind, chain_for, policy_for_client
from watchfloor.oncall.policy_services import ensure_default_policy
from watchfloor.oncall.rotation import who_is_on_call
from watchfloor.tenancy.models import Client, Site, Tenant, User

log = logging.getLogger(__name__)

OPEN_BATCH = 20_000
STEP_BATCH = 500
LOOKAHEAD = timedelta(seconds=60)
SLOT = timedelta(milliseconds=500)  # steps due within one slot share one timed task
TAKE_STEP_TASK = "watchfloor.oncall.tasks.take_escalation_step"
ESCALATING = (Status.NEW, Status.ESCALATED)  # with acknowledged_at empty


# --- 1. opening ---------------------------------------------------------------------------------
def ensure_default_policies() -> None:
    """Every active tenant escalates from its first alert: one without a default policy gets
    the shipped one (one query when all have it)."""
    missing = Tenant.objects.filter(active=True).exclude(
        id__in=EscalationPolicy.objects.filter(is_default=True).values("tenant_id")
    )
    for tenant_id in missing.values_list("id", flat=True):
        ensure_default_policy(tenant_id)


# --------------------------------------------------------------------------------
class _PolicyBook:
    """Every policy and version of the tenants in one batch, loaded once; chains cached."""

    def __init__(self, tenant_ids: Iterable[int]):
        self.policies: dict[int, list[EscalationPolicy]] = defaultdict(list)
        self.versions: dict[int, list[PolicyVersion]] = defaultdict(list)
        tenant_ids = set(tenant_ids)
        for policy in EscalationPolicy.objects.filter(tenant_id__in=tenant_ids):
            self.policies[policy.tenant_id].append(policy)
        for version in PolicyVersion.objects.filter(tenant_id__in=tenant_ids).order_by(
            "policy_id", "created_at", "number"
        ):
            self.versions[version.policy_id].append(version)
        self._starts = {
            pid: [v.created_at for v in versions] for pid, versions in self.versions.items()
        }
        self._chains: dict[tuple[int, str], list[Step]] = {}

    def version_for(self, tenant_id: int, client_id: int | None, opened_at: datetime):
        """The version in force when the alert opened (the first one for older alerts)."""
        policy = policy_for_client(self.policies.get(tenant_id, []), client_id)
        if policy is None or not self.versions.get(policy.id):
            return None
        versions = self.versions[policy.id]
        at = bisect.bisect_right(self._starts[policy.id], opened_at)
        return versions[max(at - 1, 0)]

    def chain(self, version: PolicyVersion, severity: str) -> list[Step]:
        key = (version.id, severity)
        if key not in self._chains:
            self._chains[key] = chain_for(version, severity)
        return self._chains[key]


def first_step_at(version: PolicyVersion, chain: list[Step], opened_at: datetime):
    """When the first step falls due: its delay after opening, and never before the policy's
    "only if still firing after N minutes"."""
    if not chain:
        return None
    wait = max(chain[0].delay, timedelta(minutes=version.notify_after_minutes))
    return opened_at + wait


def _new_escalation(alert_row: dict, book: _PolicyBook, now: datetime) -> tuple:
    """The new escalation of an alert row, as a tuple in `_INSERT_COLUMNS` order (no model
    instance: opening 100,000 spent more in `Model.__init__` than in the database)."""
    version = book.version_for(
        alert_row["tenant_id"], alert_row["client_id"], alert_row["created_at"]
    )
    chain = book.chain(version, alert_row["severity"]) if version else []
    next_at = first_step_at(version, chain, alert_row["first_seen_at"]) if chain else None
    return (
        alert_row["id"],
        alert_row["tenant_id"],
        version.id if version else None,
        0,
        next_at,
        EscalationState.ACTIVE if chain else EscalationState.DONE,
        "" if chain else "no escalation step applies",
        1,
        0,
        now,
        now,
    )


def _unescalated_alerts():
    qs = (
        Alert.objects.filter(status__in=ESCALATING, acknowledged_at__isnull=True)
        .exclude(Exists(AlertEscalation.objects.filter(alert_id=OuterRef("pk"))))
        .order_by()
    )
    if settings.ESCALATION_HOLDER:
        # an alert something else pages for (an open incident holds it) gets no chain of its own
        qs = qs.exclude(import_string(settings.ESCALATION_HOLDER)())
    return qs


def open_escalations(now: datetime) -> int:
    """Give every unacknowledged open alert without an escalation its frozen chain."""
    opened = 0
    while True:
        rows = list(
            _unescalated_alerts().values(
                "id", "tenant_id", "client_id", "severity", "first_seen_at", "created_at"
            )[:OPEN_BATCH]
        )
        if not rows:
            return opened
        book = _PolicyBook(r["tenant_id"] for r in rows)
        _insert_escalations([_new_escalation(r, book, now) for r in rows])
        opened += len(rows)
        if len(rows) < OPEN_BATCH:
            return opened


_INSERT_COLUMNS = (
    "alert_id",
    "tenant_id",
    "policy_version_id",
    "next_step",
    "next_at",
    "state",
    "stop_reason",
    "token",
    "queued_token",
    "created_at",
    "updated_at",
)
_INSERT_TYPES = (
    "bigint",
    "bigint",
    "bigint",
    "integer",
    "timestamptz",
    "varchar",
    "varchar",
    "integer",
    "integer",
    "timestamptz",
    "timestamptz",
)


def _insert_escalations(rows: list[tuple]) -> None:
    """Insert new escalations (tuples in `_INSERT_COLUMNS` order), skipping any another process
    opened meanwhile. On PostgreSQL one `INSERT … SELECT FROM unnest(…)`: `bulk_create` spent
    ~65 % of opening 100,000 escalations preparing values field by field (docs/benchmarks.md)."""
    if connection.vendor != "postgresql":
        AlertEscalation.objects.bulk_create(
            [AlertEscalation(**dict(zip(_INSERT_COLUMNS, row, strict=True))) for row in rows],
            ignore_conflicts=True,
        )
        return
    columns = [list(column) for column in zip(*rows, strict=True)]
    arrays = ", ".join(f"%s::{t}[]" for t in _INSERT_TYPES)
    table = AlertEscalation._meta.db_table
    # bound by the server in binary (sql_rows.pg_execute): a Django cursor renders the arrays
    # into the SQL text, escaping each string in Python
    sql_rows.pg_execute(
        f"INSERT INTO {table} ({', '.join(_INSERT_COLUMNS)})"  # noqa: S608 (model identifiers)
        f" SELECT * FROM unnest({arrays}) ON CONFLICT (alert_id) DO NOTHING",
        columns,
    )


# --- 2. taking steps ---------------------------------------------------------------------------
class Placed(Protocol):
    """What a step's targets are resolved for: an alert, or anything placed like one (an
    incident: incidents.paging)."""

    tenant_id: int
    client_id: int | None
    site_id: int | None


class _Targets:
    """Resolves a batch's targets to people and channels with a constant number of queries."""

    def __init__(self, alerts: Sequence[Placed], steps: list[Step], now: datetime):
        kinds: defaultdict[str, set[int]] = defaultdict(set)
        for step in steps:
            for target in step.targets:
                ids = kinds[target["kind"]]  # the kind is recorded even without an id
                if target.get("id") is not None:
                    ids.add(int(target["id"]))
        self.oncall = (
            who_is_on_call(kinds[TargetKind.SCHEDULE], now) if kinds[TargetKind.SCHEDULE] else {}
        )
        site_ids = {a.site_id for a in alerts if a.site_id}
        client_ids = {a.client_id for a in alerts if a.client_id}
        self.officer = (
            dict(Site.objects.filter(id__in=site_ids).values_list("id", "officer_in_charge_id"))
            if TargetKind.OFFICER in kinds
            else {}
        )
        self.owner = (
            dict(Client.objects.filter(id__in=client_ids).values_list("id", "owner_id"))
            if TargetKind.CLIENT_OWNER in kinds
            else {}
        )
        user_ids = set(kinds[TargetKind.USER])
        user_ids.update(u for ids in self.oncall.values() for u in ids)
        user_ids.update(u for u in self.officer.values() if u)
        user_ids.update(u for u in self.owner.values() if u)
        self.users = {
            u.id: u
            for u in User.objects.filter(id__in=user_ids, is_active=True, tenant__isnull=False)
        }
        self._scopes: dict[int, Reach] = {}
        self.channels = {
            c.id: c
            for c in TeamChannel.objects.filter(id__in=kinds[TargetKind.CHANNEL], active=True)
        }

    def resolve(self, alert: Placed, step: Step) -> tuple[list[User], list[TeamChannel], list]:
        """The people and channels of one step for one alert, and what each target gave."""
        people: dict[int, User] = {}
        channels: list[TeamChannel] = []
        report = []
        for target in step.targets:
            kind, ident = target["kind"], int(target.get("id") or 0)
            if kind == TargetKind.SCHEDULE:
                ids = self.oncall.get(ident, [])
            elif kind == TargetKind.OFFICER:
                ids = [self.officer.get(alert.site_id) or 0] if alert.site_id else []
            elif kind == TargetKind.CLIENT_OWNER:
                ids = [self.owner.get(alert.client_id) or 0] if alert.client_id else []
            elif kind == TargetKind.USER:
                ids = [ident]
            else:
                ids = []
                channel = self.channels.get(ident)
                if channel is not None and channel.tenant_id == alert.tenant_id:
                    channels.append(channel)
                report.append({**target, "found": channel is not None})
                continue
            found = [
                self.users[i]
                for i in ids
                if i in self.users and self.users[i].tenant_id == alert.tenant_id
            ]
            # a page tells what and where: never about a place outside the person's scope
            blind = [u for u in found if not self._sees(u, alert)]
            for user in found:
                if user not in blind:
                    people.setdefault(user.id, user)
            entry = {**target, "user_ids": [u.id for u in found if u not in blind]}
            if blind:
                entry["out_of_scope"] = [u.id for u in blind]
            report.append(entry)
        return list(people.values()), channels, report

    def _sees(self, user: User, alert: Placed) -> bool:
        """May this person see the alert? The same rule as `alerts_for` (`access.scope`),
        decided in memory: two small queries per person whose scope is not the whole tenant,
        once per batch."""
        if user.id not in self._scopes:
            scope = scope_of(user)
            whole = scope.kind == ScopeKind.ALL_CLIENTS  # admits everything: no ids needed
            self._scopes[user.id] = (
                Reach(scope.kind, frozenset(), frozenset()) if whole else scope.reach()
            )
        return self._scopes[user.id].admits(Alert.placement, alert.client_id, alert.site_id)


def _stop_reason(alert: Alert, matchers: dict[int, SuppressionMatcher], now) -> str:
    if alert.status == Status.RESOLVED:
        return "resolved"
    if alert.status == Status.SUPPRESSED:
        return "suppressed"
    if alert.acknowledged_at is not None or alert.status not in ESCALATING:
        return "acknowledged"
    if alert.tenant_id not in matchers:
        matchers[alert.tenant_id] = SuppressionMatcher.for_tenant(alert.tenant_id, now)
    window = matchers[alert.tenant_id].match(
        client_id=alert.client_id,
        site_id=alert.site_id,
        alert_type=alert.type,
        labels=alert.labels,
    )
    if window is not None:
        return f"maintenance window {window.id}"
    return ""


def advance(escalation: Any, chain: list[Step], now: datetime) -> None:
    """Past the step just taken: the next one after its delay, or done. For an AlertEscalation
    and an IncidentEscalation (incidents.paging): their rows have the same fields."""
    escalation.next_step += 1
    escalation.token += 1
    escalation.updated_at = now
    if escalation.next_step < len(chain):
        escalation.next_at = now + chain[escalation.next_step].delay
    else:
        escalation.next_at = None
        escalation.state = EscalationState.DONE
        escalation.stop_reason = "every step taken"


def stop(escalation: Any, reason: str, now: datetime) -> None:
    """End a chain for good (its pending steps are never taken); the token makes a task that
    was already queued for it do nothing."""
    escalation.state = EscalationState.STOPPED
    escalation.stop_reason = reason[:200]
    escalation.next_at = None
    escalation.token += 1
    escalation.updated_at = now


ESCALATION_FIELDS = [
    "next_step",
    "next_at",
    "state",
    "stop_reason",
    "token",
    "queued_token",
    "updated_at",
]


def _take_batch(escalation_ids: list[int] | None, now: datetime, *, token: int | None = None):
    """One transaction: lock a batch of due escalations and their alerts, stop or step each."""
    with transaction.atomic():
        due = AlertEscalation.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            state=EscalationState.ACTIVE, next_at__lte=now
        )
        if escalation_ids is not None:
            due = due.filter(alert_id__in=escalation_ids)
        if token is not None:
            due = due.filter(token=token)
        escalations = list(due.select_related("policy_version").order_by("next_at")[:STEP_BATCH])
        if not escalations:
            return 0, 0
        alerts = {
            a.id: a
            for a in Alert.objects.select_for_update(no_key=True)
            .filter(id__in=[e.alert_id for e in escalations])
            .order_by("id")
        }
        matchers: dict[int, SuppressionMatcher] = {}
        book = _PolicyBook(())  # chains only
        taking: list[tuple[AlertEscalation, Alert, list[Step]]] = []
        stopped = 0
        for escalation in escalations:
            alert = alerts[escalation.alert_id]
            version = escalation.policy_version
            chain = book.chain(version, alert.severity) if version else []
            reason = _stop_reason(alert, matchers, now)
            if not reason and escalation.next_step >= len(chain):
                reason = "the policy version is gone" if version is None else "every step taken"
            if reason:
                stop(escalation, reason, now)
                stopped += 1
            else:
                taking.append((escalation, alert, chain))
        steps = [chain[e.next_step] for e, _, chain in taking]
        targets = _Targets([a for _, a, _ in taking], steps, now)
        audit, events, pages = [], [], []
        for (escalation, alert, chain), step in zip(taking, steps, strict=True):
            people, channels, report = targets.resolve(alert, step)
            step_due_at = escalation.next_at or now
            pages.append(PageRequest(alert, step.index, people, channels, step_due_at))
            alert.status = Status.ESCALATED
            alert.escalation_level += 1
            alert.escalated_at = now
            alert.escalated_by = None
            alert.updated_at = now
            audit.append(_step_audit(alert, step, report, len(chain), escalation.next_at, now))
            events.append(alert_event("alert.updated", alert, actor_id=None))
            advance(escalation, chain, now)
        page_many(pages)
        if taking:
            Alert.objects.filter(id__in=[a.id for _, a, _ in taking]).update(
                status=Status.ESCALATED,
                escalation_level=F("escalation_level") + 1,
                escalated_at=now,
                escalated_by=None,
                updated_at=now,
            )
            record_many(audit)
            publish_on_commit(events)
        _queue_soon([e for e in escalations if e.state == EscalationState.ACTIVE], now)
        _save_escalations(escalations)
        return len(taking), stopped


_PG_TYPES = {
    "alert_id": "bigint",
    "next_step": "integer",
    "next_at": "timestamptz",
    "state": "varchar",
    "stop_reason": "varchar",
    "token": "integer",
    "queued_token": "integer",
    "updated_at": "timestamptz",
}


def _save_escalations(escalations: list[AlertEscalation]) -> None:
    """Write a batch's escalations in one statement. (Django's `bulk_update` builds a CASE per
    field per row: profiled at 2.0 of a 2.8 s sweep taking 500 steps.)"""
    columns = ["alert_id", *ESCALATION_FIELDS]
    rows = [[getattr(e, c) for c in columns] for e in escalations]
    table = AlertEscalation._meta.db_table
    sets = ", ".join(f"{c} = v.{c}" for c in ESCALATION_FIELDS)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{_PG_TYPES[c]}[]" for c in columns)
        sql_rows.pg_execute(
            f"UPDATE {table} SET {sets} FROM unnest({arrays})"  # noqa: S608 (identifiers from the model)
            f" AS v({', '.join(columns)}) WHERE {table}.alert_id = v.alert_id",
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    with connection.cursor() as cursor:
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            sets = ", ".join(
                f"{c} = (SELECT v.{c} FROM v WHERE v.alert_id = {table}.alert_id)"  # noqa: S608
                for c in ESCALATION_FIELDS
            )
            cursor.execute(
                f"WITH v({', '.join(columns)}) AS (VALUES {', '.join([row_sql] * len(chunk))})"  # noqa: S608
                f" UPDATE {table} SET {sets} WHERE alert_id IN (SELECT alert_id FROM v)",
                [
                    connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
                    for row in chunk
                    for v in row
                ],
            )


def _step_audit(alert, step: Step, report, chain_length, due_at, now) -> dict:
    return {
        "action": Action.ESCALATION_STEP,
        "tenant": alert.tenant_id,
        "entity": alert,
        "details": {
            "step": step.index + 1,
            "of": chain_length,
            "round": step.round + 1,
            "level": alert.escalation_level,
            "targets": report,
            "due_at": due_at.isoformat() if due_at else None,
            "late_ms": round((now - due_at).total_seconds() * 1000) if due_at else None,
        },
    }


def take_due_steps(now: datetime) -> tuple[int, int]:
    """Take every step due at `now`, batch after batch; (steps taken, chains stopped)."""
    taken = stopped = 0
    while True:
        t, s = _take_batch(None, now)
        taken, stopped = taken + t, stopped + s
        if t + s < STEP_BATCH:
            return taken, stopped


def take_step_if_current(alert_id: int, token: int) -> bool:
    """The timed task's body: take every step due by now.

    One task stands for all the steps falling due in its slot of `SLOT` (see `_queue_soon`):
    it takes them in batches of STEP_BATCH, whichever alert it was queued for. The alert and
    token it carries only tell whether it ran early (a clock, a restart): then it comes back
    at its step's time. A task whose escalation moved on (a step taken, an acknowledgement)
    takes whatever else is due, so nothing waits for the next sweep, and never a step early.
    """
    now = timezone.now()
    row = (
        AlertEscalation.objects.filter(alert_id=alert_id, token=token, state=EscalationState.ACTIVE)
        .values_list("next_at", flat=True)
        .first()
    )
    if row is not None and row > now:
        enqueue(TAKE_STEP_TASK, alert_id, token, eta=row)
        return False
    taken, stopped = take_due_steps(now)
    return bool(taken or stopped)


# --- 3. queueing -------------------------------------------------------------------------------
def _queue_soon(escalations: Iterable[AlertEscalation], now: datetime) -> None:
    """Queue timed tasks for the escalations whose step falls due within LOOKAHEAD and has none
    yet (the caller saves `queued_token`): one task per SLOT, at the last step due in it, since
    a task takes every step due (1,700 steps due in the next minute were 1,700 broker messages,
    ~1 ms each; now at most LOOKAHEAD / SLOT)."""
    horizon = now + LOOKAHEAD
    slots: dict[int, AlertEscalation] = {}
    for escalation in escalations:
        if (
            escalation.next_at is not None
            and escalation.next_at <= horizon
            and escalation.queued_token != escalation.token
        ):
            escalation.queued_token = escalation.token
            slot = int(escalation.next_at.timestamp() // SLOT.total_seconds())
            last = slots.get(slot)
            if last is None or escalation.next_at > (last.next_at or escalation.next_at):
                slots[slot] = escalation
    enqueue_many(TAKE_STEP_TASK, [((e.alert_id, e.token), e.next_at) for e in slots.values()])


def queue_upcoming(now: datetime) -> int:
    """Queue a timed task for every step due within the next minute that has none yet (the
    sweep runs more often than that, so each step has its task queued before it falls due,
    and only once)."""
    with transaction.atomic():
        upcoming = list(
            AlertEscalation.objects.select_for_update(skip_locked=True)
            .filter(state=EscalationState.ACTIVE, next_at__gt=now, next_at__lte=now + LOOKAHEAD)
            .exclude(queued_token=F("token"))
            .only("alert_id", "token", "queued_token", "next_at")
        )
        if upcoming:
            _queue_soon(upcoming, now)
            AlertEscalation.objects.filter(pk__in=[e.pk for e in upcoming]).update(
                queued_token=F("token")
            )
    return len(upcoming)


def sweep(now: datetime | None = None) -> dict:
    """The periodic job: open new escalations, take due steps, queue the coming ones."""
    now = now or timezone.now()
    ensure_default_policies()
    opened = open_escalations(now)
    taken, stopped = take_due_steps(now)
    queued = queue_upcoming(now)
    return {"opened": opened, "steps": taken, "stopped": stopped, "queued": queued}


# --- the Escalate action -----------------------------------------------------------------------
def _escalation_of(alert: Alert, now: datetime) -> AlertEscalation:
    """The alert's escalation row, locked; opened now (frozen chain) if it had none."""
    escalation = (
        AlertEscalation.objects.select_for_update(of=("self",))
        .select_related("policy_version")
        .filter(alert_id=alert.id)
        .first()
    )
    if escalation is not None:
        return escalation
    ensure_default_policy(alert.tenant_id)
    book = _PolicyBook([alert.tenant_id])
    row = _new_escalation(
        {
            "id": alert.id,
            "tenant_id": alert.tenant_id,
            "client_id": alert.client_id,
            "severity": alert.severity,
            "first_seen_at": alert.first_seen_at,
            "created_at": alert.created_at,
        },
        book,
        now,
    )
    escalation = AlertEscalation(**dict(zip(_INSERT_COLUMNS, row, strict=True)))
    escalation.save(force_insert=True)
    return AlertEscalation.objects.select_related("policy_version").get(pk=escalation.pk)


@transaction.atomic
def escalate_now(alert: Alert, *, actor, note: str = "") -> Alert:
    """The Escalate action: take the alert's next step now and notify its targets.

    Past the last step, the last one is taken again (someone asked for more help: they get
    paged again rather than nobody). While the alert stays unacknowledged the chain goes on
    from there with the next step's delay.
    """
    require_capability(actor, Capability.ESCALATE)
    note = clean_note(note)
    alert = Alert.objects.select_for_update(no_key=True).get(pk=alert.pk)
    if alert.status not in ESCALATABLE:
        raise IllegalTransition("escalate", alert.status)
    now = timezone.now()
    escalation = _escalation_of(alert, now)
    version = escalation.policy_version
    chain = chain_for(version, alert.severity) if version else []
    step = None
    report: list = []
    if chain:
        step = chain[min(escalation.next_step, len(chain) - 1)]
        people, channels, report = _Targets([alert], [step], now).resolve(alert, step)
        page(alert, step=step.index, recipients=people, channels=channels, due_at=now)
    previous = alert.status
    alert.status = Status.ESCALATED
    alert.escalation_level += 1
    alert.escalated_at = now
    alert.escalated_by = actor
    alert.updated_at = now
    alert.save(
        update_fields=["status", "escalation_level", "escalated_at", "escalated_by", "updated_at"]
    )
    if step is not None:
        escalation.state = EscalationState.ACTIVE
        escalation.next_step = step.index
        advance(escalation, chain, now)
        if alert.acknowledged_at is not None and escalation.state == EscalationState.ACTIVE:
            stop(escalation, "acknowledged", now)
        _queue_soon([escalation], now)
        escalation.save(update_fields=ESCALATION_FIELDS)
    record(
        Action.ESCALATE,
        actor=actor,
        tenant=alert.tenant_id,
        entity=alert,
        details={
            "from": previous,
            "level": alert.escalation_level,
            "note": mask_text(note),
            "step": step.index + 1 if step else None,
            "targets": report,
        },
    )
    publish_on_commit([alert_event("alert.updated", alert, actor_id=actor.id)])
    return alert


# --- the Reopen action -------------------------------------------------------------------------
@transaction.atomic
def reopen(alert: Alert, *, actor, note: str = "") -> Alert:
    """Reopen a resolved alert (`alerts.services.reopen_alert`: NEW, nobody has it) and start
    its escalation again: the policy version in force now, the first step its delay after now
    (timed from the first sighting it would page at once). The row keeps its token sequence,
    so a task queued for the alert's first life finds a token that no longer matches."""
    alert = reopen_alert(alert, actor=actor, note=note)
    now = timezone.now()
    ensure_default_policy(alert.tenant_id)
    row = _new_escalation(
        {
            "id": alert.id,
            "tenant_id": alert.tenant_id,
            "client_id": alert.client_id,
            "severity": alert.severity,
            "first_seen_at": now,
            "created_at": now,
        },
        _PolicyBook([alert.tenant_id]),
        now,
    )
    fresh = dict(zip(_INSERT_COLUMNS, row, strict=True))
    escalation = (
        AlertEscalation.objects.select_for_update(of=("self",)).filter(alert_id=alert.id).first()
    )
    if escalation is None:
        AlertEscalation(**fresh).save(force_insert=True)
        return alert
    for name in ("policy_version_id", "next_step", "next_at", "state", "stop_reason"):
        setattr(escalation, name, fresh[name])
    escalation.token += 1
    escalation.updated_at = now
    escalation.save(update_fields=[*ESCALATION_FIELDS, "policy_version"])
    return alert


# The pieces an escalation of something other than one alert reuses (incidents.paging: an
# incident pages through its policy once, for its alerts): the policy versions of a batch of
# tenants, and a step's targets resolved to people and channels for anything placed like an
# alert (tenant_id, client_id, site_id).
PolicyBook = _PolicyBook
Targets = _Targets
