from __future__ import annotations

from datetime import timedelta

import job_targets
import pytest

from watchfloor.jobs.schedule import PeriodicJob

TEST_SCHEDULE = (
    PeriodicJob("test.ok", timedelta(seconds=30), "job_targets.ok"),
    PeriodicJob("test.number", timedelta(minutes=1), "job_targets.number"),
    PeriodicJob("test.boom", timedelta(seconds=30), "job_targets.boom"),
    PeriodicJob("test.missing", timedelta(seconds=30), "job_targets.no_such_function"),
    PeriodicJob("test.nomodule", timedelta(seconds=30), "no_such_module.anything"),
)


@pytest.fixture
def schedule(settings):
    """A test table of periodic jobs instead of the real one (whose targets other apps own)."""
    settings.JOBS_SCHEDULE = TEST_SCHEDULE
    job_targets.CALLS.clear()
    yield TEST_SCHEDULE
    job_targets.CALLS.clear()


@pytest.fixture(autouse=True)
def _forget_failures():
    from watchfloor.jobs import runtime

    runtime._failing.clear()
    yield
    runtime._failing.clear()
