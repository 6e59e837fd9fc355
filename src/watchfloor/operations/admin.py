"""Feed records in the admin are read-only: the source system owns them and the upsert services
keep the rules' alerts in step; thresholds and heartbeats are edited through their API and pages
(validated, audited)."""

from __future__ import annotations

from django.contrib import admin

from watchfloor.audit.admin import NoAddChangeDeleteMixin
from watchfloor.operations.models import (
    AttendanceRecord,
    Device,
    GeofenceEvent,
    Heartbeat,
    OperationsPolicy,
    Ticket,
    WorkOrder,
)

_COMMON = ("external_id", "tenant", "client", "site", "received_at")


@admin.register(Ticket)
class TicketAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = (*_COMMON, "priority", "status", "sla_due_at")
    list_filter = ("status", "priority")


@admin.register(WorkOrder)
class WorkOrderAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = (*_COMMON, "status", "deadline_at")
    list_filter = ("status",)


@admin.register(Device)
class DeviceAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = (*_COMMON, "device_type", "status", "last_seen_at")
    list_filter = ("status", "device_type")


@admin.register(AttendanceRecord)
class AttendanceRecordAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    # person names are personal data: the list shows the source's person id only
    list_display = (*_COMMON, "person_ref", "shift_start", "status")
    list_filter = ("status",)


@admin.register(GeofenceEvent)
class GeofenceEventAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = (*_COMMON, "kind", "occurred_at")
    list_filter = ("kind",)


@admin.register(Heartbeat)
class HeartbeatAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "tenant", "client", "status", "period", "last_seen_at")
    list_filter = ("status",)


@admin.register(OperationsPolicy)
class OperationsPolicyAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = ("tenant", "updated_at")
