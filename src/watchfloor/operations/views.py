"""`POST|GET /api/v1/heartbeats/{name}/ping[/{key}]`: a monitor's "still alive".

Authorised by an integration key of any source kind of the tenant (`Authorization: Bearer
<key>`, or the key as the last path segment for senders that set no header: cron's curl,
Alertmanager's webhook). The body, if any, is ignored (Alertmanager posts its Watchdog alert
there). Answers 200 `{"status": ...}`, 404 for a name the key's tenant has not, 401 without a
usable key, 429 over the key's rate limit.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from watchfloor.access.services import authenticate_integration_key
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.operations.heartbeats import ping
from watchfloor.ratelimit import check


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def _bearer(request: HttpRequest) -> str:
    scheme, _, credential = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


@csrf_exempt
def heartbeat_ping(request: HttpRequest, name: str, key: str | None = None) -> HttpResponse:
    if request.method not in ("GET", "POST", "HEAD"):
        return HttpResponseNotAllowed(["GET", "POST", "HEAD"])
    plain = key or _bearer(request)
    found = authenticate_integration_key(plain) if plain else None
    if found is None:
        if plain:
            path = request.path.replace(plain, "{key}")
            record(Action.AUTH_FAILED, details={"path": path, "scheme": "integration_key"})
        return _json(
            401,
            {
                "error": {
                    "code": "unauthorized",
                    "message": "A valid integration key is required.",
                    "fields": {},
                }
            },
        )
    if limited := check("integration_key", found.pk):
        response = _json(
            429, {"error": {"code": "rate_limited", "message": "Too many requests.", "fields": {}}}
        )
        response["Retry-After"] = str(getattr(limited, "retry_after", 1))
        return response
    hb = ping(found.tenant_id, name)
    if hb is None:
        return _json(
            404, {"error": {"code": "not_found", "message": "No such heartbeat.", "fields": {}}}
        )
    return _json(200, {"name": hb.name, "status": hb.status})
