from django.contrib import admin
from django.urls import include, path

from watchfloor.api.urls import urlpatterns as api_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    *api_urls,
    path("", include("watchfloor.platform.urls")),
    path("", include("watchfloor.dashboard.urls")),
]
