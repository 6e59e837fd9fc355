"""The one answer to a page the user may not use: audited, 403, the page's own explanation."""

from __future__ import annotations

from django.shortcuts import render

from watchfloor.access.capabilities import Capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record


def forbidden(request, capability: Capability, *, template="dashboard/forbidden.html", **extra):
    """Audit the refusal (ACCESS_DENIED with the capability, method and path) and answer 403
    with `template` (the generic page, or a page's own that says what it guards)."""
    record(
        Action.ACCESS_DENIED,
        actor=request.user,
        details={"capability": capability.value, "method": request.method, "path": request.path},
    )
    return render(request, template, {"capability": capability.value, **extra}, status=403)
