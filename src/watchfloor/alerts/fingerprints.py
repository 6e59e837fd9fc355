"""An alert's identity (fingerprint) and the hash of what it says (content hash)."""

from __future__ import annotations

import hashlib
import json

from watchfloor.alerts.events import Event


def derived_fingerprint(event: Event, *, site_id: int | None) -> str:
    """For events without their own identity: a hash of type, site, entity type and entity id."""
    raw = "\x1f".join([event.type, str(site_id or ""), event.entity_type, event.entity_id])
    return "wf:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def fingerprint_of(event: Event, *, site_id: int | None) -> str:
    return event.fingerprint or derived_fingerprint(event, site_id=site_id)


def content_hash(event: Event) -> str:
    """Changes when the alert says something different; a plain repeat keeps it."""
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
