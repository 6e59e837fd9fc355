"""The authorization generation, pushed to each process instead of read at every request.

`scope.authz_generation()` keys the per-process caches of capabilities and API tokens: a change
of roles, permissions, accounts or tokens moves it (`scope.forget_authorizations`), and every
process then loads afresh. Read from Redis at every authenticated request, it was a round trip
per API call and page (about a twentieth of a served alerts-list request, docs/decisions.md).
Here each process subscribes once to a Redis channel that every move of the generation is
announced on (`announce`), reads the generation when the subscription is in place and again at
each announcement, and answers from memory in between.

What it must never do is answer an old generation after a change was committed:

- the value is read (GET) after the subscription is confirmed and after every announcement,
  never taken from the message, so announcements that cross or a counter that restarted (a
  flushed Redis) cannot leave it behind;
- while the subscription is not in place (not yet, or broken: Redis restarting, a network
  cut) `current()` answers None and the caller reads Redis per request, as before; the
  subscription's loss is seen by the connection's error, or by a PING sent on it every
  `CHECK_SECONDS` that no PONG answers within as long (the generation is read again then too);
- a process that moves the generation itself takes the new value at once (`moved`).

A change is seen by another process when its announcement arrives (milliseconds), instead of
at that process's next request. Without Redis (the embedded default), or with
`WATCHFLOOR_AUTHZ_PUSH=off` (a Redis proxy without pub/sub), nothing subscribes.
"""

from __future__ import annotations

import os
import threading
import time

from django.conf import settings

from watchfloor.degrade import record_failure, record_success
from watchfloor.pubsub import channel as pubsub_channel

CHANNEL = "access:authz-generation"  # in the installation's namespace (watchfloor.pubsub)
COMPONENT = "authorization updates (Redis)"
CHECK_SECONDS = 5.0  # the generation read again this often, the subscription alive or not
RETRY_SECONDS = 2.0  # after a broken subscription, the next attempt waits this long


class GenerationWatch:
    """One per process (`WATCH`); its subscriber runs on a daemon thread (a greenlet in a
    gevent worker), started by the first `current()` of the process."""

    def __init__(self) -> None:
        self._value: int | None = None
        self._pid: int | None = None
        self._run = 0  # the subscriber that is current; an older one ends at its next look
        self._lock = threading.Lock()

    def current(self) -> int | None:
        """The generation, or None when the caller must read it itself."""
        if self._pid != os.getpid():
            self._start()
        return self._value

    def moved(self, value: int) -> None:
        """This process moved the generation to `value` (INCR's answer): seen here at once."""
        if self._value is not None:
            self._value = value

    def stop(self) -> None:
        """No subscriber from now on until the next `current()` (tests; a process ending)."""
        with self._lock:
            self._run += 1
            self._pid = self._value = None

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._run += 1
            self._pid, self._value = os.getpid(), None  # a forked child subscribes anew
            if not (redis_configured() and getattr(settings, "AUTHZ_PUSH", True)):
                return
            run = self._run
            threading.Thread(
                target=self._subscribe_forever, args=(run,), name="authz-watch", daemon=True
            ).start()

    def _subscribe_forever(self, run: int) -> None:
        while self._run == run:
            try:
                self._follow(run)
            except Exception as exc:  # any failure: back to reading per request
                if self._run == run:
                    self._value = None
                    record_failure(COMPONENT, exc)
            time.sleep(RETRY_SECONDS)

    def _set(self, run: int, value: int | None) -> None:
        with self._lock:
            if self._run == run:
                self._value = value

    def _follow(self, run: int) -> None:
        client = _client()
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(_channel())
            _await_confirmation(pubsub)
            self._set(run, _read())
            record_success(COMPONENT)
            checked, pinged = time.monotonic(), None
            while self._run == run:
                message = pubsub.get_message(timeout=1.0)
                kind = None if message is None else message.get("type")
                if kind == "message":
                    self._set(run, _read())
                elif kind == "pong":
                    pinged = None
                now = time.monotonic()
                if pinged is not None and now - pinged > CHECK_SECONDS:
                    raise TimeoutError("the authorization channel's subscription went silent")
                if now - checked >= CHECK_SECONDS:
                    if pinged is None:
                        pubsub.ping()  # answered on the subscription's own connection
                        pinged = now
                    self._set(run, _read())
                    checked = now
        finally:
            self._set(run, None)
            pubsub.close()


def _await_confirmation(pubsub) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        if message is not None and message.get("type") == "subscribe":
            return
    raise TimeoutError("no confirmation of the authorization channel's subscription")


def redis_configured() -> bool:
    backend = str(settings.CACHES.get("default", {}).get("BACKEND", ""))
    return backend.endswith("redis_cache.RedisCache")


def _client():
    from django.core.cache import cache

    return cache._cache.get_client(write=False)


def _read() -> int:
    from django.core.cache import cache

    from watchfloor.access.scope import AUTHZ_GENERATION_KEY

    return int(cache.get(AUTHZ_GENERATION_KEY, 0))


def announce() -> None:
    """Tell every process the generation moved (after the INCR). Failures are the caller's."""
    _client().publish(_channel(), b"moved")


def _channel() -> str:
    return pubsub_channel(CHANNEL)


WATCH = GenerationWatch()
