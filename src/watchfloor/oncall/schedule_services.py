"""Writes for on-call schedules: schedules, layers (rotation members in order, iCalendar
imports), overrides, calendar feeds, and the refresh of iCalendar URL layers.

Every configuration write needs `noc:configure`, runs in one transaction and is audited as a
configuration change with ids only (names of schedules and people are not copied into the audit
log). The caller fetched the objects through `schedule_queries.access_*` (tenant and scope); the
services check again that every person named is an active user of the same tenant.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.oncall import ical
from watchfloor.oncall.models import (
    CalendarFeed,
    Layer,
    LayerKind,
    LayerMember,
    Override,
    Schedule,
    ShiftLength,
)
from watchfloor.oncall.rotation import as_stored_wall_clock, zone
from watchfloor.oncall.text import check_characters
from watchfloor.tenancy.models import Tenant, User, validate_timezone

log = logging.getLogger(__name__)

MAX_MEMBERS = 100
MAX_LAYERS = 20
MAX_SHIFT_HOURS = 24 * 30
MAX_OVERRIDE = timedelta(days=90)
MAX_POSITION = 1000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
SCHEDULE_FIELDS = ("name", "description", "time_zone")
LAYER_FIELDS = ("name", "position", "rotation_start", "shift_length", "shift_hours", "member_ids")
FEED_TOKEN_BYTES = 32


def _audit(change: str, entity, *, actor, **details) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=entity.tenant_id,
        entity=entity,
        details={"change": change, **details},
    )


def _clean(obj, *, exclude: Iterable[str] = ()) -> None:
    try:
        obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None


def _check_text(**values) -> None:
    """NUL characters and lone surrogates are refused before they reach the database."""
    for name, value in values.items():
        if isinstance(value, str):
            check_characters(name, value)


def _check_moment(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise ValidationError({name: "Must carry a time zone."})
    if not EARLIEST <= value < LATEST:
        raise ValidationError({name: "Must be between 2000 and 2100."})


def _active_members(tenant_id: int, ids: Iterable[int], *, field: str) -> list[int]:
    ids = list(ids)
    if len(ids) > MAX_MEMBERS:
        raise ValidationError({field: f"At most {MAX_MEMBERS} people."})
    found = set(
        User.objects.filter(tenant_id=tenant_id, is_active=True, id__in=set(ids)).values_list(
            "id", flat=True
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({field: "Not an active person of your organisation."})
    return ids


def _unique_name(schedule: Schedule) -> None:
    clash = Schedule.objects.filter(tenant_id=schedule.tenant_id, name=schedule.name)
    if schedule.pk:
        clash = clash.exclude(pk=schedule.pk)
    if clash.exists():
        raise ValidationError({"name": "A schedule with this name exists."})


# --- schedules -----------------------------------------------------------------------------------
def _validate_schedule(schedule: Schedule) -> None:
    _check_text(name=schedule.name, description=schedule.description, time_zone=schedule.time_zone)
    if not schedule.name.strip():
        raise ValidationError({"name": "This field is required."})
    try:
        validate_timezone(schedule.time_zone)
    except ValidationError:
        raise ValidationError({"time_zone": "Unknown time zone."}) from None
    _clean(schedule, exclude=["tenant"])
    _unique_name(schedule)


@transaction.atomic
def create_schedule(
    tenant: Tenant, *, actor, name: str, description: str = "", time_zone: str = "UTC"
) -> Schedule:
    require_capability(actor, Capability.CONFIGURE)
    schedule = Schedule(tenant=tenant, name=name, description=description, time_zone=time_zone)
    _validate_schedule(schedule)
    schedule.save()
    _audit("schedule.create", schedule, actor=actor, time_zone=schedule.time_zone)
    return schedule


@transaction.atomic
def update_schedule(schedule: Schedule, *, actor, **changes) -> Schedule:
    """Change some of name, description, time_zone (a rotation's handoffs keep their local
    wall time in the new zone)."""
    require_capability(actor, Capability.CONFIGURE)
    unknown = set(changes) - set(SCHEDULE_FIELDS)
    if unknown:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    schedule.refresh_from_db(from_queryset=Schedule.objects.select_for_update())
    changed = sorted(f for f, v in changes.items() if getattr(schedule, f) != v)
    if not changed:
        return schedule
    for name in changed:
        setattr(schedule, name, changes[name])
    _validate_schedule(schedule)
    schedule.save(update_fields=[*changed, "updated_at"])
    _audit("schedule.update", schedule, actor=actor, fields=changed)
    return schedule


@transaction.atomic
def delete_schedule(schedule: Schedule, *, actor) -> None:
    """Delete a schedule with its layers and overrides. An escalation step that named it
    finds nobody on call (the escalation engine records that)."""
    require_capability(actor, Capability.CONFIGURE)
    _audit("schedule.delete", schedule, actor=actor, schedule_id=schedule.id)
    schedule.delete()


# --- layers --------------------------------------------------------------------------------------
def local_rotation_start(value: datetime, time_zone: str) -> datetime:
    """A handoff given by the API or a form, as `rotation_start` stores it: a naive value is
    the local wall time already; an aware one is read in the schedule's zone first."""
    if value.tzinfo is not None:
        value = value.astimezone(zone(time_zone)).replace(tzinfo=None)
    return as_stored_wall_clock(value)


