"""Per-component health: database, cache and jobs, each with status and latency.

`jobs` is an error when a periodic job has had no successful run within its stale period (the
worker or beat is down, or a job keeps failing); it names the stale jobs, nothing else.
"""

from __future__ import annotations

import time
import uuid

from django.core.cache import caches
from django.db import connection

from watchfloor.jobs.queries import stale_jobs


class Unhealthy(Exception):
    """A check that ran but found its component unwell; `detail` is reported."""

    def __init__(self, detail: dict):
        super().__init__("unhealthy")
        self.detail = detail


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        status = "ok"
    except Unhealthy as exc:
        detail = exc.detail
        status = "error"
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


def _jobs() -> dict:
    stale = stale_jobs()  # one query
    if stale:
        raise Unhealthy({"stale": stale})
    return {"stale": []}


def health_report() -> tuple[bool, dict]:
    components = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "jobs": _timed(_jobs),
    }
    healthy = all(c["status"] == "ok" for c in components.values())
    return healthy, {"status": "ok" if healthy else "error", "components": components}
