"""API responses encoded by orjson, byte for byte the values ninja's JSON encoder writes.

ninja renders with `json.dumps` and Django's encoder, which calls back into Python for every
timestamp; a 50-row alerts page holds about 250 of them, and encoding was a tenth of the list's
CPU (docs/benchmarks.md, "the alerts list's CPU"). orjson writes the same JSON values: datetimes
(and dates and times) are handed back to Django's formatting (milliseconds, `Z` for UTC), as is
everything orjson does not know (decimals, durations, lazy strings, pydantic models). What orjson
refuses (integers past 64 bits, lone surrogates, keys that are not strings) goes to ninja's
encoder as before. The bytes differ only in spacing and in writing non-ASCII as UTF-8 instead
of `\\u` escapes: the same JSON to any parser.

`built_response` is for a view that builds its body to its schema itself (the alerts list): no
second validation by ninja, and the timestamps of its rows written by orjson natively.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

_FALLBACK = NinjaJSONEncoder()
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    if type(value) is datetime.datetime:  # the common case first, as Django writes it
        text = value.isoformat()
        if value.microsecond:
            text = text[:23] + text[26:]
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text
    return _FALLBACK.default(value)


class FastJSONRenderer(JSONRenderer):
    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> Any:
        try:
            return orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(request, data, response_status=response_status)


_RENDERER = FastJSONRenderer()
CONTENT_TYPE = f"{_RENDERER.media_type}; charset={_RENDERER.charset}"


def built_response(data: Any, status: int = 200, *, rows: list[dict] | None = None) -> HttpResponse:
    """A body the view built to its route's response schema, rendered as ninja would render it
    but without ninja validating it again: for a dict, ninja builds the schema's models from it
    and dumps them back to the same dict (on a 50-row alerts page, 350 models and 0.3 ms of a
    request's ~6 ms of CPU). Only for bodies whose shape a test holds to the schema.

    `rows`, the body's list of rows (dicts whose nested values hold no timestamps), lets the
    timestamps be written by orjson itself (`native_timestamps`): on a 50-row alerts page
    0.25 ms instead of 0.7."""
    content = None
    if rows is not None and (fractional := _fractional(rows)) is not None:
        content = native_timestamps(data, fractional)
    if content is None:
        content = _RENDERER.render(None, data, response_status=status)  # type: ignore[arg-type]
    return HttpResponse(content, status=status, content_type=CONTENT_TYPE)


def _fractional(rows: list[dict]) -> int | None:
    """The rows' UTC timestamps with a fraction (each one orjson writes as `….ffffffZ`), or None
    if a row holds a timestamp or time with a fraction that orjson writes otherwise (naive, in
    another zone, a `time`), which nothing would cut."""
    count = 0
    for row in rows:
        for v in row.values():
            kind = type(v)
            if kind is datetime.datetime and v.microsecond:
                if v.tzinfo is not datetime.UTC:
                    return None
                count += 1
            elif kind is datetime.time and v.microsecond:
                return None
    return count


_CUT = b'Z"'
_DIGITS = frozenset(b"0123456789")


def native_timestamps(data: Any, fractional: int) -> bytes | None:
    """`data` as `FastJSONRenderer` writes it, or None.

    Formatting a timestamp in Python costs ~3 µs (`_default`); orjson writes one natively in a
    tenth of that, but with microseconds (`…:01.123456Z`) where Django writes milliseconds
    (`…:01.123Z`). So orjson writes them, and three digits are cut from every string ending in
    `.` and six digits before `Z"`. `fractional` is how many UTC timestamps with a fraction the
    caller knows `data` holds (each is cut); a string of the caller's own could end that way
    too, so unless exactly that many were cut the answer is None and the caller renders the
    usual way: nothing but those timestamps is ever changed. The caller vouches that `data`
    holds no timestamp it did not look at that orjson writes otherwise (naive, another zone).
    """
    try:
        raw = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:  # what orjson does not know: the usual way
        return None
    parts = raw.split(_CUT)
    cut = 0
    for n in range(len(parts) - 1):
        part = parts[n]
        if part[-7:-6] == b"." and _DIGITS.issuperset(part[-6:]):
            parts[n] = part[:-3]
            cut += 1
    return _CUT.join(parts) if cut == fractional else None
