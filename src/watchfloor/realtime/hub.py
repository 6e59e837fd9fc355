"""Fan-out of real-time events to the WebSocket connections of this process.

Every web process that serves WebSockets has one `Hub` in its event loop. The connections
register with it; a batch of events published anywhere reaches `Hub.dispatch`, which hands each
connection the events of its tenant. How a batch reaches the hub depends on the deployment:

- embedded (no Redis): `LocalPublisher` calls the hub of this very process, thread-safely;
- production: `RedisPublisher` PUBLISHes the batch on `watchfloor:<db>:rt:<tenant id>`, from any
  process (an ASGI or WSGI web node, a worker), and every ASGI process's hub holds one
  subscription (`PSUBSCRIBE watchfloor:<db>:rt:*`) and dispatches what arrives.

One Redis subscription per process, not one per connection, and the fan-out to the process's
connections is a loop in memory: docs/decisions.md has the measured reason for this instead of a
Channels group per tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from typing import Protocol

import orjson
from django.conf import settings

from watchfloor import presence
from watchfloor.circuit import guarded_call
from watchfloor.degrade import record_failure, record_success
from watchfloor.events import Publisher
from watchfloor.pubsub import channel as pubsub_channel

log = logging.getLogger(__name__)


def channel_prefix() -> str:
    """The live events' channels, `<prefix><tenant id>`, in this installation's namespace."""
    return pubsub_channel("rt:")


class Receiver(Protocol):
    tenant_id: int

    def offer(self, events: list[dict], shared: dict) -> None: ...

    def resync(self) -> None: ...


class Hub:
    def __init__(self):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.receivers: dict[int, set[Receiver]] = defaultdict(set)
        self._subscriber: asyncio.Task | None = None
        self._presence: asyncio.Task | None = None
        self._changed: asyncio.Event | None = None
        # set once the Redis subscription is in place (see until_live)
        self._live: asyncio.Event | None = None

    # --- connections ---------------------------------------------------------------------
    def register(self, receiver: Receiver) -> None:
        """Called in the event loop by a connection once it is accepted."""
        self.loop = asyncio.get_running_loop()
        self.receivers[receiver.tenant_id].add(receiver)
        if settings.REDIS_URL and (self._subscriber is None or self._subscriber.done()):
            self._live = asyncio.Event()
            self._subscriber = self.loop.create_task(self._subscribe_forever())
        self._count_changed()

    def unregister(self, receiver: Receiver) -> None:
        group = self.receivers.get(receiver.tenant_id)
        if group is not None:
            group.discard(receiver)
            if not group:
                del self.receivers[receiver.tenant_id]
        if not self.receivers:
            self._stop_tasks()
        else:
            self._count_changed()

    @property
    def connections(self) -> int:
        return sum(len(group) for group in self.receivers.values())

    # --- delivery ------------------------------------------------------------------------
    def dispatch(self, events: list[dict]) -> None:
        """Hand each connection the events of its tenant (in the event loop, never blocking)."""
        by_tenant: dict[int, list[dict]] = defaultdict(list)
        for event in events:
            by_tenant[event["tenant_id"]].append(event)
        for tenant_id, batch in by_tenant.items():
            shared: dict = {}  # what receivers compute once per event (masked copies)
            for receiver in tuple(self.receivers.get(tenant_id, ())):
                try:
                    receiver.offer(batch, shared)
                except Exception:
                    log.exception("a real-time connection failed to take %d events", len(batch))

    def dispatch_threadsafe(self, events: list[dict]) -> None:
        """From any thread: queue a dispatch in the hub's loop (dropped when nobody listens)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.receivers:
            return
        loop.call_soon_threadsafe(self.dispatch, events)

    def resync_all(self) -> None:
        """Events may have been missed (the Redis subscription broke): every page resyncs."""
        for group in self.receivers.values():
            for receiver in tuple(group):
                receiver.resync()

    # --- Redis subscription --------------------------------------------------------------
    async def _subscribe_forever(self) -> None:
        from redis import asyncio as aioredis

        delay, first = 0.5, True
        while self.receivers:
            client = aioredis.from_url(settings.REDIS_URL)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(channel_prefix() + "*")
                record_success(REDIS_COMPONENT)
                if self._live is not None:
                    self._live.set()
                if not first:
                    self.resync_all()
                first, delay = False, 0.5
                while self.receivers:  # polled, so the task ends soon after the last socket
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "pmessage":
                        self.dispatch(orjson.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                record_failure(REDIS_COMPONENT, exc)  # logged once per outage, not per retry
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await _bounded(pubsub.aclose())
                await _bounded(client.aclose())

    async def until_live(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until this process's Redis subscription is in place.

        The subscription starts with the first connection; a page told "hello" before it is in
        place could miss an event published right after (a fresh node's first alerts were
        lost that way once its workers answered fast). Redis down: returns after `timeout`, the
        subscription's retries and the resync on recovery take over."""
        live = self._live
        if not settings.REDIS_URL or live is None or live.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.wait(), timeout)

    # --- connections per node (watchfloor.presence) ---------------------------------------
    def _count_changed(self) -> None:
        """Announce the new count soon (coalesced: at most one write a second), and every
        presence.REFRESH seconds while this process has connections."""
        if self._presence is None or self._presence.done():
            self._changed = asyncio.Event()
            self._presence = asyncio.get_running_loop().create_task(self._announce_forever())
        elif self._changed is not None:
            self._changed.set()

    async def _announce_forever(self) -> None:
        loop = asyncio.get_running_loop()
        changed = self._changed
        assert changed is not None
        while self.receivers:
            changed.clear()
            # the cache call blocks (Redis): in a thread, never in the event loop
            await loop.run_in_executor(None, presence.announce, self.connections)
            try:
                await asyncio.wait_for(changed.wait(), presence.REFRESH)
                await asyncio.sleep(1.0)  # coalesce a burst of connections into one write
            except TimeoutError:
                pass

    def _stop_tasks(self) -> None:
        """The last connection left: end the subscription and the announcements while the
        loop runs, and announce that this node has none."""
        if self._subscriber is not None and not self._subscriber.done():
            self._subscriber.cancel()
        self._subscriber = None
        if self._presence is not None and not self._presence.done():
            self._presence.cancel()
        self._presence = None
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.run_in_executor(None, presence.announce, 0)


async def _bounded(closing, seconds: float = 2.0) -> None:
    """Close a Redis object without ever hanging the caller (a broken peer may not answer)."""
    try:
        await asyncio.wait_for(closing, seconds)
    except Exception:
        log.debug("closing a Redis connection failed or timed out", exc_info=True)


HUB = Hub()

# The name outages of the real-time Redis are logged under (watchfloor.degrade).
REDIS_COMPONENT = "real-time Redis"


class LocalPublisher(Publisher):
    """Embedded mode: this process's connections are the only receivers."""

    def __init__(self, hub: Hub = HUB):
        self.hub = hub

    def send(self, events: list[dict]) -> None:
        self.hub.dispatch_threadsafe(events)


# What json.dumps(default=str) wrote, from orjson (a fifth of a repeat fold's CPU was this
# encoding): datetimes, dataclasses and other objects still go through str(), int keys are
# written as strings.
_ORJSON_LIKE_JSON = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


def encode_events(batch: list[dict]) -> bytes:
    """A tenant's events as one pub/sub message."""
    return orjson.dumps(batch, default=str, option=_ORJSON_LIKE_JSON)


class RedisPublisher(Publisher):
    """Production: one PUBLISH per tenant per batch, read by every ASGI process's hub.

    The connection pool is bounded and blocking: past `WATCHFLOOR_REALTIME_REDIS_POOL`
    connections a publisher waits (up to 5 s) instead of redis-py's default of raising.
    """

    _pool = None
    _redis = None  # the client of `_pool`, made once: redis.Redis() copies ~170 callbacks
    _lock = threading.Lock()

    def _client(self):
        import redis

        with self._lock:
            if RedisPublisher._pool is None:
                RedisPublisher._pool = redis.BlockingConnectionPool.from_url(
                    settings.REDIS_URL,
                    max_connections=settings.REALTIME_REDIS_POOL,
                    timeout=5,
                    # a Redis that hangs instead of refusing cannot hold a write's request long
                    socket_connect_timeout=2,
                    socket_timeout=5,
                )
            client = RedisPublisher._redis
            if client is None or client.connection_pool is not RedisPublisher._pool:
                client = RedisPublisher._redis = redis.Redis(connection_pool=RedisPublisher._pool)
        return client

    def send(self, events: list[dict]) -> None:
        """PUBLISH through Redis; with Redis down, this node's own pages still get the events
        (the others resync when their subscription comes back) and the write is not failed."""
        guarded_call(
            "broadcast",
            REDIS_COMPONENT,
            lambda: self._publish(events),
            lambda: HUB.dispatch_threadsafe(events),
        )

    def _publish(self, events: list[dict]) -> None:
        by_tenant: dict[int, list[dict]] = defaultdict(list)
        for event in events:
            by_tenant[event["tenant_id"]].append(event)
        client = self._client()
        prefix = channel_prefix()
        if len(by_tenant) == 1:  # a fold's events are one tenant's: no pipeline to build
            [(tenant_id, batch)] = by_tenant.items()
            client.publish(f"{prefix}{tenant_id}", encode_events(batch))
            return
        with client.pipeline(transaction=False) as pipe:
            for tenant_id, batch in by_tenant.items():
                pipe.publish(f"{prefix}{tenant_id}", encode_events(batch))
            pipe.execute()
