"""API responses encoded by orjson, byte for byte the values ninja's JSON encoder writes.

ninja renders with `json.dumps` and Django's encoder, which calls back into Python for every
timestamp; a 50-row alerts page holds about 250 of them, and encoding was a tenth of the list's
CPU (docs/benchmarks.md, "the alerts list's CPU"). orjson writes the same JSON values: datetimes
(and dates and times) are handed back to Django's formatting (milliseconds, `Z` for UTC), as is
everything orjson does not know (decimals, durations, lazy strings, pydantic models). What orjson
refuses (integers past 64 bits, lone surrogates, keys that are not strings) goes to ninja's
encoder as before. The bytes differ only in spacing and in writing non-ASCII as UTF-8 instead
of `\\u` escapes: the same JSON to any parser.
"""

from __future__ import annotations

import datetime
from typing import Any

import orjson
from django.http import HttpRequest
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
