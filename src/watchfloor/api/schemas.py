"""Shared API schemas and the one set of field types every schema and query parameter uses.

The types apply the checks of `watchfloor.bounds` (storable text, 64-bit integers, datetimes
in MIN_TIME–MAX_TIME); a value outside them is a 422 naming the field before any code runs, so
nothing out of range is stored and nothing downstream overflows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, field_validator

from watchfloor.bounds import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_TIME,
    MIN_TIME,
    int_problem,
    text_problem,
    time_problem,
    value_problem,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "MAX_TIME",
    "MIN_TIME",
    "int_problem",
    "text_problem",
    "time_problem",
    "value_problem",
]

# --- field types -------------------------------------------------------------------------------


def _storable_text(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def Text(max_length: int, *, min_length: int = 0):
    """Storable text of at most `max_length` characters (after stripping, in request bodies)."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_storable_text),
    ]


def BoundedInt(ge: int = INT64_MIN, le: int = INT64_MAX):
    return Annotated[int, Field(ge=ge, le=le)]


# A primary key: positive and 64-bit, for path parameters, filters and references.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]


def _aware_in_range(value: datetime) -> datetime:
    if problem := time_problem(value):
        raise ValueError(problem)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# A datetime that is always aware: one sent without an offset is read as UTC (DESIGN.md: UTC
# stored), so comparing it with `timezone.now()` never fails; and always within MIN_TIME–MAX_TIME.
UtcDatetime = Annotated[datetime, AfterValidator(_aware_in_range)]


def id_list(value: str | None) -> list[int]:
    """`"3,5,8"` → `[3, 5, 8]`; ValueError when an item is not an id."""
    if value is None:
        return []
    ids = []
    for item in str(value).split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isascii() or not item.isdigit():
            raise ValueError("Use ids separated by commas.")
        number = int(item)
        if not 1 <= number <= INT64_MAX:
            raise ValueError(f"Ids are between 1 and {INT64_MAX}.")
        ids.append(number)
    return ids


def _valid_id_list(value: str | None) -> str | None:
    id_list(value)
    return value


# A comma-separated list of ids in a query string (`client=3,5`); read it with `id_list`.
IdList = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_valid_id_list)]


# --- bases -------------------------------------------------------------------------------------


class _Checked(Schema):
    """Every field of every subclass, however typed, passes `value_problem`: the net under the
    field types above, so a field declared as a bare `str`, `int` or `dict` cannot carry a NUL,
    a lone surrogate, a 10**23 or a year-9999 time to the database."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if found := value_problem(value):
            where, problem = found
            raise ValueError(f"{problem[:-1]} (at {where})." if where else problem)
        return value


class StrictIn(_Checked):
    """Base for request bodies: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QueryIn(_Checked):
    """Base for query-string parameters (filters, cursors, limits)."""


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, str]


class ErrorOut(Schema):
    error: ErrorDetail
