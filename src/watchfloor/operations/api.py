"""Operations feeds: batched upserts by external id (an `operations` integration key) and the read
side for users (noc:view, scoped, personal names masked without noc:view_pii).

| path                                   | POST (integration key)      | GET (user)           |
| -------------------------------------- | --------------------------- | -------------------- |
| `/api/v1/operations/tickets`           | upsert ≤ 1,000 tickets      | list (filters, page) |
| `/api/v1/operations/work-orders`       | upsert work orders          | list                 |
| `/api/v1/operations/devices`           | upsert devices              | list                 |
| `/api/v1/operations/attendance`        | upsert attendance records   | list                 |
| `/api/v1/operations/geofence-events`   | upsert geofence events      | list                 |
| `/api/v1/operations/<kind>/{id}`       |                             | detail               |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from ninja.security import HttpBearer

from watchfloor.access.api_auth import RateLimited
from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, shown_name
from watchfloor.access.models import SourceKind
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.access.services import authenticate_integration_key
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.operations import queries, services
from watchfloor.operations.models import (
    AttendanceStatus,
    DeviceStatus,
    GeofenceEventKind,
    Priority,
    TicketStatus,
    WorkOrderStatus,
)
from watchfloor.operations.schemas import (
    AttendanceBatchIn,
    AttendanceOut,
    AttendancePage,
    AttendanceQuery,
    DeviceBatchIn,
    DeviceOut,
    DevicePage,
    DeviceQuery,
    GeofenceEventBatchIn,
    GeofenceEventOut,
    GeofenceEventPage,
    GeofenceEventQuery,
    ListQuery,
    TicketBatchIn,
    TicketOut,
    TicketPage,
    TicketQuery,
    UpsertOut,
    WorkOrderBatchIn,
    WorkOrderOut,
    WorkOrderPage,
    WorkOrderQuery,
)
from watchfloor.ratelimit import check

router = Router(tags=["operations"])


class OperationsKeyAuth(HttpBearer):
    """`Authorization: Bearer wfi_…`: an integration key issued for the `operations` source (a
    key of another source, revoked or expired, is 401 and audited as `auth_failed`)."""

    def authenticate(self, request: HttpRequest, token: str):
        key = authenticate_integration_key(token, source=SourceKind.OPERATIONS)
        if key is None:
            record(
                Action.AUTH_FAILED,
                details={"path": request.path, "scheme": "integration_key", "source": "operations"},
            )
            return None
        if limited := check("integration_key", key.pk):
            raise RateLimited(limited)
        return key


FEED_AUTH = [OperationsKeyAuth()]


def _upsert(request, kind: str, data) -> dict:
    records = [r.model_dump() for r in data.records]
    try:
        result = services.upsert_records(kind, records, actor=request.auth)
    except services.BatchInvalid as exc:
        raise ApiError(422, "validation_error", exc.message, exc.fields) from None
    return result.counts()


# --- output ------------------------------------------------------------------------------------


def _place(obj) -> dict | None:
    return obj and {"id": obj.id, "code": obj.code, "name": obj.name}


def _base(row) -> dict[str, Any]:
    return {
        "id": row.id,
        "external_id": row.external_id,
        "client": _place(row.client),
        "site": _place(row.site),
        "source_updated_at": row.source_updated_at,
        "received_at": row.received_at,
        "created_at": row.created_at,
    }


def _fields(row, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _texts(row, names: tuple[str, ...], pii: bool) -> dict[str, str]:
    """Free text the source wrote (a title, a category, a device's name) may hold a phone number
    or an email: masked, like every free text, for readers without noc:view_pii."""
    return {name: getattr(row, name) if pii else mask_text(getattr(row, name)) for name in names}


def ticket_out(row, pii: bool, now) -> dict:
    return {
        **_base(row),
        **_texts(row, ("title", "category"), pii),
        **_fields(
            row,
            (
                "priority",
                "status",
                "opened_at",
                "sla_due_at",
                "resolved_at",
                "escalation_level",
            ),
        ),
        "assignee_name": shown_name(row.assignee_name, pii) or "",
        "overdue": row.status in queries.TICKET_OPEN_STATUSES
        and row.sla_due_at is not None
        and row.sla_due_at < now,
    }


def work_order_out(row, pii: bool, now) -> dict:
    return {
        **_base(row),
        **_texts(row, ("title", "category"), pii),
        **_fields(
            row,
            (
                "priority",
                "status",
                "scheduled_for",
                "deadline_at",
                "completed_at",
            ),
        ),
        "assignee_name": shown_name(row.assignee_name, pii) or "",
        "overdue": row.status in queries.WORK_ORDER_OPEN_STATUSES
        and row.deadline_at is not None
        and row.deadline_at < now,
    }


def device_out(row, policy, now, pii: bool) -> dict:
    return {
        **_base(row),
        **_texts(row, ("name",), pii),
        **_fields(
            row,
            (
                "device_type",
                "status",
                "last_seen_at",
                "last_sync_at",
                "battery_percent",
                "latitude",
                "longitude",
                "located_at",
                "previous_latitude",
                "previous_longitude",
                "previously_located_at",
            ),
        ),
        "silent": queries.is_silent(row, policy, now),
    }


def attendance_out(row, pii: bool) -> dict:
    return {
        **_base(row),
        **_fields(
            row,
            ("person_ref", "shift_start", "shift_end", "status", "checked_in_at", "checked_out_at"),
        ),
        "person_name": shown_name(row.person_name, pii) or "",
    }


def geofence_event_out(row) -> dict:
    return {
        **_base(row),
        **_fields(
            row,
            (
                "person_ref",
                "attendance_id",
                "device_id",
                "kind",
                "occurred_at",
                "latitude",
                "longitude",
                "distance_m",
            ),
        ),
    }


def serializer(user, kind: str) -> Callable[[Any], dict]:
    """How this user sees a record of `kind` (masked without noc:view_pii); at most one query
    (the tenant's policy, for devices)."""
    pii = has_capability(user, Capability.VIEW_PII)
    now = timezone.now()
    if kind == "tickets":
        return lambda row: ticket_out(row, pii, now)
    if kind == "work_orders":
        return lambda row: work_order_out(row, pii, now)
    if kind == "devices":
        policy = queries.policy_of(user.tenant_id)
        return lambda row: device_out(row, policy, now, pii)
    if kind == "attendance":
        return lambda row: attendance_out(row, pii)
    return geofence_event_out


def _filters(q: ListQuery) -> queries.FeedFilters:
    get = lambda name: getattr(q, name, None)  # noqa: E731
    try:
        return queries.FeedFilters(
            client=q.client,
            site=q.site,
            status=queries.csv_choices(q.status, _STATUSES[type(q)], "status"),
            priority=queries.csv_choices(get("priority"), Priority, "priority"),
            overdue=get("overdue"),
            silent=get("silent"),
            device_type=get("device_type") or "",
            kind=queries.csv_choices(get("kind"), GeofenceEventKind, "kind"),
            since=get("since"),
            until=get("until"),
        )
    except queries.InvalidFilter as exc:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {exc.field: str(exc)}
        ) from None


_STATUSES: dict[type, Any] = {
    TicketQuery: TicketStatus,
    WorkOrderQuery: WorkOrderStatus,
    DeviceQuery: DeviceStatus,
    AttendanceQuery: AttendanceStatus,
    GeofenceEventQuery: GeofenceEventKind,
}


def _list(request, kind: str, q: ListQuery) -> dict:
    user = request.auth
    require_capability(user, Capability.VIEW)
    filters = _filters(q)
    if kind == "geofence_events":  # events have no status: `status` is another name for `kind`
        filters.kind, filters.status = filters.kind or filters.status, None
    page = queries.record_page(user, kind, filters, cursor=q.cursor, limit=q.limit)
    out = serializer(user, kind)
    return {"items": [out(row) for row in page.items], "next_cursor": page.next_cursor}


def _detail(request, kind: str, record_id: int) -> dict:
    user = request.auth
    require_capability(user, Capability.VIEW)
    return serializer(user, kind)(queries.access_record(user, kind, record_id))


# --- tickets -----------------------------------------------------------------------------------


@router.post("/operations/tickets", response=UpsertOut, auth=FEED_AUTH)
def upsert_tickets(request, data: TicketBatchIn):
    """Upsert tickets by `external_id` (one transaction; the whole batch is refused with a 422
    naming `records.<index>.<field>` when one record is wrong). Needs an `operations` key."""
    return _upsert(request, "tickets", data)


@router.get("/operations/tickets", response=TicketPage)
def list_tickets(request, filters: Query[TicketQuery]):
    """Newest first; `overdue=true`: open and past `sla_due_at`."""
    return _list(request, "tickets", filters)


@router.get("/operations/tickets/{record_id}", response=TicketOut)
def get_ticket(request, record_id: Id):
    return _detail(request, "tickets", record_id)


# --- work orders -------------------------------------------------------------------------------


@router.post("/operations/work-orders", response=UpsertOut, auth=FEED_AUTH)
def upsert_work_orders(request, data: WorkOrderBatchIn):
    """Upsert work orders by `external_id` (as tickets)."""
    return _upsert(request, "work_orders", data)


@router.get("/operations/work-orders", response=WorkOrderPage)
def list_work_orders(request, filters: Query[WorkOrderQuery]):
    """Newest first; `overdue=true`: open and past `deadline_at`."""
    return _list(request, "work_orders", filters)


@router.get("/operations/work-orders/{record_id}", response=WorkOrderOut)
def get_work_order(request, record_id: Id):
    return _detail(request, "work_orders", record_id)


# --- devices -----------------------------------------------------------------------------------


@router.post("/operations/devices", response=UpsertOut, auth=FEED_AUTH)
def upsert_devices(request, data: DeviceBatchIn):
    """Upsert devices by `external_id`; a changed position keeps the one before in
    `previous_latitude`/`previous_longitude`/`previously_located_at`."""
    return _upsert(request, "devices", data)


@router.get("/operations/devices", response=DevicePage)
def list_devices(request, filters: Query[DeviceQuery]):
    """Newest first; `silent=true`: not seen within the tenant's threshold for the type."""
    return _list(request, "devices", filters)


@router.get("/operations/devices/{record_id}", response=DeviceOut)
def get_device(request, record_id: Id):
    return _detail(request, "devices", record_id)


# --- attendance --------------------------------------------------------------------------------


@router.post("/operations/attendance", response=UpsertOut, auth=FEED_AUTH)
def upsert_attendance(request, data: AttendanceBatchIn):
    """Upsert attendance records (one person's one shift) by `external_id`."""
    return _upsert(request, "attendance", data)


@router.get("/operations/attendance", response=AttendancePage)
def list_attendance(request, filters: Query[AttendanceQuery]):
    """Newest first; `since`/`until` bound the shift start."""
    return _list(request, "attendance", filters)


@router.get("/operations/attendance/{record_id}", response=AttendanceOut)
def get_attendance(request, record_id: Id):
    return _detail(request, "attendance", record_id)


# --- geofence events ---------------------------------------------------------------------------


@router.post("/operations/geofence-events", response=UpsertOut, auth=FEED_AUTH)
def upsert_geofence_events(request, data: GeofenceEventBatchIn):
    """Upsert geofence events by `external_id`; `device`/`attendance` name records already sent
    by their external id."""
    return _upsert(request, "geofence_events", data)


@router.get("/operations/geofence-events", response=GeofenceEventPage)
def list_geofence_events(request, filters: Query[GeofenceEventQuery]):
    """Newest first; `kind` (ENTER, EXIT, BREACH), `since`/`until` bound `occurred_at`."""
    return _list(request, "geofence_events", filters)


@router.get("/operations/geofence-events/{record_id}", response=GeofenceEventOut)
def get_geofence_event(request, record_id: Id):
    return _detail(request, "geofence_events", record_id)
