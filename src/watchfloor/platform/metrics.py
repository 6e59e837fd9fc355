"""The `/metrics` exposition: every Watchfloor figure in Prometheus' text format.

Counters and histograms live in the modules that count (alerts, jobs, realtime, oncall, the
request middleware here). A node serves with several worker processes (`serve --workers N`,
uvicorn or gunicorn), so `serve` runs prometheus-client's multiprocess mode: each process writes
its figures to files in PROMETHEUS_MULTIPROC_DIR (set by `watchfloor serve` to a folder under
WATCHFLOOR_HOME, emptied at start), and a scrape of any worker sums every process' files
(docs/decisions.md). Without it (tests, `runserver`) the default registry is this process'.

Open alerts by severity come from the database, not from counters: one grouped count over the
active alerts, remembered for OPEN_ALERTS_TTL seconds so that frequent scrapes (or several
Prometheus servers) cost one query per window per process, not one each. COUNT(*), not
COUNT(id): PostgreSQL then answers from an index alone (1M alerts, 200k open: 65 ms index-only
scan against 218 ms sequential scan with COUNT(id); docs/decisions.md). Circuit breakers' state
is read at scrape time from the cache every process shares (platform/breakers.py). Ingestion's
lag and pending batches/events are read from the staging table at scrape time (alerts.staging).
"""

from __future__ import annotations

import importlib
import os
import threading
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from watchfloor.platform.breakers import CIRCUITS
from watchfloor.platform.metrics_dir import MULTIPROC_ENV

# Every module that defines figures, so that all of them are registered in this process
# (the single-process registry lists a family once its module is imported).
METRIC_MODULES = (
    "watchfloor.alerts.metrics",
    "watchfloor.circuit",
    "watchfloor.jobs.metrics",
    "watchfloor.oncall.metrics",
    "watchfloor.platform.metrics_middleware",
    "watchfloor.ratelimit",
    "watchfloor.realtime.metrics",
)
for _module in METRIC_MODULES:
    importlib.import_module(_module)

CONTENT_TYPE = CONTENT_TYPE_LATEST
OPEN_ALERTS_TTL = 10.0


def mark_worker_dead(pid: int) -> None:
    """A worker exited: its live gauges (WebSocket connections) no longer count."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


class OpenAlertsCollector:
    """`watchfloor_open_alerts{severity}`: active alerts (all tenants) by severity, cached."""

    def __init__(self, ttl: float = OPEN_ALERTS_TTL):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._counts: dict[str, int] | None = None

    def counts(self) -> dict[str, int] | None:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._counts = self._read()
                self._at = time.monotonic()
            return self._counts

    @staticmethod
    def _read() -> dict[str, int] | None:
        from django.db.models import Count

        from watchfloor.alerts.models import OPEN_STATUSES, Alert, Severity

        try:
            rows = (
                Alert.objects.filter(status__in=OPEN_STATUSES)
                .values_list("severity")
                .annotate(n=Count("*"))
                .order_by()
            )
            counts = {severity: 0 for severity in Severity.values}
            counts.update({severity: n for severity, n in rows})
            return counts
        except Exception:  # the database down: the scrape still answers, without this figure
            return None

    def describe_all(self):
        """The families this collector emits, without reading the database."""
        yield GaugeMetricFamily("watchfloor_open_alerts_up", "", value=0)
        yield GaugeMetricFamily("watchfloor_open_alerts", "", labels=["severity"])

    def collect(self):
        counts = self.counts()
        up = GaugeMetricFamily(
            "watchfloor_open_alerts_up",
            "1 when the open-alerts count could be read from the database, 0 otherwise.",
            value=0 if counts is None else 1,
        )
        yield up
        if counts is None:
            return
        family = GaugeMetricFamily(
            "watchfloor_open_alerts",
            "Open alerts (new, acknowledged, assigned, escalated) by severity, all tenants; "
            f"read at most every {OPEN_ALERTS_TTL:g} s.",
            labels=["severity"],
        )
        for severity, n in sorted(counts.items()):
            family.add_metric([severity], n)
        yield family


OPEN_ALERTS = OpenAlertsCollector()


class StagingCollector:
    """Ingestion's lag: the age of the oldest batch staged and not yet folded, and what is
    pending (alerts.staging; one aggregate over a table that holds only pending batches)."""

    def describe_all(self):
        yield GaugeMetricFamily("watchfloor_ingestion_lag_seconds", "")
        yield GaugeMetricFamily("watchfloor_ingestion_pending_batches", "")
        yield GaugeMetricFamily("watchfloor_ingestion_pending_events", "")

    def collect(self):
        from watchfloor.alerts.staging import lag

        try:
            current = lag()
        except Exception:  # the database down: the scrape still answers, without these
            return
        yield GaugeMetricFamily(
            "watchfloor_ingestion_lag_seconds",
            "Age of the oldest ingestion batch answered 2xx and not yet folded into alerts.",
            value=current.seconds,
        )
        yield GaugeMetricFamily(
            "watchfloor_ingestion_pending_batches",
            "Ingestion requests staged and not yet folded.",
            value=current.batches,
        )
        yield GaugeMetricFamily(
            "watchfloor_ingestion_pending_events",
            "Alert events staged and not yet folded.",
            value=current.events,
        )


STAGING = StagingCollector()


def exposition() -> bytes:
    """The text served at /metrics."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    database = CollectorRegistry()
    database.register(OPEN_ALERTS)
    database.register(CIRCUITS)
    database.register(STAGING)
    return generate_latest(registry) + generate_latest(database)
