"""The garbage collector's settings for long-running processes (servers, fold workers)."""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 100)


def tune_gc() -> None:
    """Move what start-up built (Django, the URLconfs, every warmed module) out of the
    collector's reach (`gc.freeze`) and make young collections rarer (`GC_THRESHOLD`), in a
    serving or folding process once it is warmed up.

    With Python's defaults a full collection walks that whole heap: folding a storm's first
    pass (10,000 new alerts) ran 6 full collections of ~66 ms, 0.40 s of a 2.26 s fold, and
    0.06 s with this (bench/profile_fold.py, docs/benchmarks.md). On the WebSocket side a full
    collection stopped the event loop for ~140 ms with 1,000 sockets open (p99 408 -> 188 ms).
    Frozen objects are never collected: only what start-up made, which lives as long as the
    process anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
