"""Sign-in, sign-out, the overview and the estate page. Views parse the request and render."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import ScopeKind, capabilities_of, has_capability, scope_kind
from watchfloor.alerts.overview_queries import (
    FEED_DEFAULT_ORDER,
    OverviewFilters,
    held_answer,
    watermark,
)
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.preferences import cached_preferences
from watchfloor.dashboard.queries import Filters, estate_page, overview_choices

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


@require_safe
@login_required
@ensure_csrf_cookie  # the page writes through the API with the CSRF token from the cookie
def home(request):
    """The overview: the page is a shell; its data comes from /api/v1/overview/* and the
    WebSocket, the same way on first load and on every resync."""
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    capabilities = sorted(c.value for c in capabilities_of(user))
    preferences = cached_preferences(request).as_dict()
    config = {
        "choices": overview_choices(user),
        "preferences": preferences,
        "capabilities": capabilities,
        "ws_path": "/ws/dashboard/",
        "tiles": {"url": settings.MAP_TILE_URL, "attribution": settings.MAP_TILE_ATTRIBUTION},
        "alert_url": reverse("dashboard:alert", args=[0]),
        "alerts_url": reverse("dashboard:alerts"),  # the tiles and the feed link to it
        "incidents_url": reverse("dashboard:incidents"),  # the SLA tile links to it
    }
    context = {
        "nav": "overview",
        "config": config,
        "overview_modules": OVERVIEW_MODULES,
        "preloaded": _preloaded(request, user, preferences),
    }
    return render(request, "dashboard/overview.html", context)


# what the page's script asks for its feed (overview.js FEED_LIMIT, the default sort)
PRELOAD_FEED_LIMIT = 200
PRELOAD_FEED_SORT = FEED_DEFAULT_ORDER
# filter parameters of the page's address (overview/filters.js): any of them, no preload
_FILTER_PARAMS = ("client", "city", "state", "officer", "site", "range", "sort")


def _preloaded(request, user, preferences: dict) -> str | None:
    """The unfiltered tiles, map and feed answers that are held (the same shared bytes the API
    answers: `overview_queries.held_answer`, never computed here, so the HTML does not wait for
    them), for the page to draw at once instead of asking for them after its scripts ran; the
    page asks for any that is missing, and re-reads tiles and map at once after drawing held
    ones. None when none is held, or when the page opens with filters (its address's, or the
    person's saved default ones); the page also asks as usual when its own saved filters
    (localStorage) differ. Escaped like json_script: no `<`, `>` or `&` reaches the HTML."""
    saved = preferences.get("default_filters") or {}
    if any(key in request.GET for key in _FILTER_PARAMS) or any(saved.values()):
        return None
    f = OverviewFilters()
    mark = watermark(user.tenant_id)
    found = {
        "kpis": held_answer("kpis", user, f, tenant_watermark=mark),
        "sites": held_answer("sites", user, f, tenant_watermark=mark),
        "feed": held_answer(
            "feed",
            user,
            f,
            extra=((), PRELOAD_FEED_LIMIT, PRELOAD_FEED_SORT),
            tenant_watermark=mark,
        ),
    }
    parts = [b'"%s":%s' % (kind.encode(), body) for kind, body in found.items() if body]
    if not parts:
        return None
    tail = b'"feed_limit":%d,"feed_sort":"%s"' % (PRELOAD_FEED_LIMIT, PRELOAD_FEED_SORT.encode())
    body = b"{" + b",".join([*parts, tail]) + b"}"
    return body.decode().translate(_JSON_SCRIPT_ESCAPES)


_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


# what overview.js imports, at every depth (modulepreload links; a test checks the list is whole)
OVERVIEW_MODULES = [
    f"watchfloor/js/{name}.js"
    for name in (
        "http",
        "live",
        "sitemap",
        "outline",
        *(
            f"overview/{part}"
            for part in (
                "actions",
                "critical",
                "dom",
                "feed",
                "field",
                "filters",
                "incidents",
                "keys",
                "maintenance",
                "map",
                "tiles",
            )
        ),
    )
]


@require_safe
@login_required
def estate(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    page = estate_page(user, Filters.from_query(request.GET))
    context = {
        "nav": "estate",
        "page": page,
        "scope_label": SCOPE_LABELS[scope_kind(user)],
        # masked rows get a "Reveal" button for who may ask (js/reveal.js; audited per reveal)
        "can_reveal": not page.can_view_pii and has_capability(user, Capability.REVEAL_CONTACT),
    }
    return render(request, "dashboard/estate.html", context)
