"""The database down is a 503 with Retry-After, never a 500 with a traceback.

Alertmanager, Prometheus and PagerDuty senders retry a 5xx (never a 4xx), so an alert posted
while the database is unreachable is sent again once it answers. How long a request can wait
before this answer is bounded by settings (DATABASES OPTIONS: the pool's `timeout` and
`connect_timeout`, docs/operations.md). The outage is logged once, and its end once
(watchfloor.degrade), not once per request; the connection pool reconnects by itself.
"""

from __future__ import annotations

import json

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils.deprecation import MiddlewareMixin

from watchfloor.api.errors import error_body
from watchfloor.degrade import is_down, record_failure, record_success

COMPONENT = "database"
# Seconds a client is asked to wait before it sends the request again.
RETRY_AFTER_SECONDS = 10
# Paths whose every answer reads the database (a key or token is looked up): an answer below 500
# there means the database is back.
_DATABASE_PATHS = ("/api/", "/v2/")


def unavailable_response() -> HttpResponse:
    body = error_body(
        "unavailable",
        "The database is unavailable; send the request again later.",
        {"database": "Unreachable."},
    )
    response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag; the outage is logged once, not one ERROR per request
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Innermost middleware: a view that could not reach the database answers 503."""

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        record_failure(COMPONENT, exception)
        return unavailable_response()

    def process_response(self, request, response):
        if (
            is_down(COMPONENT)
            and response.status_code < 500
            and request.path.startswith(_DATABASE_PATHS)
        ):
            record_success(COMPONENT)
        return response
