"""The database down is a 503 with Retry-After, never a 500 with a traceback.

The API and ingestion (`/api/`, `/v2/`) answer in the API's JSON error shape; pages answer an
HTML page ("Database unavailable, retrying") that reloads itself after Retry-After. A view's
OperationalError reaches the innermost middleware below; one raised by a middleware (the
session, the signed-in person, their time zone: every page reads them before its view) reaches
Django's 500 handler, `server_error`, which answers the same 503.

Alertmanager, Prometheus and PagerDuty senders retry a 5xx (never a 4xx), so an alert posted
while the database is unreachable is sent again once it answers. How long a request can wait
before this answer is bounded by settings (DATABASES OPTIONS: the pool's `timeout` and
`connect_timeout`, docs/operations.md). The outage is logged once, and its end once
(watchfloor.degrade), not once per request; the connection pool reconnects by itself.
"""

from __future__ import annotations

import json
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.deprecation import MiddlewareMixin
from django.views.defaults import server_error as django_server_error

from watchfloor.api.errors import error_body
from watchfloor.degrade import is_down, record_failure, record_success

COMPONENT = "database"
# Seconds a client is asked to wait before it sends the request again.
RETRY_AFTER_SECONDS = 10
# Paths whose every answer reads the database (a key or token is looked up): an answer below 500
# there means the database is back.
_DATABASE_PATHS = ("/api/", "/v2/")


def unavailable_response(request=None) -> HttpResponse:
    """The 503: JSON for the API and ingestion (and without a request), HTML for a page."""
    if request is None or request.path.startswith(_DATABASE_PATHS):
        body = error_body(
            "unavailable",
            "The database is unavailable; send the request again later.",
            {"database": "Unreachable."},
        )
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
    else:
        # rendered without the request: no context processor (they read the session) runs
        page = render_to_string(
            "platform/database_unavailable.html",
            {"retry_after": RETRY_AFTER_SECONDS, "path": request.get_full_path()},
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response["Cache-Control"] = "no-store"
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag; the outage is logged once, not one ERROR per request
    return response


def _person_was_read(request) -> bool:
    """A page that loaded its signed-in person from the session read the database."""
    user = getattr(request, "_cached_user", None)
    return bool(getattr(user, "is_authenticated", False))


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Innermost middleware: a view that could not reach the database answers 503."""

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        record_failure(COMPONENT, exception)
        return unavailable_response(request)

    def process_response(self, request, response):
        if (
            is_down(COMPONENT)
            and response.status_code < 500
            and (request.path.startswith(_DATABASE_PATHS) or _person_was_read(request))
        ):
            record_success(COMPONENT)
        return response


def server_error(request) -> HttpResponse:
    """Django's 500 handler (`handler500` in watchfloor/urls.py). It runs while the exception is
    being handled: the database unreachable from a middleware is the same 503 as from a view;
    anything else is Django's own 500 page."""
    exception = sys.exc_info()[1]
    if isinstance(exception, OperationalError | InterfaceError):
        record_failure(COMPONENT, exception)
        return unavailable_response(request)
    return django_server_error(request)
