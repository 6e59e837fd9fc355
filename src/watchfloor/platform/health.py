"""Per-component health: database, cache and jobs, each with status and latency.

The database and the cache are what a web node needs to answer: either failing is an `error`
and the endpoint answers 503 (a load balancer takes the node out). `jobs` is `stale` when a
periodic job has had no successful run within its stale period (the worker or beat is down, or
a job keeps failing): the node itself still serves, so the answer stays 200 with the overall
status `degraded` and the stale jobs named, for monitoring to alert on. A dead beat must not
take every web node, and with them ingestion, out of the load balancer.
"""

from __future__ import annotations

import time
import uuid

from django.core.cache import caches
from django.db import connection

from watchfloor.jobs.queries import stale_jobs


class Unhealthy(Exception):
    """A check that ran but found its component unwell; `detail` is reported."""

    def __init__(self, detail: dict, status: str = "error"):
        super().__init__("unhealthy")
        self.detail = detail
        self.status = status


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        status = "ok"
    except Unhealthy as exc:
        detail = exc.detail
        status = exc.status
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
        raise Unhealthy({"stale": stale}, status="stale")
    return {"stale": []}


def health_report() -> tuple[bool, dict]:
    components = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "jobs": _timed(_jobs),
    }
    healthy = all(c["status"] != "error" for c in components.values())
    if not healthy:
        overall = "error"
    elif all(c["status"] == "ok" for c in components.values()):
        overall = "ok"
    else:
        overall = "degraded"
    return healthy, {"status": overall, "components": components}
