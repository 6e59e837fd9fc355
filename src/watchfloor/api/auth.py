"""API authentication: bearer tokens for programs, the session (with CSRF) for the browser."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from watchfloor.access.services import authenticate_api_token
from watchfloor.audit.models import Action
from watchfloor.audit.services import record


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = authenticate_api_token(token)
        if user is None:
            record(Action.AUTH_FAILED, details={"path": request.path, "scheme": "bearer"})
            return None
        if user.tenant_id is None:
            return None
        request.user = user
        return user


class TenantSessionAuth(SessionAuth):
    """The logged-in browser user, if they belong to a tenant. CSRF is checked on writes."""

    def authenticate(self, request: HttpRequest, key):
        user = super().authenticate(request, key)
        if user is None or user.tenant_id is None:
            return None
        return user


def default_auth():
    return [TokenAuth(), TenantSessionAuth()]
