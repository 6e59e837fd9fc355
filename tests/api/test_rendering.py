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

from watchfloor.api.rendering import FastJSONRenderer

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
