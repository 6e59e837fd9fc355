"""The one table of periodic jobs. It drives Celery beat in production (`watchfloor beat`) and
the embedded scheduler inside `watchfloor serve` / `demo` (no Redis, no extra process).

A target is the dotted path of a function that takes no arguments and returns a dict of counts
(or a number, or None). Paths are strings, imported when the job runs, so the jobs app imports
no domain app, and a target that fails to import is a failed run, never a crashed scheduler.

To add a job: one `PeriodicJob` line below, its function in the app's `tasks.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils.module_loading import import_string

NAME_MAX = 100  # JobRun.job / JobLease.job


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    target: str
    # no successful run within this long: the job is stale (jobs page, /api/health/);
    # None: three intervals
    stale_after: timedelta | None = None
    # how long one run may hold the job before another process may take it over; the runtime
    # renews it while the run lasts, so this only bounds the wait after a process died mid-run
    lease: timedelta = timedelta(minutes=2)

    def __post_init__(self):
        if not self.name or len(self.name) > NAME_MAX:
            raise ValueError(f"job name {self.name!r}: 1 to {NAME_MAX} characters")
        if self.every <= timedelta(0) or self.lease <= timedelta(0):
            raise ValueError(f"job {self.name}: `every` and `lease` must be positive")

    @property
    def stale_period(self) -> timedelta:
        return self.stale_after if self.stale_after is not None else self.every * 3


SCHEDULE: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        "maintenance.transitions",
        timedelta(seconds=30),
        "watchfloor.maintenance.tasks.announce_maintenance_transitions",
    ),
    PeriodicJob(
        "escalation.sweep",
        timedelta(seconds=20),
        "watchfloor.oncall.tasks.sweep_escalations",
    ),
    PeriodicJob(
        "notifications.send_due",
        timedelta(seconds=15),
        "watchfloor.oncall.tasks.send_due_deliveries",
    ),
    PeriodicJob(
        "incidents.rules_sweep",
        timedelta(seconds=30),
        "watchfloor.incidents.tasks.sweep_incident_rules",
    ),
    PeriodicJob(
        "incidents.paging",
        timedelta(seconds=20),
        "watchfloor.incidents.tasks.sweep_incident_paging",
    ),
    PeriodicJob(
        "incidents.sla_breaches",
        timedelta(seconds=30),
        "watchfloor.incidents.tasks.record_sla_breaches",
    ),
    PeriodicJob(
        "oncall.refresh_calendars",
        timedelta(minutes=15),
        "watchfloor.oncall.tasks.refresh_calendars",
        lease=timedelta(minutes=10),
    ),
    PeriodicJob(
        "operations.feed_rules",
        timedelta(minutes=1),
        "watchfloor.operations.tasks.run_feed_rules",
    ),
    PeriodicJob(
        "operations.heartbeats",
        timedelta(seconds=15),
        "watchfloor.operations.tasks.check_heartbeats",
    ),
    PeriodicJob(
        "platform.sample",
        timedelta(seconds=30),
        "watchfloor.platform.tasks.sample",
    ),
    PeriodicJob(
        "snapshots.compute",
        timedelta(minutes=5),
        "watchfloor.snapshots.tasks.compute_snapshots",
        lease=timedelta(minutes=4),
    ),
    PeriodicJob(
        "snapshots.refresh_views",
        timedelta(minutes=5),
        "watchfloor.snapshots.tasks.refresh_views",
        lease=timedelta(minutes=4),
    ),
    PeriodicJob(
        "reports.rollup",
        timedelta(minutes=10),
        "watchfloor.reports.tasks.roll_up",
        lease=timedelta(minutes=10),
    ),
    PeriodicJob(
        "jobs.prune_runs",
        timedelta(days=1),
        "watchfloor.jobs.retention.prune_runs",
        stale_after=timedelta(days=2),
        lease=timedelta(minutes=30),
    ),
    PeriodicJob(
        "retention.enforce",
        timedelta(days=1),
        "watchfloor.snapshots.retention_tasks.enforce_retention",
        stale_after=timedelta(days=2),
        lease=timedelta(minutes=30),
    ),
)


def schedule() -> tuple[PeriodicJob, ...]:
    """The table in use: `settings.JOBS_SCHEDULE` (a dotted path to a sequence of jobs, or the
    sequence itself, which is how tests swap in their own)."""
    table = settings.JOBS_SCHEDULE
    if isinstance(table, str):
        table = import_string(table)
    names = [job.name for job in table]
    if len(names) != len(set(names)):
        raise ValueError(f"two periodic jobs share a name: {sorted(names)}")
    return tuple(table)


def job_named(name: str) -> PeriodicJob | None:
    for job in schedule():
        if job.name == name:
            return job
    return None
