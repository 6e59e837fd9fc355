"""Prometheus figures of notification sending (the `/metrics` endpoint exposes them)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERIES = Counter(
    "watchfloor_notification_deliveries_total",
    "Notification sends by medium and outcome (sent, failed, circuit_open: held back by the "
    "destination's open circuit breaker and rescheduled).",
    ["medium", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "watchfloor_notification_send_seconds",
    "How long one notification send took (SMTP or the Apprise service).",
    ["medium"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
