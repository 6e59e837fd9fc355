"""The daily `retention.enforce` job: every tenant's rows past their period, deleted in bounded
batches, and the platform's own rows by settings.

How a batch runs (`delete_in_batches`), so that the job never slows ingestion much:
- one short transaction per batch of `BATCH` rows; at most `MAX_BATCHES` batches per kind and
  tenant per run (the next run continues: the result says `unfinished`);
- the batch's rows are found by a keyset walk (the rows after the last batch's, in the order of
  an index: primary key, or `resolved_at` for alerts) instead of sorting every remaining
  candidate again for each batch;
- set-based SQL, dependents first: for each relation to the batch's rows (Django's own list of
  them, hidden `related_name="+"` ones included) one DELETE (CASCADE, recursing into the
  dependents' own dependents) or UPDATE … SET NULL (SET_NULL), then one DELETE of the rows; no
  row is loaded into Python. A model whose deletion needs Python (delete signals, PROTECT or
  RESTRICT, a generic relation) goes through the ORM's collector instead;
- on PostgreSQL each batch sets `lock_timeout` and `statement_timeout` for its own transaction
  (`SET LOCAL`): a batch that would wait on a row the ingestion fold holds gives up instead, the
  kind is left for the next run (`skipped`, a warning, no error); and `synchronous_commit` off
  (a deletion lost in a crash is done again by the next run);
- a duty-cycle cap: after each batch the job sleeps so that batches take at most
  `RETENTION_DUTY` of its wall time (a batch that took t seconds is followed by a pause of
  t·(1−duty)/duty): the daily job has hours, ingestion keeps the CPU and the WAL.

What each kind removes (the tenant's `RetentionPolicy`, or the defaults in models.KINDS):
- resolved alerts: RESOLVED and resolved longer ago than the period. Active alerts (open or
  suppressed) never; an alert still a member of an incident stays until that incident goes.
- closed incidents: RESOLVED or CLOSED, closed (or resolved) longer ago than the period; their
  timeline, responders, status updates and memberships go with them.
- notification deliveries: finished (sent, failed, cancelled, unreachable) and created longer
  ago than the period; pending ones never.
- feed records: closed tickets, completed or cancelled work orders, retired devices not heard of
  within the period, attendance of shifts that ended, geofence events.
- KPI snapshots: windows ended longer ago than the period. On PostgreSQL whole monthly
  partitions are dropped first where every tenant's period has passed (a partition holds every
  tenant's rows); the rows left past a tenant's own period go in batches.
- audit: by age only, through audit.services (the database trigger lets only that path delete).

Each tenant's deletions are recorded in its audit log (`retention.purge`, counts only).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.db.models import CASCADE, DO_NOTHING, SET_NULL, Exists, Model, OuterRef, Q, QuerySet
from django.db.models import signals as model_signals
from django.db.models.deletion import get_candidate_relations_to_delete
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from watchfloor.alerts.models import Alert, Status
from watchfloor.audit import services as audit
from watchfloor.audit.models import Action
from watchfloor.incidents.models import OPEN_INCIDENT_STATUSES, Incident, IncidentAlert
from watchfloor.oncall.models import Delivery, DeliveryStatus
from watchfloor.operations.models import (
    TICKET_OPEN_STATUSES,
    WORK_ORDER_OPEN_STATUSES,
    AttendanceRecord,
    Device,
    DeviceStatus,
    GeofenceEvent,
    Ticket,
    WorkOrder,
)
from watchfloor.snapshots import metrics, rollups
from watchfloor.snapshots.models import DEFAULTS, KpiSnapshot, RetentionPolicy
from watchfloor.tenancy.models import Tenant

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 1_000
MAX_BATCHES = 200  # per kind and tenant per run: 200,000 rows; the next run takes the rest
MAX_PAUSE = 30.0  # seconds: the longest pause after one batch, whatever it took
CHUNK = 1_000  # ids per statement when a batch's dependents are many (SQLite's variable limit)

# Where the KPI snapshots table offers to drop whole monthly partitions (PostgreSQL; on SQLite
# it drops nothing and the rows go in batches like any other kind).
DROP_PARTITIONS = "watchfloor.snapshots.partitions.drop_partitions_before"

FINISHED_DELIVERIES = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.UNREACHABLE,
)


@dataclass
class Pace:
    """How hard the job may push: the share of its wall time spent in batches (`duty`, 0 < duty
    ≤ 1; 1 = no pause), and each batch's timeouts on PostgreSQL (milliseconds; 0 = none).
    `clock` and `sleep` are injectable (tests count the pauses without waiting)."""

    duty: float = 1.0
    lock_timeout_ms: int = 0
    statement_timeout_ms: int = 0
    max_pause: float = MAX_PAUSE
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    busy: float = 0.0  # seconds spent in batches (for the run's result)
    paused: float = 0.0  # seconds slept between them
    last_batch: float = 0.0  # seconds the last batch took

    @classmethod
    def from_settings(cls) -> Pace:
        return cls(
            duty=settings.RETENTION_DUTY,
            lock_timeout_ms=settings.RETENTION_LOCK_TIMEOUT_MS,
            statement_timeout_ms=settings.RETENTION_STATEMENT_TIMEOUT_MS,
        )

    def pause_for(self, busy: float) -> float:
        if self.duty >= 1 or busy <= 0:
            return 0.0
        return min(self.max_pause, busy * (1 - self.duty) / self.duty)

    def timed(self, work: Callable[[], T]) -> T:
        """Run one batch; returns what `work` returns. Counts its time."""
        start = self.clock()
        try:
            return work()
        finally:
            self.last_batch = max(0.0, self.clock() - start)
            self.busy += self.last_batch

    def rest(self) -> None:
        """The pause after a batch, from the time it took (called before the next one)."""
        pause = self.pause_for(self.last_batch)
        if pause > 0:
            self.paused += pause
            self.sleep(pause)


@dataclass
class Outcome:
    deleted: int = 0
    batches: int = 0
    more: bool = False  # the cap was reached, or a batch gave up: the next run continues
    skipped: bool = False  # a batch gave up (lock or statement timeout, a concurrent change)


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    unfinished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: Outcome) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + outcome.deleted
        self.batches += outcome.batches
        if outcome.more and kind not in self.unfinished:
            self.unfinished.append(kind)
        if outcome.skipped and kind not in self.skipped:
            self.skipped.append(kind)

    def merge(self, other: Report) -> None:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        self.batches += other.batches
        self.unfinished.extend(k for k in other.unfinished if k not in self.unfinished)
        self.skipped.extend(k for k in other.skipped if k not in self.skipped)


# --- set-based deletion ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dependent:
    model: type[Model]
    column: str  # the referencing column on `model`
    set_null: bool  # SET_NULL; else CASCADE (DO_NOTHING relations are left out)


def _has_delete_signals(model: type[Model]) -> bool:
    return any(
        signal.has_listeners(model)
        for signal in (model_signals.pre_delete, model_signals.post_delete)
    )


_planning: set[type[Model]] = set()


@cache
def sql_plan(model: type[Model]) -> tuple[_Dependent, ...] | None:
    """The relations to clear before deleting rows of `model` in SQL, or None when deleting
    them needs the ORM's collector (a delete signal, PROTECT/RESTRICT/SET_DEFAULT, a relation to
    a column other than the primary key, a generic relation, a cycle of cascades) — here or in
    a dependent."""
    if model in _planning:  # a cycle of cascades: the collector knows how
        return None
    _planning.add(model)
    try:
        return _plan(model)
    finally:
        _planning.discard(model)


def _plan(model: type[Model]) -> tuple[_Dependent, ...] | None:
    if _has_delete_signals(model):
        return None
    if any(hasattr(f, "bulk_related_objects") for f in model._meta.private_fields):
        return None
    plan = []
    pk_column = model._meta.pk.column if model._meta.pk is not None else None
    for rel in get_candidate_relations_to_delete(model._meta):
        on_delete = getattr(rel, "on_delete", None)
        if on_delete is DO_NOTHING:
            continue
        fk: Any = getattr(rel, "field", None)
        child = rel.related_model
        if fk is None or child is None or not isinstance(child, type):
            return None
        if fk.target_field.column != pk_column or not fk.column:
            return None
        if on_delete is CASCADE:
            if child is model or sql_plan(child) is None:
                return None
            plan.append(_Dependent(child, fk.column, set_null=False))
        elif on_delete is SET_NULL:
            plan.append(_Dependent(child, fk.column, set_null=True))
        else:
            return None
    return tuple(plan)


def _chunks(ids: Sequence, size: int = CHUNK):
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _in(column: str, ids: list) -> tuple[str, list]:
    """`column IN (…)` for these ids: one array parameter on PostgreSQL."""
    quoted = connection.ops.quote_name(column)
    if connection.vendor == "postgresql":
        return f"{quoted} = ANY(%s)", [ids]
    return f"{quoted} IN ({', '.join(['%s'] * len(ids))})", ids


def _pk_column(model: type[Model]) -> str:
    pk = model._meta.pk
    assert pk is not None and pk.column
    return pk.column


def delete_rows(model: type[Model], ids: Sequence) -> int:
    """Delete these rows of `model` (primary keys) and what belongs to them, dependents first,
    one statement per relation and chunk; inside the caller's transaction. Returns the rows of
    `model` deleted."""
    plan = sql_plan(model)
    if plan is None:
        model._base_manager.filter(pk__in=list(ids)).delete()
        return len(ids)
    table = connection.ops.quote_name(model._meta.db_table)
    pk = _pk_column(model)
    deleted = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(ids):
            for dep in plan:
                dep_table = connection.ops.quote_name(dep.model._meta.db_table)
                where, params = _in(dep.column, chunk)
                if dep.set_null:
                    column = connection.ops.quote_name(dep.column)
                    cursor.execute(
                        f"UPDATE {dep_table} SET {column} = NULL WHERE {where}",  # noqa: S608
                        params,
                    )
                elif sql_plan(dep.model):  # it has dependents of its own: their ids first
                    dep_pk = connection.ops.quote_name(_pk_column(dep.model))
                    cursor.execute(f"SELECT {dep_pk} FROM {dep_table} WHERE {where}", params)  # noqa: S608
                    found = [row[0] for row in cursor.fetchall()]
                    if found:
                        delete_rows(dep.model, found)
                else:
                    cursor.execute(f"DELETE FROM {dep_table} WHERE {where}", params)  # noqa: S608
            where, params = _in(pk, chunk)
            cursor.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
            deleted += cursor.rowcount
    return deleted


def _batch_settings(pace: Pace) -> None:
    """PostgreSQL: this transaction's timeouts, and no wait for the WAL flush at its commit."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true),"
            " set_config('statement_timeout', %s, true),"
            " set_config('synchronous_commit', 'off', true)",
            [f"{max(0, pace.lock_timeout_ms)}ms", f"{max(0, pace.statement_timeout_ms)}ms"],
        )


