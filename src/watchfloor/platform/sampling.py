"""The charts' data: a sample of the main figures every 30 s (`platform.sample`), kept a day.

`take_sample()` reads each figure once, cheaply, and stores one `PlatformSample` row:

- of the machine that runs the job: CPU % and memory % (psutil);
- of the database: connections to this database (PostgreSQL's pg_stat_activity; None on
  SQLite, which has no server);
- of Redis (when REDIS_URL is set): operations per second and memory used (INFO);
- of the installation: open alerts; new alerts per minute, in total and per source; notification
  deliveries created since the previous sample that were sent / failed by the time of sampling,
  per minute; failed job runs since the previous sample; WebSocket connections (every node's
  announced count, watchfloor.presence).

Rows since the previous sample are found by primary key: each sample keeps the highest alert,
delivery and job-run id it saw (`marks`) and the next one counts only the ids above them, a
range scan of what is new, never a scan of the tables (last_seen_at has no index on purpose).
New alerts, not repeats: a repeat folded into an open alert writes no row; its count is
/metrics' `watchfloor_alerts_deduplicated_total`. The newest event per source (for the service
status page's "last event") is the latest `last_seen_at` among the active alerts, one grouped
query over the open set, or the newest new alert's time.

A figure that cannot be read (Redis down, not configured) is None; the chart shows a gap.
`prune_samples()` deletes the rows older than KEEP in bounded batches, in the same job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from watchfloor import presence
from watchfloor.alerts.models import ACTIVE_STATUSES, OPEN_STATUSES, Alert
from watchfloor.degrade import guarded
from watchfloor.jobs.models import JobRun, Outcome
from watchfloor.jobs.runtime import node
from watchfloor.oncall.models import Delivery, DeliveryStatus
from watchfloor.platform.models import PlatformSample

KEEP = timedelta(hours=24)
PRUNE_BATCH = 5_000
PRUNE_MAX_BATCHES = 20
REDIS_TIMEOUT = 1.0
# The rate of "since the previous sample" is over at least this long (a first sample or two
# samples close together do not make a spike), and at most MAX_GAP back (after a long stop the
# next sample starts afresh rather than report hours of rows as one minute).
MIN_SPAN = timedelta(seconds=10)
MAX_GAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    unit: str


# The charted figures, in the order the pages draw them.
SERIES: tuple[Series, ...] = (
    Series("cpu_percent", "CPU", "%"),
    Series("memory_percent", "Memory", "%"),
    Series("db_connections", "Database connections", ""),
    Series("redis_ops_per_sec", "Redis operations", "/s"),
    Series("redis_memory_mb", "Redis memory", "MB"),
    Series("alerts_per_min", "New alerts", "/min"),
    Series("open_alerts", "Open alerts", ""),
    Series("deliveries_sent_per_min", "Deliveries sent", "/min"),
    Series("deliveries_failed_per_min", "Deliveries failed", "/min"),
    Series("job_failures", "Job failures", ""),
    Series("ws_connections", "WebSocket connections", ""),
)
SERIES_KEYS = tuple(s.key for s in SERIES)

_cpu_primed = False


def _cpu_percent() -> float:
    """Machine CPU % since the previous call in this process (the first call measures 0.2 s)."""
    global _cpu_primed
    if not _cpu_primed:
        _cpu_primed = True
        return psutil.cpu_percent(interval=0.2)
    return psutil.cpu_percent(interval=None)


def _db_connections() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cur.fetchone()[0])


def redis_info(sections: tuple[str, ...] = ("server", "stats", "memory", "clients")) -> dict:
    """Redis INFO (the cache and broker server), or {} when there is no Redis or it is down."""
    if not settings.REDIS_URL:
        return {}

    def read() -> dict:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
        )
        try:
            info: dict = {}
            for section in sections:
                info.update(client.info(section))
            return info
        finally:
            client.close()

    return guarded("redis", read, dict)


def _per_min(count: int, span: timedelta) -> float:
    return round(count * 60 / max(span, MIN_SPAN).total_seconds(), 2)


def _max_id(model) -> int:
    return model.objects.aggregate(m=Max("id"))["m"] or 0


def take_sample(now: datetime | None = None) -> PlatformSample:
    """Read the figures and store one sample (see the module docstring)."""
    now = now or timezone.now()
    previous = PlatformSample.objects.order_by("-at", "-id").first()
    fresh = previous is None or now - previous.at > MAX_GAP
    span = MIN_SPAN if fresh else now - previous.at
    before = {} if fresh else previous.figures.get("marks", {})
    marks = {
        "alert": _max_id(Alert),
        "delivery": _max_id(Delivery),
        "jobrun": _max_id(JobRun),
    }

    new_by_source: dict[str, int] = {}
    newest_by_source: dict[str, str] = {}
    if "alert" in before:
        for source, n, newest in (
            Alert.objects.filter(id__gt=before["alert"], id__lte=marks["alert"])
            .values("source")
            .annotate(n=Count("*"), newest=Max("first_seen_at"))
            .values_list("source", "n", "newest")
            .order_by()
        ):
            new_by_source[source] = n
            newest_by_source[source] = newest.isoformat()

    open_alerts = 0
    last_event: dict[str, str] = dict(
        (previous.figures.get("last_event_by_source") or {}) if previous else {}
    )
    for source, status, n, last in (
        Alert.objects.filter(status__in=ACTIVE_STATUSES)
        .values("source", "status")
        .annotate(n=Count("*"), last=Max("last_seen_at"))
        .values_list("source", "status", "n", "last")
        .order_by()
    ):
        if status in OPEN_STATUSES:
            open_alerts += n
        last_event[source] = max(last_event.get(source, ""), last.isoformat())
    for source, newest in newest_by_source.items():
        last_event[source] = max(last_event.get(source, ""), newest)

    sent = failed = 0
    if "delivery" in before:
        by_status = dict(
            Delivery.objects.filter(id__gt=before["delivery"], id__lte=marks["delivery"])
            .filter(status__in=[DeliveryStatus.SENT, DeliveryStatus.FAILED])
            .values("status")
            .annotate(n=Count("*"))
            .values_list("status", "n")
            .order_by()
        )
        sent, failed = (
            by_status.get(DeliveryStatus.SENT, 0),
            by_status.get(DeliveryStatus.FAILED, 0),
        )

    job_failures = 0
    if "jobrun" in before:
        job_failures = JobRun.objects.filter(
            outcome=Outcome.FAILED, id__gt=before["jobrun"], id__lte=marks["jobrun"]
        ).count()

    info = redis_info(("stats", "memory"))
    ws = presence.by_node()
    figures = {
        "cpu_percent": _cpu_percent(),
        "memory_percent": psutil.virtual_memory().percent,
        "db_connections": _db_connections(),
        "redis_ops_per_sec": info.get("instantaneous_ops_per_sec"),
        "redis_memory_mb": (
            round(info["used_memory"] / 1_048_576, 2) if "used_memory" in info else None
        ),
        "alerts_per_min": _per_min(sum(new_by_source.values()), span),
        "alerts_per_min_by_source": {s: _per_min(n, span) for s, n in new_by_source.items()},
        "open_alerts": open_alerts,
        "deliveries_sent_per_min": _per_min(sent, span),
        "deliveries_failed_per_min": _per_min(failed, span),
        "job_failures": job_failures,
        "ws_connections": sum(ws.values()) if ws is not None else None,
        "ws_by_node": ws,
        "last_event_by_source": last_event,
        "marks": marks,
    }
    return PlatformSample.objects.create(node=node(), at=now, figures=figures)


def prune_samples(now: datetime | None = None, *, batch: int = PRUNE_BATCH) -> int:
    """Delete the samples older than KEEP, one short statement per batch; the number deleted."""
    cutoff = (now or timezone.now()) - KEEP
    deleted = 0
    for _ in range(PRUNE_MAX_BATCHES):
        ids = list(
            PlatformSample.objects.filter(at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        count, _ = PlatformSample.objects.filter(id__in=ids).delete()
        deleted += count
        if len(ids) < batch:
            break
    return deleted


def sample_and_prune() -> dict:
    """The `platform.sample` job: one sample, then the pruning; counts for the job run."""
    take_sample()
    return {"sampled": 1, "pruned": prune_samples()}


def recent_samples(minutes: int = 60, now: datetime | None = None) -> list[PlatformSample]:
    """The samples of the last `minutes`, oldest first (one indexed range read)."""
    since = (now or timezone.now()) - timedelta(minutes=minutes)
    return list(PlatformSample.objects.filter(at__gte=since).order_by("at", "id"))


def series(minutes: int = 60, now: datetime | None = None) -> dict:
    """The charted figures of the last `minutes` as columns (uPlot's shape): `t` in Unix
    seconds and one list per figure, None where a figure could not be read."""
    rows = recent_samples(minutes, now)
    return {
        "t": [round(r.at.timestamp(), 3) for r in rows],
        "series": [
            {
                "key": s.key,
                "label": s.label,
                "unit": s.unit,
                "values": [_number(r.figures.get(s.key)) for r in rows],
            }
            for s in SERIES
        ],
    }


def _number(value) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class SourceRate:
    source: str
    per_min_5: float
    per_min_60: float
    last_event_at: datetime | None


def ingestion_by_source(now: datetime | None = None) -> list[SourceRate]:
    """New alerts per minute per source, averaged over the samples of the last 5 and 60
    minutes, and each source's newest event (from the latest sample)."""
    now = now or timezone.now()
    rows = recent_samples(60, now)
    five = [r for r in rows if r.at >= now - timedelta(minutes=5)]
    latest = rows[-1].figures.get("last_event_by_source", {}) if rows else {}
    sources = set(latest)
    for r in rows:
        sources.update(r.figures.get("alerts_per_min_by_source") or {})

    def mean(samples, source) -> float:
        if not samples:
            return 0.0
        total = sum(
            (r.figures.get("alerts_per_min_by_source") or {}).get(source, 0) for r in samples
        )
        return round(total / len(samples), 2)

    return [
        SourceRate(
            source=source,
            per_min_5=mean(five, source),
            per_min_60=mean(rows, source),
            last_event_at=(datetime.fromisoformat(latest[source]) if latest.get(source) else None),
        )
        for source in sorted(sources)
    ]
