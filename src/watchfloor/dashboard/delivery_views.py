"""`/deliveries/`: every attempt to reach someone, newest first, for admins (`noc:configure`):
channel, recipient (masked without `noc:view_pii`), status, attempts, latency, error; filtered
by status; paged by id (`?before=<id>`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.alert_views import When, chrome, forbidden
from watchfloor.oncall.contact_queries import deliveries_of, delivery_out
from watchfloor.oncall.models import DeliveryStatus

PAGE = 50


def _int_or_none(value) -> int | None:
    if value is None or not str(value).isdigit() or len(str(value)) > 18:
        return None
    return int(value)


@require_safe
@login_required
def deliveries(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    alert = _int_or_none(request.GET.get("alert"))
    before = _int_or_none(request.GET.get("before"))
    qs = deliveries_of(user, status=status or None, alert=alert)
    if before is not None:
        qs = qs.filter(pk__lt=before)
    rows = list(qs[: PAGE + 1])
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    pii = has_capability(user, Capability.VIEW_PII)
    items = []
    for d in rows:
        item = delivery_out(d, pii)
        item["when"] = When.of(d.created_at, None)
        items.append(item)
    context = {
        **chrome(request),
        "nav": "deliveries",
        "rows": items,
        "status": status,
        "alert": alert,
        "statuses": DeliveryStatus.values,
        "next_before": rows[-1].pk if more else None,
        "can_view_pii": pii,
    }
    return render(request, "dashboard/deliveries.html", context)
