from django.urls import path

from watchfloor.platform import views

urlpatterns = [
    path("api/health/", views.health, name="health"),
    path("api/health/live", views.live, name="health-live"),
    path("api/health/ready", views.ready, name="health-ready"),
    path("metrics", views.metrics_view, name="metrics"),
]
