"""`watchfloor worker` and `watchfloor beat` refuse to start without Celery's broker, and beat's
schedule is the one table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from watchfloor.jobs.schedule import PeriodicJob


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_refuses_without_redis(settings, command):
    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="needs REDIS_URL"):
        call_command(command)


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_refuses_when_the_web_processes_run_the_jobs(settings, command):
    settings.REDIS_URL = "redis://127.0.0.1:6379/11"
    settings.JOBS_BACKEND = "embedded"
    with pytest.raises(CommandError, match="WATCHFLOOR_JOBS_BACKEND=embedded"):
        call_command(command)


def test_beat_schedule_is_built_from_the_table(settings):
    from watchfloor.celery import beat_schedule

    settings.JOBS_SCHEDULE = (
        PeriodicJob("a.one", timedelta(seconds=20), "x.y"),
        PeriodicJob("b.two", timedelta(days=1), "x.z"),
    )
    assert beat_schedule() == {
        "a.one": {
            "task": "watchfloor.jobs.run_job",
            "schedule": 20.0,
            "args": ("a.one",),
            "options": {"expires": 20.0},
        },
        "b.two": {
            "task": "watchfloor.jobs.run_job",
            "schedule": 86400.0,
            "args": ("b.two",),
            "options": {"expires": 86400.0},
        },
    }


def test_two_jobs_may_not_share_a_name(settings):
    from watchfloor.jobs.schedule import schedule

    settings.JOBS_SCHEDULE = (
        PeriodicJob("same", timedelta(seconds=20), "x.y"),
        PeriodicJob("same", timedelta(seconds=30), "x.z"),
    )
    with pytest.raises(ValueError, match="share a name"):
        schedule()
