"""Service status (`/platform/status/`): each component with its status, latency and version,
this process's uptime, the ingestion rate and the newest event per source, the pipeline's lag,
and the WebSocket connections per node.

The statuses and latencies are platform.health's own checks (the ones /api/health/ answers
with), so the page and the load balancer never disagree; versions are read beside them. The
ingestion rate per source comes from the sampled series (platform.sampling, every 30 s), never
from the alert table on view. Pipeline lag: ingestion answers once a batch is staged and
the fold workers apply it to alerts (alerts.staging); the lag is the age of the oldest staged
batch not yet folded, with the batches and events pending (one aggregate over the staging table),
beside the time since each source's newest event. WebSocket connections per node: what each web
process announced through watchfloor.presence (TTL 90 s); in embedded mode that is the one
Watchfloor process.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import django
import psutil
from django.conf import settings
from django.db import connection
from django.utils import timezone

from watchfloor import presence
from watchfloor.jobs.runtime import node
from watchfloor.platform import health, sampling, workers

NOTHING_PENDING = "0 s (nothing pending)"


def pipeline_lag() -> str:
    """The staging lag as the page shows it ("unknown" when it cannot be read)."""
    from watchfloor.alerts.staging import lag

    try:
        current = lag()
    except Exception:  # the database down: the page still renders
        return "unknown"
    if not current.batches:
        return NOTHING_PENDING
    return f"{current.seconds:.1f} s ({current.batches} batches, {current.events} events pending)"


@dataclass(frozen=True)
class Component:
    name: str
    status: str  # ok / stale / error / unknown
    latency_ms: float | None
    version: str
    detail: str = ""


@dataclass(frozen=True)
class SourceRow:
    source: str
    per_min_5: float
    per_min_60: float
    last_event_at: datetime | None
    since_last_s: float | None


@dataclass(frozen=True)
class StatusReport:
    node: str
    started_at: datetime
    uptime_s: float
    components: list[Component]
    sources: list[SourceRow]
    pipeline_lag: str
    ws_by_node: dict[str, int] | None  # None: the cache could not be read
    samples: int  # samples in the last hour (0: the sample job has not run yet)
    notes: list[str] = field(default_factory=list)

    @property
    def hold_lag(self) -> float:
        """Past this lag (s) ingestion holds senders until the fold catches up."""
        return settings.ALERT_STAGING_HOLD_LAG

    @property
    def max_lag(self) -> float:
        """Past this lag (s) ingestion answers 503 with Retry-After."""
        return settings.ALERT_STAGING_MAX_LAG

    @property
    def ws_total(self) -> int | None:
        return None if self.ws_by_node is None else sum(self.ws_by_node.values())


def _database_version() -> str:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SHOW server_version")
            return f"PostgreSQL {cur.fetchone()[0]}"
        if connection.vendor == "sqlite":
            cur.execute("SELECT sqlite_version()")
            return f"SQLite {cur.fetchone()[0]}"
    return connection.display_name


def _version_of(read) -> str:
    try:
        return read()
    except Exception as exc:  # a version is a detail: its failure is said, never raised
        return f"unknown ({type(exc).__name__})"


def _redis_version() -> str:
    info = sampling.redis_info(("server",))
    return f"Redis {info['redis_version']}" if "redis_version" in info else "Redis (unreachable)"


def _component(name: str, check: dict, version: str, detail: str = "") -> Component:
    return Component(
        name=name,
        status=check["status"],
        latency_ms=check.get("latency_ms"),
        version=version,
        detail=detail or check.get("error", ""),
    )


def _workers_component() -> Component:
    beat = health.check("workers")
    last = beat.get("last_run_at")
    if last:
        ago = (timezone.now() - datetime.fromisoformat(last)).total_seconds()
        since = f"last job run finished {max(ago, 0):.0f} s ago"
    else:
        since = "no job run has finished yet"
    if settings.JOBS_BACKEND != "celery":
        return _component("workers", beat, "embedded scheduler (no Celery)", since)
    import celery

    started = time.perf_counter()
    broker = health.check("broker")
    if broker["status"] != "ok":
        found, detail = None, "broker unreachable: workers cannot be asked"
    else:
        try:
            found = len(workers.inspect_workers())
            detail = f"{found} answered a ping; {since}" if found else "no workers answered"
        except Exception as exc:  # reported, not raised
            found, detail = None, f"inspection failed ({type(exc).__name__})"
    status = beat["status"] if found else ("error" if found == 0 else "unknown")
    return Component(
        name="workers",
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        version=f"Celery {celery.__version__}",
        detail=detail,
    )


def _scheduler_component() -> Component:
    jobs = health.check("jobs")
    stale = jobs.get("stale") or []
    kind = "Celery beat" if settings.JOBS_BACKEND == "celery" else "embedded scheduler"
    detail = f"stale: {', '.join(stale)}" if stale else "every job ran within its stale period"
    return _component("scheduler", jobs, kind, detail)


def _hub_component(ws: dict[str, int] | None, took_ms: float) -> Component:
    publisher = settings.WATCHFLOOR_PUBLISHER.rsplit(".", 1)[-1]
    fan_out = "Redis pub/sub" if "Redis" in publisher else "in-process"
    if ws is None:
        return Component(
            "websocket hub", "unknown", took_ms, fan_out, "connection counts unreadable (cache)"
        )
    nodes = len(ws)
    detail = f"{sum(ws.values())} connections on {nodes} node{'s' if nodes != 1 else ''}"
    return Component("websocket hub", "ok", took_ms, fan_out, detail)


def collect(now: datetime | None = None) -> StatusReport:
    now = now or timezone.now()
    redis_version = _redis_version() if settings.REDIS_URL else ""
    cache_version = redis_version or f"local memory (Django {django.get_version()})"
    broker_version = redis_version or "in-process (no broker)"
    started = time.perf_counter()
    ws = presence.by_node()
    ws_ms = round((time.perf_counter() - started) * 1000, 2)
    components = [
        _component("database", health.check("database"), _version_of(_database_version)),
        _component("cache", health.check("cache"), cache_version),
        _component("broker", health.check("broker"), broker_version),
        _workers_component(),
        _scheduler_component(),
        _hub_component(ws, ws_ms),
    ]
    process = psutil.Process()
    started_at = datetime.fromtimestamp(process.create_time(), tz=UTC)
    sources = [
        SourceRow(
            source=rate.source,
            per_min_5=rate.per_min_5,
            per_min_60=rate.per_min_60,
            last_event_at=rate.last_event_at,
            since_last_s=(
                round((now - rate.last_event_at).total_seconds(), 1) if rate.last_event_at else None
            ),
        )
        for rate in sampling.ingestion_by_source(now)
    ]
    notes = [f"Python {sys.version.split()[0]}, Django {django.get_version()}"]
    return StatusReport(
        node=node(),
        started_at=started_at,
        uptime_s=round((now - started_at).total_seconds(), 1),
        components=components,
        sources=sources,
        pipeline_lag=pipeline_lag(),
        ws_by_node=ws,
        samples=len(sampling.recent_samples(60, now)),
        notes=notes,
    )
