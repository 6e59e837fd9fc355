"""Why Watchfloor's circuit breaker is its own (watchfloor.circuit) and not pybreaker's.

pybreaker's `CircuitBreaker.call` holds the breaker's lock for the whole guarded call. A
notification batch sends up to 8 deliveries at once (oncall.notify.SEND_THREADS) and the
publisher is called from every request thread; with one breaker per destination (or one for
broadcasting), those calls then go one at a time. This script runs 8 threads, each making one
call of SEND_SECONDS (a stand-in for a network send) through one breaker, with pybreaker
(memory storage) and with watchfloor.circuit (local-memory cache; `--redis` for Redis db 12),
and prints the wall time of the batch; then the cost of one healthy call through each
(`allow` + call + `record`), on a call that does nothing.

    uv run --with pybreaker python bench/circuit_lock.py [--redis] [--no-record]

pybreaker is not a Watchfloor dependency: `uv run --with` brings it for this run only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

SEND_SECONDS = 0.1
THREADS = 8
CALLS = 20_000


def batch(call_one) -> float:
    """Wall time for THREADS threads making one call each, started together."""
    start = threading.Barrier(THREADS + 1)

    def worker():
        start.wait()
        call_one()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def per_call_us(call_one, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        call_one()
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", action="store_true", help="Watchfloor's breaker on Redis db 12")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    os.environ.setdefault("WATCHFLOOR_HOME", tempfile.mkdtemp(prefix="wf-circuit-"))
    if args.redis:
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/12"
    else:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    import pybreaker
    from django.core.cache import cache

    from watchfloor import circuit

    cache.clear()
    library = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)

    def slow():
        time.sleep(SEND_SECONDS)

    def through_library(fn=slow):
        return library.call(fn)

    def through_ours(fn=slow):
        before = circuit.admit("notify:bench:1")
        assert before is not None
        fn()
        circuit.record("notify:bench:1", ok=True, before=before)

    figures = {
        "pybreaker_batch_s": round(batch(through_library), 3),
        "watchfloor_batch_s": round(batch(through_ours), 3),
        "pybreaker_call_us": round(per_call_us(lambda: through_library(lambda: None), CALLS), 1),
        "watchfloor_call_us": round(per_call_us(lambda: through_ours(lambda: None), CALLS), 1),
    }
    cache.clear()
    storage = "Redis" if args.redis else "local memory"
    for name, value in figures.items():
        print(f"{name}: {value}")
    harness.write_json("circuit_lock", {"storage": storage, **figures})
    if args.no_record:
        return
    batch_row = (
        f"| {THREADS} threads, one {SEND_SECONDS * 1000:g} ms call each, one breaker (wall time) "
        f"| {figures['pybreaker_batch_s']} s | {figures['watchfloor_batch_s']} s |"
    )
    call_row = (
        "| one healthy call that does nothing (allow + record) "
        f"| {figures['pybreaker_call_us']} µs | {figures['watchfloor_call_us']} µs |"
    )
    harness.append_docs(
        f"""## {harness.now_utc()} — circuit breaker: pybreaker's lock against watchfloor.circuit

Command: `uv run --with pybreaker python bench/circuit_lock.py{" --redis" if args.redis else ""}`
(commit {harness.git_commit()}; {os.cpu_count()} cores, Python {sys.version.split()[0]},
pybreaker {version("pybreaker")}, pybreaker's memory storage, Watchfloor's
breaker on {storage}).

| | pybreaker | watchfloor.circuit |
| --- | --- | --- |
{batch_row}
{call_row}
"""
    )


if __name__ == "__main__":
    main()
