"""Who is asking, for the audit log, without threading the request through every service."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""


_NO_REQUEST = RequestContext()
_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "watchfloor_request_context", default=None
)


def current_request_context() -> RequestContext:
    return _current.get() or _NO_REQUEST


def context_from_request(request) -> RequestContext:
    # REMOTE_ADDR is the peer; behind a proxy the server (uvicorn --proxy-headers) rewrites it.
    ip = request.META.get("REMOTE_ADDR") or None
    agent = (request.META.get("HTTP_USER_AGENT") or "")[:300]
    return RequestContext(ip=ip, user_agent=agent)


class AuditContextMiddleware:
    """Make the caller's IP and user agent available to `audit.services.record`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        token = _current.set(context_from_request(request))
        try:
            return self.get_response(request)
        finally:
            _current.reset(token)

    async def _acall(self, request):
        token = _current.set(context_from_request(request))
        try:
            return await self.get_response(request)
        finally:
            _current.reset(token)
