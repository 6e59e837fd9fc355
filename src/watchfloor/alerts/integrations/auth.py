"""Integration-key authentication for the ingestion endpoints.

A key is presented as `Authorization: Bearer <key>`, as the last path segment (for senders that
cannot set headers), or — PagerDuty — as `routing_key` in the body. It must be usable (not
revoked or expired, active tenant) and issued for the endpoint's source kind. A presented key that
fails is audited as `auth_failed`; the key itself is never stored or logged: a path that carries it
is recorded with the key replaced by `{key}`.
"""

from __future__ import annotations

from django.http import HttpRequest

from watchfloor.access.models import IntegrationKey, SourceKind
from watchfloor.access.services import authenticate_integration_key
from watchfloor.audit.models import Action
from watchfloor.audit.services import record

SCHEME = "integration_key"


def bearer_of(request: HttpRequest) -> str:
    """The credential of an `Authorization: Bearer …` header, or ""."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return credential.strip()


def safe_path(request: HttpRequest, plain: str) -> str:
    """The request path with the key (when it is in the path) replaced by `{key}`."""
    path = request.path
    if plain and plain in path:
        return path.replace(plain, "{key}")
    return path


def authenticate(request: HttpRequest, plain: str, *, source: SourceKind) -> IntegrationKey | None:
    """The key for `plain` if it may ingest as `source`; otherwise None (audited if presented)."""
    if not plain:
        return None
    key = authenticate_integration_key(plain, source=source)
    if key is None:
        record(
            Action.AUTH_FAILED,
            details={"path": safe_path(request, plain), "scheme": SCHEME, "source": str(source)},
        )
    return key
