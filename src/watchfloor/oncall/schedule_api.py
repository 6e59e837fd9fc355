"""On-call schedules: CRUD for schedules, layers and overrides, who is on call (now or at a
time), the shifts of a range, iCalendar import, and the caller's own calendar feeds.

Reading needs `noc:view`; writing needs `noc:configure` (calendar feeds: `noc:view`, each
person's own). People are shown through `person_view`, masked without `noc:view_pii`. Another
tenant's ids are a 404, like missing ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile
from pydantic import Field, StringConstraints

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_value, masked_for, person_view
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id, Text
from watchfloor.oncall import ical, schedule_services
from watchfloor.oncall.models import LayerKind
from watchfloor.oncall.rotation import timelines, wall_clock
from watchfloor.oncall.schedule_queries import (
    access_feed,
    access_layer,
    access_override,
    access_schedule,
    feeds_of,
    oncall_at,
    overrides_for,
    schedules_for,
    users_by_id,
)
from watchfloor.oncall.schedule_schemas import (
    AtQuery,
    FeedOut,
    IcalImportOut,
    IcalUrlIn,
    LayerOut,
    LayerPatch,
    ListQuery,
    NewFeedOut,
    OnCallList,
    OnCallOut,
    OverrideIn,
    OverrideOut,
    RangeQuery,
    RefreshOut,
    RotationLayerIn,
    ScheduleIn,
    ScheduleOut,
    SchedulePage,
    SchedulePatch,
    ShiftsOut,
)

router = Router(tags=["on-call schedules"])

MAX_SHIFT_RANGE = timedelta(days=62)
DEFAULT_SHIFT_RANGE = timedelta(days=14)


def _pii(user) -> bool:
    return has_capability(user, Capability.VIEW_PII)


def _text(value: str, pii: bool) -> str:
    """Free text as the reader may see it (the one masking function)."""
    return masked_for(None, value, can_view_pii=pii)


def _layer_out(layer, pii: bool) -> dict:
    rotation = layer.kind == LayerKind.ROTATION
    members = list(layer.members.all()) if rotation else []
    return {
        "id": layer.id,
        "schedule_id": layer.schedule_id,
        "name": _text(layer.name, pii),
        "position": layer.position,
        "kind": layer.kind,
        "rotation_start_local": wall_clock(layer.rotation_start).isoformat()
        if rotation and layer.rotation_start
        else None,
        "shift_length": layer.shift_length if rotation else None,
        "shift_hours": layer.shift_hours if rotation else None,
        "members": [{"position": m.position, "person": person_view(m.user, pii)} for m in members],
        "ical_source": None if rotation else ("url" if layer.ical_url else "file"),
        "ical_refreshed_at": layer.ical_refreshed_at,
        "ical_error": _text(layer.ical_error, pii),
        "created_at": layer.created_at,
        "updated_at": layer.updated_at,
    }


def _schedule_out(schedule, pii: bool) -> dict:
    return {
        "id": schedule.id,
        "name": _text(schedule.name, pii),
        "description": _text(schedule.description, pii),
        "time_zone": schedule.time_zone,
        "layers": [_layer_out(la, pii) for la in schedule.layers.all()],
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }


def _schedule_answer(user, schedule_id: int) -> dict:
    return _schedule_out(access_schedule(user, schedule_id), _pii(user))


def _layer_answer(user, layer_id: int) -> dict:
    layer = access_layer(user, layer_id)
    schedule = access_schedule(user, layer.schedule_id)
    found = next(la for la in schedule.layers.all() if la.id == layer_id)
    return _layer_out(found, _pii(user))


def _override_out(override, pii: bool) -> dict:
    return {
        "id": override.id,
        "schedule_id": override.schedule_id,
        "person": person_view(override.user, pii),
        "starts_at": override.starts_at,
        "ends_at": override.ends_at,
        "reason": _text(override.reason, pii),
        "created_by": person_view(override.created_by, pii),
        "created_at": override.created_at,
    }


def _writable_schedule(user, schedule_id: int):
    require_capability(user, Capability.VIEW)
    schedule = access_schedule(user, schedule_id)
    require_capability(user, Capability.CONFIGURE)
    return schedule


def _shift_out(shift, people: dict, pii: bool) -> dict:
    return {
        "person": person_view(people.get(shift.user_id), pii),
        "starts_at": shift.starts_at,
        "ends_at": shift.ends_at,
        "layer_id": shift.layer_id,
        "source": shift.source,
    }


# --- schedules -----------------------------------------------------------------------------------
@router.get("/schedules", response=SchedulePage)
def list_schedules(request, filters: Query[ListQuery]):
    user = request.auth
    require_capability(user, Capability.VIEW)
    page = paginate(schedules_for(user), cursor=filters.cursor, limit=filters.limit)
    pii = _pii(user)
    return {"items": [_schedule_out(s, pii) for s in page.items], "next_cursor": page.next_cursor}


@router.post("/schedules", response={201: ScheduleOut})
def create_schedule(request, data: ScheduleIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    schedule = schedule_services.create_schedule(
        user.tenant,
        actor=user,
        name=data.name,
        description=data.description,
        time_zone=data.time_zone,
    )
    return Status(201, _schedule_answer(user, schedule.id))


@router.get("/schedules/{schedule_id}", response=ScheduleOut)
def get_schedule(request, schedule_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return _schedule_answer(request.auth, schedule_id)


@router.patch("/schedules/{schedule_id}", response=ScheduleOut)
def update_schedule(request, schedule_id: Id, data: SchedulePatch):
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    schedule_services.update_schedule(schedule, actor=user, **data.model_dump(exclude_unset=True))
    return _schedule_answer(user, schedule_id)


@router.delete("/schedules/{schedule_id}", response={204: None})
def delete_schedule(request, schedule_id: Id):
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    schedule_services.delete_schedule(schedule, actor=user)
    return Status(204, None)


# --- layers --------------------------------------------------------------------------------------
@router.post("/schedules/{schedule_id}/layers", response={201: LayerOut})
def create_rotation_layer(request, schedule_id: Id, data: RotationLayerIn):
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    layer = schedule_services.create_rotation_layer(
        schedule,
        actor=user,
        name=data.name,
        position=data.position,
        rotation_start=data.rotation_start,
        shift_length=data.shift_length,
        shift_hours=data.shift_hours,
        member_ids=data.member_ids,
    )
    return Status(201, _layer_answer(user, layer.id))


def _writable_layer(user, layer_id: int):
    require_capability(user, Capability.VIEW)
    layer = access_layer(user, layer_id)
    require_capability(user, Capability.CONFIGURE)
    return layer


@router.patch("/layers/{layer_id}", response=LayerOut)
def update_layer(request, layer_id: Id, data: LayerPatch):
    user = request.auth
    layer = _writable_layer(user, layer_id)
    schedule_services.update_layer(layer, actor=user, **data.model_dump(exclude_unset=True))
    return _layer_answer(user, layer_id)


@router.delete("/layers/{layer_id}", response={204: None})
def delete_layer(request, layer_id: Id):
    user = request.auth
    layer = _writable_layer(user, layer_id)
    schedule_services.delete_layer(layer, actor=user)
    return Status(204, None)


def _report_out(report: ical.ImportReport, pii: bool) -> dict:
    return {
        "occurrences": report.occurrences,
        "matched": report.matched,
        "unmatched_count": report.unmatched_count,
        "unmatched": [
            {
                **u,
                # a summary names a person when it is meant to: mask it like a name
                "summary": u["summary"] if pii else mask_value("name", u["summary"]),
            }
            for u in report.unmatched
        ],
    }


@router.post("/schedules/{schedule_id}/ical-layers", response={201: IcalImportOut})
def import_ical_url(request, schedule_id: Id, data: IcalUrlIn):
    """An iCalendar layer from a feed URL (http or https): fetched once now, with a short
    timeout, then refreshed by the `refresh_calendars` job."""
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    ical.validate_url(data.url)
    try:
        text = ical.fetch_feed(data.url, timeout=ical.REQUEST_FETCH_TIMEOUT)
    except ical.FetchError as exc:
        raise ValidationError({"url": f"The feed could not be fetched: {exc}."}) from None
    done = schedule_services.create_ical_layer(
        schedule,
        actor=user,
        name=data.name,
        position=data.position,
        ical_text=text,
        ical_url=data.url,
        field_name="url",
    )
    pii = _pii(user)
    return Status(
        201,
        {"layer": _layer_answer(user, done.layer.id), "report": _report_out(done.report, pii)},
    )


FormName = Annotated[Text(100, min_length=1), StringConstraints(strip_whitespace=True)]
FormPosition = Annotated[int, Field(ge=0, le=1000)]


@router.post("/schedules/{schedule_id}/ical-layers/upload", response={201: IcalImportOut})
def import_ical_file(
    request,
    schedule_id: Id,
    file: File[UploadedFile],
    name: Form[FormName],
    position: Form[FormPosition] = 0,
):
    """An iCalendar layer from an uploaded `.ics` file (multipart form: `file`, `name`,
    `position`), at most 1 MB."""
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    if file.size is not None and file.size > ical.MAX_ICAL_BYTES:
        raise ValidationError({"file": f"At most {ical.MAX_ICAL_BYTES} bytes."})
    text = ical.decode_upload(file.read(ical.MAX_ICAL_BYTES + 1), field_name="file")
    done = schedule_services.create_ical_layer(
        schedule, actor=user, name=name, position=position, ical_text=text, field_name="file"
    )
    pii = _pii(user)
    return Status(
        201,
        {"layer": _layer_answer(user, done.layer.id), "report": _report_out(done.report, pii)},
    )


@router.post("/layers/{layer_id}/refresh", response=RefreshOut)
def refresh_layer(request, layer_id: Id):
    """Fetch an iCalendar URL layer now (short timeout); a failure keeps the last good
    calendar and shows in `ical_error`."""
    user = request.auth
    layer = _writable_layer(user, layer_id)
    outcome = schedule_services.refresh_layer_now(layer, actor=user)
    return {"outcome": outcome, "layer": _layer_answer(user, layer_id)}


# --- overrides -----------------------------------------------------------------------------------
@router.get("/schedules/{schedule_id}/overrides", response=list[OverrideOut])
def list_overrides(request, schedule_id: Id, past: bool = False):
    user = request.auth
    require_capability(user, Capability.VIEW)
    schedule = access_schedule(user, schedule_id)
    pii = _pii(user)
    return [_override_out(o, pii) for o in overrides_for(user, schedule, include_past=past)[:500]]


@router.post("/schedules/{schedule_id}/overrides", response={201: OverrideOut})
def create_override(request, schedule_id: Id, data: OverrideIn):
    user = request.auth
    schedule = _writable_schedule(user, schedule_id)
    override = schedule_services.create_override(
        schedule,
        actor=user,
        user_id=data.user_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reason=data.reason,
    )
    return Status(201, _override_out(access_override(user, override.id), _pii(user)))


@router.delete("/overrides/{override_id}", response={204: None})
def delete_override(request, override_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    override = access_override(user, override_id)
    require_capability(user, Capability.CONFIGURE)
    schedule_services.delete_override(override, actor=user)
    return Status(204, None)


# --- who is on call, shifts ----------------------------------------------------------------------
def _oncall_items(user, schedules, at: datetime) -> list[dict]:
    found = oncall_at(user, schedules, at)
    people = users_by_id(user, {i for f in found for i in f.user_ids})
    pii = _pii(user)
    return [
        {
            "schedule_id": f.schedule.id,
            "schedule_name": _text(f.schedule.name, pii),
            "at": at,
            "people": [person_view(people[i], pii) for i in f.user_ids if i in people],
            "shifts": [_shift_out(s, people, pii) for s in f.shifts],
            "next_handoff": f.next_handoff,
        }
        for f in found
    ]


@router.get("/schedules/{schedule_id}/oncall", response=OnCallOut)
def schedule_oncall(request, schedule_id: Id, params: Query[AtQuery]):
    """Who is on call in this schedule now, or at `at`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    schedule = access_schedule(user, schedule_id)
    at = (params.at or timezone.now()).astimezone(UTC)
    return _oncall_items(user, [schedule], at)[0]


