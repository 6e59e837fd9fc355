"""Shared API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, ConfigDict


def _assume_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# A datetime that is always aware: one sent without an offset is read as UTC (DESIGN.md: UTC
# stored), so comparing it with `timezone.now()` never fails.
UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]


class StrictIn(Schema):
    """Base for request bodies: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(Schema):
    error: ErrorDetail
