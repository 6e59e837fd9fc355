"""Ingestion routes. Included before the API's URLs, so `POST /api/v1/alerts` and
`/api/v2/alerts` reach these views first; `/api/v1/alerts` hands its other methods to the API.

A key may end the path (`…/<key>`) for senders that cannot set an `Authorization` header; a
trailing slash is accepted, since a POST cannot follow Django's APPEND_SLASH redirect.
"""

from django.urls import path, re_path

from watchfloor.alerts.integrations import views

_KEY = r"(?:/(?P<key>[A-Za-z0-9_-]+))?/?$"

urlpatterns = [
    path("api/v1/alerts", views.alerts_collection, name="ingest-native"),
    re_path(r"^api/v1/integrations/native" + _KEY, views.native_events, name="ingest-native-key"),
    re_path(
        r"^api/v1/integrations/alertmanager" + _KEY,
        views.alertmanager_webhook,
        name="ingest-alertmanager",
    ),
    re_path(r"^api/v2/alerts" + _KEY, views.alertmanager_v2_alerts, name="ingest-prometheus"),
    re_path(r"^v2/enqueue/?$", views.pagerduty_enqueue, name="ingest-pagerduty"),
]
