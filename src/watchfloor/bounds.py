"""What the edge accepts, as plain checks: one rule for every API schema, form, service and
ingestion parser (docs/api.md, "Validation").

Text must be storable (no NUL character: PostgreSQL refuses it; no lone surrogate: UTF-8 cannot
encode it), integers must fit a signed 64-bit column, numbers be finite, datetimes lie between
`MIN_TIME` and `MAX_TIME`, and JSON nest at most `MAX_DEPTH` levels. A leaf: imports no app.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# Far enough either way for any real schedule, window or event time; close enough that adding a
# day, a week or a time-zone offset never leaves Python's datetime range (year 1..9999).
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(3000, 1, 1, tzinfo=UTC)
MAX_DEPTH = 32


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "NUL characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Not valid Unicode text (a lone surrogate)."
    return None


def int_problem(value: int) -> str | None:
    if not INT64_MIN <= value <= INT64_MAX:
        return f"Must be between {INT64_MIN} and {INT64_MAX}."
    return None


def time_problem(value: datetime) -> str | None:
    """Why `value` is out of the accepted range, or None; checked on the wall-clock year first so
    that converting an offset like 9999-12-31T23:59:59-05:00 to UTC cannot overflow."""
    if not MIN_TIME.year - 1 <= value.year <= MAX_TIME.year:
        return _TIME_RANGE
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not MIN_TIME <= aware < MAX_TIME:
        return _TIME_RANGE
    return None


_TIME_RANGE = (
    f"Must be between {MIN_TIME:%Y-%m-%dT%H:%M:%SZ} and {MAX_TIME:%Y-%m-%dT%H:%M:%SZ} (exclusive)."
)


def value_problem(value: Any, *, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """The first `(path, problem)` in a decoded JSON-like value, or None.

    Walks dicts (keys too), lists and tuples without recursion: strings must be storable text,
    integers 64-bit, floats finite, datetimes in range, and nesting at most `max_depth` deep.
    `path` is dotted from the value (`3.labels.site`), empty for the value itself.
    """
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                return _dotted(path), f"Nested deeper than {max_depth} levels."
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and (problem := text_problem(key)):
                    return ".".join(str(p) for p in (*path, key)), problem
                stack.append((child, (*path, key), depth + 1))
            continue
        problem = None
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            problem = int_problem(item)
        elif isinstance(item, float) and not math.isfinite(item):
            problem = "Must be a finite number."
        elif isinstance(item, datetime):
            problem = time_problem(item)
        if problem:
            return _dotted(path), problem
    return None


def _dotted(path: tuple) -> str:
    """Only built for the problem found (the walk of a valid body builds none)."""
    return ".".join(str(p) for p in path)


def json_strings_storable(raw: bytes) -> bool:
    """Whether no string `json.loads(raw)` decodes can hold a NUL or a lone surrogate, read off
    the raw text in C-speed searches instead of a walk of every decoded string.

    A decoded string holds one only from a `\\u0000` or `\\uD800`-`\\uDFFF` escape, or from
    raw surrogate bytes (json decodes bytes with "surrogatepass"; their lead byte is 0xED); a raw
    NUL is refused by the decoder. Conservative: False means "walk to find out" (an escaped
    backslash before `u0000`, an escaped surrogate pair, Hangul text, a UTF-16 body).
    """
    if b"\xed" in raw or json.detect_encoding(raw) != "utf-8":
        return False
    at = raw.find(b"\\u")
    while at != -1:
        digits = raw[at + 2 : at + 6].lower()
        if digits == b"0000" or digits.startswith(b"d"):
            return False
        at = raw.find(b"\\u", at + 2)
    return True
