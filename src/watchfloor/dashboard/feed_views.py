"""The Operations page (/operations/): the field records of the feeds — tickets, work orders,
devices, attendance — in the reader's scope, filtered and paged like the API (`operations.queries`,
`operations.api.serializer`: names masked without noc:view_pii), overdue and silent rows marked."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability, visible_clients
from watchfloor.api.errors import ApiError
from watchfloor.dashboard.denied import forbidden
from watchfloor.operations import queries
from watchfloor.operations.api import serializer
from watchfloor.operations.models import (
    AttendanceStatus,
    DeviceStatus,
    TicketStatus,
    WorkOrderStatus,
)

PAGE = 50
KINDS = {
    "tickets": ("Tickets", TicketStatus, "overdue", "Past SLA"),
    "work_orders": ("Work orders", WorkOrderStatus, "overdue", "Past deadline"),
    "devices": ("Devices", DeviceStatus, "silent", "Silent"),
    "attendance": ("Attendance", AttendanceStatus, "", ""),
}


def _int(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


@login_required
@require_GET
def operations_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if user.tenant_id is None:
        raise Http404("No tenant.")
    kind = request.GET.get("kind", "tickets")
    if kind not in KINDS:
        kind = "tickets"
    label, statuses, flag, flag_label = KINDS[kind]
    status = request.GET.get("status", "")
    status = status if status in statuses.values else ""
    flagged = request.GET.get("flag") == "1" and bool(flag)
    filters = queries.FeedFilters(
        client=_int(request.GET.get("client")), status=[status] if status else None
    )
    if flagged:
        setattr(filters, flag, True)
    cursor = request.GET.get("cursor") or None
    try:
        page = queries.record_page(user, kind, filters, cursor=cursor, limit=PAGE)
    except ApiError:  # a cursor that cannot be decoded: the first page
        page = queries.record_page(user, kind, filters, cursor=None, limit=PAGE)
    out = serializer(user, kind)
    rows = [out(row) for row in page.items]
    return render(
        request,
        "dashboard/operations.html",
        {
            "nav": "operations",
            "tenant": user.tenant,
            "kind": kind,
            "kinds": [(k, v[0]) for k, v in KINDS.items()],
            "label": label,
            "statuses": statuses.values,
            "status": status,
            "flag": flag,
            "flag_label": flag_label,
            "flagged": flagged,
            "clients": list(visible_clients(user).order_by("code").values("id", "code", "name")),
            "client": filters.client,
            "rows": rows,
            "counts": queries.counts(user),
            "next_cursor": page.next_cursor,
            "pii": has_capability(user, Capability.VIEW_PII),
        },
    )
