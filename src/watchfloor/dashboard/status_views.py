"""A client's public status page, `/status/<token>/` (#11 §5): no sign-in, no JavaScript, no
asset from outside; what it shows is `incidents.status_page.status_page`.

The token is a secret: the answer is never cached by shared caches, sends no Referer to the
links on it, and Django's request log never names the path (a 404 or 429 here is answered as
already logged, so the token does not reach the log). Requests are limited per client address
(`WATCHFLOOR_RATE_LIMIT_STATUS_PAGE` a minute, 429 with Retry-After). An unknown and a revoked
token are the same 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from watchfloor import ratelimit
from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability, visible_clients
from watchfloor.dashboard.denied import forbidden
from watchfloor.incidents.status_page import (
    access_status_link,
    create_status_link,
    link_for_token,
    links_visible,
    revoke_status_link,
    status_page,
)

PRIVATE = "private, no-store"


def _quiet(response):
    """Keep Django's request logger from writing this path (it holds the token) to the log."""
    response._has_been_logged = True
    response["Cache-Control"] = PRIVATE
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def status_page_view(request, token: str):
    limited = ratelimit.check("status_page", request.META.get("REMOTE_ADDR", ""))
    if limited is not None:
        response = render(request, "dashboard/status_page_404.html", {"busy": True}, status=429)
        response["Retry-After"] = str(limited.retry_after)
        return _quiet(response)
    link = link_for_token(token)
    if link is None:
        return _quiet(render(request, "dashboard/status_page_404.html", status=404))
    page = status_page(link)
    return _quiet(render(request, "dashboard/status_page.html", {"page": page}))


# --- the links, for noc:configure -------------------------------------------------------------
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def status_links(request):
    """The clients' status page links: create one (its address shown on this answer only, never
    stored in the session) and revoke them. `noc:configure`."""
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    clients = list(visible_clients(user).order_by("code"))
    new_url, error, status = "", "", 200
    if request.method == "POST":
        chosen = next((c for c in clients if str(c.id) == request.POST.get("client", "")), None)
        if chosen is None:
            error, status = "Choose a client.", 422
        else:
            issued = create_status_link(chosen, actor=user, label=request.POST.get("label", ""))
            path = reverse("dashboard:status_page", kwargs={"token": issued.plain})
            new_url, status = f"{settings.PUBLIC_URL}{path}", 201
    context = {
        "nav": "incidents",
        "clients": clients,
        "links": list(links_visible(user).order_by("-id")[:500]),
        "new_url": new_url,
        "error": error,
    }
    response = render(request, "dashboard/status_links.html", context, status=status)
    response["Cache-Control"] = PRIVATE
    return response


@require_POST
@login_required
def status_link_revoke(request, link_id: int):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    link = access_status_link(user, link_id)
    if not has_capability(user, Capability.CONFIGURE):
        return forbidden(request, Capability.CONFIGURE)
    revoke_status_link(link, actor=user)
    messages.success(request, f"Status page link {link.prefix}… revoked.")
    return redirect("dashboard:status_links")
