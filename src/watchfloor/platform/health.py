"""Per-component health: database, cache, broker, workers, jobs and ingestion, each with status
and latency.

The database and the cache are what a web node needs to answer: either failing is an `error`
and the endpoint answers 503 (a load balancer takes the node out). `jobs` is `stale` when a
periodic job has had no successful run within its stale period (the worker or beat is down, or
a job keeps failing): the node itself still serves, so the answer stays 200 with the overall
status `degraded` and the stale jobs named, for monitoring to alert on. A dead beat must not
take every web node, and with them ingestion, out of the load balancer. The same holds for
`broker` (Redis unreachable: tasks cannot be queued, the web node still answers) and `workers`
(no job run has finished lately: the Celery workers or beat are gone).

`liveness()` and `readiness()` back /api/health/live and /api/health/ready for load balancers
and orchestrators: live is the process answering at all (no dependency is touched); ready is the
database reachable with every migration applied.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Max
from django.utils import timezone

from watchfloor.jobs.models import JobRun
from watchfloor.jobs.queries import grace_start, stale_jobs
from watchfloor.jobs.schedule import schedule
from watchfloor.platform import sampling

BROKER_TIMEOUT_SECONDS = 2.0


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


def _broker() -> dict:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        # Without REDIS_URL tasks run in the calling process: there is no broker to be down.
        return {"backend": "in-process"}
    import redis  # only where a Redis broker is configured

    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT_SECONDS, socket_connect_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        if not client.ping():
            raise RuntimeError("broker did not answer PING")
    except Exception as exc:  # the URL may carry a password: report the kind only
        raise Unhealthy({"backend": "redis", "error": type(exc).__name__}, status="stale") from exc
    finally:
        client.close()
    return {"backend": "redis"}


def _workers(now=None) -> dict:
    """The workers' heartbeat is their job runs: the newest finished run of any job, one indexed
    aggregate. Stale when none finished within the shortest stale period of the schedule
    (counted from no earlier than this process started, like the jobs' own staleness)."""
    now = now or timezone.now()
    last = JobRun.objects.filter(finished_at__isnull=False).aggregate(last=Max("finished_at"))[
        "last"
    ]
    jobs = schedule()
    detail = {"last_run_at": last.isoformat() if last else None}
    if not jobs:
        return detail
    period = min(job.stale_period for job in jobs)
    since = max(last, grace_start()) if last else grace_start()
    if now - since > period:
        raise Unhealthy(detail, status="stale")
    return detail


def _ingestion(now=None) -> dict:
    """Ingestion's lag and each source's newest event. A 2xx means a batch is staged; the fold
    workers apply it to alerts (alerts.staging): the lag is the age of the oldest staged batch
    not yet folded, with what is pending (one aggregate over the staging table, which holds
    only pending batches). Degraded past half the back-pressure bound (ingestion answers 503
    past the bound). A source going quiet shows in its newest event and rate from the platform
    samples (one read of the last hour's rows, never the alerts table)."""
    from watchfloor.alerts.staging import lag

    current = lag(now)
    rates = sampling.ingestion_by_source(now)
    detail = {
        "pipeline": "staged",
        "lag_seconds": round(current.seconds, 3),
        "pending_batches": current.batches,
        "pending_events": current.events,
        "max_lag_seconds": settings.ALERT_STAGING_MAX_LAG,
        "sources": {
            r.source: {
                "last_event_at": r.last_event_at.isoformat() if r.last_event_at else None,
                "per_min_5": r.per_min_5,
            }
            for r in rates
        },
    }
    if (
        current.seconds > settings.ALERT_STAGING_MAX_LAG / 2
        or current.events > settings.ALERT_STAGING_MAX_EVENTS / 2
    ):
        raise Unhealthy(detail, status="degraded")
    return detail


CHECKS = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
    "workers": _workers,
    "jobs": _jobs,
    "ingestion": _ingestion,
}


def check(name: str) -> dict:
    """One component's check as /api/health/ reports it: status, latency_ms and its details
    (the platform's service status page)."""
    return _timed(CHECKS[name])


def health_report() -> tuple[bool, dict]:
    components = {
        "database": _timed(_database),
        "cache": _timed(_cache),
        "broker": _timed(_broker),
        "workers": _timed(_workers),
        "jobs": _timed(_jobs),
        "ingestion": _timed(_ingestion),
    }
    healthy = all(c["status"] != "error" for c in components.values())
    if not healthy:
        overall = "error"
    elif all(c["status"] == "ok" for c in components.values()):
        overall = "ok"
    else:
        overall = "degraded"
    return healthy, {"status": overall, "components": components}


def liveness() -> dict:
    """The process is up and answers; touches no dependency (a restart would not help them)."""
    return {"status": "ok"}


_migrated = False


def _migrations_applied() -> bool:
    """Once every migration is applied the answer cannot change for this code: remembered."""
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


def readiness() -> tuple[bool, dict]:
    """Ready to serve: the database answers and its schema is this code's."""
    components = {"database": _timed(_database)}
    if components["database"]["status"] == "ok":
        started = time.perf_counter()
        try:
            applied = _migrations_applied()
            status = "ok" if applied else "error"
            detail = {} if applied else {"error": "unapplied migrations"}
        except Exception as exc:  # reported, never raised: a probe answers 503, not 500
            status, detail = "error", {"error": type(exc).__name__}
        components["migrations"] = {
            "status": status,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            **detail,
        }
    ready = all(c["status"] == "ok" for c in components.values())
    return ready, {"status": "ok" if ready else "error", "components": components}
