"""Requests per minute per integration key and per API token: past the limit, 429 with
Retry-After (the callers answer it), counted in `watchfloor_rate_limited_total{kind}`.

A fixed one-minute window counted in the cache (Redis in production, so every web process
shares the count): one INCR per request. The cache down is no reason to refuse alerts: the
request is let through (watchfloor.degrade logs the outage once).

A leaf module: it imports no Watchfloor app (tests/test_import_rules.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter

from watchfloor.degrade import guarded

WINDOW_SECONDS = 60

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


def _write_client(backend, full_key: str):
    """The Redis client for the counters, made once per cache connection: Django's
    `get_client()` builds a new `redis.Redis` at every call, and its ~170 response callbacks
    cost 0.3 ms of CPU, a fifth of an ingestion request's (bench/profile_ingest.py --roads)."""
    client = backend.__dict__.get("_watchfloor_counter_client")
    if client is None:
        client = backend.get_client(full_key, write=True)
        backend.__dict__["_watchfloor_counter_client"] = client
    return client


def _count(key: str) -> int:
    """This window's count for `key`, after adding this request."""
    backend = getattr(cache, "_cache", None)
    if getattr(backend, "get_client", None) is not None:
        # Redis: one INCR (Django's incr() is EXISTS + INCR, two round trips)
        full_key = cache.make_and_validate_key(key)
        client = _write_client(backend, full_key)
        count = client.incr(full_key)
        if count == 1:
            client.expire(full_key, WINDOW_SECONDS * 2)
        return count
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        if cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
            return 1
        return cache.incr(key)


def check(kind: str, identity: str | int) -> Limited | None:
    """Count one request of `identity` (a key id, a token digest) against the limit of `kind`
    ("integration_key" or "api_token"); a `Limited` when it is over, else None."""
    limit = settings.RATE_LIMITS.get(kind, 0)
    if limit <= 0:  # 0 switches the limit off
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"ratelimit:{kind}:{identity}:{window}"
    if guarded("cache", lambda: _count(key), lambda: 0) <= limit:
        return None
    RATE_LIMITED.labels(kind).inc()
    return Limited(kind, limit, max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999)))


def token_identity(plain: str) -> str:
    """A digest of a token for the counter's key: the token itself is never stored."""
    return hashlib.sha256(plain.encode()).hexdigest()[:24]
