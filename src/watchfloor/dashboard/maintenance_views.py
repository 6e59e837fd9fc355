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
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, masked_for, person_view
from watchfloor.access.scope import has_capability, visible_clients, visible_sites
from watchfloor.alerts.models import BuiltinType
from watchfloor.alerts.queries import (
    AlertFilters,
    Suppressed,
    access_alert,
    alert_list,
    suppressed_by,
)
from watchfloor.alerts.window_preview import preview_matches
from watchfloor.dashboard import preferences
from watchfloor.dashboard.alert_views import When, zone_label
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.forms import DAY_LABELS, WindowForm
from watchfloor.maintenance import services
from watchfloor.maintenance.label_matchers import (
    LABEL_NAME,
    MAX_MATCHERS,
    MAX_VALUE_LENGTH,
    Matcher,
    format_matchers,
    parse_matchers,
)
from watchfloor.maintenance.models import MaintenanceWindow, WindowState
from watchfloor.maintenance.queries import access_window, may_write, state_counts, windows_for
from watchfloor.maintenance.recurrence import DAYS

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
FORM_FIELD = {
    "client": "scope",
    "site": "scope",
    "alert_types": "other_types",
    "recurrence_days": "repeat_days",
    "recurrence_start": "repeat_start",
    "recurrence_duration": "repeat_minutes",
    "timezone": "repeat_zone",
}
PREVIEW_LIMIT = 20
SILENCE_LENGTH = "2h"  # what "Silence…" on an alert proposes


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
    matchers: str = ""
    recurrence: str = ""
    running: bool = False  # an occurrence (or the one-off window) suppresses right now
    next_start: When | None = None


def recurrence_text(window) -> str:
    """`Sun 02:00 for 2 h, Europe/Berlin` ("" for a one-off window)."""
    if not window.is_recurring:
        return ""
    days = ", ".join(DAY_LABELS[DAYS.index(d)] for d in window.recurrence_days)
    minutes = int(window.recurrence_duration.total_seconds() // 60)
    length = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    start = window.recurrence_start.strftime("%H:%M")
    return f"{days} {start} for {length}, {window.timezone or 'UTC'}"


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
        starts=When.at(window.starts_at, None),
        ends=When.at(window.ends_at, None),
        types=list(window.alert_types or []),
        author=(author["full_name"] or author["username"]) if author else "",
        cancelled_by=(cancelled_by["full_name"] or cancelled_by["username"])
        if cancelled_by
        else "",
        cancelled=When.of(window.cancelled_at, None),
        suppressed=counts,
        can_cancel=manage and state in OPEN_STATES and may_write(user, site=site),
        matchers=masked_for(user, window.matchers, can_view_pii=pii),
        recurrence=recurrence_text(window),
        running=window.occurrence_at(now) is not None,
        next_start=When.of(getattr(window.next_occurrence(now), "starts_at", None), None),
    )


def user_zone(user) -> str:
    """The zone the person chose in their settings, else "": the page then fills in the
    browser's zone (js/maintenance_form.js), and without JavaScript the form reads UTC."""
    return preferences.preferences_for(user).time_zone


def _form(user, data=None, initial=None) -> WindowForm:
    clients = list(visible_clients(user).only("id", "code", "name").order_by("name", "code"))
    sites = list(
        visible_sites(user)
        .only("id", "code", "name", "city", "state", "client_id")
        .order_by("name", "code")
    )
    initial = {"zone": user_zone(user), "length": "custom", **(initial or {})}
    return WindowForm(data, user=user, clients=clients, sites=sites, initial=initial)


@dataclass
class PreviewRow:
    id: int
    severity: str
    status: str
    type: str
    title: str
    site: str
    labels: str


@dataclass
class PreviewResult:
    rows: list[PreviewRow]
    count: int
    exact: bool


def _preview(user, form: WindowForm) -> PreviewResult:
    """The open alerts the form's window would match now, masked for the user."""
    data = form.cleaned_data
    pii = has_capability(user, Capability.VIEW_PII)
    matchers: list[Matcher] = parse_matchers(data.get("matchers") or "")
    found = preview_matches(
        user,
        client=form.client,
        site=form.site,
        alert_types=data.get("types") or [],
        matchers=matchers,
        limit=PREVIEW_LIMIT,
    )
    rows = [
        PreviewRow(
            id=a.id,
            severity=a.severity,
            status=a.status,
            type=a.type,
            title=masked_for(user, a.title, can_view_pii=pii),
            site=a.site.name if a.site_id else "",
            labels=", ".join(
                f"{k}={v}" for k, v in masked_for(user, a.labels or {}, can_view_pii=pii).items()
            ),
        )
        for a in found.alerts
    ]
    return PreviewResult(rows, found.count, found.count_is_exact)


def _list_context(request, tab: str, form: WindowForm | None, preview=None) -> dict:
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
        "zone": zone_label(),
        "preview": preview,
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


def _silence_initial(user, alert_id) -> dict:
    """The form filled from an alert: its site (or client), its type and its labels."""
    alert = access_alert(user, alert_id)
    pii = has_capability(user, Capability.VIEW_PII)
    labels = alert.labels if isinstance(alert.labels, dict) else {}
    shown = masked_for(user, labels, can_view_pii=pii)
    # a label whose value masking changes is left out: the user may not see it, and a
    # matcher on the masked value would match nothing
    matchers = [
        Matcher.build(name, "=", str(value))
        for name, value in sorted(labels.items())
        if value is not None
        and not isinstance(value, dict | list)
        and shown.get(name) == value
        and len(str(value)) <= MAX_VALUE_LENGTH
        and LABEL_NAME.fullmatch(name)
    ]
    scope = f"site:{alert.site_id}" if alert.site_id else f"client:{alert.client_id}"
    builtin = {t.value for t in BuiltinType}
    return {
        "title": masked_for(user, f"Silence: {alert.title}"[:200], can_view_pii=pii),
        "scope": scope if alert.client_id else "",
        "alert_types": [alert.type] if alert.type in builtin else [],
        "other_types": "" if alert.type in builtin else alert.type,
        "matchers": format_matchers(matchers[:MAX_MATCHERS]) if matchers else "",
        "length": SILENCE_LENGTH,
        "kind": "EMERGENCY",
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def maintenance_create(request):
    """GET: the form, filled from `?alert=<id>` ("Silence…" on an alert); POST with `preview`:
    the open alerts it would match now, nothing saved; POST: create the window."""
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if not has_capability(user, Capability.MANAGE_MAINTENANCE):
        return _denied(request, Capability.MANAGE_MAINTENANCE)
    if request.method != "POST":
        initial = _silence_initial(user, request.GET["alert"]) if "alert" in request.GET else {}
        form = _form(user, initial=initial)
        form.opened = True
        return render(request, "dashboard/maintenance.html", _list_context(request, "active", form))
    form = _form(user, request.POST)
    form.opened = True
    if not form.is_valid():
        context = _list_context(request, "active", form)
        return render(request, "dashboard/maintenance.html", context, status=422)
    if "preview" in request.POST:
        context = _list_context(request, "active", form, preview=_preview(user, form))
        return render(request, "dashboard/maintenance.html", context)
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
            matchers=data["matchers"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            **data["recurrence"],
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
