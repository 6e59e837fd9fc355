"""Keyset (cursor) pagination on the primary key: stable under inserts, O(1) per page.

The cursor is an opaque string; clients pass back `next_cursor` as `cursor` to get the next page.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from watchfloor.api.errors import ApiError


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "pk":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            422, "validation_error", "The request is not valid.", {"cursor": "Invalid cursor."}
        ) from None


def paginate(
    queryset: QuerySet, *, cursor: str | None, limit: int | None, descending: bool = False
) -> Page:
    """One page of `queryset` ordered by id (descending for newest-first feeds)."""
    if limit is None:
        limit = settings.API_PAGE_SIZE
    if not 1 <= limit <= settings.API_MAX_PAGE_SIZE:
        raise ApiError(
            422,
            "validation_error",
            "The request is not valid.",
            {"limit": f"Must be between 1 and {settings.API_MAX_PAGE_SIZE}."},
        )
    qs = queryset.order_by("-pk" if descending else "pk")
    if cursor:
        after = decode_cursor(cursor)
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(rows[-1].pk) if has_more else None)
