"""The content hash's bytes never change: orjson's fast path equals json.dumps' hash."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.fingerprints import content_hash


def _reference(event: Event) -> str:
    """The hash as every stored alert's was computed (json.dumps, sorted keys, compact)."""
    body = json.dumps(
        [
            event.type,
            event.severity,
            event.title,
            event.description,
            event.labels,
            event.annotations,
            event.source_url,
            event.runbook_url,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _event(**fields) -> Event:
    base = {"action": EventAction.TRIGGER, "type": "HostDown", "title": "down"}
    return Event(**{**base, **fields})


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_hashes_as_json_dumps(code):
    ch = chr(code)
    event = _event(
        title=f"a{ch}b",
        description=ch * 3,
        labels={f"k{ch}": f"v{ch}", "z": ch},
        annotations={ch: "x"},
        source_url=f"http://x/{ch}",
    )
    assert content_hash(event) == _reference(event)


@pytest.mark.parametrize(
    "text",
    ["é", "ü", "\u2028", "\u00a0", "日本", "\U0001f525", "Ω≈ç√", "\x7f", "\x80", "\ud7ff"],
)
def test_non_ascii_text_hashes_as_json_dumps(text):
    event = _event(title=text, labels={text: text, "a": "b"}, annotations={"summary": f"x{text}y"})
    assert content_hash(event) == _reference(event)


def test_values_that_are_not_text_hash_as_json_dumps():
    # labels are text after parsing; anything else still hashes as it always did
    for labels in ({"n": 1}, {"f": 1.5e16}, {"b": True}, {"none": None}, {"l": ["x"]}):
        event = _event(labels=labels)
        assert content_hash(event) == _reference(event)


def test_random_label_sets_hash_as_json_dumps():
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(0, 160)] + ["é", "日", "\U0001f525", '"', "\\"]
    for _ in range(500):

        def text(n: int) -> str:
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

        labels = {text(8): text(20) for _ in range(rng.randint(0, 12))}
        annotations = {text(8): text(60) for _ in range(rng.randint(0, 4))}
        event = _event(title=text(30), description=text(50), labels=labels, annotations=annotations)
        assert content_hash(event) == _reference(event)
