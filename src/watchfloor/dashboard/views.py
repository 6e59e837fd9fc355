"""Sign-in, sign-out and the estate page. Views parse the request and render: nothing more."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import render
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import ScopeKind, has_capability, scope_kind
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.dashboard.queries import Filters, estate_page

SCOPE_LABELS = {
    ScopeKind.ALL_CLIENTS: "all clients",
    ScopeKind.ASSIGNED_CLIENTS: "assigned clients",
    ScopeKind.ASSIGNED_SITES: "assigned sites",
    ScopeKind.NONE: "none",
}


class SignInView(LoginView):
    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "demo": settings.DEMO}


class SignOutView(LogoutView):
    """POST only (Django's LogoutView refuses GET), so a link or an image cannot sign you out."""


def _header(request) -> dict:
    user = request.user
    return {
        "roles": sorted(g.name for g in user.groups.all()),
        "tenant": user.tenant,
    }


@require_safe
@login_required
def home(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        record(
            Action.ACCESS_DENIED,
            actor=user,
            details={
                "capability": Capability.VIEW.value,
                "method": request.method,
                "path": request.path,
            },
        )
        return render(request, "dashboard/forbidden.html", _header(request), status=403)
    page = estate_page(user, Filters.from_query(request.GET))
    context = {
        **_header(request),
        "nav": "estate",
        "page": page,
        "scope_label": SCOPE_LABELS[scope_kind(user)],
    }
    return render(request, "dashboard/estate.html", context)
