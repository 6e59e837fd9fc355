"""Operations feeds, read side: the records a user may see (`restrict(scope)`), filtered and paged.

Every list is one query for the page (client and site joined), plus the tenant's policy for the
device silence thresholds; pages are keyset on the id, newest first (`api.pagination`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from watchfloor.access.scope import scope_of
from watchfloor.api.pagination import Page, paginate
from watchfloor.operations.models import (
    TICKET_OPEN_STATUSES,
    WORK_ORDER_OPEN_STATUSES,
    AttendanceRecord,
    Device,
    DeviceStatus,
    FeedRecord,
    GeofenceEvent,
    OperationsPolicy,
    Ticket,
    WorkOrder,
)

MODELS: dict[str, type[FeedRecord]] = {
    "tickets": Ticket,
    "work_orders": WorkOrder,
    "devices": Device,
    "attendance": AttendanceRecord,
    "geofence_events": GeofenceEvent,
}


class InvalidFilter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class FeedFilters:
    client: int | None = None
    site: int | None = None
    status: list[str] | None = None
    priority: list[str] | None = None
    overdue: bool | None = None  # tickets: past SLA; work orders: past deadline
    silent: bool | None = None  # devices
    device_type: str = ""
    kind: list[str] | None = None  # geofence events
    since: datetime | None = None
    until: datetime | None = None


def records_for(user, kind: str) -> QuerySet:
    return MODELS[kind].objects.restrict(scope_of(user)).select_related("client", "site")


def access_record(user, kind: str, record_id: int):
    """The record, or the same 404 whether it is missing, another tenant's or out of scope."""
    try:
        return records_for(user, kind).get(pk=record_id)
    except (MODELS[kind].DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def csv_choices(value: str | None, choices, field: str) -> list[str] | None:
    """`"OPEN,ON_HOLD"` → the values, each one of `choices` (else InvalidFilter on `field`)."""
    if not value:
        return None
    items = [v.strip().upper() for v in value.split(",") if v.strip()]
    allowed = set(choices.values)
    for item in items:
        if item not in allowed:
            raise InvalidFilter(field, f"Use one or more of {', '.join(sorted(allowed))}.")
    return items


def ticket_overdue_q(now: datetime) -> Q:
    return Q(status__in=TICKET_OPEN_STATUSES, sla_due_at__lt=now)


def work_order_overdue_q(now: datetime) -> Q:
    return Q(status__in=WORK_ORDER_OPEN_STATUSES, deadline_at__lt=now)


def policy_of(tenant_id: int) -> OperationsPolicy:
    return OperationsPolicy.objects.filter(tenant_id=tenant_id).first() or OperationsPolicy(
        tenant_id=tenant_id
    )


def device_silent_q(policy: OperationsPolicy, now: datetime) -> Q:
    """Not retired and not seen (or never) within the silence threshold of its type."""
    by_type = {
        t: m
        for t, m in (policy.device_silence_by_type or {}).items()
        if isinstance(m, int) and m > 0
    }
    default_cut = now - timedelta(minutes=policy.device_silence_minutes)
    silent = Q(last_seen_at__isnull=True) | (
        ~Q(device_type__in=list(by_type)) & Q(last_seen_at__lt=default_cut)
    )
    for device_type, minutes in by_type.items():
        silent |= Q(device_type=device_type, last_seen_at__lt=now - timedelta(minutes=minutes))
    return silent & ~Q(status=DeviceStatus.RETIRED)


def is_silent(device: Device, policy: OperationsPolicy, now: datetime) -> bool:
    if device.status == DeviceStatus.RETIRED:
        return False
    if device.last_seen_at is None:
        return True
    return device.last_seen_at < now - timedelta(minutes=policy.silence_minutes(device.device_type))


def filtered(user, kind: str, f: FeedFilters, *, now: datetime | None = None) -> QuerySet:
    now = now or timezone.now()
    qs = records_for(user, kind)
    if f.client:
        qs = qs.filter(client_id=f.client)
    if f.site:
        qs = qs.filter(site_id=f.site)
    if f.status:
        qs = qs.filter(status__in=f.status)
    if f.priority and kind in ("tickets", "work_orders"):
        qs = qs.filter(priority__in=f.priority)
    if f.overdue is not None and kind in ("tickets", "work_orders"):
        q = ticket_overdue_q(now) if kind == "tickets" else work_order_overdue_q(now)
        qs = qs.filter(q) if f.overdue else qs.exclude(q)
    if kind == "devices":
        if f.device_type:
            qs = qs.filter(device_type=f.device_type)
        if f.silent is not None:
            q = device_silent_q(policy_of(user.tenant_id), now)
            qs = qs.filter(q) if f.silent else qs.exclude(q)
    if kind == "attendance":
        if f.since:
            qs = qs.filter(shift_start__gte=f.since)
        if f.until:
            qs = qs.filter(shift_start__lt=f.until)
    if kind == "geofence_events":
        if f.kind:
            qs = qs.filter(kind__in=f.kind)
        if f.since:
            qs = qs.filter(occurred_at__gte=f.since)
        if f.until:
            qs = qs.filter(occurred_at__lt=f.until)
    return qs


def record_page(user, kind: str, f: FeedFilters, *, cursor: str | None, limit: int | None) -> Page:
    """One page, newest first (by id)."""
    return paginate(filtered(user, kind, f), cursor=cursor, limit=limit, descending=True)


def counts(user, *, now: datetime | None = None) -> dict[str, int]:
    """Headline numbers for the Operations page, in the user's scope (one query per kind)."""
    now = now or timezone.now()
    scope = scope_of(user)
    tickets = Ticket.objects.restrict(scope)
    work_orders = WorkOrder.objects.restrict(scope)
    devices = Device.objects.restrict(scope)
    attendance = AttendanceRecord.objects.restrict(scope)
    t = tickets.aggregate(
        open=Count("id", filter=Q(status__in=TICKET_OPEN_STATUSES)),
        overdue=Count("id", filter=ticket_overdue_q(now)),
    )
    w = work_orders.aggregate(
        open=Count("id", filter=Q(status__in=WORK_ORDER_OPEN_STATUSES)),
        overdue=Count("id", filter=work_order_overdue_q(now)),
    )
    d = devices.aggregate(
        total=Count("id", filter=~Q(status=DeviceStatus.RETIRED)),
        silent=Count("id", filter=device_silent_q(policy_of(user.tenant_id), now)),
    )
    day_ago = now - timedelta(hours=24)
    a = attendance.filter(shift_start__gte=day_ago, shift_start__lt=now).aggregate(
        late=Count("id", filter=Q(status="LATE")),
        missing=Count("id", filter=Q(status="MISSING")),
    )
    return {
        "tickets_open": t["open"],
        "tickets_overdue": t["overdue"],
        "work_orders_open": w["open"],
        "work_orders_overdue": w["overdue"],
        "devices_total": d["total"],
        "devices_silent": d["silent"],
        "attendance_late_24h": a["late"],
        "attendance_missing_24h": a["missing"],
    }
