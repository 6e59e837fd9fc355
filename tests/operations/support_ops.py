"""Factories for field records (straight to the ORM: these tests are about the rules, not the
upsert API)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone

from watchfloor.alerts.models import Alert, Status
from watchfloor.operations.models import (
    AttendanceRecord,
    AttendanceStatus,
    Device,
    DeviceStatus,
    GeofenceEvent,
    GeofenceEventKind,
    Priority,
    Ticket,
    TicketStatus,
    WorkOrder,
    WorkOrderStatus,
)

_seq = count(1)


def _base(estate, site_index: int, kw: dict) -> dict:
    now = timezone.now()
    site = estate.sites[site_index]
    return {
        "tenant": estate.tenant,
        "client_id": site.client_id,
        "site": site,
        "external_id": kw.pop("external_id", f"X-{next(_seq)}"),
        "received_at": now,
        "created_at": now,
    }


def ticket(estate, *, site=0, **kw) -> Ticket:
    now = timezone.now()
    fields = {
        "title": "Broken gate",
        "priority": Priority.P1,
        "status": TicketStatus.OPEN,
        "opened_at": now - timedelta(hours=5),
        "sla_due_at": now - timedelta(hours=1),
        "assignee_name": "Jane Secret",
    }
    fields.update(kw)
    return Ticket.objects.create(**_base(estate, site, fields), **fields)


def work_order(estate, *, site=0, **kw) -> WorkOrder:
    now = timezone.now()
    fields = {
        "title": "Replace camera",
        "status": WorkOrderStatus.PENDING,
        "deadline_at": now - timedelta(minutes=5),
    }
    fields.update(kw)
    return WorkOrder.objects.create(**_base(estate, site, fields), **fields)


def device(estate, *, site=0, **kw) -> Device:
    now = timezone.now()
    fields = {
        "name": "Gate camera",
        "device_type": "camera",
        "status": DeviceStatus.ONLINE,
        "last_seen_at": now,
        "last_sync_at": now,
    }
    fields.update(kw)
    return Device.objects.create(**_base(estate, site, fields), **fields)


def attendance(estate, *, site=0, **kw) -> AttendanceRecord:
    now = timezone.now()
    fields = {
        "person_ref": f"G-{next(_seq)}",
        "person_name": "John Private",
        "shift_start": now - timedelta(minutes=30),
        "shift_end": now + timedelta(hours=7),
        "status": AttendanceStatus.EXPECTED,
    }
    fields.update(kw)
    return AttendanceRecord.objects.create(**_base(estate, site, fields), **fields)


def geofence(estate, *, site=0, **kw) -> GeofenceEvent:
    fields = {
        "person_ref": "G-7",
        "kind": GeofenceEventKind.BREACH,
        "occurred_at": timezone.now() - timedelta(minutes=2),
        "distance_m": 250,
    }
    fields.update(kw)
    return GeofenceEvent.objects.create(**_base(estate, site, fields), **fields)


def alerts_of(estate, type_=None):
    rows = Alert.objects.for_tenant(estate.tenant).order_by("id")
    return list(rows.filter(type=type_) if type_ else rows)


def active(estate, type_=None):
    return [a for a in alerts_of(estate, type_) if a.status != Status.RESOLVED]
