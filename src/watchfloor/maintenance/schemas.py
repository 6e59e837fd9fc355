from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import Field, StringConstraints, field_validator

from watchfloor.api.schemas import StrictIn, UtcDatetime
from watchfloor.maintenance.models import MAX_ALERT_TYPES, WindowKind
from watchfloor.tenancy.schemas import ClientRef, PersonOut

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(max_length=2000)]
AlertType = Annotated[str, StringConstraints(min_length=1, max_length=100)]
AlertTypes = Annotated[list[AlertType], Field(max_length=MAX_ALERT_TYPES)]
State = Literal["upcoming", "active", "ended", "cancelled"]


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
    starts_at: datetime
    ends_at: datetime
    state: State
    created_by: PersonOut | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancelled_by: PersonOut | None
    suppressed_alerts_url: str


class WindowPage(Schema):
    items: list[WindowOut]
    next_cursor: str | None


class WindowFilters(Schema):
    cursor: str | None = None
    limit: int | None = None
    status: State | None = None
    client: str | None = None
    site: str | None = None


class WindowIn(StrictIn):
    client_id: int
    site_id: int | None = None
    title: Title
    reason: Reason = ""
    kind: WindowKind = WindowKind.PLANNED
    alert_types: AlertTypes = []
    starts_at: UtcDatetime
    ends_at: UtcDatetime


class WindowPatch(StrictIn):
    """Any subset; `site_id: null` makes the window cover the whole client."""

    client_id: int | None = None
    site_id: int | None = None
    title: Title | None = None
    reason: Reason | None = None
    kind: WindowKind | None = None
    alert_types: AlertTypes | None = None
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None

    @field_validator("client_id", "title", "reason", "kind", "alert_types", "starts_at", "ends_at")
    @classmethod
    def _not_null(cls, value):
        if value is None:
            raise ValueError("May not be null.")
        return value
