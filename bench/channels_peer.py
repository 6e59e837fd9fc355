"""The peer for bench/websocket.py: Channels' own fan-out, a group on the Redis pub/sub layer.

A bench-only ASGI application (never part of Watchfloor): every WebSocket joins one Channels
group through `channels_redis.pubsub.RedisPubSubChannelLayer`, and each group message is
forwarded to the socket as it comes, in the same `{"type": "events", "events": [...]}` shape
Watchfloor sends. This is what `/ws/dashboard/` would be with a Channels group per tenant: the
publisher calls `async_to_sync(layer.group_send)(group, message)` (see `websocket.py`), Redis
delivers the message once to each subscribed process, and the layer queues it for each consumer
of the group, which decodes it and sends it on.

Served by uvicorn exactly like Watchfloor (one process, same WebSocket implementation and
permessage-deflate):

    WSBENCH_REDIS_URL=redis://127.0.0.1:6379/12 uv run uvicorn --app-dir bench \\
        channels_peer:application --host 127.0.0.1 --port 8001 --lifespan off
"""

from __future__ import annotations

import os

import django
from django.conf import settings

GROUP = "wsbench"
MESSAGE_TYPE = "bench.event"  # handled by PeerConsumer.bench_event

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="channels-peer-bench-only",  # noqa: S106 — no sessions, no signing
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {
                    "hosts": [os.environ.get("WSBENCH_REDIS_URL", "redis://127.0.0.1:6379")]
                },
            }
        },
    )
    django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402 (needs setup)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class PeerConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello"})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_event(self, message):
        await self.send_json({"type": "events", "events": message["events"], "truncated": 0})


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/peer/", PeerConsumer.as_asgi())])}
)
