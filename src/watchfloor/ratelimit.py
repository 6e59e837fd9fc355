"""Requests per minute per integration key and per API token: past the limit, 429 with
Retry-After (the callers answer it), counted in `watchfloor_rate_limited_total{kind}`.

A fixed one-minute window counted in the cache (Redis in production, so every web process
shares the count). A process adds its requests to the shared count in batches (`_Window`): at
most every `SYNC_EVERY` seconds per identity, and at every request once its estimate passes
`EXACT_FROM` of the limit, so a limit is decided exactly where it matters while a busy
integration key costs one INCRBY per 0.1 s instead of one INCR per request (the INCR was a fifth
of a single-alert request's CPU, docs/decisions.md). What another process has counted and not
yet added (at most 0.1 s of its traffic) is what a decision can miss. The cache down is no
reason to refuse alerts: the request is let through (watchfloor.degrade logs the outage once).

A leaf module: it imports no Watchfloor app (tests/test_import_rules.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter

from watchfloor.degrade import guarded

WINDOW_SECONDS = 60
SYNC_EVERY = 0.1  # seconds: the longest a process keeps an identity's requests to itself
EXACT_FROM = 0.8  # from this share of the limit, every request is added to the shared count
MAX_TRACKED = 10_000  # identities remembered per process before the old windows are dropped

RATE_LIMITED = Counter(
    "watchfloor_rate_limited_total",
    "Requests refused with 429 because their integration key or API token was over its limit.",
    ["kind"],
)


@dataclass(frozen=True)
class Limited:
    """Over the limit: the caller may try again after `retry_after` seconds."""

    kind: str
    limit: int
    retry_after: int


def _count(key: str, n: int = 1) -> int:
    """This window's shared count for `key`, after adding `n` requests."""
    backend = getattr(cache, "_cache", None)
    if getattr(backend, "get_client", None) is not None:
        # Redis: one INCRBY (Django's incr() is EXISTS + INCR, two round trips)
        full_key = cache.make_and_validate_key(key)
        client = backend.get_client(full_key, write=True)  # kept per pool (redis_cache)
        count = client.incrby(full_key, n)
        if count == n:
            client.expire(full_key, WINDOW_SECONDS * 2)
        return count
    try:
        return cache.incr(key, n)
    except ValueError:  # the window's first request
        if cache.add(key, n, timeout=WINDOW_SECONDS * 2):
            return n
        return cache.incr(key, n)


class _Window:
    """One identity's window as this process sees it: the shared count at the last sync, and
    the requests counted here since (not yet added to it)."""

    __slots__ = ("pending", "shared", "synced_at", "syncing", "window")

    def __init__(self, window: int):
        self.window = window
        self.shared = 0
        self.pending = 0
        self.synced_at = float("-inf")
        self.syncing = False


_windows: dict[str, _Window] = {}
_lock = threading.Lock()


def _window_for(name: str, window: int) -> _Window:
    state = _windows.get(name)
    if state is None or state.window != window:
        if len(_windows) >= MAX_TRACKED:
            for stale in [k for k, v in _windows.items() if v.window != window]:
                del _windows[stale]
            if len(_windows) >= MAX_TRACKED:
                # as many identities in this window (a spray of addresses at the status pages):
                # start afresh rather than scan the table at every new one; what is dropped is
                # at most SYNC_EVERY of each identity's requests, not yet added
                _windows.clear()
        state = _windows[name] = _Window(window)
    return state


def _estimate(key: str, name: str, window: int, limit: int) -> int:
    """This request counted; the window's count as far as this process knows, after adding
    what it kept to itself when a sync is due (at most one sync under way per identity)."""
    now = time.monotonic()
    with _lock:
        state = _window_for(name, window)
        state.pending += 1
        estimate = state.shared + state.pending
        due = now - state.synced_at >= SYNC_EVERY or estimate >= limit * EXACT_FROM
        if not due or state.syncing:
            return estimate
        adding, state.pending, state.syncing = state.pending, 0, True
    shared = None
    try:
        shared = guarded("cache", lambda: _count(key, adding), lambda: None)
    finally:
        with _lock:
            state.syncing = False
            if shared is not None:
                state.shared, state.synced_at = shared, now
            # the cache down: what was taken out is dropped (the request goes through)
            estimate = (shared or 0) + state.pending
    return estimate


def reset() -> None:
    """Forget every window this process holds (tests, after the cache is cleared)."""
    with _lock:
        _windows.clear()


def check(kind: str, identity: str | int) -> Limited | None:
    """Count one request of `identity` (a key id, a token digest) against the limit of `kind`
    ("integration_key" or "api_token"); a `Limited` when it is over, else None."""
    limit = settings.RATE_LIMITS.get(kind, 0)
    if limit <= 0:  # 0 switches the limit off
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    name = f"{kind}:{identity}"
    key = f"ratelimit:{name}:{window}"
    if _estimate(key, name, window, limit) <= limit:
        return None
    RATE_LIMITED.labels(kind).inc()
    return Limited(kind, limit, max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999)))


def token_identity(plain: str) -> str:
    """A digest of a token for the counter's key: the token itself is never stored."""
    return hashlib.sha256(plain.encode()).hexdigest()[:24]
