"""API authentication: bearer tokens for programs, the session (with CSRF) for the browser; and
the answer to a denied capability (403, audited). Lives in `access`, so the API kernel (`api/`)
stays a leaf that imports no app."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer, SessionAuth

from watchfloor.access.scope import CapabilityDenied
from watchfloor.access.services import authenticate_api_token
from watchfloor.api.errors import error_body
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.ratelimit import Limited, check, token_identity


def may_use_api(user) -> bool:
    """An active account of an active tenant (superusers without a tenant use the admin)."""
    return bool(
        user is not None and user.is_active and user.tenant_id is not None and user.tenant.active
    )


class RateLimited(Exception):
    """A token over its requests a minute (settings.RATE_LIMITS): 429 with Retry-After."""

    def __init__(self, limited: Limited):
        super().__init__(f"over {limited.limit} requests a minute")
        self.limited = limited


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = authenticate_api_token(token)
        if not may_use_api(user):
            record(Action.AUTH_FAILED, details={"path": request.path, "scheme": "bearer"})
            return None
        if limited := check("api_token", token_identity(token)):
            raise RateLimited(limited)
        request.user = user
        return user


class TenantSessionAuth(SessionAuth):
    """The logged-in browser user, if they belong to a tenant. CSRF is checked on writes."""

    def __call__(self, request: HttpRequest):
        # Only a logged-in session is checked for CSRF: without one there is nothing to forge,
        # and the caller must get 401 (not a CSRF 403) when no credential is valid.
        if not getattr(request.user, "is_authenticated", False):
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        return user if may_use_api(user) else None


def default_auth():
    return [TokenAuth(), TenantSessionAuth()]


def install_access_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(RateLimited)
    def on_rate_limited(request: HttpRequest, exc: RateLimited):
        limit = exc.limited.limit
        body = error_body(
            "rate_limited",
            f"More than {limit} requests a minute with this API token.",
            {"token": f"Over {limit} requests a minute; retry after the Retry-After."},
        )
        response = api.create_response(request, body, status=429)
        response["Retry-After"] = str(exc.limited.retry_after)
        return response

    @api.exception_handler(CapabilityDenied)
    def on_denied(request: HttpRequest, exc: CapabilityDenied):
        record(
            Action.ACCESS_DENIED,
            actor=request.auth if hasattr(request, "auth") else None,
            details={
                "capability": exc.capability.value,
                "method": request.method,
                "path": request.path,
            },
        )
        body = error_body("forbidden", f"This needs the capability {exc.capability.value}.")
        return api.create_response(request, body, status=403)
