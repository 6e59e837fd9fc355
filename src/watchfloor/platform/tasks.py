"""The platform's periodic job (jobs/schedule.py), a thin wrapper over its service."""

from __future__ import annotations

from watchfloor.platform import sampling


def sample() -> dict:
    """`platform.sample`: the figures of the charts, and the pruning of old samples."""
    return sampling.sample_and_prune()
