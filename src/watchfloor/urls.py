from django.contrib import admin
from django.urls import include, path

from watchfloor.api_site import urlpatterns as api_urls
from watchfloor.dashboard.urls import auth_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("watchfloor.alerts.integrations.urls")),
    path("", include("watchfloor.operations.urls")),
    *api_urls,
    *auth_urlpatterns,
    path("", include("watchfloor.platform.urls")),
    path("", include("watchfloor.dashboard.urls")),
]

# the database unreachable before a view runs (a middleware reading the session) is a 503 too
handler500 = "watchfloor.platform.unavailable.server_error"
