"""Pages show times in the signed-in person's time zone (their dashboard setting).

Django's current time zone is activated for the request, so `When.of` (dashboard/alert_views.py)
and the `date` filter render in it. The API is left alone: it speaks ISO 8601 in UTC. The setting
is read once per request (`cached_preferences`), the same read the top bar's theme uses.
"""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

from watchfloor.dashboard.preferences import cached_preferences

SKIPPED_PREFIXES = ("/api/", "/static/", "/metrics", "/v2/")


def person_zone(request) -> zoneinfo.ZoneInfo | None:
    """The zone the person chose, or None (pages then show UTC)."""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return None
    name = cached_preferences(request).time_zone
    return zoneinfo.ZoneInfo(name) if name else None


class PersonTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = None if request.path.startswith(SKIPPED_PREFIXES) else person_zone(request)
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
