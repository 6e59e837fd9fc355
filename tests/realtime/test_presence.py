"""Each web process announces its WebSocket connections (watchfloor.presence) for the service
status page and the samples: the count follows connections and drops to 0 when they close."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from watchfloor import presence
from watchfloor.asgi import application

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def _count_becomes(want: int, deadline: float = 10.0) -> None:
    """Waits (polling, bounded) until this node's announced count is `want`."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(deadline):
        while True:
            seen = await loop.run_in_executor(None, presence.by_node)
            if seen and seen.get(presence.node()) == want:
                return
            await asyncio.sleep(0.05)


def test_the_hub_announces_its_connections(estate, token_for):
    token = token_for(estate.user("operator"))

    async def scenario():
        sockets = []
        for _ in range(2):
            ws = WebsocketCommunicator(
                application,
                "/ws/dashboard/",
                headers=[(b"host", b"testserver"), (b"authorization", token.encode())],
            )
            connected, _ = await ws.connect(timeout=5)
            assert connected
            sockets.append(ws)
        await _count_becomes(2)
        for ws in sockets:
            await ws.disconnect()
        await _count_becomes(0)

    async_to_sync(scenario)()


def test_presence_lists_only_nodes_that_announced_lately(db):
    from django.core.cache import cache

    presence.announce(2, name="a:1")
    presence.announce(3, name="b:2")
    cache.delete(presence.KEY_PREFIX + "a:1")  # its TTL ran out: that process stopped
    assert presence.by_node() == {"b:2": 3}
    presence.announce(1, name="c:3")  # the next announcement also drops it from the index
    assert cache.get(presence.INDEX_KEY) == ["b:2", "c:3"]


def test_the_cache_down_means_unknown_never_an_error(db, monkeypatch):
    from django.core.cache import cache

    from watchfloor import degrade

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    degrade.reset()
    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    try:
        presence.announce(4, name="a:1")  # no error
        degrade.reset()
        assert presence.by_node() is None
    finally:
        degrade.reset()
