"""Prometheus counters for the ingestion pipeline, labelled by source (the `/metrics` endpoint
exposes the default registry)."""

from __future__ import annotations

from prometheus_client import Counter

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


def record_rejected(source: str, reason: str, count: int = 1) -> None:
    REJECTED.labels(source=source, reason=reason).inc(count)
