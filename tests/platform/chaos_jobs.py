"""A schedule of fast jobs for the kill -9 and scale-out tests (WATCHFLOOR_JOBS_SCHEDULE points
here in the processes they start; this folder is on their PYTHONPATH). Never collected."""

from __future__ import annotations

import time
from datetime import timedelta

from watchfloor.jobs.schedule import PeriodicJob

TICK_EVERY = timedelta(seconds=2)
SLOW_SECONDS = 4.0


def tick() -> dict:
    return {"ticked": 1}


def slow() -> dict:
    """Long enough for a test to kill the worker in the middle of the run."""
    time.sleep(SLOW_SECONDS)
    return {"slept": 1}


SCHEDULE = (
    # runs in an instant; its lease only matters for concurrent runs
    PeriodicJob("chaos.tick", TICK_EVERY, "chaos_jobs.tick", lease=timedelta(seconds=30)),
    # a run that dies with its worker holds the job for at most its lease (then it is taken over)
    PeriodicJob("chaos.slow", timedelta(seconds=2), "chaos_jobs.slow", lease=timedelta(seconds=6)),
)

# the scale-out test counts chaos.tick alone: a worker process sleeping in chaos.slow may hold a
# prefetched tick message until it wakes, which bunches two ticks together
TICK_ONLY = SCHEDULE[:1]
