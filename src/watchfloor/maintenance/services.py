"""Writes for maintenance windows: create, change, cancel.

Each one checks `noc:manage_maintenance`, validates (the model's invariants plus the rules of a
write: a window must end in the future), audits in its own transaction and publishes a real-time
event after commit. Scope (is this client or site the actor's?) is checked by the caller, which
fetched the objects through `access_client` / `access_site` / `access_window`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import partial

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as django_timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.degrade import guarded
from watchfloor.events import publish_on_commit
from watchfloor.maintenance.matcher import WINDOW_CACHE
from watchfloor.maintenance.models import MaintenanceWindow, WindowKind, WindowState
from watchfloor.maintenance.recurrence import Occurrence
from watchfloor.tenancy.models import Client, Site, Tenant

# what update_window may change (tenant, author and cancellation are not edits)
EDITABLE_FIELDS = (
    "client",
    "site",
    "title",
    "reason",
    "kind",
    "alert_types",
    "matchers",
    "recurrence_days",
    "recurrence_start",
    "recurrence_duration",
    "timezone",
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


def recurrence_view(window: MaintenanceWindow) -> dict | None:
    """The recurrence as the API and events show it, or None for a one-off window."""
    if not window.is_recurring:
        return None
    minutes = int(window.recurrence_duration.total_seconds() // 60)
    return {
        "days": list(window.recurrence_days),
        "start_time": window.recurrence_start.strftime("%H:%M"),
        "duration_minutes": minutes,
        "timezone": window.timezone or "UTC",
    }


def occurrence_view(occurrence) -> dict | None:
    if occurrence is None:
        return None
    return {"starts_at": _iso(occurrence.starts_at), "ends_at": _iso(occurrence.ends_at)}


def serialize_window(window: MaintenanceWindow, *, at: datetime, occurrence=None) -> dict:
    """The window as a real-time event carries it (JSON-ready; ids, never people's names).
    `occurrence` is the occurrence a started/ended event is about (else the current one)."""
    return {
        "id": window.id,
        "client_id": window.client_id,
        "site_id": window.site_id,
        "title": window.title,
        "reason": window.reason,
        "kind": window.kind,
        "alert_types": list(window.alert_types),
        "matchers": window.matchers,
        "recurrence": recurrence_view(window),
        "occurrence": occurrence_view(occurrence or window.occurrence_at(at)),
        "starts_at": _iso(window.starts_at),
        "ends_at": _iso(window.ends_at),
        "state": str(window.state_at(at)),
        "created_by_id": window.created_by_id,
        "cancelled_at": _iso(window.cancelled_at),
        "cancelled_by_id": window.cancelled_by_id,
    }


def _publish(kind: str, window: MaintenanceWindow, at: datetime, occurrence=None) -> None:
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
                "window": serialize_window(window, at=at, occurrence=occurrence),
            }
        ]
    )


def _audit(action: Action, window: MaintenanceWindow, *, actor, **extra) -> None:
    """Ids, codes, kind, types, times and the recurrence only: title, reason and matcher values
    are free text (may hold PII), so matchers are counted, not copied."""
    details = {
        "client": window.client.code,
        "site": window.site.code if window.site_id else None,
        **extra,
    }
    if window.matchers:
        details["matchers"] = len(window.label_matchers or ())
    if window.is_recurring:
        details["recurrence"] = recurrence_view(window)
    record(action, actor=actor, tenant=window.tenant_id, entity=window, details=details)


def _user_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _normalise_types(alert_types):
    """A list of alert types without repeats, in the order given (anything else is left for
    the model's validation to refuse)."""
    if isinstance(alert_types, (list, tuple)):
        return list(dict.fromkeys(t.strip() if isinstance(t, str) else t for t in alert_types))
    return alert_types


def _default_zone(window: MaintenanceWindow) -> None:
    """A recurring window without a named zone recurs in its site's zone (UTC client-wide)."""
    if window.recurrence_days and not window.timezone:
        window.timezone = window.site.timezone if window.site_id else "UTC"


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
    matchers: str = "",
    recurrence_days: Sequence[str] = (),
    recurrence_start: time | None = None,
    recurrence_duration: timedelta | None = None,
    timezone: str = "",
    starts_at: datetime,
    ends_at: datetime,
) -> MaintenanceWindow:
    """A one-off window from `starts_at` to `ends_at`, or with `recurrence_days` a weekly series
    between them (each occurrence from `recurrence_start` for `recurrence_duration`, local to
    `timezone`, by default the site's)."""
    require_capability(actor, Capability.MANAGE_MAINTENANCE)
    now = django_timezone.now()
    window = MaintenanceWindow(
        tenant=tenant,
        client=client,
        site=site,
        title=title,
        reason=reason,
        kind=kind,
        alert_types=_normalise_types(alert_types),
        matchers=matchers,
        recurrence_days=list(recurrence_days or ()),
        recurrence_start=recurrence_start,
        recurrence_duration=recurrence_duration,
        timezone=timezone,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=_user_or_none(actor),
    )
    _default_zone(window)
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
    now = django_timezone.now()
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
    _default_zone(window)
    _validate(window, now)
    # (validation writes the canonical matchers and the default zone back)
    window.save(update_fields=sorted({*changed, "matchers", "timezone", "updated_at"}))
    _audit(Action.MAINTENANCE_UPDATE, window, actor=actor, fields=changed, was=str(state))
    _publish("updated", window, now)
    return window


@transaction.atomic
def cancel_window(window: MaintenanceWindow, *, actor) -> MaintenanceWindow:
    """Cancel an upcoming or active window; an active one stops suppressing at once (the
    matcher only reads windows that are not cancelled). Cancelling twice raises `WindowClosed`."""
    require_capability(actor, Capability.MANAGE_MAINTENANCE)
    _lock(window)
    now = django_timezone.now()
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
    or end lately — for a recurring window, each of its occurrences. Time, not a write, makes
    these happen, so a periodic job calls this; each transition is announced once across all
    nodes (a cache key per window, kind and occurrence start)."""
    now = now or django_timezone.now()
    since = now - TRANSITION_LOOKBACK
    live = MaintenanceWindow.objects.filter(cancelled_at__isnull=True).select_related("client")
    one_off = live.filter(recurrence_start__isnull=True)
    due: list[tuple[str, MaintenanceWindow, Occurrence | None]] = [
        *(("started", w, None) for w in one_off.filter(starts_at__gt=since, starts_at__lte=now)),
        *(("ended", w, None) for w in one_off.filter(ends_at__gt=since, ends_at__lte=now)),
    ]
    recurring = live.filter(
        recurrence_start__isnull=False, starts_at__lte=now, ends_at__gt=since
    ).order_by("id")
    for window in recurring:
        # occurrences that touch (since, now]: one that starts or ends in it is a transition
        for found in window.occurrences_between(since, now + timedelta(microseconds=1)):
            if since < found.starts_at <= now:
                due.append(("started", window, found))
            if since < found.ends_at <= now:
                due.append(("ended", window, found))
    announced = 0
    for kind, window, occurrence in due:
        start = (occurrence or window).starts_at.timestamp()
        key = f"watchfloor:maintenance:{window.id}:{kind}:{start}"
        # the cache down: announce (a repeat is harmless, a missed start is not)
        first = guarded(
            "cache",
            partial(cache.add, key, 1, timeout=int(TRANSITION_LOOKBACK.total_seconds()) * 4),
            lambda: True,
        )
        if first:
            _publish(kind, window, now, occurrence)
            announced += 1
    return announced
