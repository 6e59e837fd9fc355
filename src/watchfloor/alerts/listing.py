"""Sorted keyset pages of alerts: the list API and the alerts page share them.

Each sort is a list of keys ending with the id, so the order is total and a page boundary is a
row's key values: the next page is "after the last row", the previous one "before the first row"
(read in reverse and flipped back). Inserts and updates between requests never repeat or skip a
row whose keys did not change. The cursor is opaque: base64 of the sort, the direction and the
boundary row's keys; a cursor made for another sort is refused (422 on `cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from watchfloor.alerts.list_rows import list_rows
from watchfloor.alerts.models import Alert, Severity
from watchfloor.bounds import time_problem

# Newest first by when the alert started. `-last_seen` would be the natural default but
# last_seen_at is written by every repeat and so has no index (repeats must stay HOT updates:
# alerts.models); at 1,000,000 alerts it reads every row (~2 s, docs/benchmarks.md).
DEFAULT_SORT = "-first_seen"
# sort name -> (column, descending) keys; the id is appended with the last key's direction
SORTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "-last_seen": (("last_seen_at", True),),
    "last_seen": (("last_seen_at", False),),
    "-first_seen": (("first_seen_at", True),),
    "first_seen": (("first_seen_at", False),),
    # most severe first, then the oldest (what waits longest) first
    "severity": (("severity_rank", False), ("first_seen_at", False)),
}
SORT_LABELS = {
    "-first_seen": "First seen, newest first",
    "first_seen": "First seen, oldest first",
    "-last_seen": "Last seen, newest first",
    "last_seen": "Last seen, oldest first",
    "severity": "Severity, then oldest",
}
SEVERITY_RANK = Case(
    *(When(severity=s.value, then=Value(s.rank)) for s in Severity),
    default=Value(len(Severity)),
    output_field=IntegerField(),
)


class InvalidListQuery(ValueError):
    """A list parameter that cannot be used; `field` names it (the API answers 422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Page:
    items: list[Alert]
    next_cursor: str | None
    prev_cursor: str | None


def _keys(sort: str) -> list[tuple[str, bool]]:
    keys = list(SORTS[sort])
    return [*keys, ("id", keys[-1][1])]


def _key_values(alert: Alert, sort: str) -> list[Any]:
    values: list[Any] = []
    for column, _ in _keys(sort):
        value = getattr(alert, column)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return values


def encode_cursor(sort: str, direction: str, alert: Alert) -> str:
    raw = json.dumps([sort, direction, _key_values(alert, sort)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, list[Any]]:
    """(direction, boundary key values) of a cursor made for `sort`."""
    bad = InvalidListQuery("cursor", "Invalid cursor; start again from the first page.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        made_for, direction, values = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    keys = _keys(sort)
    if made_for != sort or direction not in ("after", "before") or not isinstance(values, list):
        raise bad
    if len(values) != len(keys):
        raise bad
    parsed: list[Any] = []
    for (column, _), value in zip(keys, values, strict=True):
        try:
            if column.endswith("_at"):
                moment = datetime.fromisoformat(value)
                if moment.tzinfo is None or time_problem(moment):
                    raise ValueError
                parsed.append(moment)
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
                parsed.append(value)
            else:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    return direction, parsed


def _beyond(keys: list[tuple[str, bool]], values: list[Any], *, forward: bool) -> Q:
    """Rows strictly after (forward) or before the boundary in the keys' order: for keys
    k1..kn, k1 past v1, or k1 = v1 and k2 past v2, and so on."""
    condition = Q()
    equal = Q()
    for n, ((column, descending), value) in enumerate(zip(keys, values, strict=True)):
        past = "lt" if descending == forward else "gt"
        branch = equal & Q(**{f"{column}__{past}": value})
        condition = branch if n == 0 else condition | branch
        equal &= Q(**{column: value})
    # the first key's own bound (inclusive) lets the database range-scan an index on it
    first, first_desc = keys[0]
    bound = "lte" if first_desc == forward else "gte"
    return Q(**{f"{first}__{bound}": values[0]}) & condition


def page_limit(limit: int | None) -> int:
    if limit is None:
        return settings.API_PAGE_SIZE
    if not 1 <= limit <= settings.API_MAX_PAGE_SIZE:
        raise InvalidListQuery("limit", f"Must be between 1 and {settings.API_MAX_PAGE_SIZE}.")
    return limit


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise InvalidListQuery("sort", f"Use one of {', '.join(SORTS)}.")


def sorted_alerts(qs: QuerySet[Alert], sort: str) -> QuerySet[Alert]:
    """The queryset in the sort's order (the CSV export reads it whole, in the page's order)."""
    _check_sort(sort)
    if sort == "severity":
        qs = qs.annotate(severity_rank=SEVERITY_RANK)
    return qs.order_by(*(f"-{c}" if d else c for c, d in _keys(sort)))


def _severity_is(rank: int) -> Q:
    known = [s.value for s in Severity]
    return Q(severity=known[rank]) if rank < len(known) else ~Q(severity__in=known)


def _by_severity(
    qs: QuerySet[Alert], values: list[Any] | None, *, forward: bool, want: int, plain: bool
):
    """Up to `want` rows in the `severity` sort after (or, reading back, before) the boundary:
    one query per severity, each ordered by first seen and id, so an index on (tenant,
    severity, first_seen_at, id) serves it instead of sorting every row by a CASE."""
    keys = _keys("severity")[1:]
    ranks = list(range(len(Severity) + 1))
    rows: list[Alert] = []
    order = [(column, not forward) for column, _ in keys]
    for rank in ranks if forward else reversed(ranks):
        if values is not None and (rank < values[0] if forward else rank > values[0]):
            continue
        part = qs.filter(_severity_is(rank))
        if values is not None and rank == values[0]:
            part = part.filter(_beyond(keys, values[1:], forward=forward))
        for alert in list_rows(part, order, want - len(rows), plain=plain):
            alert.severity_rank = rank  # as the CASE annotates
            rows.append(alert)
        if len(rows) >= want:
            break
    return rows


def page_of(
    qs: QuerySet[Alert],
    *,
    sort: str = DEFAULT_SORT,
    cursor: str | None,
    limit: int | None,
    plain: bool = False,
) -> Page:
    """One page of `qs` (filtered, in scope) in `sort` order, after or before the cursor's
    row; each row with what a list row shows (`list_rows`; `PlainRow`s if `plain`)."""
    limit = page_limit(limit)
    _check_sort(sort)
    direction, values = decode_cursor(cursor, sort) if cursor else ("after", None)
    forward = direction == "after"
    if sort == "severity":
        rows = _by_severity(qs, values, forward=forward, want=limit + 1, plain=plain)
    else:
        keys = _keys(sort)
        if values is not None:
            qs = qs.filter(_beyond(keys, values, forward=forward))
        # read back: the keys reversed, the rows flipped below
        order = keys if forward else [(column, not descending) for column, descending in keys]
        rows = list_rows(qs, order, limit + 1, plain=plain)
    more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    has_next = more if forward else True
    has_prev = (values is not None) if forward else more
    return Page(
        rows,
        encode_cursor(sort, "after", rows[-1]) if has_next else None,
        encode_cursor(sort, "before", rows[0]) if has_prev else None,
    )
