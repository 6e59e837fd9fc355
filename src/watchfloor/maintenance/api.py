"""Maintenance windows in the caller's scope: list, read, create, change, cancel.

Reading needs `noc:view`; writing needs `noc:manage_maintenance` and the window's client (or
site) in the caller's scope. How many alerts a window suppressed is the alerts API's to tell:
each window links to `GET /api/v1/alerts?maintenance_window=<id>`.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_view
from watchfloor.access.scope import (
    access_client,
    access_site,
    has_capability,
    require_capability,
)
from watchfloor.api.errors import ApiError
from watchfloor.api.pagination import paginate
from watchfloor.maintenance import services
from watchfloor.maintenance.queries import access_window, may_write, windows_for
from watchfloor.maintenance.schemas import (
    WindowFilters,
    WindowIn,
    WindowOut,
    WindowPage,
    WindowPatch,
)

router = Router(tags=["maintenance"])

SUPPRESSED_ALERTS_URL = "/api/v1/alerts?maintenance_window={id}"
# the services name model fields; the API's bodies name ids
_API_FIELD = {"client": "client_id", "site": "site_id"}


def _ref(obj) -> dict | None:
    return None if obj is None else {"id": obj.id, "code": obj.code, "name": obj.name}


def _window_out(window, pii: bool, now) -> dict:
    return {
        "id": window.id,
        "client": _ref(window.client),
        "site": _ref(window.site),
        "title": window.title,
        "reason": window.reason,
        "kind": window.kind,
        "alert_types": window.alert_types,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "state": window.state_at(now),
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


@router.get("/maintenance-windows/{window_id}", response=WindowOut)
def get_window(request, window_id: int):
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
            starts_at=data.starts_at,
            ends_at=data.ends_at,
        )
    return Status(201, _answer(user, window.pk))


@router.patch("/maintenance-windows/{window_id}", response=WindowOut)
def update_window(request, window_id: int, data: WindowPatch):
    user = request.auth
    window = _writable(user, window_id)
    values = data.model_dump(exclude_unset=True)
    if "client_id" in values:
        values["client"] = _client_in_scope(user, values.pop("client_id"))
    if "site_id" in values:
        values["site"] = _site_in_scope(user, values.pop("site_id"))
        _check_reach(user, values["site"])
    with _service_errors():
        services.update_window(window, actor=user, **values)
    return _answer(user, window.pk)


@router.post("/maintenance-windows/{window_id}/cancel", response=WindowOut)
def cancel_window(request, window_id: int):
    user = request.auth
    window = _writable(user, window_id)
    with _service_errors():
        services.cancel_window(window, actor=user)
    return _answer(user, window.pk)