def delete_in_batches(
    rows: QuerySet,
    *,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    pace: Pace | None = None,
    order: str = "pk",
) -> Outcome:
    """Delete `rows` a batch at a time, each batch its own short transaction: the next rows in
    `order` (a field an index of the table leads with, after the filter's equalities; ties
    broken by primary key) after the last batch's, their dependents first, then them
    (`delete_rows`); stops after `max_batches`. A batch that times out waiting for a lock or
    runs past its statement timeout (PostgreSQL), or meets a concurrent change (a foreign key
    another transaction added to a row of the batch), is rolled back: the kind stops here,
    `skipped`, and the next run retries it."""
    pace = pace or Pace()
    model = rows.model
    outcome = Outcome()
    last: tuple | None = None  # (order value, pk) of the last row of the last batch

    def next_ids() -> list[tuple]:
        page = rows
        if last is not None:
            value, pk = last
            if order == "pk":
                page = page.filter(pk__gt=pk)
            else:
                page = page.filter(**{f"{order}__gte": value}).exclude(
                    **{order: value, "pk__lte": pk}
                )
        fields = ("pk",) if order == "pk" else (order, "pk")
        return list(page.order_by(*fields).values_list(*fields)[:batch])

    def one_batch() -> int:
        nonlocal last
        with transaction.atomic():
            _batch_settings(pace)
            found = next_ids()
            if not found:
                return 0
            delete_rows(model, [row[-1] for row in found])
        last = (found[-1][0], found[-1][-1])
        return len(found)

    while outcome.batches < max_batches:
        if outcome.batches:
            pace.rest()
        try:
            n = pace.timed(one_batch)
        except (OperationalError, IntegrityError) as exc:
            # lock_timeout, statement_timeout, or a row the batch held gained a reference
            logger.warning(
                "retention: a batch of %s gave up (%s: %s); the next run retries it",
                model._meta.label_lower,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            metrics.SKIPPED.labels(model._meta.label_lower).inc()
            outcome.more = outcome.skipped = True
            return outcome
        if not n:
            return outcome
        outcome.deleted += n
        outcome.batches += 1
        if n < batch:
            return outcome
    outcome.more = rows.exists()
    return outcome


def policies() -> dict[int, dict[str, int]]:
    """Every tenant's periods, by tenant id (the defaults where a tenant has no policy)."""
    found = {p.tenant_id: p.days() for p in RetentionPolicy.objects.all()}
    return {
        tid: found.get(tid, dict(DEFAULTS)) for tid in Tenant.objects.values_list("id", flat=True)
    }


def resolved_alerts(tenant_id: int, cutoff: datetime) -> QuerySet:
    in_incident = IncidentAlert.objects.filter(alert_id=OuterRef("pk"), left_at__isnull=True)
    return Alert.objects.filter(
        tenant_id=tenant_id, status=Status.RESOLVED, resolved_at__lt=cutoff
    ).exclude(Exists(in_incident))


def closed_incidents(tenant_id: int, cutoff: datetime) -> QuerySet:
    return (
        Incident.objects.filter(tenant_id=tenant_id)
        .exclude(status__in=OPEN_INCIDENT_STATUSES)
        .alias(ended=Coalesce("closed_at", "resolved_at", "updated_at"))
        .filter(ended__lt=cutoff)
    )


def deliveries(tenant_id: int, cutoff: datetime) -> QuerySet:
    return Delivery.objects.filter(
        tenant_id=tenant_id, status__in=FINISHED_DELIVERIES, created_at__lt=cutoff
    )


def feed_records(tenant_id: int, cutoff: datetime) -> dict[str, QuerySet]:
    return {
        "tickets": Ticket.objects.filter(tenant_id=tenant_id, received_at__lt=cutoff).exclude(
            status__in=TICKET_OPEN_STATUSES
        ),
        "work_orders": WorkOrder.objects.filter(
            tenant_id=tenant_id, received_at__lt=cutoff
        ).exclude(status__in=WORK_ORDER_OPEN_STATUSES),
        "devices": Device.objects.filter(
            tenant_id=tenant_id, status=DeviceStatus.RETIRED, received_at__lt=cutoff
        ).filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff)),
        "attendance": AttendanceRecord.objects.filter(tenant_id=tenant_id, shift_end__lt=cutoff),
        "geofence_events": GeofenceEvent.objects.filter(
            tenant_id=tenant_id, occurred_at__lt=cutoff
        ),
    }