def _validate_layer(layer: Layer) -> None:
    _check_text(name=layer.name)
    if not layer.name.strip():
        raise ValidationError({"name": "This field is required."})
    if not 0 <= layer.position <= MAX_POSITION:
        raise ValidationError({"position": f"Must be between 0 and {MAX_POSITION}."})
    if layer.kind == LayerKind.ROTATION:
        if layer.rotation_start is None:
            raise ValidationError({"rotation_start": "A rotation needs its first handoff."})
        _check_moment("rotation_start", layer.rotation_start)
        if layer.shift_length not in ShiftLength.values:
            raise ValidationError({"shift_length": "Must be daily, weekly or custom."})
        if layer.shift_length == ShiftLength.CUSTOM:
            if layer.shift_hours is None or not 1 <= layer.shift_hours <= MAX_SHIFT_HOURS:
                raise ValidationError(
                    {"shift_hours": f"A custom shift is 1 to {MAX_SHIFT_HOURS} hours."}
                )
        else:
            layer.shift_hours = None
    _clean(layer, exclude=["tenant", "schedule", "ical_text"])


def _set_members(layer: Layer, member_ids: list[int]) -> None:
    LayerMember.objects.filter(layer=layer).delete()
    LayerMember.objects.bulk_create(
        LayerMember(layer=layer, user_id=user_id, position=i)
        for i, user_id in enumerate(member_ids)
    )


def _layer_count_check(schedule: Schedule) -> None:
    if Layer.objects.filter(schedule=schedule).count() >= MAX_LAYERS:
        raise ValidationError({"schedule": f"A schedule has at most {MAX_LAYERS} layers."})


@transaction.atomic
def create_rotation_layer(
    schedule: Schedule,
    *,
    actor,
    name: str,
    rotation_start: datetime,
    shift_length: str = ShiftLength.WEEKLY,
    shift_hours: int | None = None,
    member_ids: Iterable[int] = (),
    position: int = 0,
) -> Layer:
    """A rotation of `member_ids` in that order (a person may appear more than once), the first
    handing over at `rotation_start` (see `local_rotation_start`)."""
    require_capability(actor, Capability.CONFIGURE)
    Schedule.objects.select_for_update().filter(pk=schedule.pk).first()
    _layer_count_check(schedule)
    members = _active_members(schedule.tenant_id, member_ids, field="member_ids")
    if not members:
        raise ValidationError({"member_ids": "A rotation needs at least one person."})
    layer = Layer(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        name=name,
        position=position,
        kind=LayerKind.ROTATION,
        rotation_start=local_rotation_start(rotation_start, schedule.time_zone)
        if rotation_start is not None
        else None,
        shift_length=shift_length,
        shift_hours=shift_hours,
    )
    _validate_layer(layer)
    layer.save()
    _set_members(layer, members)
    _audit(
        "layer.create",
        layer,
        actor=actor,
        schedule_id=schedule.id,
        kind=layer.kind,
        member_ids=members,
        shift_length=layer.shift_length,
    )
    return layer


