from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from watchfloor.platform import metrics, metrics_access
from watchfloor.platform.health import health_report, liveness, readiness


@never_cache
@require_GET
def health(request):
    """Unauthenticated on purpose (load balancers call it); it names no data, only components."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
@require_GET
def live(request):
    """Liveness for load balancers/orchestrators: the process answers; no dependency checked."""
    return JsonResponse(liveness())


@never_cache
@require_GET
def ready(request):
    """Readiness: the database is reachable and fully migrated; 503 otherwise."""
    ok, report = readiness()
    return JsonResponse(report, status=200 if ok else 503)


@never_cache
@require_GET
def metrics_view(request):
    """Prometheus exposition; 403 outside WATCHFLOOR_METRICS_ALLOW, 401 without the token, 404
    when metrics are switched off (WATCHFLOOR_METRICS=off)."""
    if not settings.METRICS_ENABLED:
        return JsonResponse({"detail": "Metrics are switched off on this node."}, status=404)
    if not metrics_access.address_allowed(request.META.get("REMOTE_ADDR", "")):
        return JsonResponse({"detail": "Address not allowed to read metrics."}, status=403)
    if not metrics_access.token_ok(request.headers.get("Authorization", "")):
        response = JsonResponse({"detail": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
