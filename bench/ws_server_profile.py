"""Not a figure: `watchfloor serve --workers 1` instrumented, for `websocket.py --profile/--gc-log`.

Runs the same uvicorn server as `watchfloor serve` (the same `run_uvicorn`) with one of:

- `profile`: cProfile in every thread, measuring CPU time per thread (`time.thread_time`): the
  event loop (the WebSocket fan-out, the hub, uvicorn's protocol code) and the worker threads
  that run Django's sync views and the consumers' database calls. Writes `<out>.loop.prof` (the
  main thread) and `<out>.threads.prof` (every other thread, merged);
- `gc`: the garbage collector's pauses (`gc.callbacks`), which stop every thread of the
  process: writes `<out>.gc.json` with, per generation, the collections, their total and longest
  pause, and every pause over 50 ms with its wall-clock time (to set against late deliveries).
  `WSBENCH_GC_FREEZE=1` and `WSBENCH_GC_THRESHOLD=a,b,c` try the collector settings a server
  could use (`gc.freeze()` after start-up, `gc.set_threshold`).

Both are written when the server stops (SIGTERM/SIGINT).

    uv run python bench/ws_server_profile.py {profile|gc} OUT PORT
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import signal
import sys
import threading
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")

import django

django.setup()

from watchfloor.platform.server import run_uvicorn  # noqa: E402

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_in_thread(frame, event, arg):
    """threading.setprofile hook: the first event of a new thread starts its own profiler."""
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


class GcLog:
    def __init__(self) -> None:
        self.started: float | None = None
        self.by_gen: dict[int, dict] = {}
        self.long: list[dict] = []

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        if self.started is None:
            return
        pause = time.perf_counter() - self.started
        self.started = None
        gen = info.get("generation", -1)
        row = self.by_gen.setdefault(gen, {"collections": 0, "total_s": 0.0, "max_s": 0.0})
        row["collections"] += 1
        row["total_s"] += pause
        row["max_s"] = max(row["max_s"], pause)
        if pause > 0.05:
            self.long.append(
                {
                    "at": time.time(),
                    "generation": gen,
                    "pause_s": round(pause, 4),
                    "collected": info.get("collected"),
                    # what a full collection has to walk (frozen objects are not walked)
                    "tracked_in_gen2": len(gc.get_objects(generation=2)) if gen == 2 else None,
                }
            )

    def dump(self, path: str) -> None:
        out = {
            "by_generation": {
                str(g): {**r, "total_s": round(r["total_s"], 3), "max_s": round(r["max_s"], 4)}
                for g, r in sorted(self.by_gen.items())
            },
            "pauses_over_50ms": self.long,
            "thresholds": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
            "objects_tracked_at_exit": len(gc.get_objects()),
        }
        with open(path, "w") as f:
            json.dump(out, f, indent=2)


def main() -> None:
    mode, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # uvicorn shuts down on SIGTERM, then raises it again with the handler it found installed:
    # this one turns it into SystemExit, so what was recorded is written below
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if mode == "gc":
        # experiments with the collector's settings (for the server's owner to decide on):
        # WSBENCH_GC_THRESHOLD="a,b,c" (gc.set_threshold), WSBENCH_GC_FREEZE=1 (gc.freeze()
        # after start-up: the imported code and settings are never walked again)
        if os.environ.get("WSBENCH_GC_THRESHOLD"):
            gc.set_threshold(*(int(x) for x in os.environ["WSBENCH_GC_THRESHOLD"].split(",")))
        if os.environ.get("WSBENCH_GC_FREEZE") == "1":
            gc.collect()
            gc.freeze()
        log = GcLog()
        gc.callbacks.append(log)
        try:
            run_uvicorn(host="127.0.0.1", port=port)
        finally:
            gc.callbacks.remove(log)
            log.dump(out + ".gc.json")
        return
    threading.setprofile(_start_in_thread)
    loop_profile = cProfile.Profile(time.thread_time)
    loop_profile.enable()
    try:
        run_uvicorn(host="127.0.0.1", port=port)
    finally:
        loop_profile.disable()
        loop_profile.dump_stats(out + ".loop.prof")
        with _lock:
            profiles = list(_profiles)
        if profiles:
            import pstats

            merged = None
            for profile in profiles:
                profile.create_stats()
                if merged is None:
                    merged = pstats.Stats(profile)
                else:
                    merged.add(profile)
            merged.dump_stats(out + ".threads.prof")


if __name__ == "__main__":
    main()
