"""Circuit breakers whose state every process shares through the cache (Redis in production,
local memory embedded).

A circuit is named (`broadcast`, `aggregation`, `notify:<medium>:<hash>`). Closed, calls go
through and consecutive failures are counted; at `CIRCUIT_FAILURES` failures it opens: calls are
refused at once (the caller falls back or reschedules) for `CIRCUIT_COOLDOWN` seconds. After
that it is half-open: ONE caller (the first to claim the trial, across all processes) tries; a
success closes the circuit, a failure opens it for another cooldown. The other callers are still
refused while the trial runs.

    before = circuit.admit(name)      # closed, or this caller holds the half-open trial
    if before is not None:
        ok = do_the_call()
        circuit.record(name, ok=ok, before=before)  # success closes, failure counts
    else:
        ...                           # refused: the circuit is open

State in the cache, per circuit: `<name>:state` holds (state, opened_at) while not closed (absent
= closed), `<name>:failures` an atomic counter, `<name>:trial` the half-open trial's claim (an
`add`, so only one caller wins it; it expires after a cooldown in case its holder died). A
registry key lists the circuits that have failed lately, for `states()` (the platform page and
the `watchfloor_circuit_state` gauge). The closed, healthy path costs one `get_many` per call
(`admit`), nothing more when it succeeds, and a process reuses a closed, failure-free reading
for `CLOSED_REUSE` seconds (its own failure forgets it at once): the fold publishes after every
commit, and that read was 7 % of a single-alert fold's samples (docs/decisions.md). A circuit
another process opened is refused here within that second.

The cache itself down (Redis unreachable) is no reason to refuse anything: the breaker then lets
every call through and keeps no count; `watchfloor.degrade` logs the cache's outage once, and
its per-process rest (`guarded`) keeps a dependency that is down from being retried per request.

Why our own and not pybreaker (docs/decisions.md): pybreaker holds one lock per breaker around
the guarded call itself, so the eight send threads of a notification batch, or every thread
publishing, wait in line behind one slow call (bench/circuit_lock.py); and its shared storage
needs a raw Redis client, not Django's cache, so the embedded mode would need a storage class of
its own anyway.

A leaf module: it imports no Watchfloor app except the leaf `degrade` (tests/test_import_rules.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter

from watchfloor.degrade import dependency_errors, record_failure, record_success, resting

T = TypeVar("T")

CLOSED = "closed"
HALF_OPEN = "half-open"
OPEN = "open"
# the value of `watchfloor_circuit_state` for each state
GAUGE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

# Circuits listed even before they have failed once.
FIXED = ("aggregation", "broadcast")
PREFIX = "circuit:"
REGISTRY = "circuit:names"
# a circuit closed for this long (seconds) leaves the registry (and the gauge)
FORGET_AFTER = 3600

REFUSED = Counter(
    "watchfloor_circuit_refused_total",
    "Calls a circuit breaker refused because its circuit was open, by kind of circuit "
    "(broadcast, aggregation, notify).",
    ["kind"],
)


def now() -> float:
    """Wall-clock seconds (shared by processes and machines); tests replace it."""
    return time.time()


def kind_of(name: str) -> str:
    return name.split(":", 1)[0]


@dataclass(frozen=True)
class CircuitState:
    name: str
    state: str  # closed, half-open, open
    failures: int  # consecutive failures counted
    opened_at: float | None  # epoch seconds of the last opening, None when closed
    retry_at: float | None  # when an open circuit lets its trial call through

    @property
    def gauge(self) -> int:
        return GAUGE_VALUES[self.state]


def _keys(name: str) -> tuple[str, str, str]:
    base = PREFIX + name
    return f"{base}:state", f"{base}:failures", f"{base}:trial"


def _cache_call(call, default):
    """A cache operation; with the cache unreachable, `default` (the outage is logged once, and
    a cache that just failed is left alone for degrade.RETRY_SECONDS: no timeout per call)."""
    if resting("cache"):
        return default
    try:
        result = call()
    except dependency_errors() as exc:
        record_failure("cache", exc)
        return default
    record_success("cache")
    return result


def _read(name: str) -> dict:
    state_key, failures_key, trial_key = _keys(name)
    return _cache_call(lambda: cache.get_many([state_key, failures_key, trial_key]), {})


def _effective(name: str, values: dict, at: float) -> CircuitState:
    state_key, failures_key, _trial_key = _keys(name)
    failures = int(values.get(failures_key) or 0)
    stored = values.get(state_key)
    if not stored:
        return CircuitState(name, CLOSED, failures, None, None)
    _state, opened_at = stored
    retry_at = opened_at + settings.CIRCUIT_COOLDOWN
    if at < retry_at:
        return CircuitState(name, OPEN, failures, opened_at, retry_at)
    return CircuitState(name, HALF_OPEN, failures, opened_at, retry_at)


def state(name: str) -> CircuitState:
    """One circuit's state now (half-open once its cooldown has passed)."""
    return _effective(name, _read(name), now())


def allow(name: str) -> bool:
    """Whether a call may go out now: the circuit is closed, or it is half-open and this caller
    won the trial. A refusal is counted in `watchfloor_circuit_refused_total`."""
    return admit(name) is not None


CLOSED_REUSE = 1.0  # seconds a process answers from a closed, failure-free reading
_closed_at: dict[str, float] = {}  # circuit → monotonic time of that reading, this process


