"""The API's JSON body parser: Python's `json` with a bound on nesting.

`json.loads` raises RecursionError near 1,000 levels, and a document just under that still
reaches code that recurses over it (validation, masking, JSON columns). Bodies nested deeper
than `MAX_DEPTH` are refused as a 400 before anything else reads them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import orjson
from django.http import HttpRequest
from ninja.parser import Parser

from watchfloor.bounds import INT64_MAX, INT64_MIN, MAX_DEPTH, json_strings_storable


class NestedTooDeep(ValueError):
    pass


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers in `value` nest more than `limit` deep (iterative, no recursion).
    Only containers go on the stack: a body's leaves (thousands of strings) are looked at once."""
    if type(value) is not dict and type(value) is not list:
        return False
    level = [value]
    for _depth in range(limit):
        nested: list[Any] = []
        for item in level:
            children: Iterable[Any] = item.values() if type(item) is dict else item
            nested += [c for c in children if type(c) is dict or type(c) is list]
        if not nested:
            return False
        level = nested
    return True


def loads_bounded(raw: bytes | str, **hooks: Any) -> Any:
    """`json.loads` that raises ValueError (never RecursionError) for a too-deep document;
    `hooks` are json.loads' own (`parse_int`, …)."""
    try:
        data = json.loads(raw, **hooks)
    except RecursionError:
        raise NestedTooDeep(f"Nested deeper than {MAX_DEPTH} levels.") from None
    if depth_exceeds(data):
        raise NestedTooDeep(f"Nested deeper than {MAX_DEPTH} levels.")
    return data


def loads_screened(raw: bytes) -> tuple[Any, bool]:
    """`loads_bounded`, and whether the document is storable as decoded without a walk.

    True when no string in it can hold a NUL or a lone surrogate (`json_strings_storable`) and
    the decoder met no number outside a 64-bit integer or a finite float (its number hooks note
    them as they go). False means "walk it with `bounds.value_problem`", which names the field.
    Ingestion's hot path: the walk cost 0.92 ms of a 100-alert body (docs/decisions.md).

    Such a body is decoded by orjson (`_loads_plain`); anything it cannot vouch for takes
    `json.loads` with the number hooks, whose answers (and errors) name the field.
    """
    plain = _loads_plain(raw)
    if plain is not _UNVOUCHED:
        return plain, True
    odd: list[str] = []

    def integer(text: str) -> int:
        value = int(text)
        if not INT64_MIN <= value <= INT64_MAX:
            odd.append(text)
        return value

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            odd.append(text)
        return value

    def constant(text: str) -> float:  # NaN, Infinity, -Infinity
        odd.append(text)
        return float(text)

    data = loads_bounded(raw, parse_int=integer, parse_float=number, parse_constant=constant)
    return data, not odd and json_strings_storable(raw)


# a run of 19 digits: every integer outside int64 has one (as may a long float or a string)
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_ZEROS = b"0" * 19
_UNVOUCHED = object()


def has_long_digit_run(raw: bytes) -> bool:
    """Whether `raw` holds 19 ASCII digits in a row (what `re.search(rb"\\d{19}", raw)` finds).
    Every digit becomes "0" and bytes.find looks for nineteen of them: 33 µs for a 100-alert
    body (58 KB) against the regular expression's 514 µs, which was 13 % of a batch request's
    samples (py-spy, docs/decisions.md)."""
    return raw.translate(_DIGITS_AS_ZERO).find(_NINETEEN_ZEROS) != -1


def _loads_plain(raw: bytes) -> Any:
    """orjson's decoding of a body whose strings are storable and whose numbers are short, or
    `_UNVOUCHED`. orjson refuses by itself what else the hooks would note (NaN, Infinity, a
    float that overflows) and lone surrogates; past int64 it would give a float, so a body with
    19 digits in a row goes to `json.loads` instead. Measured: `json.loads` with the hooks was
    8.8 % of a 100-alert request's samples (docs/decisions.md)."""
    if type(raw) is not bytes or has_long_digit_run(raw) or not json_strings_storable(raw):
        return _UNVOUCHED
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:  # malformed, too deep, or one of the above: named below
        return _UNVOUCHED
    if depth_exceeds(data):
        raise NestedTooDeep(f"Nested deeper than {MAX_DEPTH} levels.")
    return data


class BoundedJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        return loads_bounded(request.body)
