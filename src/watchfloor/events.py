"""The publisher interface services emit real-time events through, always after commit.

An event is a dict with a documented `type` (`alert.created`, `alert.updated`, `alert.resolved`,
`maintenance.created`, …) and the `tenant_id` it belongs to; receivers filter it by scope. The
publisher in use is `settings.WATCHFLOOR_PUBLISHER` (a dotted path). Tests swap in a
`RecordingPublisher`; the WebSocket fan-out (`realtime.hub`) plugs in here.

A leaf module: it imports no Watchfloor app, so domain services publish without importing the
WebSocket layer (tests/test_import_rules.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
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


Deferred = Callable[[], list[dict]]  # builds its events when they are sent


def publish_on_commit(events: Iterable[dict | Deferred]) -> None:
    """Send `events` once the current transaction commits (at once outside a transaction).

    An item may be a callable that builds its events (in order, in place of the item) when they
    are sent: on a thread that publishes in the background (`publishing_in_background`), that
    work leaves the committing thread too.

    A failing publisher never undoes a committed write: the error is logged and the events
    are left to the receivers' next resync.
    """
    batch = list(events)
    if not batch:
        return
    if getattr(_background_here, "on", False):
        transaction.on_commit(lambda: _BACKGROUND.put(batch))
    else:
        transaction.on_commit(lambda: _send(batch))


def _expand(items: list[dict | Deferred]) -> list[dict]:
    out: list[dict] = []
    for item in items:
        if callable(item):
            out.extend(item())
        else:
            out.append(item)
    return out


def _send(items: list[dict | Deferred]) -> None:
    try:
        batch = _expand(items)
        published_at = time.time()  # receivers measure delivery latency from here
        for event in batch:
            event.setdefault("published_at", published_at)
        get_publisher().send(batch)
    except Exception:
        log.exception("publishing %d real-time events failed", len(items))


_background_here = threading.local()


@contextlib.contextmanager
def publishing_in_background():
    """What the current thread publishes (building and sending its events) is done by one
    publisher thread of this process, in the order it was committed, instead of on this thread.

    For the fold worker (alerts.staging.FoldWorker): one tenant's folds run one after the
    other, and building a fold's live events and publishing them was a sixth of that chain
    (docs/decisions.md). The publisher thread works while the fold waits for PostgreSQL. Live
    events are not durable anyway (receivers resync), so the few queued at a process's exit
    are left to that resync; `flush_background` waits for them where it matters."""
    before = getattr(_background_here, "on", False)
    _background_here.on = True
    try:
        yield
    finally:
        _background_here.on = before


def flush_background(timeout: float = 5.0) -> bool:
    """Wait until everything handed to this process's publisher thread is sent."""
    return _BACKGROUND.flush(timeout)


class _BackgroundPublisher:
    """One daemon thread per process (started on first use, again after a fork) sending the
    batches put to it in order. The queue holds two batches: a thread that outruns the publisher
    waits for it, so a live event is never more than two folds behind its commit (the live
    target is 1 s from the 2xx; a deep queue let the events lag under load)."""

    def __init__(self, depth: int = 2):
        self.depth = depth
        self._lock = threading.Lock()
        self._queue: queue.Queue | None = None
        self._pid = 0

    def put(self, items: list[dict | Deferred]) -> None:
        self._current().put(items)

    def flush(self, timeout: float) -> bool:
        q = self._queue
        if q is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                q.all_tasks_done.wait(left)
        return True

    def _current(self) -> queue.Queue:
        with self._lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue = queue.Queue(self.depth)
                self._pid = os.getpid()
                threading.Thread(
                    target=self._run, args=(self._queue,), name="watchfloor-publish", daemon=True
                ).start()
            return self._queue

    @staticmethod
    def _run(q: queue.Queue) -> None:
        from django.db import connections

        while True:
            items = q.get()
            try:
                _send(items)
            finally:
                # a deferred build may have read a directory from the database: give the
                # connection back rather than hold one per process idle
                for conn in connections.all(initialized_only=True):
                    if conn.connection is not None:
                        conn.close()
                q.task_done()


_BACKGROUND = _BackgroundPublisher()
