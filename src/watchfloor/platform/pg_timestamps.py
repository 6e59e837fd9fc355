"""PostgreSQL timestamps read by psycopg's C loader instead of Django's Python one.

Django registers a `timestamptz` loader that subclasses psycopg's pure-Python loader (to pin the
timezone), so with psycopg's C extension installed every timestamp read still parses in Python:
3.5 µs a value against 0.3 µs, about 350 values (1.1 ms) on a 50-row page of the alerts list
(docs/benchmarks.md, "the alerts list's CPU"). psycopg's C loader gives the same values when
the session's TimeZone is UTC, which Django sets whenever it wants UTC: there the C loader reads
them; anywhere else (another zone, no C extension) Django's loader stays.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.backends.signals import connection_created

UTC = datetime.UTC


def _c_loader() -> Any:
    try:
        from psycopg import _cmodule
    except ImportError:  # psycopg 2, or no psycopg at all
        return None
    module = getattr(_cmodule, "_psycopg", None)
    return getattr(module, "TimestamptzLoader", None)


C_LOADER = _c_loader()


if C_LOADER is not None:
    from psycopg.adapt import Loader
    from psycopg.postgres import types
    from psycopg.pq import Format

    TIMESTAMPTZ = types["timestamptz"].oid
    TEXT = Format.TEXT

    class UtcTimestamptzLoader(Loader):
        """Loads with the C loader's bound `load` (no Python frame per value). `timezone` is
        what Django's cursors compare before they register a loader of their own."""

        timezone = UTC

        def __init__(self, oid: int, context: Any = None):
            super().__init__(oid, context)
            self.load = C_LOADER(oid, context).load  # type: ignore[method-assign]

        def load(self, data):  # pragma: no cover (replaced per instance)
            raise NotImplementedError


def use_c_timestamps(sender, connection, **kwargs) -> None:
    """On each PostgreSQL connection Django hands out whose session reads times in UTC."""
    if C_LOADER is None or connection.vendor != "postgresql" or connection.timezone != UTC:
        return
    raw = connection.connection
    if raw.info.parameter_status("TimeZone") != "UTC":
        return
    adapters = raw.adapters
    if adapters.get_loader(TIMESTAMPTZ, TEXT) is not UtcTimestamptzLoader:
        adapters.register_loader(TIMESTAMPTZ, UtcTimestamptzLoader)


def install() -> None:
    connection_created.connect(use_c_timestamps, dispatch_uid="watchfloor.pg_timestamps")
