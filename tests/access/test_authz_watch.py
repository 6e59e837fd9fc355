"""The authorization generation pushed to each process (access.authz_watch): answered from
memory while the subscription is in place, never an old value after a move was announced, and
read per request again whenever the subscription is not in place (Redis down, a flush)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

from watchfloor.access import authz_watch, scope

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from support_outages import RedisServer, redis_binary


@pytest.fixture
def redis_cache(settings):
    """A Redis of this test's own behind the cache (the shipped cache class)."""
    server = RedisServer(redis_binary())
    server.start()
    settings.REDIS_URL = server.url
    settings.AUTHZ_PUSH = True
    settings.CACHES = {
        "default": {
            "BACKEND": "watchfloor.platform.redis_cache.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    yield server
    server.stop()


@pytest.fixture
def watch(redis_cache, monkeypatch):
    """A watch of this test's own, standing in for the process's."""
    monkeypatch.setattr(authz_watch, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(authz_watch, "CHECK_SECONDS", 0.5)
    fresh = authz_watch.GenerationWatch()
    monkeypatch.setattr(scope, "WATCH", fresh)
    yield fresh
    fresh.stop()  # its subscriber ends at its next look


def eventually(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def subscribed(watch) -> int:
    watch.current()
    return eventually(lambda: watch._value is not None and watch._value + 1) - 1


def another_process_moves_it() -> int:
    """What `scope._bump_generation` does in another process: INCR, then the announcement."""
    try:
        value = cache.incr(scope.AUTHZ_GENERATION_KEY)
    except ValueError:  # no counter (a flushed Redis)
        cache.add(scope.AUTHZ_GENERATION_KEY, 1, timeout=None)
        value = 1
    authz_watch.announce()
    return value


def test_answers_from_memory_and_follows_announced_moves(watch, monkeypatch):
    cache.set(scope.AUTHZ_GENERATION_KEY, 7, timeout=None)
    assert subscribed(watch) == 7
    reads = []
    real = scope.guarded
    monkeypatch.setattr(scope, "guarded", lambda *a: reads.append(a) or real(*a))
    assert [scope.authz_generation() for _ in range(5)] == [7] * 5
    assert reads == []  # no cache read per call

    moved = another_process_moves_it()
    assert moved == 8
    eventually(lambda: scope.authz_generation() == 8)


def test_this_process_sees_its_own_move_at_once(watch):
    cache.set(scope.AUTHZ_GENERATION_KEY, 3, timeout=None)
    assert subscribed(watch) == 3
    scope._bump_generation()
    assert scope.authz_generation() == 4  # not after the announcement's round trip


def test_a_restarted_counter_is_read_not_trusted(watch):
    """A flushed Redis starts the counter again: the value is read, never kept as a floor."""
    cache.set(scope.AUTHZ_GENERATION_KEY, 40, timeout=None)
    assert subscribed(watch) == 40
    cache.clear()
    another_process_moves_it()
    eventually(lambda: scope.authz_generation() == 1)


def test_redis_down_reads_per_request_and_the_subscription_comes_back(watch, redis_cache):
    cache.set(scope.AUTHZ_GENERATION_KEY, 5, timeout=None)
    assert subscribed(watch) == 5
    redis_cache.stop()
    eventually(lambda: watch._value is None)
    assert scope.authz_generation() is None  # the cache read, guarded: down
    redis_cache.start()  # an empty Redis: the counter is gone
    eventually(lambda: watch._value == 0)
    assert scope.authz_generation() == 0
    another_process_moves_it()
    eventually(lambda: scope.authz_generation() == 1)


def test_a_silent_subscription_is_given_up(watch, monkeypatch):
    """A subscription whose PINGs get no PONG is not trusted: back to reads per request."""
    from redis.client import PubSub

    failures: list[BaseException] = []
    monkeypatch.setattr(authz_watch, "record_failure", lambda component, exc: failures.append(exc))
    monkeypatch.setattr(PubSub, "ping", lambda self, message=None: None)  # no PONG comes
    assert subscribed(watch) == 0
    eventually(lambda: any(isinstance(exc, TimeoutError) for exc in failures))


def test_without_redis_or_switched_off_nothing_subscribes(settings, redis_cache):
    settings.AUTHZ_PUSH = False  # with Redis, switched off
    off = authz_watch.GenerationWatch()
    assert off.current() is None and off._run == 1
    settings.AUTHZ_PUSH = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    fresh = authz_watch.GenerationWatch()
    assert fresh.current() is None
    time.sleep(0.2)
    assert fresh.current() is None
