"""ASGI entry point: HTTP through Django; WebSockets join here with the real-time app."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi_app})
