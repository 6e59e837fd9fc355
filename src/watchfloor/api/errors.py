"""One error format for the whole API: `{"error": {"code", "message", "fields"}}`.

`fields` maps a dotted location (`name`, `items.3.severity`) to what is wrong with it. Part of
the API kernel, a leaf that imports no Watchfloor app: handlers that need an app (the capability
check's audit) are installed by that app (`access.api_auth.install_access_handlers`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from watchfloor.api.parsing import NestedTooDeep

# Locations ninja prefixes to a field path; they say where, not what.
_LOCATION_PREFIXES = {"body", "query", "path", "header", "cookie", "form", "file", "payload"}


class ApiError(Exception):
    """Raise from a route for a non-validation error with a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _field_path(loc: list | tuple) -> str:
    parts = [str(p) for p in loc]
    while parts and parts[0] in _LOCATION_PREFIXES:
        parts.pop(0)
    # ninja nests the body under the parameter name (e.g. `data`): drop that level too, so a
    # body that is not an object at all is reported on `body`, not on a Python name
    if parts and parts[0] in {"data", "item", "items_in", "body_in"}:
        parts.pop(0)
    return ".".join(parts) or "body"


def _message(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "Unknown field."
    if kind == "missing":
        return "This field is required."
    if kind == "json_invalid":
        return "Malformed JSON."
    msg = err.get("msg", "Invalid value.")
    # a validator's ValueError comes as "Value error, <its message>": keep the message
    msg = msg.removeprefix("Value error, ")
    return msg[:1].upper() + msg[1:] + ("" if msg.endswith(".") else ".")


def fields_from_ninja(errors: list[dict]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in errors:
        fields.setdefault(_field_path(err.get("loc", ())), _message(err))
    return fields


def install_error_handlers(api: NinjaAPI) -> None:
    def respond(request: HttpRequest, status: int, code: str, message: str, fields=None):
        # ninja's create_response takes the status as a keyword argument only
        return api.create_response(request, error_body(code, message, fields), status=status)

    @api.exception_handler(NinjaValidationError)
    def on_validation(request: HttpRequest, exc: NinjaValidationError):
        fields = fields_from_ninja(exc.errors)
        if any(e.get("type") == "json_invalid" for e in exc.errors):
            return respond(request, 400, "malformed_json", "The body is not valid JSON.", fields)
        return respond(request, 422, "validation_error", "The request is not valid.", fields)

    @api.exception_handler(DjangoValidationError)
    def on_model_validation(request: HttpRequest, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {
                k: " ".join(m for e in v for m in e.messages) for k, v in exc.error_dict.items()
            }
        else:
            fields = {"body": " ".join(exc.messages)}
        return respond(request, 422, "validation_error", "The request is not valid.", fields)

    @api.exception_handler(ApiError)
    def on_api_error(request: HttpRequest, exc: ApiError):
        return respond(request, exc.status, exc.code, exc.message, exc.fields)

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404):
        return respond(request, 404, "not_found", "Not found.")

    @api.exception_handler(AuthenticationError)
    def on_unauthenticated(request: HttpRequest, exc: AuthenticationError):
        response = respond(request, 401, "unauthorized", "Authentication required.")
        response["WWW-Authenticate"] = 'Bearer realm="watchfloor"'
        return response

    @api.exception_handler(RequestDataTooBig)
    def on_too_large(request: HttpRequest, exc: RequestDataTooBig):
        return respond(
            request,
            413,
            "too_large",
            "The request body is larger than the server accepts.",
            {"body": f"At most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError):
        if exc.status_code == 400 and isinstance(exc.__cause__, NestedTooDeep):
            return respond(
                request,
                400,
                "malformed_json",
                "The body is nested too deeply.",
                {"body": str(exc.__cause__)},
            )
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
            return respond(
                request,
                400,
                "malformed_json",
                "The body is not valid JSON.",
                {"body": "Malformed JSON."},
            )
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
            413: "too_large",
            429: "rate_limited",
        }.get(exc.status_code, "error")
        return respond(request, exc.status_code, code, str(exc))
