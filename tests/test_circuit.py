"""Circuit breakers (watchfloor.circuit): closed → open after N failures → half-open after the
cooldown (one trial across processes) → closed on success, open again on failure; the state is
shared through the cache; the cache down lets every call through (#12 section 5)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache.backends.redis import RedisCache

from watchfloor import circuit, degrade
from watchfloor.platform.breakers import breaker_states
from watchfloor.platform.metrics import exposition

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
NAME = "notify:webhook:abc123"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.CIRCUIT_FAILURES = 3
    settings.CIRCUIT_COOLDOWN = 60
    degrade.reset()
    yield
    degrade.reset()


def fail(name: str, times: int) -> None:
    for _ in range(times):
        assert circuit.allow(name)
        circuit.record(name, ok=False)


def refused(kind: str) -> float:
    return circuit.REFUSED.labels(kind)._value.get()


def test_closed_until_the_nth_consecutive_failure_then_open():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 2)
        assert circuit.state(NAME).state == circuit.CLOSED
        assert circuit.state(NAME).failures == 2
        before = refused("notify")
        fail(NAME, 1)
        current = circuit.state(NAME)
        assert current.state == circuit.OPEN
        assert current.opened_at == T0.timestamp()
        assert current.retry_at == T0.timestamp() + 60
        assert circuit.allow(NAME) is False
        assert refused("notify") == before + 1


def test_a_success_clears_the_streak():
    fail(NAME, 2)
    assert circuit.allow(NAME)
    circuit.record(NAME, ok=True)
    fail(NAME, 2)
    assert circuit.state(NAME).state == circuit.CLOSED


def test_half_open_after_the_cooldown_lets_one_trial_through_and_a_success_closes():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 3)
    with time_machine.travel(T0 + timedelta(seconds=59), tick=False):
        assert circuit.state(NAME).state == circuit.OPEN
        assert not circuit.allow(NAME)
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        assert circuit.state(NAME).state == circuit.HALF_OPEN
        assert circuit.allow(NAME)  # the trial
        assert not circuit.allow(NAME)  # everyone else waits for it
        circuit.record(NAME, ok=True)
        current = circuit.state(NAME)
        assert (current.state, current.failures, current.opened_at) == (circuit.CLOSED, 0, None)
        assert circuit.allow(NAME)


def test_a_failed_trial_opens_the_circuit_for_another_cooldown():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 3)
    later = T0 + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        assert circuit.allow(NAME)
        circuit.record(NAME, ok=False)
        current = circuit.state(NAME)
        assert current.state == circuit.OPEN
        assert current.opened_at == later.timestamp()
    with time_machine.travel(later + timedelta(seconds=30), tick=False):
        assert not circuit.allow(NAME)


def test_breaker_states_lists_fixed_and_failing_circuits_with_their_state():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 3)
        fail("notify:slack:def456", 1)
        rows = {row.name: row for row in breaker_states()}
    assert set(rows) == {"aggregation", "broadcast", NAME, "notify:slack:def456"}
    assert rows["broadcast"].state == "closed" and rows["broadcast"].opened_at is None
    assert rows[NAME].state == "open"
    assert rows[NAME].kind == "notify"
    assert rows[NAME].failures == 3
    assert rows[NAME].opened_at == T0
    assert rows[NAME].retry_at == T0 + timedelta(seconds=60)
    assert rows["notify:slack:def456"].state == "closed"


def test_a_recovered_circuit_is_forgotten_after_an_hour():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 3)
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert circuit.allow(NAME)
        circuit.record(NAME, ok=True)
        assert NAME in {row.name for row in breaker_states()}
    with time_machine.travel(T0 + timedelta(minutes=63), tick=False):
        assert NAME not in {row.name for row in breaker_states()}


def test_the_gauge_reports_each_circuit_0_closed_1_half_open_2_open():
    with time_machine.travel(T0, tick=False):
        fail(NAME, 3)
        fail("notify:slack:def456", 3)
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        fail("notify:sms:aaa111", 3)
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        text = exposition().decode()
    assert 'watchfloor_circuit_state{circuit="broadcast"} 0.0' in text
    assert 'watchfloor_circuit_state{circuit="aggregation"} 0.0' in text
    assert f'watchfloor_circuit_state{{circuit="{NAME}"}} 1.0' in text
    assert 'watchfloor_circuit_state{circuit="notify:sms:aaa111"} 2.0' in text
    assert f'watchfloor_circuit_failures{{circuit="{NAME}"}} 3.0' in text


def test_guarded_call_opens_on_dependency_errors_and_answers_the_fallback():
    calls = []

    def down():
        calls.append(1)
        raise ConnectionError("refused")

    with time_machine.travel(T0, tick=False):
        for _ in range(5):
            degrade.reset()  # not resting in this process: only the shared circuit holds it
            assert circuit.guarded_call("broadcast", "real-time Redis", down, lambda: "local") == (
                "local"
            )
        assert len(calls) == 3  # then the open circuit answered without trying
        assert circuit.state("broadcast").state == circuit.OPEN
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        degrade.reset()
        assert circuit.guarded_call("broadcast", "real-time Redis", lambda: "sent", list) == "sent"
        assert circuit.state("broadcast").state == circuit.CLOSED


def test_the_cache_down_lets_calls_through(monkeypatch):
    class Down:
        def __getattr__(self, name):
            def refuse(*args, **kwargs):
                raise ConnectionError("cache refused")

            return refuse

    monkeypatch.setattr(circuit, "cache", Down())
    assert circuit.allow(NAME)
    assert circuit.record(NAME, ok=False).state == circuit.CLOSED
    assert circuit.allow(NAME)
    assert circuit.state(NAME).state == circuit.CLOSED
    assert [s.name for s in circuit.states()] == ["aggregation", "broadcast"]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the PostgreSQL run)")
def test_two_cache_clients_share_one_circuit(monkeypatch):
    """Two processes are two Redis clients: what one opens, the other sees and respects."""
    url = os.environ["REDIS_URL"]
    first = RedisCache(url, {"KEY_PREFIX": "circuit-test"})
    second = RedisCache(url, {"KEY_PREFIX": "circuit-test"})
    first.clear()
    try:
        with time_machine.travel(T0, tick=False):
            monkeypatch.setattr(circuit, "cache", first)
            fail(NAME, 3)
            monkeypatch.setattr(circuit, "cache", second)
            assert circuit.state(NAME).state == circuit.OPEN
            assert not circuit.allow(NAME)
        with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
            assert circuit.allow(NAME)  # the second client holds the trial
            monkeypatch.setattr(circuit, "cache", first)
            assert not circuit.allow(NAME)  # the first waits for it
            monkeypatch.setattr(circuit, "cache", second)
            circuit.record(NAME, ok=True)
            monkeypatch.setattr(circuit, "cache", first)
            assert circuit.state(NAME).state == circuit.CLOSED
            assert circuit.allow(NAME)
    finally:
        first.clear()


def test_a_closed_reading_is_reused_for_a_second_and_a_local_failure_forgets_it(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(circuit.time, "monotonic", lambda: clock[0])
    reads = []
    real_read = circuit._read
    monkeypatch.setattr(circuit, "_read", lambda name: reads.append(name) or real_read(name))
    assert circuit.allow(NAME) and circuit.allow(NAME)
    assert reads == [NAME]  # the second call answered from this process's reading
    circuit._open(NAME, circuit.now())  # another process opened it
    assert circuit.allow(NAME)  # within CLOSED_REUSE: not seen yet
    clock[0] += circuit.CLOSED_REUSE
    assert not circuit.allow(NAME)  # seen at the next read
    circuit.reset(NAME)
    assert circuit.allow(NAME)
    circuit.record(NAME, ok=False)  # this process's own failure: read again at once
    reads.clear()
    assert circuit.allow(NAME)
    assert reads == [NAME]
