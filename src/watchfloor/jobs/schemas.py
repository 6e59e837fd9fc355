"""The jobs API's schemas. `result`, `error` and `node` are filled for platform superusers
only (jobs work across tenants; an error may quote anything); others get null."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import StringConstraints

from watchfloor.api.schemas import QueryIn
from watchfloor.jobs.models import Outcome

JobName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.:-]+$")]


class LastRunOut(Schema):
    id: int
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    outcome: Outcome
    error: str | None


class JobOut(Schema):
    name: str
    every_seconds: float
    stale_after_seconds: float
    stale: bool
    running: bool
    last_run: LastRunOut | None
    last_success_at: datetime | None
    next_expected_at: datetime
    failures_24h: int


class JobsOut(Schema):
    items: list[JobOut]
    stale: list[str]


class RunOut(Schema):
    id: int
    job: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    outcome: Outcome
    result: dict | None
    error: str | None
    node: str | None


class RunPage(Schema):
    items: list[RunOut]
    next_cursor: str | None


Cursor = Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


class RunFilters(QueryIn):
    cursor: Cursor | None = None
    limit: int | None = None
    job: JobName | None = None
    outcome: Outcome | None = None