@transaction.atomic
def update_layer(layer: Layer, *, actor, **changes) -> Layer:
    """Change some of name, position, rotation_start, shift_length, shift_hours, member_ids
    (the rotation fields apply to rotation layers only)."""
    require_capability(actor, Capability.CONFIGURE)
    unknown = set(changes) - set(LAYER_FIELDS)
    if unknown:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    layer.refresh_from_db(from_queryset=Layer.objects.select_for_update())
    if layer.kind == LayerKind.ICAL:
        rotation_only = sorted(set(changes) - {"name", "position"})
        if rotation_only:
            raise ValidationError({f: "Only for rotation layers." for f in rotation_only})
    member_ids = changes.pop("member_ids", None)
    if "rotation_start" in changes and changes["rotation_start"] is not None:
        changes["rotation_start"] = local_rotation_start(
            changes["rotation_start"], layer.schedule.time_zone
        )
    changed = sorted(f for f, v in changes.items() if getattr(layer, f) != v)
    for name in changed:
        setattr(layer, name, changes[name])
    _validate_layer(layer)
    if member_ids is not None:
        members = _active_members(layer.tenant_id, member_ids, field="member_ids")
        if not members:
            raise ValidationError({"member_ids": "A rotation needs at least one person."})
        current = list(
            LayerMember.objects.filter(layer=layer)
            .order_by("position")
            .values_list("user_id", flat=True)
        )
        if current != members:
            _set_members(layer, members)
            changed.append("member_ids")
    if not changed:
        return layer
    layer.save()
    _audit("layer.update", layer, actor=actor, schedule_id=layer.schedule_id, fields=changed)
    return layer


