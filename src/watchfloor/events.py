"""The publisher interface services emit real-time events through, always after commit.

An event is a dict with a documented `type` (`alert.created`, `alert.updated`, `alert.resolved`,
`maintenance.created`, …) and the `tenant_id` it belongs to; receivers filter it by scope. The
publisher in use is `settings.WATCHFLOOR_PUBLISHER` (a dotted path). Tests swap in a
`RecordingPublisher`; the WebSocket fan-out (`realtime.hub`) plugs in here.

A leaf module: it imports no Watchfloor app, so domain services publish without importing the
WebSocket layer (tests/test_import_rules.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class Publisher:
    """Delivers a batch of events; called once per committed transaction with all its events."""

    def send(self, events: list[dict]) -> None:
        raise NotImplementedError


class NullPublisher(Publisher):
    """No real-time receivers configured: events are dropped (the database holds the truth)."""

    def send(self, events: list[dict]) -> None:
        return None


class RecordingPublisher(Publisher):
    """Keeps every event in memory, for tests and for the demo's diagnostics."""

    def __init__(self):
        self.events: list[dict] = []
        self._lock = threading.Lock()

    def send(self, events: list[dict]) -> None:
        with self._lock:
            self.events.extend(events)

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


_override: Publisher | None = None


@cache
def _configured() -> Publisher:
    return import_string(settings.WATCHFLOOR_PUBLISHER)()


def get_publisher() -> Publisher:
    return _override or _configured()


def set_publisher(publisher: Publisher | None) -> None:
    """Replace the publisher (None restores the configured one); used by tests and the server."""
    global _override
    _override = publisher


def publish_on_commit(events: Iterable[dict]) -> None:
    """Send `events` once the current transaction commits (at once outside a transaction).

    A failing publisher never undoes a committed write: the error is logged and the events
    are left to the receivers' next resync.
    """
    batch = list(events)
    if not batch:
        return

    def send() -> None:
        published_at = time.time()  # receivers measure delivery latency from here
        for event in batch:
            event.setdefault("published_at", published_at)
        try:
            get_publisher().send(batch)
        except Exception:
            log.exception("publishing %d real-time events failed", len(batch))

    transaction.on_commit(send)
