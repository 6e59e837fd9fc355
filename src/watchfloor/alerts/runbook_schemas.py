"""Request and response bodies of the runbooks API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from watchfloor.api.schemas import Id, QueryIn, StrictIn, Text
from watchfloor.tenancy.schemas import PersonOut

AlertType = Text(100, min_length=1)
Title = Text(200, min_length=1)
Body = Text(50_000)
Url = Text(1000)


class RunbookIn(StrictIn):
    alert_type: AlertType
    client_id: Id | None = None
    title: Title
    body: Body = ""
    url: Url = ""


class RunbookPatch(StrictIn):
    alert_type: AlertType | None = None
    title: Title | None = None
    body: Body | None = None
    url: Url | None = None


class RunbookClientOut(Schema):
    id: int
    code: str
    name: str


class RunbookOut(Schema):
    id: int
    alert_type: str
    client: RunbookClientOut | None
    title: str
    body: str  # the Markdown, masked for the reader
    html: str  # the body rendered: raw HTML off, only http(s)/mailto/relative links
    url: str
    created_at: datetime
    updated_at: datetime
    updated_by: PersonOut | None


class RunbookPage(Schema):
    items: list[RunbookOut]
    next_cursor: str | None


class RunbookFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    alert_type: AlertType | None = None
    client_id: Id | None = None