def drop_snapshot_partitions(periods: dict[int, dict[str, int]], now: datetime) -> int:
    """Drop the monthly partitions that lie wholly past every tenant's snapshot period (a
    partition holds every tenant's rows); 0 where the table is not partitioned."""
    if not periods:
        return 0
    try:
        drop = import_string(DROP_PARTITIONS)
    except ImportError:
        return 0
    longest = max(days["snapshots_days"] for days in periods.values())
    try:
        with transaction.atomic():
            return len(drop(now - timedelta(days=longest)) or ())
    except DatabaseError as exc:
        # the application's role may not own the table (operations.md, "Retention"): the rows
        # go in batches instead, like on SQLite
        logger.warning("retention: snapshot partitions not dropped (%s)", type(exc).__name__)
        return 0


def purge_audit(
    cutoff: datetime, tenant_id: int | None, *, batch: int, max_batches: int, pace: Pace
) -> Outcome:
    """Audit past `cutoff` (by age only, through audit.services), a batch at a time at the
    job's pace."""
    outcome = Outcome()
    while outcome.batches < max_batches:
        if outcome.batches:
            pace.rest()
        removed, more = pace.timed(
            lambda: audit.purge_older(cutoff, tenant_id=tenant_id, batch_size=batch, max_batches=1)
        )
        outcome.deleted += removed
        outcome.more = more
        if not removed:
            break
        outcome.batches += 1
        if not more:
            break
    return outcome


