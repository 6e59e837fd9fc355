"""The cache and the Celery broker: Redis' INFO when REDIS_URL is set, what is knowable of the
local-memory cache when it is not.

With Redis: version, mode and role, uptime, clients, memory (used, peak, maximum and the
eviction policy), keyspace hits and misses (the hit rate), keys and expiring keys per database,
evicted and expired keys, operations a second, and the broker's queue lengths (Celery's queue is
a Redis list named after `CELERY_TASK_DEFAULT_QUEUE`, one more per priority; tasks taken by a
worker but not acknowledged wait in the `unacked` hash). Redis down: `reachable` is False and the
page says so; the call goes through `degrade.guarded("cache", …)`, so the outage is logged once.

Without Redis (embedded mode): the cache is Django's local memory, one per process, so only this
process's entries can be counted; tasks run in-process, there is no broker queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import caches

from watchfloor.degrade import guarded

TIMEOUT_SECONDS = 2.0
# kombu's Redis transport: a queue is a list, priorities 3, 6 and 9 get their own list named
# queue + "\x06\x16" + priority; delivered but unacknowledged messages wait in "unacked".
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
UNACKED_KEY = "unacked"


@dataclass(frozen=True)
class KeyspaceDb:
    db: str
    keys: int
    expires: int


@dataclass(frozen=True)
class RedisInfo:
    version: str
    mode: str
    role: str
    uptime_s: int
    connected_clients: int
    blocked_clients: int
    used_memory: int
    used_memory_peak: int
    maxmemory: int  # 0: no limit
    maxmemory_policy: str
    keyspace_hits: int
    keyspace_misses: int
    hit_rate: float | None  # percent
    evicted_keys: int
    expired_keys: int
    ops_per_s: int
    total_commands: int
    keyspace: list[KeyspaceDb]


@dataclass(frozen=True)
class Queue:
    name: str
    length: int


@dataclass(frozen=True)
class CacheStats:
    backend: str  # "redis" or "local memory"
    location: str  # host:port/db, never a password
    reachable: bool
    redis: RedisInfo | None = None
    broker: str = ""  # "redis" or "in-process"
    queues: list[Queue] = field(default_factory=list)
    unacked: int | None = None
    local_entries: int | None = None  # this process's entries (local memory only)
    local_max_entries: int | None = None


def _location(url: str) -> str:
    """host:port/db of a Redis URL, without user or password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    db = parts.path.lstrip("/") or "0"
    if parts.scheme == "unix":
        return f"unix socket /{db}"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


def _int(info: dict, key: str) -> int:
    try:
        return int(info.get(key, 0) or 0)
    except (TypeError, ValueError):
        return 0


def parse_info(info: dict[str, Any]) -> RedisInfo:
    hits, misses = _int(info, "keyspace_hits"), _int(info, "keyspace_misses")
    keyspace = [
        KeyspaceDb(name, _int(value, "keys"), _int(value, "expires"))
        for name, value in sorted(info.items())
        if name.startswith("db") and name[2:].isdigit() and isinstance(value, dict)
    ]
    return RedisInfo(
        version=str(info.get("redis_version", "")),
        mode=str(info.get("redis_mode", "")),
        role=str(info.get("role", "")),
        uptime_s=_int(info, "uptime_in_seconds"),
        connected_clients=_int(info, "connected_clients"),
        blocked_clients=_int(info, "blocked_clients"),
        used_memory=_int(info, "used_memory"),
        used_memory_peak=_int(info, "used_memory_peak"),
        maxmemory=_int(info, "maxmemory"),
        maxmemory_policy=str(info.get("maxmemory_policy", "")),
        keyspace_hits=hits,
        keyspace_misses=misses,
        hit_rate=round(hits / (hits + misses) * 100, 2) if hits + misses else None,
        evicted_keys=_int(info, "evicted_keys"),
        expired_keys=_int(info, "expired_keys"),
        ops_per_s=_int(info, "instantaneous_ops_per_sec"),
        total_commands=_int(info, "total_commands_processed"),
        keyspace=keyspace,
    )


def _redis(url: str) -> CacheStats:
    import redis  # only where Redis is configured

    client = redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    try:
        info = parse_info(client.info("all"))
        broker_url = settings.CELERY_BROKER_URL
        queues: list[Queue] = []
        unacked = None
        if broker_url == url:  # the broker is this Redis database
            name = settings.CELERY_TASK_DEFAULT_QUEUE
            names = [name] + [f"{name}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS]
            pipe = client.pipeline(transaction=False)
            for key in names:
                pipe.llen(key)
            pipe.hlen(UNACKED_KEY)
            *lengths, unacked = pipe.execute()
            queues = [Queue(name, sum(int(n) for n in lengths))]
    finally:
        client.close()
    return CacheStats(
        backend="redis",
        location=_location(url),
        reachable=True,
        redis=info,
        broker="redis" if broker_url.startswith(("redis://", "rediss://", "unix://")) else "",
        queues=queues,
        unacked=int(unacked) if unacked is not None else None,
    )


def _unreachable(url: str) -> CacheStats:
    return CacheStats(backend="redis", location=_location(url), reachable=False, broker="redis")


def _local() -> CacheStats:
    cache = caches["default"]
    entries = getattr(cache, "_cache", None)
    return CacheStats(
        backend="local memory",
        location="this process",
        reachable=True,
        broker="in-process",
        local_entries=len(entries) if isinstance(entries, dict) else None,
        local_max_entries=getattr(cache, "_max_entries", None),
    )


def collect() -> CacheStats:
    url = settings.REDIS_URL
    if not url:
        return _local()
    return guarded("cache", lambda: _redis(url), lambda: _unreachable(url))
