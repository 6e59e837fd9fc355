"""`/deliveries/`: every attempt to reach someone, newest first, for admins (`noc:configure`):
channel, recipient (masked without `noc:view_pii`), status, attempts, latency, error; filtered
by status; paged by id (`?before=<id>`). In the demo (`WATCHFLOOR_DEMO`), the page also shows
what the demo's local SMTP and webhook sinks received (`demo_sinks`), so a newcomer reads the
notifications without any of them leaving the machine."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.alert_views import When
from watchfloor.dashboard.denied import forbidden
from watchfloor.demo import sinks as demo_sinks
from watchfloor.oncall.contact_queries import deliveries_of, delivery_out
from watchfloor.oncall.models import DeliveryStatus

PAGE = 50
INBOX = 20


def demo_inbox(pii: bool) -> list[dict] | None:
    """The newest messages the demo's sinks received (None outside the demo)."""
    if not settings.DEMO:
        return None
    items = demo_sinks.read_received(settings.WATCHFLOOR_HOME / demo_sinks.FOLDER_NAME, INBOX)
    if not pii:
        for item in items:
            for key in ("to", "subject", "body"):
                item[key] = mask_text(item[key])
    return items


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
        "nav": "deliveries",
        "rows": items,
        "status": status,
        "alert": alert,
        "statuses": DeliveryStatus.values,
        "next_before": rows[-1].pk if more else None,
        "can_view_pii": pii,
        "inbox": demo_inbox(pii),
    }
    return render(request, "dashboard/deliveries.html", context)
