"""Requests and latency per route template: `resolver_match.route` (`api/v1/alerts/<int:id>`),
never the raw path, so one label value per route and no ids or keys in the labels."""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "watchfloor_http_requests_total",
    "HTTP requests by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "watchfloor_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # 404s of unknown paths: one series, not one per scanned path


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else UNMATCHED


# (route, method, status) -> the two series' children: `labels()` checks and locks at every call
# (~12 µs a request on the ingestion road, bench/profile_ingest.py --roads). Bounded: routes are
# templates, methods and statuses a few. The children are the metrics' own (labels() returns
# the same objects), so tests reading `labels(...)` see these counts.
_series: dict[tuple[str, str, int], tuple] = {}


def _record(request, status: int, started: float) -> None:
    route = route_of(request)
    method = request.method if request.method in KNOWN_METHODS else "OTHER"
    series = _series.get((route, method, status))
    if series is None:
        series = (
            REQUESTS.labels(route=route, method=method, status=str(status)),
            LATENCY.labels(route=route, method=method),
        )
        _series[(route, method, status)] = series
    series[0].inc()
    series[1].observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Counts every request that reaches Django (first in the chain, so it times the rest)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _record(request, response.status_code, started)
        return response

    async def __acall__(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        _record(request, response.status_code, started)
        return response
