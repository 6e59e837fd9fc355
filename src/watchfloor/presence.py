"""WebSocket connections per node, shared through the cache so any process can read them all.

Each web process's real-time hub knows only its own connections. It announces its count here
(`announce`, when connections come and go and every REFRESH seconds while it has any): the
count under `ws_connections:<node>` with a TTL, and the node's name in an index key, so that a
node that died simply expires. `by_node()` reads them all for the service status page and the
sampler. With the local-memory cache (embedded mode) the only node seen is this process.

The index is rewritten read-modify-write; two nodes announcing at the same instant may drop
each other's name until their next refresh (REFRESH seconds): a figure for a page, not a count
to bill by. Every cache call is guarded (watchfloor.degrade): the cache down means "unknown",
never an error. A leaf module: it imports no Watchfloor app (tests/test_import_rules.py).
"""

from __future__ import annotations

import os
import socket

from django.core.cache import cache

from watchfloor.degrade import guarded

KEY_PREFIX = "ws_connections:"
INDEX_KEY = "ws_connections:nodes"
REFRESH = 30  # seconds between a busy hub's announcements
TTL = 90  # a count not refreshed for this long is gone (its node stopped)
INDEX_TTL = 24 * 3600
MAX_NODES = 500


def node() -> str:
    """host:pid of this process, like the jobs runtime's."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _write(name: str, count: int) -> None:
    cache.set(KEY_PREFIX + name, int(count), TTL)
    known = cache.get(INDEX_KEY) or []
    alive = set(cache.get_many([KEY_PREFIX + n for n in known if n != name]))
    nodes = sorted({n for n in known if KEY_PREFIX + n in alive} | {name})[:MAX_NODES]
    cache.set(INDEX_KEY, nodes, INDEX_TTL)


def announce(count: int, name: str | None = None) -> None:
    """Publish this node's connection count (a no-op while the cache is down)."""
    guarded("cache", lambda: _write(name or node(), count), lambda: None)


def _read() -> dict[str, int]:
    known = cache.get(INDEX_KEY) or []
    values = cache.get_many([KEY_PREFIX + n for n in known])
    return {n: int(values[KEY_PREFIX + n]) for n in known if KEY_PREFIX + n in values}


def by_node() -> dict[str, int] | None:
    """{node: connections} of every node that announced within TTL; None if the cache is down."""
    return guarded("cache", _read, lambda: None)
