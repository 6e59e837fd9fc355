"""Redis pub/sub channel names.

Pub/sub ignores Redis database numbers, so the number is part of every channel's name: two
installations sharing one Redis server on different databases never hear each other (the live
events' tenant ids would otherwise collide, and each would follow the other's authorization
moves). A leaf module: it imports no Watchfloor app (tests/test_import_rules.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def channel(name: str) -> str:
    """`name` in this installation's namespace: `watchfloor:<Redis db>:<name>`."""
    db = (urlsplit(settings.REDIS_URL or "").path or "/0").strip("/") or "0"
    return f"watchfloor:{db}:{name}"