@router.get("/oncall", response=OnCallList)
def oncall(request, params: Query[AtQuery]):
    """Who is on call in every schedule now, or at `at`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    at = (params.at or timezone.now()).astimezone(UTC)
    schedules = list(schedules_for(user)[:500])
    return {"at": at, "items": _oncall_items(user, schedules, at)}


@router.get("/schedules/{schedule_id}/shifts", response=ShiftsOut)
def schedule_shifts(request, schedule_id: Id, params: Query[RangeQuery]):
    """The merged shifts in [start, end) (default: now and the next 14 days; at most 62 days),
    and each layer's own with `layers=true`."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    schedule = access_schedule(user, schedule_id)
    start = (params.start or timezone.now()).astimezone(UTC)
    end = (params.end or start + DEFAULT_SHIFT_RANGE).astimezone(UTC)
    if end <= start:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {"end": "Must be after start."}
        )
    if end - start > MAX_SHIFT_RANGE:
        raise ApiError(
            422,
            "validation_error",
            "The request is not valid.",
            {"end": f"The range is at most {MAX_SHIFT_RANGE.days} days."},
        )
    merged, per_layer = timelines([schedule.id], start, end).get(schedule.id, ([], {}))
    ids = {s.user_id for s in merged}
    if params.layers:
        ids |= {s.user_id for shifts in per_layer.values() for s in shifts}
    people = users_by_id(user, ids)
    pii = _pii(user)
    return {
        "schedule_id": schedule.id,
        "start": start,
        "end": end,
        "shifts": [_shift_out(s, people, pii) for s in merged],
        "layers": {
            str(layer_id): [_shift_out(s, people, pii) for s in shifts]
            for layer_id, shifts in per_layer.items()
        }
        if params.layers
        else {},
    }


# --- the caller's calendar feeds -----------------------------------------------------------------
def _feed_out(feed) -> dict:
    return {
        "id": feed.id,
        "prefix": feed.prefix,
        "created_at": feed.created_at,
        "revoked_at": feed.revoked_at,
    }


@router.get("/me/calendar-feeds", response=list[FeedOut])
def list_feeds(request):
    user = request.auth
    require_capability(user, Capability.VIEW)
    return [_feed_out(f) for f in feeds_of(user)[:100]]


@router.post("/me/calendar-feeds", response={201: NewFeedOut})
def create_feed(request):
    """A new iCalendar feed of your own shifts. The answer's `url` carries the secret token and
    is shown only this once."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    new = schedule_services.create_calendar_feed(actor=user)
    path = reverse("dashboard:oncall_calendar", kwargs={"token": new.token})
    return Status(201, {**_feed_out(new.feed), "url": request.build_absolute_uri(path)})


@router.delete("/me/calendar-feeds/{feed_id}", response={204: None})
def revoke_feed(request, feed_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    feed = access_feed(user, feed_id)
    schedule_services.revoke_calendar_feed(feed, actor=user)
    return Status(204, None)
