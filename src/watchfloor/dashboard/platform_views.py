"""The platform pages under `/platform/`: how the installation itself is doing (host, database,
cache and broker, and the exports for Prometheus and Grafana).

Their figures are platform-wide — the host, every tenant's volumes in the database and Redis —
so they are for platform operators only (`platform.operators.is_platform_operator`: active staff
without a tenant), never for a tenant's admin. Anyone else signed in gets a 403 that is audited
as `access_denied`; every view is audited as `view_sensitive` with the page's name.

Each page answers HTML, or the same data as JSON with `?format=json` (the `/api/v1/` API
authenticates tenants' accounts only, so platform operators read JSON from the page itself,
with their session). The figures come from the collectors in `platform/`; views stay thin.

A new page of the section: a view decorated with `@platform_page("<section>")` that ends in
`respond(...)`, a template extending `dashboard/platform/base.html`, a URL in `urls.py` and a
link in `dashboard/platform/_nav.html`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.dashboard.exports_views import EXPORTS, EXPORTS_DIR
from watchfloor.platform import cache_stats, db_stats, system_stats
from watchfloor.platform.operators import is_platform_operator

# What the 403 and the audit entry name as the requirement (not one of the tenant capabilities).
REQUIREMENT = "platform_operator"


def denied(request: HttpRequest) -> HttpResponse:
    """Audit the refusal and answer 403 with the page that says who may see it."""
    record(
        Action.ACCESS_DENIED,
        actor=request.user,
        details={"requirement": REQUIREMENT, "method": request.method, "path": request.path},
    )
    return render(request, "dashboard/platform/denied.html", {"nav": "platform"}, status=403)


def platform_page(section: str) -> Callable:
    """Sign-in required (anonymous: the login page), GET/HEAD only, platform operators only
    (others: `denied`), and each view audited as `view_sensitive` naming `platform.<section>`."""

    def wrap(view: Callable) -> Callable:
        @require_safe
        @login_required
        @wraps(view)
        def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not is_platform_operator(request.user):
                return denied(request)
            record(
                Action.VIEW_SENSITIVE,
                actor=request.user,
                details={
                    "page": f"platform.{section}",
                    "format": "json" if wants_json(request) else "html",
                },
            )
            return view(request, *args, **kwargs)

        return page

    return wrap


def wants_json(request: HttpRequest) -> bool:
    return request.GET.get("format") == "json"


def plain(value: Any) -> Any:
    """Dataclasses (the collectors' answers) as plain dicts and lists, for JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def respond(
    request: HttpRequest, section: str, template: str, data: dict[str, Any]
) -> HttpResponse:
    """`data` rendered by `template` in the section's shell, or as JSON with ?format=json."""
    if wants_json(request):
        return JsonResponse(plain(data), encoder=DjangoJSONEncoder)
    return render(request, template, {"nav": "platform", "section": section, **data})


@platform_page("index")
def index(request):
    return respond(request, "index", "dashboard/platform/index.html", {})


EXPORT_NOTES = {
    "watchfloor-dashboard.json": "Grafana dashboard for Watchfloor itself (import as is; "
    "the Prometheus datasource and the scrape job are variables).",
    "watchfloor-rules.yml": "Prometheus alerting rules: ingestion stopped, jobs stale, 5xx "
    "ratio, live delivery latency, notification failures.",
    "watchfloor-rules.test.yml": "Unit tests of those rules for `promtool test rules`.",
}


@platform_page("exports")
def exports(request):
    files = [
        {
            "name": name,
            "content_type": content_type,
            "size_bytes": (EXPORTS_DIR / name).stat().st_size,
            "about": EXPORT_NOTES.get(name, ""),
        }
        for name, content_type in EXPORTS.items()
    ]
    return respond(request, "exports", "dashboard/platform/exports.html", {"files": files})


@platform_page("system")
def system(request):
    stats = system_stats.collect()
    return respond(request, "system", "dashboard/platform/system.html", {"system": stats})


@platform_page("database")
def database(request):
    stats = db_stats.collect()
    return respond(request, "database", "dashboard/platform/database.html", {"database": stats})


@platform_page("cache")
def cache(request):
    stats = cache_stats.collect()
    return respond(request, "cache", "dashboard/platform/cache.html", {"cache": stats})
