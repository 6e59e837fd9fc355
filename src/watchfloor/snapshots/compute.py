"""Compute the KPI snapshot of one 5-minute window for every client and site of every tenant.

Per tenant a fixed number of grouped queries, whatever its number of clients or sites: its
thresholds (OperationsPolicy), its active clients, their sites, then one `GROUP BY client, site`
aggregate each over open tickets, open work orders, shifts in progress, devices, the window's
geofence events and the open alerts. A site's row is its group; a client's row (site null) is
the sum of its sites' rows plus its records without a site. Rows are written with one bulk
insert after deleting the window's previous rows, in one transaction: computing a window again
replaces it (idempotent), and readers see the old rows or the new ones, never half. The same
transaction rolls the window into the tenant totals, its hour and the clients' health
(snapshots/rollups.py).

Definitions (docs/architecture.md "KPI snapshots"), all as of `window_end`:
- tickets open: status OPEN/IN_PROGRESS/ON_HOLD; overdue: open with `sla_due_at` < window_end;
- work orders open: not COMPLETED/CANCELLED (with the mix by status); overdue: open with
  `deadline_at` < window_end;
- attendance: shifts in progress (shift_start ≤ window_end < shift_end) but EXCUSED ones are
  expected; present/late/missing by their status;
- devices: not RETIRED; offline: status OFFLINE, or never seen, or silent longer than the
  tenant's threshold for its type; synced: `last_sync_at` within `sync_stale_minutes`;
  sync_health = 100 × synced / total (null without devices);
- geofence events/breaches: occurred in (window_end − 5 min, window_end];
- security anomalies: open SECURITY_ANOMALY, DEVICE_SPOOF and GEOFENCE_BREACH alerts; open
  alerts by severity.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from watchfloor.alerts.models import OPEN_STATUSES, Alert, BuiltinType, Severity
from watchfloor.operations.models import (
    TICKET_OPEN_STATUSES,
    WORK_ORDER_OPEN_STATUSES,
    AttendanceRecord,
    AttendanceStatus,
    Device,
    DeviceStatus,
    GeofenceEvent,
    GeofenceEventKind,
    OperationsPolicy,
    Priority,
    Ticket,
    WorkOrder,
    WorkOrderStatus,
)
from watchfloor.snapshots import partitions, rollups
from watchfloor.snapshots.models import COUNT_MEASURES, WINDOW, KpiSnapshot
from watchfloor.tenancy.models import Client, Site, Tenant

SECURITY_TYPES = (
    BuiltinType.SECURITY_ANOMALY,
    BuiltinType.DEVICE_SPOOF,
    BuiltinType.GEOFENCE_BREACH,
)
BATCH = 2_000


def window_end_of(at: datetime) -> datetime:
    """The end of the 5-minute window `at` falls in (a window ending exactly at `at` is it)."""
    at = at.astimezone(UTC)
    floored = at.replace(minute=at.minute - at.minute % WINDOW, second=0, microsecond=0)
    return floored if floored == at else floored + timedelta(minutes=WINDOW)


def latest_closed_window(now: datetime | None = None) -> datetime:
    """The newest window that has ended by `now`."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(minute=now.minute - now.minute % WINDOW, second=0, microsecond=0)


def _n(**q) -> Count:
    return Count("id", filter=Q(**q))


def _grouped(qs, **aggregates):
    return qs.values("client_id", "site_id").order_by().annotate(**aggregates)


def _policy(tenant_id: int) -> OperationsPolicy:
    found = OperationsPolicy.objects.filter(tenant_id=tenant_id).first()
    return found or OperationsPolicy(tenant_id=tenant_id)


def _offline(policy: OperationsPolicy, end: datetime) -> Q:
    by_type = {
        t: m
        for t, m in (policy.device_silence_by_type or {}).items()
        if isinstance(m, int) and m > 0
    }
    silent = Q()
    for device_type, minutes in by_type.items():
        silent |= Q(device_type=device_type, last_seen_at__lt=end - timedelta(minutes=minutes))
    default = Q(last_seen_at__lt=end - timedelta(minutes=policy.device_silence_minutes))
    if by_type:
        default &= ~Q(device_type__in=list(by_type))
    return Q(status=DeviceStatus.OFFLINE) | Q(last_seen_at__isnull=True) | silent | default


def _tenant_groups(tenant_id: int, end: datetime) -> list[list[dict]]:
    return [list(qs) for qs in _tenant_queries(tenant_id, end)]