def enforce_tenant(
    tenant_id: int,
    days: dict[str, int],
    *,
    now: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    pace: Pace | None = None,
) -> Report:
    """One tenant's rows past its periods; records what went in its audit log."""
    report = Report()
    pace = pace or Pace()

    def cutoff(field_name: str) -> datetime:
        return now - timedelta(days=days[field_name])

    def run(kind: str, rows: QuerySet, order: str = "pk") -> None:
        outcome = delete_in_batches(
            rows, batch=batch, max_batches=max_batches, pace=pace, order=order
        )
        report.add(kind, outcome)
        if outcome.deleted:
            metrics.DELETED.labels(kind).inc(outcome.deleted)

    # incidents first: their alerts become deletable in the same run
    run("closed_incidents", closed_incidents(tenant_id, cutoff("closed_incidents_days")))
    # walked in the order of the (tenant, resolved_at) index: a tenant's old alerts, not every
    # tenant's rows in primary-key order
    run(
        "resolved_alerts",
        resolved_alerts(tenant_id, cutoff("resolved_alerts_days")),
        order="resolved_at",
    )
    run("deliveries", deliveries(tenant_id, cutoff("deliveries_days")))
    for kind, rows in feed_records(tenant_id, cutoff("feed_records_days")).items():
        run(kind, rows)
    # what the dropped partitions left: this tenant's rows of a month that straddles its cutoff,
    # or of every month where it keeps snapshots shorter than the longest period
    run(
        "kpi_snapshots",
        KpiSnapshot.objects.filter(tenant_id=tenant_id, window_end__lt=cutoff("snapshots_days")),
    )
    audit_outcome = purge_audit(
        cutoff("audit_days"), tenant_id, batch=batch, max_batches=max_batches, pace=pace
    )
    report.add("audit", audit_outcome)
    if audit_outcome.deleted:
        metrics.DELETED.labels("audit").inc(audit_outcome.deleted)
    deleted = {kind: n for kind, n in report.counts.items() if n}
    if deleted:
        audit.record(
            Action.RETENTION_PURGE,
            tenant=tenant_id,
            entity_type="snapshots.retentionpolicy",
            details={"deleted": deleted, "unfinished": report.unfinished},
        )
    return report


