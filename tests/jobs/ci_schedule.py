"""The schedule the process tests give `watchfloor serve`, `worker` and `beat`
(WATCHFLOOR_JOBS_SCHEDULE=ci_schedule.SCHEDULE, with tests/jobs on PYTHONPATH)."""

from __future__ import annotations

import time
from datetime import timedelta

from watchfloor.jobs.schedule import PeriodicJob


def tick() -> dict:
    return {"ticks": 1}


def slow() -> dict:
    """Longer than its interval: with two beats and two workers, runs would overlap without
    the lease."""
    time.sleep(2.5)
    return {"slept_ms": 2500}


SCHEDULE = (
    PeriodicJob("ci.tick", timedelta(seconds=1), "ci_schedule.tick"),
    PeriodicJob("ci.slow", timedelta(seconds=1), "ci_schedule.slow", lease=timedelta(seconds=30)),
)
