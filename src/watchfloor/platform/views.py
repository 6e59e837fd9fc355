from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from watchfloor.platform.health import health_report


@never_cache
@require_GET
def health(request):
    """Unauthenticated on purpose (load balancers call it); it names no data, only components."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
