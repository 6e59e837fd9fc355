"""A small in-process cache with a time to live, for lookups on the ingestion hot path.

Each server process keeps its own copy, so an entry written elsewhere (another process or node)
is seen at most `ttl` seconds late; the process that writes calls `invalidate()` and sees it at
once. Only lookups that tolerate that lag use it (integration keys, site codes, maintenance
windows); their TTLs are documented in docs/architecture.md. `clear_all()` empties every cache
(the test suite calls it between tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

_registry: list[TtlCache] = []


class TtlCache:
    def __init__(self, name: str, ttl: float, max_entries: int = 10_000):
        self.name, self.ttl, self.max_entries = name, ttl, max_entries
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        _registry.append(self)

    def get_or_load(self, key: Hashable, load: Callable[[], Any], *, cache_none: bool = False):
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value is not None or cache_none:
            with self._lock:
                if len(self._data) >= self.max_entries:
                    self._data.clear()
                self._data[key] = (now + self.ttl, value)
        return value

    def invalidate(self, key: Hashable | None = None) -> None:
        with self._lock:
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)


def clear_all() -> None:
    for cache in _registry:
        cache.invalidate()
