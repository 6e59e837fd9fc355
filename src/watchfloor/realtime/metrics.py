"""Prometheus figures of the real-time layer, in the default registry (the `/metrics` endpoint
that exposes it comes with the platform's self-monitoring)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

CONNECTIONS = Gauge(
    "watchfloor_websocket_connections",
    "Dashboard WebSocket connections open (summed over this node's live worker processes).",
    multiprocess_mode="livesum",
)
DELIVERY_SECONDS = Histogram(
    "watchfloor_realtime_delivery_seconds",
    "From the commit that published the oldest event of a WebSocket update to its send.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