def _tenant_queries(tenant_id: int, end: datetime) -> list:
    """The grouped queries of one tenant's window (not evaluated): one per feed and alerts."""
    policy = _policy(tenant_id)
    tickets = Ticket.objects.filter(tenant_id=tenant_id, status__in=TICKET_OPEN_STATUSES)
    overdue = {"sla_due_at__lt": end}
    ticket_counts = {}
    for p in Priority:
        key = p.value.lower()
        ticket_counts[f"tickets_open_{key}"] = _n(priority=p)
        ticket_counts[f"tickets_overdue_{key}"] = _n(priority=p, **overdue)
    work_orders = WorkOrder.objects.filter(tenant_id=tenant_id, status__in=WORK_ORDER_OPEN_STATUSES)
    shifts = AttendanceRecord.objects.filter(
        tenant_id=tenant_id, shift_start__lte=end, shift_end__gt=end
    )
    devices = Device.objects.filter(tenant_id=tenant_id).exclude(status=DeviceStatus.RETIRED)
    events = GeofenceEvent.objects.filter(
        tenant_id=tenant_id, occurred_at__gt=end - timedelta(minutes=WINDOW), occurred_at__lte=end
    )
    alerts = Alert.objects.filter(
        tenant_id=tenant_id, status__in=OPEN_STATUSES, client_id__isnull=False
    )
    stale = end - timedelta(minutes=policy.sync_stale_minutes)
    return [
        _grouped(tickets, **ticket_counts),
        _grouped(
            work_orders,
            work_orders_open=Count("id"),
            work_orders_overdue=_n(deadline_at__lt=end),
            work_orders_pending=_n(status=WorkOrderStatus.PENDING),
            work_orders_scheduled=_n(status=WorkOrderStatus.SCHEDULED),
            work_orders_in_progress=_n(status=WorkOrderStatus.IN_PROGRESS),
            work_orders_on_hold=_n(status=WorkOrderStatus.ON_HOLD),
        ),
        _grouped(
            shifts,
            attendance_expected=Count("id", filter=~Q(status=AttendanceStatus.EXCUSED)),
            attendance_present=_n(status=AttendanceStatus.PRESENT),
            attendance_late=_n(status=AttendanceStatus.LATE),
            attendance_missing=_n(status=AttendanceStatus.MISSING),
        ),
        _grouped(
            devices,
            devices_total=Count("id"),
            devices_offline=Count("id", filter=_offline(policy, end)),
            devices_synced=_n(last_sync_at__gte=stale),
        ),
        _grouped(
            events,
            geofence_events=Count("id"),
            geofence_breaches=_n(kind=GeofenceEventKind.BREACH),
        ),
        _grouped(
            alerts,
            security_anomalies=_n(type__in=SECURITY_TYPES),
            alerts_open_critical=_n(severity=Severity.CRITICAL),
            alerts_open_high=_n(severity=Severity.HIGH),
            alerts_open_medium=_n(severity=Severity.MEDIUM),
            alerts_open_low=_n(severity=Severity.LOW),
            alerts_open_info=_n(severity=Severity.INFO),
        ),
    ]


def _sync_health(row: dict) -> int | None:
    total = row["devices_total"]
    return (100 * row["devices_synced"]) // total if total else None


def tenant_rows(tenant_id: int, end: datetime, now: datetime) -> list[KpiSnapshot]:
    """The snapshot rows of one tenant's window (not saved): a row per site of every active
    client, and a row per active client."""
    clients = list(
        Client.objects.filter(tenant_id=tenant_id, active=True).values_list("id", flat=True)
    )
    sites = list(
        Site.objects.filter(tenant_id=tenant_id, client_id__in=clients).values(
            "id", "client_id", "city", "state", "officer_in_charge_id"
        )
    )
    zero = dict.fromkeys(COUNT_MEASURES, 0)
    by_site: dict[int, dict] = {s["id"]: dict(zero) for s in sites}
    by_client: dict[int, dict] = {c: dict(zero) for c in clients}
    site_client = {s["id"]: s["client_id"] for s in sites}
    for groups in _tenant_groups(tenant_id, end):
        for group in groups:
            client_id, site_id = group.pop("client_id"), group.pop("site_id")
            if client_id not in by_client:
                continue  # an inactive client's records
            targets = [by_client[client_id]]
            if site_id is not None and site_client.get(site_id) == client_id:
                targets.append(by_site[site_id])
            for row in targets:
                for name, value in group.items():
                    row[name] += value
    rows = []
    common = {"tenant_id": tenant_id, "window_end": end, "computed_at": now}
    for client_id, measures in by_client.items():
        rows.append(
            KpiSnapshot(
                **common,
                client_id=client_id,
                site_id=None,
                **measures,
                sync_health=_sync_health(measures),
            )
        )
    for site in sites:
        measures = by_site[site["id"]]
        rows.append(
            KpiSnapshot(
                **common,
                client_id=site["client_id"],
                site_id=site["id"],
                city=site["city"],
                state=site["state"],
                officer_in_charge_id=site["officer_in_charge_id"],
                **measures,
                sync_health=_sync_health(measures),
            )
        )
    return rows


def compute_window(
    window_end: datetime | None = None, *, tenant_ids: list[int] | None = None
) -> dict:
    """Compute (or recompute) one window for every tenant (or those given); counts."""
    now = timezone.now()
    end = window_end_of(window_end) if window_end is not None else latest_closed_window(now)
    partitions.ensure_partitions(end)
    if tenant_ids is None:
        tenant_ids = list(Tenant.objects.order_by("id").values_list("id", flat=True))
    written = 0
    with transaction.atomic():
        rows: list[KpiSnapshot] = []
        for tenant_id in tenant_ids:
            rows.extend(tenant_rows(tenant_id, end, now))
        KpiSnapshot.objects.filter(window_end=end, tenant_id__in=tenant_ids)._raw_delete(
            KpiSnapshot.objects.db
        )
        KpiSnapshot.objects.bulk_create(rows, batch_size=BATCH)
        written = len(rows)
        rolled = rollups.roll_window(end, tenant_ids)
    return {
        "window_end": end.isoformat(),
        "tenants": len(tenant_ids),
        "rows": written,
        "rolled": rolled,
    }
