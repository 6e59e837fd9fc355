"""Maintenance windows in the caller's scope: list, read, create, change, cancel.

Reading needs `noc:view`; writing needs `noc:manage_maintenance` and the window's client (or
site) in the caller's scope. How many alerts a window suppressed is the alerts API's to tell:
each window links to `GET /api/v1/alerts?maintenance_window=<id>`.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import time, timedelta

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for, person_view
from watchfloor.access.scope import (
    access_client,
    access_site,
    has_capability,
    require_capability,
)
from watchfloor.alerts.window_preview import preview_matches
from watchfloor.api.errors import ApiError
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id
from watchfloor.maintenance import services
from watchfloor.maintenance.label_matchers import parse_matchers
from watchfloor.maintenance.queries import access_window, may_write, windows_for
from watchfloor.maintenance.schemas import (
    PreviewIn,
    PreviewOut,
    RecurrenceIn,
    WindowFilters,
    WindowIn,
    WindowOut,
    WindowPage,
    WindowPatch,
)

router = Router(tags=["maintenance"])

SUPPRESSED_ALERTS_URL = "/api/v1/alerts?maintenance_window={id}"
# the services name model fields; the API's bodies name ids
_API_FIELD = {
    "client": "client_id",
    "site": "site_id",
    "recurrence_days": "recurrence.days",
    "recurrence_start": "recurrence.start_time",
    "recurrence_duration": "recurrence.duration_minutes",
    "timezone": "recurrence.timezone",
}


def _ref(obj) -> dict | None:
    return None if obj is None else {"id": obj.id, "code": obj.code, "name": obj.name}


def _recurrence_fields(recurrence: RecurrenceIn | None) -> dict:
    """A recurrence body as the service's arguments (None: a one-off window)."""
    if recurrence is None:
        return {
            "recurrence_days": [],
            "recurrence_start": None,
            "recurrence_duration": None,
            "timezone": "",
        }
    hours, minutes = (int(part) for part in recurrence.start_time.split(":"))
    return {
        "recurrence_days": list(recurrence.days),
        "recurrence_start": time(hours, minutes),
        "recurrence_duration": timedelta(minutes=recurrence.duration_minutes),
        "timezone": recurrence.timezone or "",
    }


def _occurrence(occurrence) -> dict | None:
    if occurrence is None:
        return None
    return {"starts_at": occurrence.starts_at, "ends_at": occurrence.ends_at}


def _window_out(window, pii: bool, now) -> dict:
    """Free text (title, reason, matcher values) through the one masking function."""
    return {
        "id": window.id,
        "client": _ref(window.client),
        "site": _ref(window.site),
        "title": masked_for(None, window.title, can_view_pii=pii),
        "reason": masked_for(None, window.reason, can_view_pii=pii),
        "kind": window.kind,
        "alert_types": window.alert_types,
        "matchers": masked_for(None, window.matchers, can_view_pii=pii),
        "recurrence": services.recurrence_view(window),
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "state": window.state_at(now),
        "current_occurrence": _occurrence(window.occurrence_at(now)),
        "next_occurrence": _occurrence(window.next_occurrence(now)),
        "created_by": person_view(window.created_by, pii),
        "created_at": window.created_at,
        "updated_at": window.updated_at,
        "cancelled_at": window.cancelled_at,
        "cancelled_by": person_view(window.cancelled_by, pii),
        "suppressed_alerts_url": SUPPRESSED_ALERTS_URL.format(id=window.id),
    }


def _answer(user, window_id: int) -> dict:
    window = access_window(user, window_id)
    return _window_out(window, has_capability(user, Capability.VIEW_PII), timezone.now())


@contextmanager
def _service_errors():
    """A closed window is a 409; validation errors name the body's fields."""
    try:
        yield
    except services.WindowClosed as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {_API_FIELD.get(k, k): v for k, v in exc.error_dict.items()}
        ) from None


def _client_in_scope(user, client_id):
    try:
        return access_client(user, client_id)
    except Http404:
        raise ValidationError({"client_id": "No such client in your scope."}) from None


def _site_in_scope(user, site_id):
    if site_id is None:
        return None
    try:
        return access_site(user, site_id)
    except Http404:
        raise ValidationError({"site_id": "No such site in your scope."}) from None


