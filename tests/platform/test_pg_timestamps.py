"""PostgreSQL timestamps are read by psycopg's C loader where the session is in UTC
(platform.pg_timestamps), with the values Django's own loader gives."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from watchfloor.platform import pg_timestamps

pytestmark = pytest.mark.postgres

VALUES = [
    "2026-12-05 22:00:01.123456+00",
    "2026-01-01 10:00:00.5+05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2000-02-29 12:00:00-08",
]


def _read() -> list[datetime.datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
            [VALUES],
        )
        return [row[0] for row in cursor.fetchall()]


def _loader():
    from psycopg.postgres import types
    from psycopg.pq import Format

    return connection.connection.adapters.get_loader(types["timestamptz"].oid, Format.TEXT)


def test_the_c_loader_reads_what_djangos_loader_reads():
    if pg_timestamps.C_LOADER is None:
        pytest.skip("psycopg's C extension is not installed: Django's loader stays")
    fast = _read()
    assert _loader() is pg_timestamps.UtcTimestamptzLoader
    connection.connection.adapters.register_loader("timestamptz", _django_loader())
    try:
        slow = _read()
    finally:
        pg_timestamps.use_c_timestamps(None, connection)
    assert fast == slow
    assert [v.tzinfo for v in fast] == [datetime.UTC] * len(VALUES)
    assert fast[1] == datetime.datetime(2026, 1, 1, 4, 30, 0, 500000, tzinfo=datetime.UTC)


def _django_loader():
    class DjangoUtc(BaseTzLoader):
        timezone = datetime.UTC

    return DjangoUtc


def test_a_session_in_another_zone_keeps_djangos_loader():
    _read()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
    adapters = connection.connection.adapters
    try:
        adapters.register_loader("timestamptz", _django_loader())
        pg_timestamps.use_c_timestamps(None, connection)
        assert _loader() is not pg_timestamps.UtcTimestamptzLoader
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        pg_timestamps.use_c_timestamps(None, connection)
