"""A client's public status page, `/status/<token>/` (#11 §5): no sign-in, no JavaScript, no
asset from outside; what it shows is `incidents.status_page.status_page`.

The token is a secret: the answer is never cached by shared caches, sends no Referer to the
links on it, and Django's request log never names the path (a 404 or 429 here is answered as
already logged, so the token does not reach the log). Requests are limited per client address
(`WATCHFLOOR_RATE_LIMIT_STATUS_PAGE` a minute, 429 with Retry-After). An unknown and a revoked
token are the same 404.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_safe

from watchfloor import ratelimit
from watchfloor.incidents.status_page import link_for_token, status_page

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
