"""ASGI entry point: HTTP through Django, WebSockets through Channels (`/ws/dashboard/`).

The session middleware stack gives a browser's WebSocket its signed-in user; the consumer
itself checks the Origin and accepts an API token instead for programs.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from watchfloor.realtime.routing import websocket_urlpatterns  # noqa: E402 (needs apps ready)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
