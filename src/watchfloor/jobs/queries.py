"""The read side of the jobs runtime: each periodic job's state, its runs, staleness.

Jobs work across tenants, so nothing here is tenant data; who may see which fields is the API's
and the page's business (names, times, outcomes for `noc:configure`; errors, counts and nodes
for platform superusers only).

Stale: a job with no successful run within its `stale_period` (three intervals unless the table
says otherwise). The clock starts no earlier than this process started and the jobs app was
installed, so a fresh start or a fresh database is not reported stale before a job could run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.utils import timezone

from watchfloor.jobs.models import JobLease, JobRun, Outcome
from watchfloor.jobs.schedule import PeriodicJob, schedule

UP_SINCE = timezone.now()  # when this process started (imported at start-up)
FAILURE_WINDOW = timedelta(hours=24)

_installed_at: datetime | None = None


def installed_at() -> datetime | None:
    """When the jobs app's tables were created (its first migration), once per process."""
    global _installed_at
    if _installed_at is None:
        row = (
            MigrationRecorder.Migration.objects.filter(app="jobs")
            .order_by("applied")
            .values_list("applied", flat=True)
            .first()
        )
        _installed_at = row
    return _installed_at


def grace_start() -> datetime:
    """Staleness is counted from no earlier than this."""
    installed = installed_at()
    return max(UP_SINCE, installed) if installed else UP_SINCE


@dataclass(frozen=True)
class JobState:
    job: PeriodicJob
    last_ok_at: datetime | None
    last_run: JobRun | None  # the latest run that was not skipped
    failures: int  # failed runs within FAILURE_WINDOW
    stale: bool
    next_expected_at: datetime

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def running(self) -> bool:
        return self.last_run is not None and self.last_run.outcome == Outcome.RUNNING


def _latest(job_ref, **filters) -> Subquery:
    runs = JobRun.objects.filter(job=job_ref, **filters).order_by("-started_at", "-id")
    return Subquery(runs.values("started_at")[:1])


def _is_stale(job: PeriodicJob, last_ok_at: datetime | None, start: datetime, now) -> bool:
    since = max(last_ok_at, start) if last_ok_at else start
    return now - since > job.stale_period


def stale_jobs(now: datetime | None = None) -> list[str]:
    """The names of the stale jobs: one query (the latest success of each job that ever ran,
    through the (job, started_at) index), for /api/health/."""
    now = now or timezone.now()
    jobs = schedule()
    last_ok = dict(
        JobLease.objects.filter(job__in=[j.name for j in jobs])
        .annotate(last_ok=_latest(OuterRef("job"), outcome=Outcome.OK))
        .values_list("job", "last_ok")
    )
    start = grace_start()
    return [j.name for j in jobs if _is_stale(j, last_ok.get(j.name), start, now)]


def job_states(now: datetime | None = None) -> list[JobState]:
    """Every job of the table, in its order, with its latest runs: two queries."""
    now = now or timezone.now()
    jobs = schedule()
    names = [j.name for j in jobs]
    not_skipped = JobRun.objects.filter(job=OuterRef("job")).exclude(outcome=Outcome.SKIPPED)
    rows = {
        row["job"]: row
        for row in JobLease.objects.filter(job__in=names)
        .annotate(
            last_ok=_latest(OuterRef("job"), outcome=Outcome.OK),
            last_id=Subquery(not_skipped.order_by("-started_at", "-id").values("id")[:1]),
        )
        .values("job", "last_ok", "last_id")
    }
    last_ids = [r["last_id"] for r in rows.values() if r["last_id"]]
    failures = dict(
        JobRun.objects.filter(
            job__in=names, outcome=Outcome.FAILED, started_at__gte=now - FAILURE_WINDOW
        )
        .values("job")
        .annotate(n=Count("id"))
        .values_list("job", "n")
    )
    last_runs = {run.job: run for run in JobRun.objects.filter(id__in=last_ids)}
    start = grace_start()
    states = []
    for job in jobs:
        row: dict = dict(rows.get(job.name, {}))
        last = last_runs.get(job.name)
        states.append(
            JobState(
                job=job,
                last_ok_at=row.get("last_ok"),
                last_run=last,
                failures=failures.get(job.name, 0),
                stale=_is_stale(job, row.get("last_ok"), start, now),
                next_expected_at=(last.started_at + job.every) if last else start,
            )
        )
    return states


def runs(*, job: str | None = None, outcome: str | None = None) -> QuerySet[JobRun]:
    """Job runs, newest first, optionally of one job and one outcome."""
    qs = JobRun.objects.all()
    if job:
        qs = qs.filter(job=job)
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs.order_by("-id")


def recent_failures(limit: int = 20) -> list[JobRun]:
    """The latest failed runs of jobs and tasks (a partial index holds the failed ones)."""
    return list(JobRun.objects.filter(outcome=Outcome.FAILED).order_by("-id")[:limit])
