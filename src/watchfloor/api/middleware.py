"""Give every error under /api/ the API's one JSON shape, including the ones Django answers
before or around ninja: an unknown path (404), a wrong method (405), a server error (500)."""

from __future__ import annotations

import json

from django.http import HttpResponse

from watchfloor.api.errors import error_body

API_PREFIX = "/api/"
_CODES = {
    400: ("bad_request", "The request is not valid."),
    403: ("forbidden", "Forbidden."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("too_large", "The request body is too large."),
    500: ("server_error", "Internal server error."),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        code, message = _CODES.get(response.status_code, ("error", "The request failed."))
        shaped = HttpResponse(
            json.dumps(error_body(code, message)),
            status=response.status_code,
            content_type="application/json",
        )
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
        return shaped
