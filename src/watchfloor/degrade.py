"""One way for a request path to outlive a dependency that is down (Redis, the database).

`guarded(component, call, fallback)` runs `call()`; when it fails with a dependency error it
answers `fallback()` instead. An outage is logged once, when it starts, and once more when the
dependency answers again, per process, not once per request. While a component is down, calls
within `RETRY_SECONDS` of its last failure go straight to the fallback, so a dependency that
hangs rather than refuses costs one timeout every few seconds, not one per request; the next
call after that tries again, and its success is the recovery.

A leaf module: it imports no Watchfloor app (tests/test_import_rules.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("watchfloor.outage")

T = TypeVar("T")

# How long a component that just failed is left alone before the next call tries it again.
RETRY_SECONDS = 2.0

_lock = threading.Lock()
_down: dict[str, float] = {}  # component → monotonic time of its last failure


def dependency_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean a dependency is unreachable (not a bug in the caller)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(errors)


def record_failure(component: str, exc: BaseException) -> None:
    """`component` failed: logs a warning if it was up until now (the start of an outage)."""
    with _lock:
        started = component not in _down
        _down[component] = time.monotonic()
    if started:
        log.warning(
            "%s is unavailable (%s: %s); degrading until it answers again",
            component,
            type(exc).__name__,
            exc,
        )


def record_success(component: str) -> None:
    """`component` answered: logs its recovery if it was down."""
    if component not in _down:  # the common case, without the lock
        return
    with _lock:
        recovered = _down.pop(component, None) is not None
    if recovered:
        log.warning("%s is available again", component)


def is_down(component: str) -> bool:
    """Whether `component`'s last call failed (and nothing has succeeded since)."""
    return component in _down


def resting(component: str) -> bool:
    """Down, and failed less than RETRY_SECONDS ago: not worth trying yet."""
    failed_at = _down.get(component)
    return failed_at is not None and time.monotonic() - failed_at < RETRY_SECONDS


def guarded(component: str, call: Callable[[], T], fallback: Callable[[], T]) -> T:
    """`call()`, or `fallback()` when `component` is down (see the module docstring)."""
    if resting(component):
        return fallback()
    try:
        result = call()
    except dependency_errors() as exc:
        record_failure(component, exc)
        return fallback()
    record_success(component)
    return result


def reset() -> None:
    """Forget every outage (tests)."""
    with _lock:
        _down.clear()
