"""The heartbeat ping, before the API's URLs (authorised by an integration key, not a token)."""

from django.urls import re_path

from watchfloor.operations import views

urlpatterns = [
    re_path(
        r"^api/v1/heartbeats/(?P<name>[A-Za-z0-9_-]{1,100})/ping(?:/(?P<key>[A-Za-z0-9_-]+))?/?$",
        views.heartbeat_ping,
        name="heartbeat-ping",
    ),
]