def enforce_platform(
    *,
    now: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    pace: Pace | None = None,
) -> Report:
    """The platform's own growing rows, by settings: audit entries without a tenant, expired
    sessions, old sign-in throttling records (job runs and samples have their own jobs)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    report = Report()
    pace = pace or Pace()
    report.add(
        "platform_audit",
        purge_audit(
            now - timedelta(days=settings.AUDIT_PLATFORM_RETENTION_DAYS),
            None,
            batch=batch,
            max_batches=max_batches,
            pace=pace,
        ),
    )
    report.add(
        "sessions",
        delete_in_batches(
            Session.objects.filter(expire_date__lt=now),
            batch=batch,
            max_batches=max_batches,
            pace=pace,
        ),
    )
    signins = now - timedelta(days=settings.SIGNIN_RECORD_RETENTION_DAYS)
    for kind, model in (
        ("signin_attempts", AccessAttempt),
        ("signin_failures", AccessFailureLog),
        ("signin_log", AccessLog),
    ):
        report.add(
            kind,
            delete_in_batches(
                model.objects.filter(attempt_time__lt=signins),
                batch=batch,
                max_batches=max_batches,
                pace=pace,
            ),
        )
    return report


def enforce(
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    pace: Pace | None = None,
) -> dict:
    """Every tenant, then the platform; returns the counts deleted by kind, the batches run,
    the kinds the cap left unfinished and those a batch gave up on (the next run continues
    them), and the seconds spent in batches and in the duty cycle's pauses. `pace`: the
    settings' (RETENTION_DUTY and the timeouts) unless given."""
    now = now or timezone.now()
    pace = pace or Pace.from_settings()
    total = Report()
    periods = policies()
    dropped = drop_snapshot_partitions(periods, now)
    for tenant_id, days in periods.items():
        total.merge(
            enforce_tenant(
                tenant_id, days, now=now, batch=batch, max_batches=max_batches, pace=pace
            )
        )
    platform = enforce_platform(now=now, batch=batch, max_batches=max_batches, pace=pace)
    for kind, n in platform.counts.items():
        if n:
            metrics.DELETED.labels(kind).inc(n)
    total.merge(platform)
    metrics.RUNS.inc()
    return {
        **total.counts,
        "partitions_dropped": dropped,
        "batches": total.batches,
        "tenants": len(periods),
        "unfinished": len(total.unfinished),
        "skipped": len(total.skipped),
        "busy_s": round(pace.busy, 3),
        "paused_s": round(pace.paused, 3),
    }


