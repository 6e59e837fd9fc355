"""Per-component health: database and cache, each with status and latency."""

from __future__ import annotations

import time
import uuid

from django.core.cache import caches
from django.db import connection


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        status = "ok"
    except Exception as exc:  # a health check reports every failure, whatever its kind
        detail = {"error": type(exc).__name__}
        status = "error"
    return {
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        **(detail or {}),
    }


def _database() -> dict:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {"vendor": connection.vendor}


def _cache() -> dict:
    cache = caches["default"]  # the backend itself, not the `cache` proxy (named for the report)
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache read-back failed")
    cache.delete(key)
    return {"backend": type(cache).__name__}


def health_report() -> tuple[bool, dict]:
    components = {"database": _timed(_database), "cache": _timed(_cache)}
    healthy = all(c["status"] == "ok" for c in components.values())
    return healthy, {"status": "ok" if healthy else "error", "components": components}
