from django.urls import path

from watchfloor.platform import views

urlpatterns = [path("api/health/", views.health, name="health")]