def admit(name: str) -> CircuitState | None:
    """`allow`, answering the state the call was let through in (for `record`'s `before`),
    or None when it is refused."""
    seen = _closed_at.get(name)
    if seen is not None and time.monotonic() - seen < CLOSED_REUSE:
        return CircuitState(name, CLOSED, 0, None, None)
    current = state(name)
    if current.state == CLOSED:
        if current.failures:
            _closed_at.pop(name, None)
        else:
            _closed_at[name] = time.monotonic()
        return current
    _closed_at.pop(name, None)
    if current.state == HALF_OPEN:
        _state_key, _failures_key, trial_key = _keys(name)
        cooldown = max(1, int(settings.CIRCUIT_COOLDOWN))
        # one trial across every process; the claim expires in case its holder died
        if _cache_call(lambda: cache.add(trial_key, now(), timeout=cooldown), True):
            return current
    REFUSED.labels(kind_of(name)).inc()
    return None


def guarded_call(name: str, component: str, call: Callable[[], T], fallback: Callable[[], T]) -> T:
    """`watchfloor.degrade.guarded` with this module's shared breaker `name` in front: the
    fallback answers while `component` rests in this process (degrade: the outage logged once)
    or while the circuit is open for every process; a dependency error counts as the circuit's
    failure, a success closes it. One cache read per call while all is well."""
    if resting(component):
        return fallback()
    before = admit(name)
    if before is None:
        return fallback()
    try:
        result = call()
    except dependency_errors() as exc:
        record_failure(component, exc)
        record(name, ok=False)
        return fallback()
    record_success(component)
    record(name, ok=True, before=before)
    return result


def record(name: str, *, ok: bool, before: CircuitState | None = None) -> CircuitState:
    """The outcome of a call `allow` let through: a success closes the circuit (and clears the
    count), a failure counts and opens it at CIRCUIT_FAILURES (or at once after a trial).
    `before`, what `admit` answered: a success of a call admitted closed and without failures
    then costs no cache call at all."""
    if ok and before is not None and before.state == CLOSED and not before.failures:
        return before
    if not ok:
        _closed_at.pop(name, None)
    state_key, failures_key, trial_key = _keys(name)
    values = _read(name)
    at = now()
    current = _effective(name, values, at)
    if ok:
        if current.state != CLOSED or current.failures:
            _cache_call(lambda: cache.delete_many([state_key, failures_key, trial_key]), None)
            if current.state != CLOSED:
                _note(name)
        return CircuitState(name, CLOSED, 0, None, None)
    failures = _cache_call(lambda: _increment(failures_key), current.failures + 1)
    if current.failures == 0:
        _note(name)
    if current.state != CLOSED or failures >= settings.CIRCUIT_FAILURES:
        _open(name, at)
        return CircuitState(name, OPEN, failures, at, at + settings.CIRCUIT_COOLDOWN)
    return CircuitState(name, CLOSED, failures, None, None)


def _increment(key: str) -> int:
    # counts expire a day after the last failure: a rare failure a week ago is no streak
    if cache.add(key, 1, timeout=86400):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the add and the incr
        cache.add(key, 1, timeout=86400)
        return 1
    cache.touch(key, 86400)
    return count


def _open(name: str, at: float) -> None:
    state_key, _failures_key, trial_key = _keys(name)
    _cache_call(lambda: cache.set(state_key, (OPEN, at), timeout=None), None)
    _cache_call(lambda: cache.delete(trial_key), None)
    _note(name)


def _note(name: str) -> None:
    """Remember that `name` changed (for `states()`): the registry maps names to the time of
    their last change. A read-modify-write: two processes noting two new names at the same
    instant may drop one, which its next failure notes again."""
    if name in FIXED:
        return

    def update() -> None:
        names = cache.get(REGISTRY) or {}
        names[name] = now()
        cache.set(REGISTRY, names, timeout=None)

    _cache_call(update, None)


def reset(name: str) -> None:
    """Close a circuit by hand (a platform operator, or tests)."""
    _cache_call(lambda: cache.delete_many(list(_keys(name))), None)
    _closed_at.pop(name, None)


def forget_readings() -> None:
    """Read every circuit from the cache at its next call (tests, after the cache is cleared)."""
    _closed_at.clear()


def states() -> list[CircuitState]:
    """Every circuit worth showing: the fixed ones, and those that failed within the last
    FORGET_AFTER seconds or are still open; by name. Two cache reads."""
    at = now()
    names: dict = _cache_call(lambda: cache.get(REGISTRY), None) or {}
    wanted = sorted(set(FIXED) | set(names))
    keys = [key for name in wanted for key in _keys(name)]
    values = _cache_call(lambda: cache.get_many(keys), {})
    shown, forgotten = [], []
    for name in wanted:
        current = _effective(name, values, at)
        if (
            name not in FIXED
            and current.state == CLOSED
            and not current.failures
            and at - names.get(name, at) > FORGET_AFTER
        ):
            forgotten.append(name)
            continue
        shown.append(current)
    if forgotten:

        def prune() -> None:
            kept = cache.get(REGISTRY) or {}
            for name in forgotten:
                kept.pop(name, None)
            cache.set(REGISTRY, kept, timeout=None)

        _cache_call(prune, None)
    return shown
