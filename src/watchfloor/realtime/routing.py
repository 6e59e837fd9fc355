"""WebSocket URL routes (the ASGI application in watchfloor/asgi.py mounts them)."""

from django.urls import path

from watchfloor.realtime.consumers import DashboardConsumer

websocket_urlpatterns = [path("ws/dashboard/", DashboardConsumer.as_asgi())]
