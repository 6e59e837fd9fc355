"""API responses encoded by orjson (api.rendering) hold the values ninja's encoder writes."""

from __future__ import annotations

import datetime
import json
import uuid
import zoneinfo
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from ninja.renderers import JSONRenderer
from pydantic import BaseModel

from watchfloor.api.rendering import FastJSONRenderer, built_response, native_timestamps

UTC = datetime.UTC


class Row(BaseModel):
    name: str
    at: datetime.datetime


def _both(data) -> tuple[bytes, str]:
    fast = FastJSONRenderer().render(None, data, response_status=200)
    return fast, JSONRenderer().render(None, data, response_status=200)


@pytest.mark.parametrize(
    "data",
    [
        {"at": datetime.datetime(2026, 12, 5, 22, 0, 1, 123456, tzinfo=UTC)},
        {"at": datetime.datetime(2026, 12, 5, 22, 0, 1, tzinfo=UTC)},
        {"at": datetime.datetime(2026, 12, 5, 22, 0, 1, 999, tzinfo=UTC)},
        {"at": datetime.datetime(1, 1, 1, tzinfo=UTC), "end": datetime.datetime.max},
        {"at": datetime.datetime(2026, 6, 1, 8, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Kolkata"))},
        {"naive": datetime.datetime(2026, 12, 5, 22, 0, 1, 500)},
        {"day": datetime.date(2026, 12, 5), "time": datetime.time(8, 30, 1, 250000)},
        {"took": datetime.timedelta(hours=1, seconds=2.5), "none": None, "flag": True},
        {"amount": Decimal("12.50"), "id": uuid.UUID(int=7), "lazy": gettext_lazy("Alerts")},
        {"row": Row(name="x", at=datetime.datetime(2026, 1, 1, tzinfo=UTC))},
        {"text": 'São Paulo — 東京 \u2028 "quoted" \\ </script>', "nested": [[[{"a": []}]]]},
        {"big": 2**63 - 1, "small": -(2**63), "float": 0.1, "tuple": (1, 2)},
        [1, "two", {"three": 3.0}],
        # what orjson refuses goes through ninja's encoder as before
        {"huge": 2**64},
        {"lone": "\ud800"},
        {1: "int key", None: "none key"},
    ],
)
def test_the_fast_renderer_writes_the_values_ninja_writes(data):
    fast, ninja = _both(data)
    assert isinstance(fast, bytes | str)
    assert json.loads(fast) == json.loads(ninja)


def test_timestamps_are_written_as_django_writes_them():
    at = datetime.datetime(2026, 12, 5, 22, 0, 1, 123456, tzinfo=UTC)
    fast, _ = _both({"at": at})
    assert json.loads(fast) == {"at": "2026-12-05T22:00:01.123Z"}


def test_what_neither_can_encode_still_fails():
    with pytest.raises(TypeError):
        FastJSONRenderer().render(None, {"set": {1, 2}}, response_status=200)


def test_the_api_answers_through_it(api, estate):
    response = api(estate.user("admin")).get("/api/v1/alerts")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(response.content) == {"items": [], "next_cursor": None, "prev_cursor": None}


# built_response: a body's rows with their timestamps written by orjson natively (cut to
# milliseconds) must give exactly the bytes the usual rendering gives, or fall back to it.
AT = datetime.datetime(2026, 12, 5, 22, 0, 1, 123456, tzinfo=UTC)
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
ROWS = {
    "fractions": [
        {"at": AT, "whole": AT.replace(microsecond=0), "none": None},
        {"at": AT.replace(microsecond=999), "b": AT.replace(microsecond=500000)},
        {"at": AT.replace(microsecond=1), "end": datetime.datetime.max.replace(tzinfo=UTC)},
        {"at": datetime.datetime(1, 1, 1, 0, 0, 0, 10, tzinfo=UTC)},
    ],
    "no-timestamps": [{"id": 1, "title": "x"}],
    "empty": [],
    "naive": [{"at": AT.replace(tzinfo=None)}],
    "other-zone": [{"at": AT.astimezone(KOLKATA)}],
    "zoneinfo-utc": [{"at": AT.replace(tzinfo=zoneinfo.ZoneInfo("UTC"))}],
    "time": [{"at": AT, "time": datetime.time(8, 30, 1, 250000)}],
    "date": [{"at": AT, "day": datetime.date(2026, 12, 5)}],
    "a-title-like-a-fraction": [{"at": AT, "title": "build 1.123456Z"}],
    "a-title-that-is-a-timestamp": [{"at": AT, "title": "2026-12-05T22:00:01.123456Z"}],
    "a-title-with-quotes": [{"at": AT, "title": 'said ".123456Z" twice: 9.654321Z"'}],
    # each counted timestamp paired with a string that would be cut: the counts must not
    # balance out (a naive timestamp is counted but never cut)
    "naive-beside-a-title": [{"at": AT.replace(tzinfo=None), "title": "v 1.123456Z"}],
    "nested": [{"at": AT, "client": {"seen": AT}}],
    "decimal": [{"at": AT, "amount": Decimal("1.5")}],
    "lazy": [{"at": AT, "label": gettext_lazy("Alerts")}],
    "uuid-and-floats": [{"at": AT, "id": uuid.UUID(int=7), "f": 0.1, "big": 2**63 - 1}],
    "huge": [{"at": AT, "n": 2**64}],
    "lone-surrogate": [{"at": AT, "s": "\ud800"}],
}


@pytest.mark.parametrize("rows", ROWS.values(), ids=ROWS.keys())
def test_built_response_writes_the_bytes_the_renderer_writes(rows):
    data = {"items": rows, "next_cursor": "c", "prev_cursor": None}
    usual = FastJSONRenderer().render(None, data, response_status=200)
    response = built_response(data, rows=rows)
    assert response.content == (usual.encode() if isinstance(usual, str) else usual)
    assert response.content == built_response(data).content  # without rows: the usual way
    assert response["Content-Type"] == "application/json; charset=utf-8"


def test_the_native_path_is_taken_and_refuses_what_it_cannot_vouch_for():
    rows = ROWS["fractions"]
    cut = native_timestamps({"items": rows}, 6)
    assert cut is not None and b".123Z" in cut and b"123456" not in cut
    assert native_timestamps({"items": rows}, 5) is None  # one more cut than counted
    titled = [{"at": AT, "title": "build 1.123456Z"}]
    assert native_timestamps({"items": titled}, 1) is None  # the title would have been cut
    assert native_timestamps({"items": [{"d": Decimal(1)}]}, 0) is None  # orjson refuses it
