"""The collector's settings for long-running processes (watchfloor.heap)."""

from __future__ import annotations

import gc

from watchfloor.heap import GC_THRESHOLD, tune_gc


def test_tune_gc_freezes_the_start_up_heap_and_sets_the_thresholds():
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        marker = {"built": "at start-up"}  # alive now: what start-up made
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 0
        # frozen: no collection walks it any more (get_objects lists the collected generations)
        assert all(o is not marker for o in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
