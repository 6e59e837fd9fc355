from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, StringConstraints, field_validator

from watchfloor.api.schemas import Id, QueryIn, StrictIn, Text, UtcDatetime
from watchfloor.maintenance.label_matchers import (
    MAX_TEXT_LENGTH,
    format_matchers,
    parse_matchers,
)
from watchfloor.maintenance.models import MAX_ALERT_TYPES, WindowKind
from watchfloor.maintenance.recurrence import DAYS, MAX_DURATION
from watchfloor.tenancy.schemas import ClientRef, PersonOut

Title = Text(200, min_length=1)
Reason = Text(2000)
AlertType = Text(100, min_length=1)
AlertTypes = Annotated[list[AlertType], Field(max_length=MAX_ALERT_TYPES)]
State = Literal["upcoming", "active", "ended", "cancelled"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
assert set(Day.__args__) == set(DAYS)  # type: ignore[attr-defined]
LocalTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
ZoneName = Text(64, min_length=1)
MatchersText = Text(MAX_TEXT_LENGTH)


def _canonical_matchers(value: str | None) -> str | None:
    """Parsed here, so a bad matcher is a 422 naming `matchers` with the parser's message."""
    if value is None:
        return None
    parsed = parse_matchers(value)
    return format_matchers(parsed) if parsed else ""


class RecurrenceIn(StrictIn):
    """Every week on `days`, from `start_time` (HH:MM local to `timezone`, by default the
    site's) for `duration_minutes`, between the window's starts_at and ends_at."""

    days: Annotated[list[Day], Field(min_length=1, max_length=7)]
    start_time: LocalTime
    duration_minutes: Annotated[int, Field(ge=1, le=int(MAX_DURATION.total_seconds() // 60))]
    timezone: ZoneName | None = None

    @field_validator("days")
    @classmethod
    def _no_repeats(cls, value):
        if len(set(value)) != len(value):
            raise ValueError("Each weekday at most once.")
        return value


class RecurrenceOut(Schema):
    days: list[Day]
    start_time: str
    duration_minutes: int
    timezone: str


class OccurrenceOut(Schema):
    starts_at: datetime
    ends_at: datetime


class SiteRef(Schema):
    id: int
    code: str
    name: str


class WindowOut(Schema):
    id: int
    client: ClientRef
    site: SiteRef | None
    title: str
    reason: str
    kind: WindowKind
    alert_types: list[str]
    matchers: str
    recurrence: RecurrenceOut | None
    starts_at: datetime
    ends_at: datetime
    state: State
    current_occurrence: OccurrenceOut | None
    next_occurrence: OccurrenceOut | None
    created_by: PersonOut | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancelled_by: PersonOut | None
    suppressed_alerts_url: str


class WindowPage(Schema):
    items: list[WindowOut]
    next_cursor: str | None


class WindowFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    status: State | None = None
    client: str | None = None
    site: str | None = None


class WindowIn(StrictIn):
    client_id: Id
    site_id: Id | None = None
    title: Title
    reason: Reason = ""
    kind: WindowKind = WindowKind.PLANNED
    alert_types: AlertTypes = []
    matchers: MatchersText = ""
    recurrence: RecurrenceIn | None = None
    starts_at: UtcDatetime
    ends_at: UtcDatetime

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, value):
        return _canonical_matchers(value)


class PreviewIn(StrictIn):
    """What a window would cover: the open alerts it would match now are listed."""

    client_id: Id
    site_id: Id | None = None
    alert_types: AlertTypes = []
    matchers: MatchersText = ""
    limit: Annotated[int, Field(ge=1, le=200)] = 50

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, value):
        return _canonical_matchers(value)


class PreviewAlert(Schema):
    id: int
    title: str
    type: str
    severity: str
    status: str
    site: SiteRef | None
    labels: dict[str, object]
    first_seen_at: datetime


class PreviewOut(Schema):
    count: int
    count_is_exact: bool
    items: list[PreviewAlert]


class WindowPatch(StrictIn):
    """Any subset; `site_id: null` makes the window cover the whole client, `recurrence: null`
    makes it a one-off, `matchers: ""` drops the label matchers."""

    client_id: Id | None = None
    site_id: Id | None = None
    title: Title | None = None
    reason: Reason | None = None
    kind: WindowKind | None = None
    alert_types: AlertTypes | None = None
    matchers: MatchersText | None = None
    recurrence: RecurrenceIn | None = None
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None

    @field_validator("matchers")
    @classmethod
    def _parse_matchers(cls, value):
        return _canonical_matchers(value)

    @field_validator(
        "client_id", "title", "reason", "kind", "alert_types", "matchers", "starts_at", "ends_at"
    )
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("May not be null.")
        return value
