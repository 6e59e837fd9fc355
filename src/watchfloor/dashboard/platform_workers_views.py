"""The platform section's Workers and Service status pages and the charts' series (#12 §1):
`/platform/workers/`, `/platform/status/` and `/platform/samples/`. Same rule as every platform
page (`platform_views.platform_page`: platform operators only, denials and views audited, JSON
with ?format=json); the figures come from platform/workers.py, platform/status.py and
platform/sampling.py.

The charts (static/watchfloor/js/platform_charts.js, drawn with the vendored uPlot) read
`/platform/samples/?minutes=N`: the sampled series (`platform.sample`, every 30 s), never the
raw tables. The page fetches it once when it opens; reloading the page refreshes it.
"""

from __future__ import annotations

from django.http import JsonResponse

from watchfloor.api.errors import error_body
from watchfloor.dashboard.platform_views import platform_page, respond
from watchfloor.platform import sampling, status, workers
from watchfloor.platform.breakers import breaker_states

MINUTES_MIN, MINUTES_MAX = 5, 24 * 60
MINUTES_DEFAULT = 60


@platform_page("workers")
def workers_page(request):
    # error texts of failed runs: superusers only, like /jobs/ (jobs work across tenants)
    report = workers.collect(errors=request.user.is_superuser)
    return respond(
        request,
        "workers",
        "dashboard/platform/workers.html",
        {
            "workers": report,
            "stale": report.stale,
            "inspect_timeout": f"{workers.INSPECT_TIMEOUT:g}",
            "charted": ["job_failures"],
        },
    )


@platform_page("status")
def status_page(request):
    report = status.collect()
    return respond(
        request,
        "status",
        "dashboard/platform/status.html",
        {
            "status": report,
            "ws_total": report.ws_total,
            "breakers": breaker_states(),
            "charted": list(sampling.SERIES_KEYS),
        },
    )


@platform_page("samples")
def samples(request):
    raw = request.GET.get("minutes", str(MINUTES_DEFAULT))
    if not raw.isascii() or not raw.isdigit() or not MINUTES_MIN <= int(raw) <= MINUTES_MAX:
        problem = f"a whole number of minutes from {MINUTES_MIN} to {MINUTES_MAX}"
        return JsonResponse(
            error_body("validation_error", "The request is not valid.", {"minutes": problem}),
            status=422,
        )
    minutes = int(raw)
    return JsonResponse({"minutes": minutes, **sampling.series(minutes)})
