"""Writes for maintenance windows: create, change, cancel.

Each one checks `noc:manage_maintenance`, validates (the model's invariants plus the rules of a
write: a window must end in the future), audits in its own transaction and publishes a real-time
event after commit. Scope (is this client or site the actor's?) is checked by the caller, which
fetched the objects through `access_client` / `access_site` / `access_window`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.events import publish_on_commit
from watchfloor.maintenance.matcher import WINDOW_CACHE
from watchfloor.maintenance.models import MaintenanceWindow, WindowKind, WindowState
from watchfloor.tenancy.models import Client, Site, Tenant

# what update_window may change (tenant, author and cancellation are not edits)
EDITABLE_FIELDS = (
    "client",
    "site",
    "title",
    "reason",
    "kind",
    "alert_types",
    "starts_at",
    "ends_at",
)
CLOSED_STATES = (WindowState.CANCELLED, WindowState.ENDED)


class WindowClosed(Exception):
    """The window is cancelled or has ended: it can no longer change (409 in the API)."""

    def __init__(self, window: MaintenanceWindow, state: WindowState):
        what = "been cancelled" if state == WindowState.CANCELLED else "ended"
        super().__init__(f"This maintenance window has {what}; it can no longer be changed.")
        self.window = window
        self.state = state


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def serialize_window(window: MaintenanceWindow, *, at: datetime) -> dict:
    """The window as a real-time event carries it (JSON-ready; ids, never people's names)."""
    return {
        "id": window.id,
        "client_id": window.client_id,
        "site_id": window.site_id,
        "title": window.title,
        "reason": window.reason,
        "kind": window.kind,
        "alert_types": list(window.alert_types),
        "starts_at": _iso(window.starts_at),
        "ends_at": _iso(window.ends_at),
        "state": str(window.state_at(at)),
        "created_by_id": window.created_by_id,
        "cancelled_at": _iso(window.cancelled_at),
        "cancelled_by_id": window.cancelled_by_id,
    }


def _publish(kind: str, window: MaintenanceWindow, at: datetime) -> None:
    """Tell the pipeline (this process's window cache) and real-time receivers, after commit."""
    tenant_id = window.tenant_id
    transaction.on_commit(lambda: WINDOW_CACHE.invalidate(tenant_id))
    publish_on_commit(
        [
            {
                "type": f"maintenance.{kind}",
                "tenant_id": window.tenant_id,
                "client_id": window.client_id,
                "site_id": window.site_id,
                "window": serialize_window(window, at=at),
            }
        ]
    )


def _audit(action: Action, window: MaintenanceWindow, *, actor, **extra) -> None:
    """Ids, codes, kind, types and times only: title and reason are free text (may hold PII)."""
    details = {
        "client": window.client.code,
        "site": window.site.code if window.site_id else None,
        **extra,
    }
    record(action, actor=actor, tenant=window.tenant_id, entity=window, details=details)


def _user_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _normalise_types(alert_types):
    """A list of alert types without repeats, in the order given (anything else is left for
    the model's validation to refuse)."""
    if isinstance(alert_types, (list, tuple)):
        return list(dict.fromkeys(t.strip() if isinstance(t, str) else t for t in alert_types))
    return alert_types


def _validate(window: MaintenanceWindow, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    try:
        window.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
    if "ends_at" not in errors and window.ends_at is not None and window.ends_at <= now:
        errors["ends_at"] = ["Must be in the future (to end a window now, cancel it)."]
    if errors:
        raise ValidationError(errors)


def _lock(window: MaintenanceWindow) -> None:
    """Re-read the row under a lock, so two writers (edit and cancel) cannot both pass."""
    window.refresh_from_db(from_queryset=MaintenanceWindow.objects.select_for_update())


@transaction.atomic
def create_window(
    tenant: Tenant,
    *,
    actor,
    client: Client,
    site: Site | None = None,
    title: str,
    reason: str = "",
    kind: WindowKind | str = WindowKind.PLANNED,
    alert_types: Iterable[str] = (),
    starts_at: datetime,
    ends_at: datetime,
) -> MaintenanceWindow:
    require_capability(actor, Capability.MANAGE_MAINTENANCE)
    now = timezone.now()
    window = MaintenanceWindow(
        tenant=tenant,
        client=client,
        site=site,
        title=title,
        reason=reason,
        kind=kind,
        alert_types=_normalise_types(alert_types),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=_user_or_none(actor),
    )
    _validate(window, now)
    window.save()
    _audit(
        Action.MAINTENANCE_CREATE,
        window,
        actor=actor,
        kind=window.kind,
        alert_types=window.alert_types,
        starts_at=_iso(window.starts_at),
        ends_at=_iso(window.ends_at),
    )
    _publish("created", window, now)
    return window


@transaction.atomic
def update_window(window: MaintenanceWindow, *, actor, **changes) -> MaintenanceWindow:
    """Change some of `EDITABLE_FIELDS`; a cancelled or ended window raises `WindowClosed`."""
    require_capability(actor, Capability.MANAGE_MAINTENANCE)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    _lock(window)
    now = timezone.now()
    state = window.state_at(now)
    if state in CLOSED_STATES:
        raise WindowClosed(window, state)
    if "alert_types" in changes:
        changes["alert_types"] = _normalise_types(changes["alert_types"])
    changed = sorted(f for f, v in changes.items() if getattr(window, f) != v)
    if not changed:
        return window
    for field in changed:
        setattr(window, field, changes[field])
    _validate(window, now)
    window.save(update_fields=[*changed, "updated_at"])
    _audit(Action.MAINTENANCE_UPDATE, window, actor=actor, fields=changed, was=str(state))
    _publish("updated", window, now)
    return window


@transaction.atomic
def cancel_window(window: MaintenanceWindow, *, actor) -> MaintenanceWindow:
    """Cancel an upcoming or active window; an active one stops suppressing at once (the
    matcher only reads windows that are not cancelled). Cancelling twice raises `WindowClosed`."""
    require_capability(actor, Capability.MANAGE_MAINTENANCE)
    _lock(window)
    now = timezone.now()
    state = window.state_at(now)
    if state in CLOSED_STATES:
        raise WindowClosed(window, state)
    window.cancelled_at = now
    window.cancelled_by = _user_or_none(actor)
    window.save(update_fields=["cancelled_at", "cancelled_by", "updated_at"])
    _audit(Action.MAINTENANCE_DELETE, window, actor=actor, change="cancel", was=str(state))
    _publish("cancelled", window, now)
    return window


# How far back a run looks for windows that started or ended: twice the period the web nodes
# run it at (realtime.hub), so one late or missed tick loses nothing.
TRANSITION_LOOKBACK = timedelta(seconds=60)


def announce_transitions(*, now: datetime | None = None) -> int:
    """Publish `maintenance.started` / `maintenance.ended` for windows that crossed their start
    or end lately. Time, not a write, makes these happen, so a periodic job calls this; each
    transition is announced once across all nodes (a cache key per window and kind)."""
    now = now or timezone.now()
    since = now - TRANSITION_LOOKBACK
    live = MaintenanceWindow.objects.filter(cancelled_at__isnull=True).select_related("client")
    due = [
        *(("started", w) for w in live.filter(starts_at__gt=since, starts_at__lte=now)),
        *(("ended", w) for w in live.filter(ends_at__gt=since, ends_at__lte=now)),
    ]
    announced = 0
    for kind, window in due:
        key = f"watchfloor:maintenance:{window.id}:{kind}:{window.starts_at.timestamp()}"
        if cache.add(key, 1, timeout=int(TRANSITION_LOOKBACK.total_seconds()) * 4):
            _publish(kind, window, now)
            announced += 1
    return announced
