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


def built_response(data: Any, status: int = 200) -> HttpResponse:
    """A body the view built to its route's response schema, rendered as ninja would render it
    but without ninja validating it again: for a dict, ninja builds the schema's models from it
    and dumps them back to the same dict (on a 50-row alerts page, 350 models and 0.3 ms of a
    request's ~6 ms of CPU). Only for bodies whose shape a test holds to the schema."""
    content = _RENDERER.render(None, data, response_status=status)  # type: ignore[arg-type]
    return HttpResponse(content, status=status, content_type=CONTENT_TYPE)
