"""Prometheus counters for the ingestion pipeline, labelled by source (the `/metrics` endpoint
exposes the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGESTED = Counter(
    "watchfloor_alerts_ingested_total", "Alert events accepted by ingestion.", ["source"]
)
CREATED = Counter("watchfloor_alerts_created_total", "New alerts opened by ingestion.", ["source"])
DEDUPLICATED = Counter(
    "watchfloor_alerts_deduplicated_total",
    "Alert events folded into an active alert with the same fingerprint.",
    ["source"],
)
SUPPRESSED = Counter(
    "watchfloor_alerts_suppressed_total",
    "Alert events stored as suppressed (maintenance window or back-pressure).",
    ["source", "reason"],
)
RESOLVED = Counter(
    "watchfloor_alerts_resolved_total", "Alerts closed by a resolve event.", ["source"]
)
REJECTED = Counter(
    "watchfloor_alerts_rejected_total",
    "Alert events refused (invalid payload, unknown key).",
    ["source", "reason"],
)

# A fold worker's folds (alerts.staging.FoldWorker): how many events each took, and how long
# its transaction ran. Small folds under steady load mean the fold's fixed cost is paid often
# (WATCHFLOOR_FOLD_GATHER); long ones bound how far the screens run behind the answers.
FOLD_EVENTS = Histogram(
    "watchfloor_fold_events",
    "Alert events a fold worker folded in one transaction.",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
FOLD_SECONDS = Histogram(
    "watchfloor_fold_duration_seconds",
    "Wall time of a fold worker's folds, from reading the staged batches to the commit.",
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def record_fold(events: int, seconds: float) -> None:
    FOLD_EVENTS.observe(events)
    FOLD_SECONDS.observe(seconds)


def record_rejected(source: str, reason: str, count: int = 1) -> None:
    REJECTED.labels(source=source, reason=reason).inc(count)
