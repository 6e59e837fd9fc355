"""The ingestion endpoints: plain Django views, the hot path of the product.

No django-ninja here: a request is authenticated by its integration key (one indexed query),
decoded with `json.loads`, parsed by a pure function into events and handed to the pipeline in one
call. Every endpoint is POST only, CSRF-exempt (a key, not a session, authorises it) and refuses
a body larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` with 413.

| endpoint                                         | format                    | success |
| ------------------------------------------------ | ------------------------- | ------- |
| `POST /api/v1/alerts`                            | native JSON               | 202     |
| `POST /api/v1/integrations/native[/<key>]`       | native JSON               | 202     |
| `POST /api/v1/integrations/alertmanager[/<key>]` | Alertmanager webhook v4   | 200     |
| `POST /api/v2/alerts[/<key>]`                    | Alertmanager v2 alerts    | 200 [1] |
| `POST /v2/enqueue`                               | PagerDuty Events API v2   | 202     |

[1] with an empty body, as Alertmanager answers.

A 2xx means the batch is durable in the staging table (alerts.staging), not yet folded into
alerts: the answers say how many events were accepted (and the native one each event's
fingerprint), never created/deduplicated counts, which the fold decides milliseconds later.
Past the staging bounds every endpoint answers 503 with Retry-After, nothing stored.

`/api/v1/alerts` is also the read side's list (`GET`, the ninja API): every method but POST is
handed to the ninja view that the API's own URLconf resolves for the path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import Resolver404, URLResolver
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from watchfloor.access.models import IntegrationKey, SourceKind
from watchfloor.alerts import metrics
from watchfloor.alerts.events import BatchInvalid, Event
from watchfloor.alerts.integrations import alertmanager, native, pagerduty
from watchfloor.alerts.integrations.auth import authenticate, bearer_of, safe_path
from watchfloor.alerts.staging import Backlogged, Staged, admit, stage
from watchfloor.api.errors import error_body
from watchfloor.api.parsing import NestedTooDeep, loads_screened
from watchfloor.bounds import value_problem
from watchfloor.ratelimit import Limited, check

log = logging.getLogger(__name__)

JSON = "application/json"
_MALFORMED = object()
_TOO_LARGE = object()


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body, separators=(",", ":")), status=status, content_type=JSON)


def _error(status: int, code: str, message: str, fields: dict | None = None) -> HttpResponse:
    return _json(status, error_body(code, message, fields))


def _read_body(request: HttpRequest) -> tuple[object, bool]:
    """The decoded JSON body (or `_TOO_LARGE` / `_MALFORMED` / a `NestedTooDeep`), and whether
    it is known storable without `_unstorable`'s walk (`loads_screened`)."""
    try:
        raw = request.body
    except RequestDataTooBig:
        return _TOO_LARGE, False
    try:
        return loads_screened(raw)
    except NestedTooDeep as exc:
        return exc, False
    except (ValueError, UnicodeDecodeError):
        return _MALFORMED, False


def _unstorable(data: object) -> dict[str, str]:
    """`{location: problem}` for the first NUL, lone surrogate, 10**23 or infinite number in a
    decoded body (anywhere, unknown fields and label names included), named like the parsers
    name fields: a single native event is event `0`."""
    found = value_problem(data)
    if found is None:
        return {}
    where, problem = found
    if isinstance(data, dict) and "alerts" not in data and "routing_key" not in data:
        where = f"0.{where}" if where else "0"
    return {where or "body": problem}


def _quiet(response: HttpResponse, request: HttpRequest, plain: str) -> HttpResponse:
    """Keep a key that travels in the path out of the logs of a refused request.

    Django logs every 4xx with its path; for a path that carries the key, log it here with the
    key replaced and mark the response as logged.
    """
    if plain and response.status_code >= 400 and plain in request.path:
        log.warning(
            "%s: %s",
            response.reason_phrase,
            safe_path(request, plain),
            extra={"status_code": response.status_code},
        )
        response._has_been_logged = True  # type: ignore[attr-defined]  # Django's own flag
    return response


def _unauthorized(message: str = "A valid integration key is required.") -> HttpResponse:
    response = _error(401, "unauthorized", message)
    response["WWW-Authenticate"] = 'Bearer realm="watchfloor"'
    return response


