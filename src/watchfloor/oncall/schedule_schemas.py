"""Request and response bodies of the schedules API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import AfterValidator, Field, StringConstraints, field_validator

from watchfloor.api.schemas import QueryIn, StrictIn, Text, UtcDatetime
from watchfloor.tenancy.models import validate_timezone
from watchfloor.tenancy.schemas import PersonOut

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= aware < LATEST:
        raise ValueError("Must be between 2000 and 2100")
    return value


def _zone(value: str) -> str:
    try:
        validate_timezone(value)
    except Exception:
        raise ValueError("Unknown time zone") from None
    return value


Name = Text(100, min_length=1)
Description = Text(500)
Reason = Text(300)
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_zone)]
Moment = Annotated[UtcDatetime, AfterValidator(_in_range)]
# a rotation's first handoff: a local date and time in the schedule's zone (no offset), or an
# aware moment that is read in the schedule's zone
LocalMoment = Annotated[datetime, AfterValidator(_in_range)]
Position = Annotated[int, Field(ge=0, le=1000)]
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]
MemberIds = Annotated[list[UserId], Field(min_length=1, max_length=100)]
ShiftHours = Annotated[int, Field(ge=1, le=720)]
Url = Text(1000, min_length=1)
ShiftLengthIn = Literal["daily", "weekly", "custom"]


class ScheduleIn(StrictIn):
    name: Name
    description: Description = ""
    time_zone: TimeZone = "UTC"


class SchedulePatch(StrictIn):
    name: Name | None = None
    description: Description | None = None
    time_zone: TimeZone | None = None

    @field_validator("name", "description", "time_zone")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("May not be null.")
        return value


class RotationLayerIn(StrictIn):
    name: Name
    position: Position = 0
    rotation_start: LocalMoment
    shift_length: ShiftLengthIn = "weekly"
    shift_hours: ShiftHours | None = None
    member_ids: MemberIds


class LayerPatch(StrictIn):
    name: Name | None = None
    position: Position | None = None
    rotation_start: LocalMoment | None = None
    shift_length: ShiftLengthIn | None = None
    shift_hours: ShiftHours | None = None
    member_ids: MemberIds | None = None

    @field_validator("name", "position", "rotation_start", "shift_length", "member_ids")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("May not be null.")
        return value


class IcalUrlIn(StrictIn):
    name: Name
    position: Position = 0
    url: Url


class OverrideIn(StrictIn):
    user_id: UserId
    starts_at: Moment
    ends_at: Moment
    reason: Reason = ""


class MemberOut(Schema):
    position: int
    person: PersonOut


class LayerOut(Schema):
    id: int
    schedule_id: int
    name: str
    position: int
    kind: str
    rotation_start_local: str | None  # the first handoff, local wall time in the schedule's zone
    shift_length: str | None
    shift_hours: int | None
    members: list[MemberOut]
    ical_source: Literal["file", "url"] | None
    ical_refreshed_at: datetime | None
    ical_error: str
    created_at: datetime
    updated_at: datetime


class ScheduleOut(Schema):
    id: int
    name: str
    description: str
    time_zone: str
    layers: list[LayerOut]
    created_at: datetime
    updated_at: datetime


class SchedulePage(Schema):
    items: list[ScheduleOut]
    next_cursor: str | None


class UnmatchedOut(Schema):
    uid: str
    summary: str
    starts_at: datetime


class ImportReportOut(Schema):
    occurrences: int
    matched: int
    unmatched_count: int
    unmatched: list[UnmatchedOut]


class IcalImportOut(Schema):
    layer: LayerOut
    report: ImportReportOut


class RefreshOut(Schema):
    outcome: str
    layer: LayerOut


class OverrideOut(Schema):
    id: int
    schedule_id: int
    person: PersonOut
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: PersonOut | None
    created_at: datetime


class ShiftOut(Schema):
    person: PersonOut | None
    starts_at: datetime
    ends_at: datetime
    layer_id: int | None
    source: str


class OnCallOut(Schema):
    schedule_id: int
    schedule_name: str
    at: datetime
    people: list[PersonOut]
    shifts: list[ShiftOut]
    next_handoff: datetime | None


class OnCallList(Schema):
    at: datetime
    items: list[OnCallOut]


class ShiftsOut(Schema):
    schedule_id: int
    start: datetime
    end: datetime
    shifts: list[ShiftOut]
    layers: dict[str, list[ShiftOut]]


class AtQuery(QueryIn):
    at: Moment | None = None


class RangeQuery(QueryIn):
    start: Moment | None = None
    end: Moment | None = None
    layers: bool = False


class ListQuery(QueryIn):
    cursor: str | None = None
    limit: int | None = None


class FeedOut(Schema):
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class NewFeedOut(FeedOut):
    url: str  # shown once: the token in it is stored only as a hash
