"""The in-process TTL cache used on the ingestion hot path."""

from __future__ import annotations

from watchfloor import ttl


def test_entries_expire_and_none_is_not_cached(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(ttl.time, "monotonic", lambda: now[0])
    cache = ttl.TtlCache("test", ttl=5)
    loads = []

    def load(value):
        loads.append(value)
        return value

    assert cache.get_or_load("a", lambda: load(1)) == 1
    assert cache.get_or_load("a", lambda: load(2)) == 1
    now[0] += 5.1
    assert cache.get_or_load("a", lambda: load(3)) == 3
    assert cache.get_or_load("missing", lambda: load(None)) is None
    assert cache.get_or_load("missing", lambda: load(None)) is None
    assert loads == [1, 3, None, None]
    cache.invalidate("a")
    assert cache.get_or_load("a", lambda: load(4)) == 4
    ttl.clear_all()
    assert cache.get_or_load("a", lambda: load(5)) == 5


def test_a_full_cache_starts_over():
    cache = ttl.TtlCache("small", ttl=60, max_entries=2)
    for key in "abc":
        cache.get_or_load(key, lambda k=key: k)
    assert len(cache._data) == 1