def _too_large() -> HttpResponse:
    return _error(
        413,
        "too_large",
        "The request body is larger than the server accepts.",
        {"body": f"At most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
    )


def _too_many(limited: Limited, body: dict | None = None) -> HttpResponse:
    """429 with Retry-After: Alertmanager, Prometheus and PagerDuty senders retry it later."""
    response = _json(
        429,
        body
        or error_body(
            "rate_limited",
            f"More than {limited.limit} requests a minute with this integration key.",
            {"key": f"Over {limited.limit} requests a minute; retry after the Retry-After."},
        ),
    )
    response["Retry-After"] = str(limited.retry_after)
    return response


def _backlogged(exc: Backlogged, body: dict | None = None) -> HttpResponse:
    """503 with Retry-After: the staging table is past its bounds (senders retry later)."""
    response = _json(
        503,
        body
        or error_body(
            "backlogged",
            "Ingestion is behind; nothing was stored. Retry after the Retry-After.",
            {"body": exc.reason},
        ),
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def _batch_size(data: object) -> int:
    if isinstance(data, list):
        return max(len(data), 1)
    if isinstance(data, dict) and isinstance(data.get("alerts"), list):
        return max(len(data["alerts"]), 1)
    return 1


def _ingest_request(
    request: HttpRequest,
    key_in_path: str,
    *,
    source: SourceKind,
    parse: Callable[[object], list[Event]],
    respond: Callable[[Staged], HttpResponse],
    strict_codes: bool,
    prefix: str = "",
) -> HttpResponse:
    """Authenticate, decode, parse, ingest; the one flow of the header/path-key endpoints."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    plain = key_in_path or bearer_of(request)
    key = authenticate(request, plain, source=source)
    if key is None:
        metrics.record_rejected(source, "unauthorized")
        return _quiet(_unauthorized(), request, key_in_path)
    if limited := check("integration_key", key.pk):
        metrics.record_rejected(source, "rate_limited")
        return _quiet(_too_many(limited), request, key_in_path)
    try:
        # before the body is decoded and validated: while the fold is behind, the CPU is the
        # fold's, not the requests' (staging.admit; measured: with 85 % of a loaded run's
        # requests refused after their parse the fold stalled, and an accepted alert reached
        # the screens 5 s after its 2xx)
        admit()
    except Backlogged as exc:
        metrics.record_rejected(source, "backlogged")  # one per request: its body is unread
        return _quiet(_backlogged(exc), request, key_in_path)
    data, storable = _read_body(request)
    if data is _TOO_LARGE:
        metrics.record_rejected(source, "too_large")
        return _quiet(_too_large(), request, key_in_path)
    if data is _MALFORMED or isinstance(data, NestedTooDeep):
        metrics.record_rejected(source, "malformed")
        response = _error(
            400,
            "malformed_json",
            "The body is not valid JSON.",
            {"body": str(data) if isinstance(data, NestedTooDeep) else "Malformed JSON."},
        )
        return _quiet(response, request, key_in_path)
    try:
        if not storable and (unstorable := _unstorable(data)):
            raise BatchInvalid(unstorable)
        events = parse(data)
        try:
            result = stage(events, key=key, strict_codes=strict_codes)
        except BatchInvalid as exc:
            # the pipeline names events by their index in the list it was given
            exc.fields = {
                (name if name == "body" else prefix + name): message
                for name, message in exc.fields.items()
            }
            raise
    except BatchInvalid as exc:
        metrics.record_rejected(source, "invalid", _batch_size(data))
        response = _error(422, "validation_error", exc.message, exc.fields)
        return _quiet(response, request, key_in_path)
    except Backlogged as exc:
        metrics.record_rejected(source, "backlogged", _batch_size(data))
        return _quiet(_backlogged(exc), request, key_in_path)
    return respond(result)


# --- native ------------------------------------------------------------------------------------


def _native_response(result: Staged) -> HttpResponse:
    return _json(
        202,
        {
            "accepted": result.accepted,
            "alerts": [{"fingerprint": fp} for fp in result.fingerprints],
        },
    )


@csrf_exempt
def native_events(request: HttpRequest, key: str = "") -> HttpResponse:
    return _ingest_request(
        request,
        key,
        source=SourceKind.NATIVE,
        parse=native.parse_native,
        respond=_native_response,
        strict_codes=True,
    )


# The API's own URLconf, to hand every other method of /api/v1/alerts to the ninja view of the
# read side. Resolved per request against the API's patterns only (ours are not in it), so this
# follows whatever the alerts router declares for the path.
_api_resolver = URLResolver(RegexPattern(r"^/"), "watchfloor.api_site")


@csrf_exempt
def alerts_collection(request: HttpRequest) -> HttpResponse:
    """`/api/v1/alerts`: POST ingests native events; other methods go to the read API."""
    if request.method == "POST":
        return native_events(request)
    try:
        match = _api_resolver.resolve(request.path_info)
    except Resolver404:
        raise Http404 from None
    request.resolver_match = match
    return match.func(request, *match.args, **match.kwargs)


# --- Alertmanager ------------------------------------------------------------------------------


def _webhook_response(result: Staged) -> HttpResponse:
    return _json(200, {"status": "success", "accepted": result.accepted})


@csrf_exempt
def alertmanager_webhook(request: HttpRequest, key: str = "") -> HttpResponse:
    return _ingest_request(
        request,
        key,
        source=SourceKind.ALERTMANAGER,
        parse=alertmanager.parse_webhook,
        respond=_webhook_response,
        strict_codes=False,
        prefix="alerts.",
    )


def _v2_response(result: Staged) -> HttpResponse:
    return HttpResponse(b"", status=200)


def _parse_v2(data: object) -> list[Event]:
    return alertmanager.parse_v2_alerts(data, now=timezone.now())


@csrf_exempt
def alertmanager_v2_alerts(request: HttpRequest, key: str = "") -> HttpResponse:
    return _ingest_request(
        request,
        key,
        source=SourceKind.ALERTMANAGER,
        parse=_parse_v2,
        respond=_v2_response,
        strict_codes=False,
    )


# --- PagerDuty ---------------------------------------------------------------------------------


def _pd_invalid(errors: list[str], status: int = 400, message: str = "Event object is invalid"):
    return _json(status, {"status": "invalid event", "message": message, "errors": errors})


@csrf_exempt
def pagerduty_enqueue(request: HttpRequest) -> HttpResponse:
    """PagerDuty's Events API v2; answers in its shapes (202 success, 400 invalid event)."""
    source = SourceKind.PAGERDUTY
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    data, storable = _read_body(request)
    if data is _TOO_LARGE:
        metrics.record_rejected(source, "too_large")
        return _pd_invalid(
            [f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."],
            status=413,
            message="Request too large",
        )
    if data is _MALFORMED or isinstance(data, NestedTooDeep):
        metrics.record_rejected(source, "malformed")
        return _pd_invalid(
            [str(data) if isinstance(data, NestedTooDeep) else "The body is not valid JSON."]
        )
    if not storable and (unstorable := _unstorable(data)):
        # before the routing key is looked up: it may be the value that cannot be stored
        metrics.record_rejected(source, "invalid")
        return _pd_invalid([f"{name}: {message}" for name, message in unstorable.items()])
    key: IntegrationKey | None = authenticate(
        request, pagerduty.routing_key_of(data), source=source
    )
    if key is None:
        metrics.record_rejected(source, "unauthorized")
        return _json(
            401,
            {
                "status": "unauthorized",
                "message": "Invalid routing key",
                "errors": ["'routing_key' is not a valid integration key for PagerDuty events."],
            },
        )
    if limited := check("integration_key", key.pk):
        metrics.record_rejected(source, "rate_limited")
        return _too_many(
            limited,
            {
                "status": "throttle event",
                "message": "Requests for this routing key are arriving too quickly.",
                "errors": [f"More than {limited.limit} requests a minute; retry later."],
            },
        )
    try:
        admit()  # held while the fold is behind (the body is read already: it holds the key)
        parsed = pagerduty.parse_enqueue(data)
        stage([parsed.event], key=key, strict_codes=False)
    except BatchInvalid as exc:
        metrics.record_rejected(source, "invalid")
        return _pd_invalid([f"{name}: {message}" for name, message in exc.fields.items()])
    except Backlogged as exc:
        metrics.record_rejected(source, "backlogged")
        return _backlogged(
            exc,
            {
                "status": "throttle event",
                "message": "Ingestion is behind; retry later.",
                "errors": [exc.reason],
            },
        )
    return _json(
        202, {"status": "success", "message": "Event processed", "dedup_key": parsed.dedup_key}
    )
