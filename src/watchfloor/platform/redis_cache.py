"""Django's Redis cache, with one `redis.Redis` client per connection pool.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` at every cache call, and
its constructor copies ~170 response callbacks: about a tenth of a millisecond of CPU per call,
on every request that reads the cache (the alerts list, the overview's reads, the rate limit:
bench/profile_list.py, bench/profile_ingest.py --roads). A `redis.Redis` holds no connection of
its own (each command borrows one from the pool), so one per pool is safe to share between
threads and greenlets; the pool itself reconnects after a fork.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # made once per server, then looked up
        client = self._clients.get(id(pool))  # the pools live as long as this object
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
