"""Operations feeds: the batch bodies an `operations` integration key sends, and what the read
API answers.

Every field uses the shared bounded types (`api.schemas`): a NUL, a lone surrogate, a 10**23 or
a year-9999 time is a 422 naming `records.<index>.<field>` before anything is stored. What a
schema cannot see alone (client and site codes, references to other records, one time before
another) is checked for the whole batch by `operations.services` with the same naming.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.conf import settings
from ninja import Schema
from pydantic import Field

from watchfloor.api.schemas import BoundedInt, QueryIn, StrictIn, Text, UtcDatetime
from watchfloor.operations.models import (
    EXTERNAL_ID_MAX,
    AttendanceStatus,
    DeviceStatus,
    GeofenceEventKind,
    Priority,
    TicketStatus,
    WorkOrderStatus,
)

MAX_BATCH = settings.OPERATIONS_MAX_BATCH
CODE_MAX = 50

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
ExternalId = Text(EXTERNAL_ID_MAX, min_length=1)


class RecordIn(StrictIn):
    external_id: ExternalId = Field(description="The record's id in the source system.")
    client: Text(CODE_MAX) | None = Field(
        None, description="Client code; the integration key's default client when absent."
    )
    site: Text(CODE_MAX) | None = Field(
        None, description="Site code (of that client); the key's default site when absent."
    )
    source_updated_at: UtcDatetime | None = Field(
        None,
        description=(
            "When the source last changed the record: an upsert older than the stored one is "
            "ignored (counted as `stale`)."
        ),
    )


class TicketIn(RecordIn):
    title: Text(500, min_length=1)
    category: Text(100) = ""
    priority: Priority
    status: TicketStatus
    opened_at: UtcDatetime
    sla_due_at: UtcDatetime | None = Field(
        None, description="Default: `opened_at` plus the tenant's SLA hours for the priority."
    )
    resolved_at: UtcDatetime | None = None
    escalation_level: BoundedInt(0, 32) = 0
    assignee_name: Text(200) = ""


class WorkOrderIn(RecordIn):
    title: Text(500, min_length=1)
    category: Text(100) = ""
    priority: Priority = Priority.P3
    status: WorkOrderStatus
    scheduled_for: UtcDatetime | None = None
    deadline_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    assignee_name: Text(200) = ""


class DeviceIn(RecordIn):
    name: Text(200, min_length=1)
    device_type: Text(50, min_length=1)
    status: DeviceStatus
    last_seen_at: UtcDatetime | None = None
    last_sync_at: UtcDatetime | None = None
    battery_percent: BoundedInt(0, 100) | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    located_at: UtcDatetime | None = Field(None, description="When the position was taken.")


class AttendanceIn(RecordIn):
    person_ref: Text(100, min_length=1)
    person_name: Text(200) = ""
    shift_start: UtcDatetime
    shift_end: UtcDatetime
    status: AttendanceStatus
    checked_in_at: UtcDatetime | None = None
    checked_out_at: UtcDatetime | None = None


class GeofenceEventIn(RecordIn):
    person_ref: Text(100) = ""
    attendance: Text(EXTERNAL_ID_MAX) | None = Field(
        None, description="External id of the attendance record (already sent) it belongs to."
    )
    device: Text(EXTERNAL_ID_MAX) | None = Field(
        None, description="External id of the device (already sent) that reported it."
    )
    kind: GeofenceEventKind
    occurred_at: UtcDatetime
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    distance_m: BoundedInt(0, 2_147_483_647) | None = None


class TicketBatchIn(StrictIn):
    records: list[TicketIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} tickets, by external id."
    )


class WorkOrderBatchIn(StrictIn):
    records: list[WorkOrderIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} work orders, by external id.",
    )


class DeviceBatchIn(StrictIn):
    records: list[DeviceIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} devices, by external id."
    )


class AttendanceBatchIn(StrictIn):
    records: list[AttendanceIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} attendance records, by external id.",
    )


class GeofenceEventBatchIn(StrictIn):
    records: list[GeofenceEventIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} geofence events, by external id.",
    )


class UpsertOut(Schema):
    created: int
    updated: int
    unchanged: int = Field(description="Same as stored: nothing written.")
    stale: int = Field(description="Older `source_updated_at` than stored: ignored.")
    duplicates: int = Field(description="Earlier records of the batch with the same external id.")


# --- read side ---------------------------------------------------------------------------------


class ListQuery(QueryIn):
    client: BoundedInt(1) | None = None
    site: BoundedInt(1) | None = None
    status: Text(20) | None = Field(None, description="One status or several, comma-separated.")
    cursor: Text(200) | None = None
    limit: BoundedInt(1, 500) | None = None


class TicketQuery(ListQuery):
    priority: Text(20) | None = Field(None, description="P1…P4, comma-separated.")
    overdue: bool | None = Field(None, description="Open and past `sla_due_at`.")


class WorkOrderQuery(ListQuery):
    priority: Text(20) | None = None
    overdue: bool | None = Field(None, description="Open and past `deadline_at`.")


class DeviceQuery(ListQuery):
    device_type: Text(50) | None = None
    silent: bool | None = Field(
        None, description="Not seen within the tenant's silence threshold for its type."
    )


class AttendanceQuery(ListQuery):
    since: UtcDatetime | None = Field(None, description="Shifts starting at or after.")
    until: UtcDatetime | None = Field(None, description="Shifts starting before.")


class GeofenceEventQuery(ListQuery):
    kind: Text(20) | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


class PlaceOut(Schema):
    id: int
    code: str
    name: str


class RecordOut(Schema):
    id: int
    external_id: str
    client: PlaceOut
    site: PlaceOut | None
    source_updated_at: datetime | None
    received_at: datetime
    created_at: datetime


class TicketOut(RecordOut):
    title: str
    category: str
    priority: str
    status: str
    opened_at: datetime
    sla_due_at: datetime | None
    resolved_at: datetime | None
    escalation_level: int
    assignee_name: str = Field(description="Masked without noc:view_pii.")
    overdue: bool


class WorkOrderOut(RecordOut):
    title: str
    category: str
    priority: str
    status: str
    scheduled_for: datetime | None
    deadline_at: datetime | None
    completed_at: datetime | None
    assignee_name: str = Field(description="Masked without noc:view_pii.")
    overdue: bool


class DeviceOut(RecordOut):
    name: str
    device_type: str
    status: str
    last_seen_at: datetime | None
    last_sync_at: datetime | None
    battery_percent: int | None
    latitude: float | None
    longitude: float | None
    located_at: datetime | None
    previous_latitude: float | None
    previous_longitude: float | None
    previously_located_at: datetime | None
    silent: bool


class AttendanceOut(RecordOut):
    person_ref: str
    person_name: str = Field(description="Masked without noc:view_pii.")
    shift_start: datetime
    shift_end: datetime
    status: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None


class GeofenceEventOut(RecordOut):
    person_ref: str
    attendance_id: int | None
    device_id: int | None
    kind: str
    occurred_at: datetime
    latitude: float | None
    longitude: float | None
    distance_m: int | None


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None


class WorkOrderPage(Schema):
    items: list[WorkOrderOut]
    next_cursor: str | None


class DevicePage(Schema):
    items: list[DeviceOut]
    next_cursor: str | None


class AttendancePage(Schema):
    items: list[AttendanceOut]
    next_cursor: str | None


class GeofenceEventPage(Schema):
    items: list[GeofenceEventOut]
    next_cursor: str | None
