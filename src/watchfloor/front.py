"""The WSGI application, with a short road for ingestion (issue 14).

Every request but one kind goes through Django's full handler: sessions, CSRF, the signed-in
person, axes, messages, htmx, time zones — what the pages and the API need. An ingestion POST
(`alerts.integrations.urls`: native, Alertmanager, Prometheus v2, PagerDuty) needs none of it: it
is authorised by an integration key, is CSRF-exempt, reads no session and renders nothing. Those
requests go to a second Django handler, same URLconf and views, whose middleware chain is only
what they use:

- `RequestMetricsMiddleware`: requests and latency per route (the same series as before);
- `SecurityMiddleware`: the same security headers on the answer;
- `ApiErrorShapeMiddleware`: a Django-made error under /api/ in the API's JSON shape;
- `AuditContextMiddleware`: the caller's address and agent on an `auth_failed` record;
- `DatabaseUnavailableMiddleware`: the database down is a 503 with Retry-After.

The views, and so the validation, the 4xx naming the field, authentication, capability (the
key's source kind), rate limits, 503 on backlog and the ingestion metrics, are the same code on
both roads; tests/platform/test_front.py sends the same requests down both and compares the
answers. Measured: docs/decisions.md (2026-12-04, the lean ingestion road).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

# The paths of alerts.integrations.urls (a POST on them is ingestion; `GET /api/v1/alerts` is
# the read API and takes the full road).
INGESTION_PATH = re.compile(
    r"^/(?:api/v1/alerts"
    r"|api/v1/integrations/(?:native|alertmanager)(?:/[A-Za-z0-9_-]+)?/?"
    r"|api/v2/alerts(?:/[A-Za-z0-9_-]+)?/?"
    r"|v2/enqueue/?)$"
)

# What an ingestion request goes through, in settings.MIDDLEWARE's order (any of them switched
# off in the settings — the metrics one with WATCHFLOOR_METRICS=off — is left out here too).
INGESTION_MIDDLEWARE = (
    "watchfloor.platform.metrics_middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "watchfloor.api.middleware.ApiErrorShapeMiddleware",
    "watchfloor.audit.context.AuditContextMiddleware",
    "watchfloor.platform.unavailable.DatabaseUnavailableMiddleware",
)


def is_ingestion(environ: dict) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(
        INGESTION_PATH.match(environ.get("PATH_INFO", ""))
    )


class IngestionHandler(WSGIHandler):
    """Django's WSGI handler (signals, connection handling, URL resolution, exception to
    response) with the ingestion middleware only."""

    # Ingestion paths without a key in them resolve to the same view every time: a handful of
    # fixed paths, remembered. Django walks the URLconf's patterns per request (15–20 µs of a
    # ~0.5 ms single-alert request, docs/decisions.md). A path that carries a key is resolved
    # every time: no key is kept in memory, and random keys cannot grow the map.
    RESOLVED_PATHS = 32

    def __init__(self) -> None:
        super().__init__()
        self._resolved: dict[str, Any] = {}

    def resolve_request(self, request):
        if hasattr(request, "urlconf"):  # set by a middleware: not one of the ingestion chain's
            return super().resolve_request(request)
        match = self._resolved.get(request.path_info)
        if match is None:
            match = super().resolve_request(request)
            if not match.args and not match.kwargs and len(self._resolved) < self.RESOLVED_PATHS:
                self._resolved[request.path_info] = match
            return match
        request.resolver_match = match
        return match

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list = []
        self._template_response_middleware: list = []
        self._exception_middleware: list = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # BaseHandler's own, not in the stubs
        chain = [m for m in INGESTION_MIDDLEWARE if m in settings.MIDDLEWARE]
        for path in reversed(chain):
            try:
                middleware = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = _with_content_length(handler)


def _with_content_length(get_response: Callable) -> Callable:
    """Content-Length on every answer that is not streamed, as the full road's CommonMiddleware
    sets it. Without it gunicorn sends the answer chunked: headers, the chunk, and the closing
    empty chunk, three writes to the socket (measured: 6 % of a single-alert request's
    samples, docs/decisions.md) instead of two."""

    def handler(request):
        response = get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response

    handler.__wrapped__ = get_response  # type: ignore[attr-defined]  # the chain stays walkable
    return handler


class Front:
    """WSGI: ingestion POSTs to `lean`, everything else to `app`."""

    def __init__(self, app: Callable, lean: Callable):
        self.app = app
        self.lean = lean

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        if is_ingestion(environ):
            return self.lean(environ, start_response)
        return self.app(environ, start_response)


def wsgi_application() -> Front:
    """What gunicorn serves (platform.server) and watchfloor.wsgi exposes; Django set up."""
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    return Front(app, IngestionHandler())
