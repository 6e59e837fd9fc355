"""An alert's identity (fingerprint) and the hash of what it says (content hash)."""

from __future__ import annotations

import hashlib
import json

import orjson

from watchfloor.alerts.events import Event


def derived_fingerprint(event: Event, *, site_id: int | None) -> str:
    """For events without their own identity: a hash of type, site, entity type and entity id."""
    raw = "\x1f".join([event.type, str(site_id or ""), event.entity_type, event.entity_id])
    return "wf:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def fingerprint_of(event: Event, *, site_id: int | None) -> str:
    return event.fingerprint or derived_fingerprint(event, site_id=site_id)


def content_hash(event: Event) -> str:
    """Changes when the alert says something different; a plain repeat keeps it.

    The hash of `json.dumps(…, sort_keys=True, separators=(",", ":"))` of what the alert says:
    stored alerts carry it, so its bytes never change. orjson gives the same bytes when every
    value is text and the output is printable ASCII (json's `ensure_ascii` escapes the rest,
    DEL included), and takes a seventh of json's time; anything else goes through json (the
    equality is tested over every ASCII character). Ingestion's request side: json's encoder
    here was 14 % of its samples (docs/decisions.md)."""
    parts = [
        event.type,
        event.severity,
        event.title,
        event.description,
        event.labels,
        event.annotations,
        event.source_url,
        event.runbook_url,
    ]
    if _all_text(parts):
        body = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
        if body.isascii() and b"\x7f" not in body:
            return hashlib.sha256(body).hexdigest()
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _all_text(parts: list) -> bool:
    for part in parts:
        if type(part) is dict:
            for key, value in part.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    return False
        elif not isinstance(part, str):  # the severity is a StrEnum
            return False
    return True
