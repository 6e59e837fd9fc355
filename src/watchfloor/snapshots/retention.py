"""The daily `retention.enforce` job: every tenant's rows past their period, deleted in bounded
batches (one short transaction per batch, so no long lock; at most `MAX_BATCHES` batches per kind
and tenant per run, the next run continues), and the platform's own rows by settings.

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import DatabaseError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
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
from watchfloor.snapshots import metrics
from watchfloor.snapshots.models import DEFAULTS, KpiSnapshot, RetentionPolicy
from watchfloor.tenancy.models import Tenant

logger = logging.getLogger(__name__)

BATCH = 2_000
MAX_BATCHES = 100  # per kind and tenant per run: 200,000 rows; the next run takes the rest

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
class Outcome:
    deleted: int = 0
    batches: int = 0
    more: bool = False  # the cap was reached: the next run continues


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    unfinished: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: Outcome) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + outcome.deleted
        self.batches += outcome.batches
        if outcome.more and kind not in self.unfinished:
            self.unfinished.append(kind)


def delete_in_batches(
    rows: QuerySet, *, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> Outcome:
    """Delete `rows` a batch of ids at a time, each batch its own short transaction (cascades to
    the rows that belong to them); stops after `max_batches`."""
    model = rows.model
    outcome = Outcome()
    while outcome.batches < max_batches:
        with transaction.atomic():
            ids = list(rows.order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                return outcome
            model._base_manager.filter(pk__in=ids).delete()
        outcome.deleted += len(ids)
        outcome.batches += 1
        if len(ids) < batch:
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


def enforce_tenant(
    tenant_id: int,
    days: dict[str, int],
    *,
    now: datetime,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
) -> Report:
    """One tenant's rows past its periods; records what went in its audit log."""
    report = Report()

    def cutoff(field_name: str) -> datetime:
        return now - timedelta(days=days[field_name])

    def run(kind: str, rows: QuerySet) -> None:
        outcome = delete_in_batches(rows, batch=batch, max_batches=max_batches)
        report.add(kind, outcome)
        if outcome.deleted:
            metrics.DELETED.labels(kind).inc(outcome.deleted)

    # incidents first: their alerts become deletable in the same run
    run("closed_incidents", closed_incidents(tenant_id, cutoff("closed_incidents_days")))
    run("resolved_alerts", resolved_alerts(tenant_id, cutoff("resolved_alerts_days")))
    run("deliveries", deliveries(tenant_id, cutoff("deliveries_days")))
    for kind, rows in feed_records(tenant_id, cutoff("feed_records_days")).items():
        run(kind, rows)
    # what the dropped partitions left: this tenant's rows of a month that straddles its cutoff,
    # or of every month where it keeps snapshots shorter than the longest period
    run(
        "kpi_snapshots",
        KpiSnapshot.objects.filter(tenant_id=tenant_id, window_end__lt=cutoff("snapshots_days")),
    )
    removed, more = audit.purge_older(
        cutoff("audit_days"), tenant_id=tenant_id, batch_size=batch, max_batches=max_batches
    )
    report.add("audit", Outcome(removed, 0, more))
    if removed:
        metrics.DELETED.labels("audit").inc(removed)
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
    *, now: datetime, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> Report:
    """The platform's own growing rows, by settings: audit entries without a tenant, expired
    sessions, old sign-in throttling records (job runs and samples have their own jobs)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    report = Report()
    removed, more = audit.purge_older(
        now - timedelta(days=settings.AUDIT_PLATFORM_RETENTION_DAYS),
        tenant_id=None,
        batch_size=batch,
        max_batches=max_batches,
    )
    report.add("platform_audit", Outcome(removed, 0, more))
    report.add(
        "sessions",
        delete_in_batches(
            Session.objects.filter(expire_date__lt=now), batch=batch, max_batches=max_batches
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
            ),
        )
    return report


def enforce(
    *, now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> dict:
    """Every tenant, then the platform; returns the counts deleted by kind, the batches run and
    the kinds the cap left unfinished (the next run continues them)."""
    now = now or timezone.now()
    total = Report()
    periods = policies()
    dropped = drop_snapshot_partitions(periods, now)
    for tenant_id, days in periods.items():
        tenant_report = enforce_tenant(
            tenant_id, days, now=now, batch=batch, max_batches=max_batches
        )
        for kind, n in tenant_report.counts.items():
            total.counts[kind] = total.counts.get(kind, 0) + n
        total.batches += tenant_report.batches
        total.unfinished.extend(k for k in tenant_report.unfinished if k not in total.unfinished)
    platform = enforce_platform(now=now, batch=batch, max_batches=max_batches)
    for kind, n in platform.counts.items():
        total.counts[kind] = total.counts.get(kind, 0) + n
        if n:
            metrics.DELETED.labels(kind).inc(n)
    total.batches += platform.batches
    total.unfinished.extend(platform.unfinished)
    metrics.RUNS.inc()
    return {
        **total.counts,
        "partitions_dropped": dropped,
        "batches": total.batches,
        "tenants": len(periods),
        "unfinished": len(total.unfinished),
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
