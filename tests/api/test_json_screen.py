"""`loads_screened`: the ingestion edge skips its walk of every decoded value only when the raw
text proves the walk would find nothing. Sound: whatever the walk would refuse, the screen sends
to the walk."""

from __future__ import annotations

import json
import random
import re

import pytest

from watchfloor.api.parsing import NestedTooDeep, has_long_digit_run, loads_screened
from watchfloor.bounds import MAX_DEPTH, value_problem

ALERT = {
    "labels": {"alertname": "HostDown", "instance": "gw-1:9100", "site": "são-paulo"},
    "annotations": {"summary": "CPU > 90% & rising <fast>", "description": "emoji 🚨"},
    "startsAt": "2026-12-05T07:00:00Z",
    "generatorURL": "http://prometheus:9090/graph",
}

# Each is refused by the walk; the screen must not call any of them storable.
UNSTORABLE = [
    rb'{"a": "x\u0000y"}',
    rb'{"a\u0000": 1}',
    rb'{"a": "\ud800"}',
    rb'{"a": "\uDFFF tail"}',
    rb'{"a": "\udc00\ud800"}',
    b'{"a": "\xed\xa0\x80"}',  # a surrogate's raw bytes (json decodes bytes with surrogatepass)
    b'["\xed\xbf\xbf"]',
    b'{"n": 9223372036854775808}',
    b'{"n": -9223372036854775809}',
    b'{"n": 100000000000000000000000}',
    b'{"n": 1e999}',
    b'{"n": -1e999}',
    b'{"n": NaN}',
    b'{"n": Infinity}',
    b"[-Infinity]",
    json.dumps({"a": "x\x00y"}).encode("utf-16"),  # UTF-16: not screened at all
]

# Storable, and the screen says so: the walk is skipped for bodies like these.
SCREENED = [
    json.dumps([ALERT] * 3, ensure_ascii=False).encode(),
    # Go's encoder (Alertmanager, Prometheus) escapes <, > and & like this
    rb'[{"annotations": {"summary": "load \u003e 90 \u0026 \u003cfast\u003e"}}]',
    b'{"n": 9223372036854775807, "m": -9223372036854775808, "f": 1.5e300, "z": 0}',
]

# Storable, yet walked (the screen is conservative): still accepted.
WALKED_BUT_FINE = [
    json.dumps([ALERT] * 3).encode(),  # the emoji escaped as a surrogate pair
    rb'{"a": "\\u0000 is written as text"}',  # an escaped backslash, then "u0000"
    rb'{"a": "\ud83d\udea8"}',  # an escaped surrogate pair: one emoji
    '{"a": "\ud55c\uad6d\uc5b4"}'.encode(),  # Hangul: lead byte 0xED
]


@pytest.mark.parametrize("raw", UNSTORABLE)
def test_what_the_walk_refuses_is_never_screened_as_storable(raw):
    data, storable = loads_screened(raw)
    assert value_problem(data) is not None
    assert storable is False


@pytest.mark.parametrize("raw", SCREENED)
def test_ordinary_bodies_skip_the_walk(raw):
    data, storable = loads_screened(raw)
    assert value_problem(data) is None
    assert storable is True


@pytest.mark.parametrize("raw", WALKED_BUT_FINE)
def test_doubtful_bodies_are_walked_and_pass(raw):
    data, storable = loads_screened(raw)
    assert storable is False
    assert value_problem(data) is None


def test_the_screen_decodes_like_json_loads():
    raw = json.dumps([ALERT, {"n": [1, 2.5, -3, True, None]}]).encode()
    assert loads_screened(raw)[0] == json.loads(raw)


def test_too_deep_is_still_refused():
    with pytest.raises(NestedTooDeep):
        loads_screened(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    with pytest.raises(NestedTooDeep):
        loads_screened(b"[" * 5000 + b"]" * 5000)


def test_malformed_is_a_value_error():
    for raw in (b'{"a": "x\x00y"}', b'{"a": 1', b"\xff\xfe\xfa"):
        with pytest.raises(ValueError):
            loads_screened(raw)


@pytest.mark.parametrize("raw", SCREENED[:2])
def test_ordinary_bodies_are_decoded_by_orjson(raw, monkeypatch):
    """The hot path: `json.loads` and its number hooks are not called for them."""
    from watchfloor.api import parsing

    expected = json.loads(raw)

    def refuse(*args, **kwargs):
        raise AssertionError("json.loads called")

    monkeypatch.setattr(parsing.json, "loads", refuse)
    assert loads_screened(raw) == (expected, True)


@pytest.mark.parametrize("raw", UNSTORABLE + SCREENED + WALKED_BUT_FINE)
def test_both_decoders_give_what_json_loads_gives(raw):
    assert repr(loads_screened(raw)[0]) == repr(json.loads(raw))  # repr: NaN is not NaN


def test_past_int64_is_never_a_float():
    """orjson would decode 2**64 as a float: such a body goes to `json.loads`, whose hook
    notes it, and the walk names it."""
    data, storable = loads_screened(b'{"n": 18446744073709551616}')
    assert data == {"n": 18446744073709551616} and storable is False


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"1" * 18,
        b"1" * 19,
        b"x" + b"9" * 19 + b"x",
        b"123456789012345678.9",
        b"1234567890123456789",
        b'{"n": 0000000000000000000}',
        "٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩".encode(),  # Arabic-Indic digits: not ASCII digits
        b"12345678901234567 8901",
        b"-9223372036854775808",
        b"[1,2,3,4,5,6,7,8,9,10]",
    ],
)
def test_the_digit_run_check_finds_what_the_regular_expression_finds(raw):
    assert has_long_digit_run(raw) is bool(re.search(rb"\d{19}", raw))


def test_the_digit_run_check_agrees_on_random_bytes():
    rng = random.Random(14)
    alphabet = b"0123456789-.e x\xd9\xa0"
    for _ in range(3000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        raw = raw.replace(b" ", b"9" * rng.randint(0, 20), 1)
        assert has_long_digit_run(raw) is bool(re.search(rb"\d{19}", raw)), raw