# --- what the platform page says each table keeps ----------------------------------------------

JOB = "daily job retention.enforce"


def _policy(field_name: str, what: str = "") -> str:
    from watchfloor.snapshots.models import KIND_BY_FIELD

    kind = KIND_BY_FIELD[field_name]
    return (
        f"{what or kind.label}: per tenant, {kind.default} days by default "
        f"({kind.minimum}–{kind.maximum}, Settings → Retention); {JOB}"
    )


def _with(parent: str) -> str:
    return f"removed with its {parent}"


_ROLLUP_KEPT = (
    f"KPI snapshot rollups: the last {rollups.KEEP.days} days, older rows deleted by the job "
    "snapshots.refresh_views every 5 minutes"
)
CONFIGURATION = "configuration people keep (one row per thing configured): not pruned"
ESTATE = "the estate (tenants, clients, sites, people): not pruned, removed when deleted"


def table_retention() -> dict[str, str]:
    """Every table Watchfloor creates, by db_table: how long its rows are kept, as the code
    enforces it, or the bound that applies to a table nothing prunes (the platform page shows
    it; tests/snapshots check that no table is left out)."""
    kinds = {
        "alerts_alert": _policy(
            "resolved_alerts_days",
            "resolved alerts (active ones and those in a kept incident stay)",
        ),
        "alerts_alertcomment": _with("alert"),
        "alerts_stagedbatch": "deleted by the ingestion drainers once folded (seconds)",
        "oncall_alertescalation": _with("alert (one per alert)"),
        "incidents_incident": _policy("closed_incidents_days"),
        "incidents_incidentalert": _with("incident or alert"),
        "incidents_incidentresponder": _with("incident"),
        "incidents_incidentevent": _with("incident"),
        "incidents_incidentstatusupdate": _with("incident"),
        "incidents_incidentescalation": _with("incident (one per incident)"),
        "oncall_delivery": _policy("deliveries_days", "finished deliveries"),
        "oncall_acklinkuse": _with("delivery"),
        "operations_ticket": _policy("feed_records_days", "closed tickets"),
        "operations_workorder": _policy("feed_records_days", "completed/cancelled work orders"),
        "operations_device": _policy("feed_records_days", "retired devices"),
        "operations_attendancerecord": _policy("feed_records_days", "ended shifts"),
        "operations_geofenceevent": _policy("feed_records_days", "geofence events"),
        "snapshots_kpisnapshot": _policy(
            "snapshots_days", "KPI snapshots (monthly partitions dropped on PostgreSQL)"
        ),
        # derived from the snapshots by each snapshots.compute run (snapshots/rollups.py)
        "snapshots_kpi_total": _ROLLUP_KEPT,
        "snapshots_kpi_hourly": _ROLLUP_KEPT,
        "snapshots_client_health": "one row per client, its newest snapshot scored; "
        + _ROLLUP_KEPT,
        "audit_auditlog": _policy("audit_days", "audit, by age only")
        + f"; entries without a tenant {settings.AUDIT_PLATFORM_RETENTION_DAYS} days "
        "(WATCHFLOOR_AUDIT_PLATFORM_RETENTION_DAYS)",
        "django_session": f"expired sessions deleted by the {JOB}",
        "axes_accessattempt": f"{settings.SIGNIN_RECORD_RETENTION_DAYS} days "
        f"(WATCHFLOOR_SIGNIN_RECORD_RETENTION_DAYS, {JOB})",
        "axes_accessfailurelog": f"{settings.SIGNIN_RECORD_RETENTION_DAYS} days "
        f"(WATCHFLOOR_SIGNIN_RECORD_RETENTION_DAYS, {JOB})",
        "axes_accesslog": "not written (AXES_DISABLE_ACCESS_LOG); "
        f"{settings.SIGNIN_RECORD_RETENTION_DAYS} days otherwise ({JOB})",
        "axes_accessattemptexpiration": "one row per throttled attempt, removed with it",
        "django_admin_log": "platform operators' Django admin actions: not pruned "
        "(a few rows per admin change)",
        "django_migrations": "one row per migration",
        "django_content_type": "one row per model",
        "auth_permission": "one row per model permission",
        "auth_group": CONFIGURATION,
        "auth_group_permissions": CONFIGURATION,
        "jobs_joblease": "one row per scheduled job",
        "operations_heartbeat": "one row per heartbeat configured: not pruned",
        "operations_operationspolicy": "one row per tenant",
        "operations_feedrulesmark": "one row per tenant (where the feed rules' job left it)",
        "incidents_incidentpolicy": "one row per tenant",
        "snapshots_retentionpolicy": "one row per tenant",
        "dashboard_dashboardsettings": "one row per person",
        "maintenance_maintenancewindow": "windows people schedule: kept (not pruned)",
        "incidents_statuspagelink": CONFIGURATION,
        "incidents_clientcontact": CONFIGURATION,
        "alerts_runbook": CONFIGURATION,
        "access_apitoken": CONFIGURATION,
        "access_integrationkey": CONFIGURATION,
        "access_clientassignment": CONFIGURATION,
        "access_siteassignment": CONFIGURATION,
        "oncall_schedule": CONFIGURATION,
        "oncall_layer": CONFIGURATION,
        "oncall_layermember": CONFIGURATION,
        "oncall_override": "on-call overrides people enter: not pruned",
        "oncall_calendarfeed": CONFIGURATION,
        "oncall_escalationpolicy": CONFIGURATION,
        "oncall_policyversion": "one row per saved change of an escalation policy: not pruned",
        "oncall_contactmethod": CONFIGURATION,
        "oncall_notificationrule": CONFIGURATION,
        "oncall_teamchannel": CONFIGURATION,
        "reports_alertdayrollup": "reports' daily rollups: rows per tenant, day, place and type "
        "(grows by days, not by traffic); not pruned yet",
        "reports_responsedayrollup": "reports' daily rollups: rows per tenant, day and place "
        "(grows by days, not by traffic); not pruned yet",
        "reports_rollupstate": "one row per tenant",
        "tenancy_tenant": ESTATE,
        "tenancy_client": ESTATE,
        "tenancy_site": ESTATE,
        "tenancy_user": ESTATE,
        "tenancy_user_groups": ESTATE,
        "tenancy_user_user_permissions": ESTATE,
    }
    return kinds
