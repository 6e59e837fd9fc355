"""What does the background work, and how it goes: the Workers page (`/platform/workers/`).

Production (JOBS_BACKEND "celery", REDIS_URL set): the Celery workers as they answer a
broadcast on the broker (`celery inspect`: ping, then active, reserved, scheduled and stats of
those that answered, each bounded by INSPECT_TIMEOUT seconds), and the broker's queue lengths
(platform.cache_stats). The broker is PINGed first (platform.health's check, 2 s at most): with
Redis down the page says so instead of waiting on Celery's reconnects. No worker answering
within the timeout is said as such ("no workers answered"), never an error.

Embedded (no REDIS_URL): Celery is not used; the embedded scheduler runs the same periodic jobs
and the tasks inside the Watchfloor process (jobs/embedded.py).

Either way: each periodic job of the schedule (jobs/schedule.py) with its interval, last run,
next due and whether it is stale (jobs.queries.job_states), the latest runs and failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from watchfloor.jobs import embedded
from watchfloor.jobs.models import JobRun
from watchfloor.jobs.queries import JobState, job_states, recent_failures, runs
from watchfloor.platform import cache_stats, health

INSPECT_TIMEOUT = 1.0
RUNS_SHOWN = 20
FAILURES_SHOWN = 20


@dataclass(frozen=True)
class Worker:
    name: str
    active: int | None = None
    reserved: int | None = None
    scheduled: int | None = None
    concurrency: int | None = None
    processed: int | None = None  # tasks taken since the worker started, all kinds
    pid: int | None = None
    uptime_s: int | None = None
    active_tasks: list[str] = field(default_factory=list)  # task names, no arguments


@dataclass(frozen=True)
class Celery:
    broker_status: str  # ok / stale (unreachable) / error
    broker_error: str = ""
    workers: list[Worker] = field(default_factory=list)
    inspected: bool = False  # the broadcast went out (the broker answered)
    error: str = ""  # the inspection itself failed (its kind, never a URL)
    queues: list[cache_stats.Queue] = field(default_factory=list)
    unacked: int | None = None

    @property
    def answered(self) -> bool:
        return bool(self.workers)


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    stale_after_s: float
    stale: bool
    running: bool
    last_at: datetime | None
    last_outcome: str
    last_duration_ms: float | None
    last_ok_at: datetime | None
    next_due_at: datetime
    failures_24h: int

    @classmethod
    def of(cls, state: JobState) -> Job:
        last = state.last_run
        return cls(
            name=state.name,
            every_s=state.job.every.total_seconds(),
            stale_after_s=state.job.stale_period.total_seconds(),
            stale=state.stale,
            running=state.running,
            last_at=last.started_at if last else None,
            last_outcome=last.outcome if last else "",
            last_duration_ms=last.duration_ms if last else None,
            last_ok_at=state.last_ok_at,
            next_due_at=state.next_expected_at,
            failures_24h=state.failures,
        )


@dataclass(frozen=True)
class Run:
    job: str
    node: str
    started_at: datetime
    duration_ms: float | None
    outcome: str
    error: str  # empty unless the reader may see error texts

    @classmethod
    def of(cls, run: JobRun, *, errors: bool) -> Run:
        return cls(
            job=run.job,
            node=run.node,
            started_at=run.started_at,
            duration_ms=run.duration_ms,
            outcome=run.outcome,
            error=run.error if errors else "",
        )


@dataclass(frozen=True)
class WorkersReport:
    mode: str  # "celery" or "embedded"
    scheduler_here: bool  # this process runs the embedded scheduler
    heartbeat: dict  # platform.health's workers check: status, last_run_at
    celery: Celery | None
    jobs: list[Job]
    runs: list[Run]
    failures: list[Run]

    @property
    def last_run_at(self) -> datetime | None:
        """When the newest job run finished (the heartbeat), as a moment."""
        last = self.heartbeat.get("last_run_at")
        return datetime.fromisoformat(last) if last else None

    @property
    def stale(self) -> list[str]:
        return [j.name for j in self.jobs if j.stale]


def _count(replies: dict | None, name: str) -> int | None:
    value = (replies or {}).get(name)
    return len(value) if isinstance(value, list) else None


def inspect_workers(timeout: float = INSPECT_TIMEOUT) -> list[Worker]:
    """The workers that answer a ping within `timeout`, with their tasks and stats (asked of
    those workers only, so each later call returns as soon as all of them answered)."""
    from watchfloor.celery import app

    pongs = app.control.inspect(timeout=timeout).ping() or {}
    if not pongs:
        return []
    names = sorted(pongs)
    inspect = app.control.inspect(destination=names, timeout=timeout, limit=len(names))
    active = inspect.active() or {}
    reserved = inspect.reserved() or {}
    scheduled = inspect.scheduled() or {}
    stats = inspect.stats() or {}
    workers = []
    for name in names:
        stat = stats.get(name) or {}
        pool = stat.get("pool") or {}
        total = stat.get("total") or {}
        workers.append(
            Worker(
                name=name,
                active=_count(active, name),
                reserved=_count(reserved, name),
                scheduled=_count(scheduled, name),
                concurrency=pool.get("max-concurrency"),
                processed=sum(total.values()) if isinstance(total, dict) else None,
                pid=stat.get("pid"),
                uptime_s=stat.get("uptime"),
                active_tasks=sorted(str(task.get("name", "")) for task in (active.get(name) or [])),
            )
        )
    return workers


def _celery(timeout: float) -> Celery:
    broker = health.check("broker")
    if broker["status"] != "ok":
        return Celery(broker_status=broker["status"], broker_error=broker.get("error", ""))
    stats = cache_stats.collect()
    try:
        workers = inspect_workers(timeout)
        error = ""
    except Exception as exc:  # reported on the page, never a 500 (the kind only: no URL)
        workers, error = [], type(exc).__name__
    return Celery(
        broker_status="ok",
        workers=workers,
        inspected=True,
        error=error,
        queues=stats.queues,
        unacked=stats.unacked,
    )


def collect(*, errors: bool, timeout: float = INSPECT_TIMEOUT) -> WorkersReport:
    """The Workers page; `errors`: include the error texts of failed runs (superusers)."""
    celery = settings.JOBS_BACKEND == "celery"
    return WorkersReport(
        mode="celery" if celery else "embedded",
        scheduler_here=embedded.running_here(),
        heartbeat=health.check("workers"),
        celery=_celery(timeout) if celery else None,
        jobs=[Job.of(state) for state in job_states()],
        runs=[Run.of(r, errors=errors) for r in runs()[:RUNS_SHOWN]],
        failures=[Run.of(r, errors=errors) for r in recent_failures(FAILURES_SHOWN)],
    )
