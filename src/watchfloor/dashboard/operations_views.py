"""Operations settings pages (`noc:configure`, CSRF, audited through the services):
/settings/operations/ — the feed rules' thresholds; /heartbeats/ — heartbeats with their status
and last ping, created, paused, resumed and deleted here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text
from watchfloor.access.scope import CapabilityDenied, has_capability, visible_clients, visible_sites
from watchfloor.dashboard.alert_views import When
from watchfloor.dashboard.denied import forbidden
from watchfloor.operations import heartbeat_queries, heartbeats, policy_services
from watchfloor.operations.models import OperationsPolicy

NUMBER_MAX_CHARS = 10
TYPES_TEXT_MAX = 8000

POLICY_FIELDS = [
    ("sla_hours_p1", "SLA hours, P1"),
    ("sla_hours_p2", "SLA hours, P2"),
    ("sla_hours_p3", "SLA hours, P3"),
    ("sla_hours_p4", "SLA hours, P4"),
    ("device_silence_minutes", "Device silence (minutes), any type"),
    ("attendance_grace_minutes", "Attendance grace (minutes)"),
    ("max_device_speed_kmh", "Fastest a device can move (km/h)"),
    ("sync_health_min_percent", "Sync health minimum (%)"),
    ("sync_stale_minutes", "Synced within (minutes)"),
    ("anomaly_late_missing_percent", "Attendance anomaly: late + missing (%)"),
    ("anomaly_window_days", "Attendance anomaly window (days)"),
    ("anomaly_min_shifts", "Attendance anomaly: at least (shifts)"),
]


def _bounds(name: str) -> tuple[int, int]:
    field = OperationsPolicy._meta.get_field(name)
    low, high = 0, 2**31 - 1
    for v in field.validators:
        limit = getattr(v, "limit_value", None)
        if isinstance(limit, int):
            if v.code == "min_value":
                low = limit
            elif v.code == "max_value":
                high = limit
    return low, high


def _types_text(mapping: dict) -> str:
    return "\n".join(f"{k} = {v}" for k, v in sorted(mapping.items()))


def _parse_types(text: str) -> tuple[dict | None, str]:
    out: dict = {}
    for n, line in enumerate(text[:TYPES_TEXT_MAX].splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, sep, minutes = line.partition("=")
        if not sep or not minutes.strip().isdigit() or not name.strip():
            return None, f"Line {n}: write `device type = minutes`."
        out[name.strip()] = int(minutes.strip()[:NUMBER_MAX_CHARS])
    return out, ""


def _configurer(request):
    user = request.user
    if not has_capability(user, Capability.CONFIGURE):
        return None, forbidden(request, Capability.CONFIGURE)
    if user.tenant_id is None:
        raise Http404("No tenant.")
    return user, None


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def operations_policy_page(request):
    user, denied = _configurer(request)
    if denied:
        return denied
    policy = policy_services.policy_for(user.tenant_id)
    errors: dict[str, str] = {}
    shown = {name: str(getattr(policy, name)) for name, _ in POLICY_FIELDS}
    types_text = _types_text(policy.device_silence_by_type or {})
    if request.method == "POST":
        values: dict = {}
        for name, _ in POLICY_FIELDS:
            raw = request.POST.get(name, "").strip()[:NUMBER_MAX_CHARS]
            shown[name] = raw
            if not raw.isdigit():
                errors[name] = "A whole number."
            else:
                values[name] = int(raw)
        types_text = request.POST.get("device_silence_by_type", "")[:TYPES_TEXT_MAX]
        parsed, problem = _parse_types(types_text)
        if problem:
            errors["device_silence_by_type"] = problem
        else:
            values["device_silence_by_type"] = parsed
        if not errors:
            try:
                policy_services.update_policy(user.tenant_id, actor=user, **values)
            except CapabilityDenied as exc:
                return forbidden(request, exc.capability)
            except policy_services.PolicyInvalid as exc:
                errors[exc.field] = str(exc)
            else:
                messages.success(request, "Thresholds saved.")
                return HttpResponseRedirect(reverse("dashboard:operations_policy"))
    rows = []
    for name, label in POLICY_FIELDS:
        low, high = _bounds(name)
        rows.append(
            {
                "field": name,
                "label": label,
                "value": shown[name],
                "minimum": low,
                "maximum": high,
                "default": OperationsPolicy._meta.get_field(name).default,
                "error": errors.get(name, ""),
            }
        )
    context = {
        "nav": "settings",
        "rows": rows,
        "types_text": types_text,
        "types_error": next(
            (v for k, v in errors.items() if k.startswith("device_silence_by")), ""
        ),
        "errors": errors,
        "updated": When.of(policy.updated_at, None) if policy.pk else None,
    }
    return render(
        request, "dashboard/operations_policy.html", context, status=422 if errors else 200
    )


def _heartbeat_rows(user) -> list[dict]:
    rows = []
    pii = has_capability(user, Capability.VIEW_PII)
    for hb in heartbeat_queries.heartbeats_for(user)[: heartbeat_queries.LIST_LIMIT]:
        rows.append(
            {
                "hb": hb,
                "description": hb.description if pii else mask_text(hb.description),
                "badge": {"UP": "badge--ok", "LATE": "badge--warn"}.get(hb.status, ""),
                "period": heartbeats._human(hb.period),
                "grace": heartbeats._human(hb.grace),
                "last_seen": When.of(hb.last_seen_at, None),
                "late_since": When.of(hb.late_since, None),
                "ping_url": request_free_ping_url(hb.name),
            }
        )
    return rows


def request_free_ping_url(name: str) -> str:
    return f"/api/v1/heartbeats/{name}/ping"


def _seconds(raw: str) -> int | None:
    raw = raw.strip()[:NUMBER_MAX_CHARS]
    return int(raw) if raw.isdigit() else None


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def heartbeats_page(request):
    user, denied = _configurer(request)
    if denied:
        return denied
    errors: dict[str, str] = {}
    form = {"name": "", "client": "", "site": "", "period": "300", "grace": "60", "description": ""}
    if request.method == "POST":
        form = {k: request.POST.get(k, "")[:600] for k in form}
        period, grace = _seconds(form["period"]), _seconds(form["grace"])
        if period is None:
            errors["period"] = "Whole seconds."
        if grace is None:
            errors["grace"] = "Whole seconds."
        client_id, site_id = _seconds(form["client"]), _seconds(form["site"])
        if client_id is None:
            errors["client"] = "Choose a client."
        if not errors:
            assert period is not None and grace is not None and client_id is not None
            try:
                heartbeats.create_heartbeat(
                    actor=user,
                    name=form["name"].strip(),
                    client_id=client_id,
                    site_id=site_id,
                    period=timedelta(seconds=period),
                    grace=timedelta(seconds=grace),
                    description=form["description"],
                )
            except CapabilityDenied as exc:
                return forbidden(request, exc.capability)
            except heartbeats.HeartbeatInvalid as exc:
                errors[exc.field] = str(exc)
            else:
                messages.success(request, "Heartbeat created: it waits for its first ping.")
                return HttpResponseRedirect(reverse("dashboard:heartbeats"))
    context = {
        "nav": "settings",
        "rows": _heartbeat_rows(user),
        "clients": visible_clients(user).order_by("code"),
        "sites": visible_sites(user).select_related("client").order_by("code"),
        "form": form,
        "errors": errors,
    }
    return render(request, "dashboard/heartbeats.html", context, status=422 if errors else 200)


@require_POST
@login_required
def heartbeat_action(request, heartbeat_id: int):
    """Pause, resume or delete one heartbeat (a button's POST)."""
    user, denied = _configurer(request)
    if denied:
        return denied
    hb = heartbeat_queries.access_heartbeat(user, heartbeat_id)
    action = request.POST.get("action", "")
    try:
        if action == "pause":
            heartbeats.update_heartbeat(hb, actor=user, paused=True)
            messages.success(request, f"{hb.name} paused.")
        elif action == "resume":
            heartbeats.update_heartbeat(hb, actor=user, paused=False)
            messages.success(request, f"{hb.name} resumed.")
        elif action == "delete":
            heartbeats.delete_heartbeat(hb, actor=user)
            messages.success(request, f"{hb.name} deleted.")
        else:
            messages.error(request, "Unknown action.")
    except CapabilityDenied as exc:
        return forbidden(request, exc.capability)
    return HttpResponseRedirect(reverse("dashboard:heartbeats"))