def _check_reach(user, site) -> None:
    if not may_write(user, site=site):
        raise ValidationError(
            {"site_id": "Your scope is a list of sites: a window must name one of them."}
        )


def _writable(user, window_id: int):
    """The window, if the user sees it (404), may manage windows (403), and the window stays
    inside their scope (403: a site-scoped user sees client-wide windows but may not change
    them)."""
    require_capability(user, Capability.VIEW)
    window = access_window(user, window_id)
    require_capability(user, Capability.MANAGE_MAINTENANCE)
    if not may_write(user, site=window.site):
        raise ApiError(403, "forbidden", "This window covers sites outside your scope.")
    return window


@router.get("/maintenance-windows", response=WindowPage)
def list_windows(request, filters: Query[WindowFilters]):
    user = request.auth
    require_capability(user, Capability.VIEW)
    now = timezone.now()
    qs = windows_for(user, status=filters.status, client=filters.client, site=filters.site, at=now)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, descending=True)
    pii = has_capability(user, Capability.VIEW_PII)
    return {
        "items": [_window_out(w, pii, now) for w in page.items],
        "next_cursor": page.next_cursor,
    }


# (before /maintenance-windows/{window_id}: the first matching path wins)
@router.post("/maintenance-windows/preview", response=PreviewOut)
def preview_window(request, data: PreviewIn):
    """The open alerts in the caller's scope that a window like this would match now: the
    first `limit`, newest first, masked for the caller, and how many in all."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    require_capability(user, Capability.MANAGE_MAINTENANCE)
    client = _client_in_scope(user, data.client_id)
    site = _site_in_scope(user, data.site_id)
    if site is not None and site.client_id != client.id:
        raise ValidationError({"site_id": "Must be a site of the window's client."})
    preview = preview_matches(
        user,
        client=client,
        site=site,
        alert_types=list(dict.fromkeys(data.alert_types)),
        matchers=parse_matchers(data.matchers),
        limit=data.limit,
    )
    pii = has_capability(user, Capability.VIEW_PII)
    return {
        "count": preview.count,
        "count_is_exact": preview.count_is_exact,
        "items": [
            {
                "id": a.id,
                "title": masked_for(None, a.title, can_view_pii=pii),
                "type": a.type,
                "severity": a.severity,
                "status": a.status,
                "site": _ref(a.site),
                "labels": masked_for(None, a.labels or {}, can_view_pii=pii),
                "first_seen_at": a.first_seen_at,
            }
            for a in preview.alerts
        ],
    }


@router.get("/maintenance-windows/{window_id}", response=WindowOut)
def get_window(request, window_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return _answer(request.auth, window_id)


@router.post("/maintenance-windows", response={201: WindowOut})
def create_window(request, data: WindowIn):
    user = request.auth
    require_capability(user, Capability.MANAGE_MAINTENANCE)
    client = _client_in_scope(user, data.client_id)
    site = _site_in_scope(user, data.site_id)
    _check_reach(user, site)
    with _service_errors():
        window = services.create_window(
            user.tenant,
            actor=user,
            client=client,
            site=site,
            title=data.title,
            reason=data.reason,
            kind=data.kind,
            alert_types=data.alert_types,
            matchers=data.matchers,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            **_recurrence_fields(data.recurrence),
        )
    return Status(201, _answer(user, window.pk))


@router.patch("/maintenance-windows/{window_id}", response=WindowOut)
def update_window(request, window_id: Id, data: WindowPatch):
    user = request.auth
    window = _writable(user, window_id)
    values = data.model_dump(exclude_unset=True)
    if "recurrence" in values:
        values.pop("recurrence")
        values.update(_recurrence_fields(data.recurrence))
    if "client_id" in values:
        values["client"] = _client_in_scope(user, values.pop("client_id"))
    if "site_id" in values:
        values["site"] = _site_in_scope(user, values.pop("site_id"))
        _check_reach(user, values["site"])
    with _service_errors():
        services.update_window(window, actor=user, **values)
    return _answer(user, window.pk)


@router.post("/maintenance-windows/{window_id}/cancel", response=WindowOut)
def cancel_window(request, window_id: Id):
    user = request.auth
    window = _writable(user, window_id)
    with _service_errors():
        services.cancel_window(window, actor=user)
    return _answer(user, window.pk)