@transaction.atomic
def delete_layer(layer: Layer, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    _audit("layer.delete", layer, actor=actor, schedule_id=layer.schedule_id, layer_id=layer.id)
    layer.delete()


@dataclass
class IcalImport:
    layer: Layer
    report: ical.ImportReport


@transaction.atomic
def create_ical_layer(
    schedule: Schedule,
    *,
    actor,
    name: str,
    ical_text: str,
    ical_url: str = "",
    position: int = 0,
    field_name: str = "file",
) -> IcalImport:
    """An iCalendar layer from an uploaded file's text, or from a feed URL whose text the
    caller fetched (`ical.fetch_feed`); the refresh job re-fetches URL layers. The report
    counts the occurrences of the next 60 days (and last week) that name nobody."""
    require_capability(actor, Capability.CONFIGURE)
    Schedule.objects.select_for_update().filter(pk=schedule.pk).first()
    _layer_count_check(schedule)
    if ical_url:
        _check_text(url=ical_url)
        ical.validate_url(ical_url)
    calendar = ical.validate_calendar(ical_text, field_name=field_name)
    now = timezone.now()
    layer = Layer(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        name=name,
        position=position,
        kind=LayerKind.ICAL,
        ical_url=ical_url,
        ical_text=ical_text,
        ical_refreshed_at=now,
    )
    _validate_layer(layer)
    layer.save()
    report = ical.import_report(calendar, schedule, now=now)
    _audit(
        "layer.create",
        layer,
        actor=actor,
        schedule_id=schedule.id,
        kind=layer.kind,
        source="url" if ical_url else "file",
        occurrences=report.occurrences,
        unmatched=report.unmatched_count,
    )
    return IcalImport(layer, report)


@transaction.atomic
def replace_ical_text(layer: Layer, *, actor, ical_text: str, field_name: str = "file"):
    """A new upload (or a fetch asked for by a person) for an iCalendar layer."""
    require_capability(actor, Capability.CONFIGURE)
    layer.refresh_from_db(from_queryset=Layer.objects.select_for_update())
    if layer.kind != LayerKind.ICAL:
        raise ValidationError({field_name: "Not an iCalendar layer."})
    calendar = ical.validate_calendar(ical_text, field_name=field_name)
    now = timezone.now()
    layer.ical_text = ical_text
    layer.ical_refreshed_at = now
    layer.ical_error = ""
    layer.save(update_fields=["ical_text", "ical_refreshed_at", "ical_error", "updated_at"])
    report = ical.import_report(calendar, layer.schedule, now=now)
    _audit(
        "layer.ical_replace",
        layer,
        actor=actor,
        schedule_id=layer.schedule_id,
        occurrences=report.occurrences,
        unmatched=report.unmatched_count,
    )
    return IcalImport(layer, report)


def _refresh_one(layer_id: int, *, timeout: float) -> str:
    """Fetch one URL layer and store its text ("ok"), or keep the last good text and record
    the error ("failed"). Logs a layer's first failure and its recovery, once each."""
    layer = Layer.objects.filter(pk=layer_id, kind=LayerKind.ICAL).exclude(ical_url="").first()
    if layer is None:
        return "gone"
    error = ""
    text = ""
    try:
        text = ical.fetch_feed(layer.ical_url, timeout=timeout)
        ical.validate_calendar(text, field_name="url")
    except ical.FetchError as exc:
        error = f"Fetch failed: {exc}"
    except ValidationError as exc:
        error = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    error = error[:500]
    now = timezone.now()
    with transaction.atomic():
        current = Layer.objects.select_for_update().filter(pk=layer_id).first()
        if current is None:
            return "gone"
        was = current.ical_error
        if error:
            current.ical_error = error
            current.save(update_fields=["ical_error", "updated_at"])
            if not was:
                log.warning("calendar feed of layer %s fails: %s", layer_id, error)
            return "failed"
        current.ical_text = text
        current.ical_error = ""
        current.ical_refreshed_at = now
        current.save(update_fields=["ical_text", "ical_error", "ical_refreshed_at", "updated_at"])
        if was:
            log.warning("calendar feed of layer %s recovered", layer_id)
    return "ok"


def refresh_url_layers(*, timeout: float = ical.FETCH_TIMEOUT) -> dict[str, int]:
    """Re-fetch every iCalendar layer that has a URL (idempotent: the job may run it twice)."""
    counts = {"ok": 0, "failed": 0, "gone": 0}
    ids = list(
        Layer.objects.filter(kind=LayerKind.ICAL)
        .exclude(ical_url="")
        .order_by("id")
        .values_list("id", flat=True)
    )
    for layer_id in ids:
        counts[_refresh_one(layer_id, timeout=timeout)] += 1
    return counts


def refresh_layer_now(layer: Layer, *, actor) -> str:
    """One fetch asked for by a person (short timeout): "ok" or "failed" (see ical_error)."""
    require_capability(actor, Capability.CONFIGURE)
    if layer.kind != LayerKind.ICAL or not layer.ical_url:
        raise ValidationError({"layer": "Not an iCalendar layer with a URL."})
    outcome = _refresh_one(layer.id, timeout=ical.REQUEST_FETCH_TIMEOUT)
    _audit("layer.refresh", layer, actor=actor, schedule_id=layer.schedule_id, outcome=outcome)
    return outcome


# --- overrides -----------------------------------------------------------------------------------
@transaction.atomic
def create_override(
    schedule: Schedule,
    *,
    actor,
    user_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> Override:
    """One person covers the schedule from `starts_at` to `ends_at` (at most 90 days, ending in
    the future)."""
    require_capability(actor, Capability.CONFIGURE)
    _check_text(reason=reason)
    _check_moment("starts_at", starts_at)
    _check_moment("ends_at", ends_at)
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "Must be after starts_at."})
    if ends_at - starts_at > MAX_OVERRIDE:
        raise ValidationError({"ends_at": f"An override lasts at most {MAX_OVERRIDE.days} days."})
    if ends_at <= timezone.now():
        raise ValidationError({"ends_at": "Must be in the future."})
    _active_members(schedule.tenant_id, [user_id], field="user_id")
    override = Override(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        user_id=user_id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _clean(override, exclude=["tenant", "schedule", "user", "created_by"])
    override.save()
    _audit(
        "override.create",
        override,
        actor=actor,
        schedule_id=schedule.id,
        user_id=user_id,
        starts_at=starts_at.astimezone(UTC).isoformat(),
        ends_at=ends_at.astimezone(UTC).isoformat(),
    )
    return override


@transaction.atomic
def delete_override(override: Override, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    _audit(
        "override.delete",
        override,
        actor=actor,
        schedule_id=override.schedule_id,
        override_id=override.id,
    )
    override.delete()


# --- calendar feeds ------------------------------------------------------------------------------
def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class NewFeed:
    feed: CalendarFeed
    token: str  # shown once: only its hash is stored


@transaction.atomic
def create_calendar_feed(*, actor) -> NewFeed:
    """A new subscribable feed of the actor's own shifts (needs `noc:view`)."""
    require_capability(actor, Capability.VIEW)
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    feed = CalendarFeed.objects.create(
        tenant_id=actor.tenant_id,
        user=actor,
        token_hash=feed_token_hash(token),
        prefix=token[:8],
    )
    record(Action.TOKEN_CREATE, actor=actor, entity=feed, details={"kind": "calendar_feed"})
    return NewFeed(feed, token)


@transaction.atomic
def revoke_calendar_feed(feed: CalendarFeed, *, actor) -> CalendarFeed:
    """End a feed (its owner's act; revoking twice changes nothing)."""
    require_capability(actor, Capability.VIEW)
    feed.refresh_from_db(from_queryset=CalendarFeed.objects.select_for_update())
    if feed.revoked_at is not None:
        return feed
    feed.revoked_at = timezone.now()
    feed.save(update_fields=["revoked_at"])
    record(Action.TOKEN_REVOKE, actor=actor, entity=feed, details={"kind": "calendar_feed"})
    return feed
