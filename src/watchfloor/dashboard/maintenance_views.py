"""The maintenance page: windows by state, what each suppressed, create and cancel.

Reading needs `noc:view` and shows the windows of `maintenance.queries.windows_for`; creating and
cancelling need `noc:manage_maintenance` and go through `maintenance.services` (which validate,
audit and publish). A fixed number of queries per page: the tab counts, the page of windows with
client, site and people joined, and one grouped count of the alerts those windows suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, person_view
from watchfloor.access.scope import has_capability, visible_clients, visible_sites
from watchfloor.alerts.queries import AlertFilters, Suppressed, alert_list, suppressed_by
from watchfloor.dashboard.alert_views import When
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.forms import WindowForm
from watchfloor.maintenance import services
from watchfloor.maintenance.models import MaintenanceWindow, WindowState
from watchfloor.maintenance.queries import access_window, may_write, state_counts, windows_for

# the page's tabs, in order, and the window state each shows
TABS = {
    "active": WindowState.ACTIVE,
    "upcoming": WindowState.UPCOMING,
    "past": WindowState.ENDED,
    "cancelled": WindowState.CANCELLED,
}
TAB_LABELS = {"active": "Active", "upcoming": "Upcoming", "past": "Past", "cancelled": "Cancelled"}
# what a user looks for first in each tab: the end of what runs, the next to start, the latest
ORDER = {
    "active": ("ends_at", "id"),
    "upcoming": ("starts_at", "id"),
    "past": ("-ends_at", "-id"),
    "cancelled": ("-cancelled_at", "-id"),
}
WINDOWS_PER_PAGE = 25
ALERTS_PER_PAGE = 50
OPEN_STATES = (WindowState.ACTIVE, WindowState.UPCOMING)
# the services name model fields; the form names its own
FORM_FIELD = {"client": "scope", "site": "scope", "alert_types": "other_types"}


@dataclass
class WindowRow:
    window: MaintenanceWindow
    state: WindowState
    title: str
    reason: str
    scope: str
    place: str
    whole_client: bool
    starts: When
    ends: When
    types: list[str]
    author: str
    cancelled_by: str
    cancelled: When | None
    suppressed: Suppressed
    can_cancel: bool


def _row(user, window, *, now, pii: bool, manage: bool, counts: Suppressed) -> WindowRow:
    state = window.state_at(now)
    client, site = window.client, window.site
    if site is not None:
        place = ", ".join(p for p in (site.city, site.state) if p)
        scope = f"{site.name} ({site.code})"
    else:
        place = ""
        scope = f"All sites of {client.name} ({client.code})"
    author = person_view(window.created_by, pii)
    cancelled_by = person_view(window.cancelled_by, pii)
    return WindowRow(
        window=window,
        state=state,
        title=window.title if pii else mask_text(window.title),
        reason=window.reason if pii else mask_text(window.reason),
        scope=scope,
        place=place,
        whole_client=site is None,
        starts=When.of(window.starts_at, None),
        ends=When.of(window.ends_at, None),
        types=list(window.alert_types or []),
        author=(author["full_name"] or author["username"]) if author else "",
        cancelled_by=(cancelled_by["full_name"] or cancelled_by["username"])
        if cancelled_by
        else "",
        cancelled=When.of(window.cancelled_at, None),
        suppressed=counts,
        can_cancel=manage and state in OPEN_STATES and may_write(user, site=site),
    )


def _form(user, data=None) -> WindowForm:
    clients = list(visible_clients(user).only("id", "code", "name").order_by("name", "code"))
    sites = list(
        visible_sites(user)
        .only("id", "code", "name", "city", "state", "client_id")
        .order_by("name", "code")
    )
    return WindowForm(data, user=user, clients=clients, sites=sites)


def _list_context(request, tab: str, form: WindowForm | None) -> dict:
    user = request.user
    now = timezone.now()
    pii = has_capability(user, Capability.VIEW_PII)
    manage = has_capability(user, Capability.MANAGE_MAINTENANCE)
    page = Paginator(
        windows_for(user, status=TABS[tab], at=now).order_by(*ORDER[tab]), WINDOWS_PER_PAGE
    ).get_page(request.GET.get("page"))
    windows = list(page.object_list)
    counts = suppressed_by(user, [w.id for w in windows])
    rows = [
        _row(user, w, now=now, pii=pii, manage=manage, counts=counts.get(w.id, Suppressed()))
        for w in windows
    ]
    if manage and form is None:
        form = _form(user)
    return {
        "nav": "maintenance",
        "tab": tab,
        "tabs": [(key, TAB_LABELS[key]) for key in TABS],
        "counts": state_counts(user, now),
        "page": page,
        "rows": rows,
        "manage": manage,
        "form": form,
        "can_view_pii": pii,
        "now": When.of(now, None),
    }


@require_safe
@login_required
def maintenance(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    tab = request.GET.get("state", "active")
    if tab not in TABS:
        tab = "active"
    return render(request, "dashboard/maintenance.html", _list_context(request, tab, None))


def _denied(request, capability: Capability):
    return forbidden(
        request, capability, template="dashboard/_maintenance_denied.html", nav="maintenance"
    )


@require_POST
@login_required
def maintenance_create(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if not has_capability(user, Capability.MANAGE_MAINTENANCE):
        return _denied(request, Capability.MANAGE_MAINTENANCE)
    form = _form(user, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            window = services.create_window(
                user.tenant,
                actor=user,
                client=form.client,
                site=form.site,
                title=data["title"],
                reason=data["reason"],
                kind=data["kind"],
                alert_types=data["types"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
            )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                field = FORM_FIELD.get(name, name)
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Maintenance window #{window.id} created.")
            return redirect("dashboard:maintenance_window", window_id=window.id)
    context = _list_context(request, "active", form)
    return render(request, "dashboard/maintenance.html", context, status=422)


def _window_context(request, window, *, error: str = "") -> dict:
    user = request.user
    now = timezone.now()
    pii = has_capability(user, Capability.VIEW_PII)
    manage = has_capability(user, Capability.MANAGE_MAINTENANCE)
    counts = suppressed_by(user, [window.id]).get(window.id, Suppressed())
    alerts = Paginator(
        alert_list(user, AlertFilters(maintenance_window=window.id)).order_by("-id"),
        ALERTS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    alert_rows = [
        {
            "id": a.id,
            "severity": a.severity,
            "status": a.status,
            "type": a.type,
            "title": a.title if pii else mask_text(a.title),
            "site": a.site,
            "first_seen": When.of(a.first_seen_at, None),
            "suppressed_count": a.suppressed_count,
        }
        for a in alerts.object_list
    ]
    return {
        "nav": "maintenance",
        "row": _row(user, window, now=now, pii=pii, manage=manage, counts=counts),
        "alerts": alerts,
        "alert_rows": alert_rows,
        "manage": manage,
        "error": error,
        "can_view_pii": pii,
    }


@require_safe
@login_required
def maintenance_window(request, window_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    window = access_window(user, window_id)
    return render(request, "dashboard/_maintenance_window.html", _window_context(request, window))


@require_POST
@login_required
def maintenance_cancel(request, window_id: int):
    """Scope first (404 for a window the user cannot see), then the capability (403)."""
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    window = access_window(user, window_id)
    if not has_capability(user, Capability.MANAGE_MAINTENANCE):
        return _denied(request, Capability.MANAGE_MAINTENANCE)
    if not may_write(user, site=window.site):
        context = {"nav": "maintenance", "outside_scope": True}
        return render(request, "dashboard/_maintenance_denied.html", context, status=403)
    if request.POST.get("confirm") != "yes":
        context = _window_context(
            request, window, error="Tick the box to confirm you want to cancel this window."
        )
        return render(request, "dashboard/_maintenance_window.html", context, status=422)
    try:
        services.cancel_window(window, actor=user)
    except services.WindowClosed as exc:
        context = _window_context(request, access_window(user, window_id), error=str(exc))
        return render(request, "dashboard/_maintenance_window.html", context, status=409)
    messages.success(request, f"Maintenance window #{window.id} cancelled.")
    return redirect("dashboard:maintenance_window", window_id=window.id)
