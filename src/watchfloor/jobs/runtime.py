"""Running jobs and tasks: the lease, the record of every run, and `enqueue`.

- `run_job(name)` runs one periodic job of the schedule once, if no other process or node runs
  it now (a lease row in the database: a conditional UPDATE, the same on SQLite and PostgreSQL),
  and records the run (`JobRun`). Celery beat, the embedded scheduler and tests all call it.
- `run_task(path, *ids)` runs one task function (a `watchfloor.<app>.tasks.<function>` taking
  primary keys); a failure is recorded as a `JobRun` named by the path.
- `enqueue(path, *ids, eta=None)` asks for `run_task(path, *ids)` after the current transaction
  commits, at `eta` or at once: a Celery message in production; the embedded scheduler of this
  process otherwise. Where no scheduler runs (a management command, another web worker) it does
  nothing: tasks are idempotent and the periodic jobs catch up whatever was not run.

Nothing here lets an exception escape: a job that fails (or cannot even be imported) is a
failed run with its error recorded, never a crashed scheduler. A failure is logged once, and
its recovery once, per job and process.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from watchfloor.jobs import metrics
from watchfloor.jobs.models import ABANDONED, JobLease, JobRun, Outcome
from watchfloor.jobs.schedule import NAME_MAX, job_named

log = logging.getLogger(__name__)

# the Celery tasks (jobs/tasks.py) that run a periodic job and an enqueued task
CELERY_RUN_JOB = "watchfloor.jobs.run_job"
CELERY_RUN_TASK = "watchfloor.jobs.run_task"

ERROR_MAX = 2_000
RESULT_MAX_KEYS = 50
# a task is a function in some app's tasks module; nothing else may be named by a message
TASK_PATH = re.compile(r"^watchfloor(\.[a-z_][a-z0-9_]*)*\.tasks\.[a-z_][a-z0-9_]*$")
ID_MAX = 2**63 - 1

Sink = Callable[[str, tuple[int, ...], datetime | None], None]


def node() -> str:
    """host:pid of this process (computed each time: a forked child has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


# --- the lease ---------------------------------------------------------------------------------
def acquire_lease(job: str, holder: str, lease: timedelta) -> bool:
    """Take the job's lease for `lease`: only if it expired or `holder` holds it already. One
    conditional UPDATE (or the first INSERT); two processes racing get one winner."""
    now = timezone.now()
    until = now + lease
    taken = (
        JobLease.objects.filter(job=job)
        .filter(Q(expires_at__lte=now) | Q(holder=holder))
        .update(holder=holder, expires_at=until)
    )
    if taken:
        return True
    if JobLease.objects.filter(job=job).exists():
        return False
    try:
        with transaction.atomic():
            JobLease.objects.create(job=job, holder=holder, expires_at=until)
    except IntegrityError:  # another process inserted it first: theirs
        return False
    return True


def release_lease(job: str, holder: str) -> None:
    JobLease.objects.filter(job=job, holder=holder).update(expires_at=timezone.now())


class _LeaseKeeper:
    """Renews a lease every third of its length while a run lasts, in a thread of its own
    (with its own database connection, closed when it stops), so a run longer than its lease
    is never taken over, and a process that died leaves the job for at most one lease."""

    def __init__(self, job: str, holder: str, lease: timedelta):
        self.job, self.holder, self.lease = job, holder, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease {job}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _keep(self) -> None:
        try:
            while not self._stop.wait(self.lease.total_seconds() / 3):
                try:
                    if not acquire_lease(self.job, self.holder, self.lease):
                        log.warning("job %s: its lease was taken over during a run", self.job)
                except Exception as exc:
                    kind = type(exc).__name__
                    log.warning("job %s: renewing its lease failed (%s)", self.job, kind)
        finally:
            connections.close_all()


# --- recording ---------------------------------------------------------------------------------
def error_text(exc: BaseException) -> str:
    """`Type: message`, cut to 2,000 characters (shown to platform superusers only)."""
    text = f"{type(exc).__name__}: {exc}".replace("\x00", "")
    return text[:ERROR_MAX]


def counts_of(value: object) -> dict:
    """What a job returned, as the counts a run records: numbers only (never PII)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"result": int(value)}
    if isinstance(value, int | float):
        return {"count": value}
    if isinstance(value, dict):
        out: dict[str, int | float] = {}
        for key, item in value.items():
            if isinstance(item, bool):
                item = int(item)
            if isinstance(item, int | float) and len(out) < RESULT_MAX_KEYS:
                out[str(key)[:100]] = item
        return out
    return {}


_failing: set[str] = set()
FAILING_MAX = 1_000  # names remembered as failing (a flood of forged names cannot grow it)
_failing_lock = threading.Lock()


def _note_outcome(job: str, run: JobRun) -> None:
    """Log a job's failure once and its recovery once (per process), never every run; the
    message names the error's type only (its text may hold data: it is on the jobs page)."""
    with _failing_lock:
        was_failing = job in _failing
        if run.outcome == Outcome.FAILED and len(_failing) < FAILING_MAX:
            _failing.add(job)
        elif run.outcome == Outcome.OK:
            _failing.discard(job)
    if run.outcome == Outcome.FAILED and not was_failing:
        kind = run.error.partition(":")[0]
        log.error("job %s failed (%s); run %s has the error", job, kind, run.pk)
    elif run.outcome == Outcome.OK and was_failing:
        log.info("job %s runs again (run %s)", job, run.pk)


def _release_connections() -> None:
    """Give back this thread's database connections (to psycopg's pool): worker threads and
    worker processes must not hold one between runs. A connection inside a transaction (a
    caller's atomic block, a test) is left alone."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def _finish(run: JobRun, started: float, outcome: str, *, result=None, error="") -> JobRun:
    run.finished_at = timezone.now()
    run.duration_ms = round((time.perf_counter() - started) * 1000, 3)
    run.outcome = outcome
    run.result = result or {}
    run.error = error
    if run.pk is None:
        run.save()
    else:
        run.save(update_fields=["finished_at", "duration_ms", "outcome", "result", "error"])
    return run


def _record_failure(job: str, started_at: datetime, started: float, exc: BaseException) -> JobRun:
    run = JobRun(job=job[:NAME_MAX], node=node(), started_at=started_at)
    try:
        return _finish(run, started, Outcome.FAILED, error=error_text(exc))
    except Exception as db_exc:  # the database itself is down: nothing to record into
        log.error("job %s: cannot record a run (%s)", job, type(db_exc).__name__)
        run.outcome, run.error = Outcome.FAILED, error_text(exc)
        return run


# --- periodic jobs -----------------------------------------------------------------------------
def run_job(name: str) -> JobRun:
    """Run the periodic job `name` once unless another process runs it now (then a SKIPPED
    run is recorded); the recorded run. Never raises."""
    try:
        run = _run_job(name)
        _note_outcome(name, run)
        _count(run)
        return run
    finally:
        _release_connections()


def _count(run: JobRun) -> None:
    try:
        job = run.job if job_named(run.job) is not None else "unknown"
    except Exception:  # a broken schedule is the run's recorded error already
        job = "unknown"
    metrics.JOB_RUNS.labels(job=job, outcome=run.outcome).inc()
    if run.outcome != Outcome.SKIPPED and run.duration_ms is not None:
        metrics.JOB_SECONDS.labels(job=job).observe(run.duration_ms / 1000)


def _close_abandoned_runs(name: str, now: datetime) -> int:
    """With the job's lease in hand, no other run of it is alive (a live run renews the lease):
    any run still marked running was left by a process that died (kill -9, a lost node), and is
    closed as failed now rather than shown as running until the daily prune."""
    return JobRun.objects.filter(job=name, outcome=Outcome.RUNNING).update(
        outcome=Outcome.FAILED, finished_at=now, error=ABANDONED
    )


def _run_job(name: str) -> JobRun:
    started_at, started = timezone.now(), time.perf_counter()
    try:
        job = job_named(name)
        if job is None:
            raise LookupError(f"no periodic job is named {name!r}")
        holder = f"{node()}:{uuid.uuid4().hex[:12]}"
        if not acquire_lease(name, holder, job.lease):
            return JobRun.objects.create(
                job=name,
                node=node(),
                started_at=started_at,
                finished_at=started_at,
                duration_ms=0,
                outcome=Outcome.SKIPPED,
            )
        try:
            _close_abandoned_runs(name, started_at)
            run = JobRun.objects.create(job=name, node=node(), started_at=started_at)
        except Exception:
            release_lease(name, holder)
            raise
    except Exception as exc:
        return _record_failure(name, started_at, started, exc)
    try:
        with _LeaseKeeper(name, holder, job.lease):
            try:
                value = import_string(job.target)()
            except Exception as exc:
                return _finish(run, started, Outcome.FAILED, error=error_text(exc))
            return _finish(run, started, Outcome.OK, result=counts_of(value))
    except Exception as exc:  # recording the outcome failed
        log.error("job %s: cannot record its outcome (%s)", name, type(exc).__name__)
        return run
    finally:
        try:
            release_lease(name, holder)
        except Exception as exc:
            log.warning("job %s: releasing its lease failed (%s)", name, type(exc).__name__)


# --- tasks ---------------------------------------------------------------------------------------
def check_task(path: str, args: tuple) -> None:
    """A task is `watchfloor.<app>.tasks.<function>` called with primary keys (ints)."""
    if not isinstance(path, str) or not TASK_PATH.match(path) or len(path) > NAME_MAX:
        raise ValueError(f"not a task path (watchfloor.<app>.tasks.<function>): {path!r}")
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int) or not 0 <= arg <= ID_MAX:
            raise ValueError(f"task {path}: arguments are primary keys (ints), not {arg!r}")


def run_task(path: str, *args: int) -> JobRun | None:
    """Run one task now; a failure is recorded as a JobRun named by the path (and returned),
    a success is not recorded (the task's own rows say what it did). Never raises."""
    started_at, started = timezone.now(), time.perf_counter()
    try:
        check_task(path, args)
        import_string(path)(*args)
    except Exception as exc:
        run = _record_failure(path, started_at, started, exc)
        _note_outcome(path, run)
        metrics.TASKS.labels(task=_task_label(path), outcome=Outcome.FAILED).inc()
        return run
    finally:
        _release_connections()
    metrics.TASKS.labels(task=path, outcome=Outcome.OK).inc()
    with _failing_lock:
        recovered = path in _failing
        _failing.discard(path)
    if recovered:
        log.info("task %s runs again", path)
    return None


def _task_label(path: str) -> str:
    return path if isinstance(path, str) and TASK_PATH.match(path) else "invalid"


_sink: Sink | None = None
_local_scheduler = None  # the embedded scheduler of this process, when one runs


def set_task_sink(sink: Sink | None) -> None:
    """Tests: receive every committed `enqueue` instead of the backend (None restores it)."""
    global _sink
    _sink = sink


def set_local_scheduler(scheduler) -> None:
    """The embedded scheduler registers itself (None when it stops)."""
    global _local_scheduler
    _local_scheduler = scheduler


def enqueue(path: str, *args: int, eta: datetime | None = None) -> None:
    """Run `path(*args)` after the current transaction commits (at once outside one), at `eta`
    or as soon as possible. A bad path or argument is a programming error (ValueError)."""
    check_task(path, args)
    if eta is not None and timezone.is_naive(eta):
        raise ValueError("eta must be an aware datetime")
    transaction.on_commit(partial(_dispatch, path, tuple(args), eta))


def enqueue_many(path: str, calls: list[tuple[tuple[int, ...], datetime | None]]) -> None:
    """`enqueue(path, *args, eta=eta)` for each `(args, eta)`, handed over together after
    commit: with Celery through one producer (one broker connection for the lot, where a
    producer per message cost ~1 ms each: 1.7 s of a sweep queueing 1,700 steps)."""
    for args, eta in calls:
        check_task(path, args)
        if eta is not None and timezone.is_naive(eta):
            raise ValueError("eta must be an aware datetime")
    if calls:
        transaction.on_commit(partial(_dispatch_many, path, [(tuple(a), e) for a, e in calls]))


def queues_here() -> bool:
    """Whether a task enqueued in this process is taken by something: a test's sink, Celery,
    or this process's embedded scheduler. False in a process of a forking server (gunicorn's
    workers: the embedded scheduler runs in a process of its own), where `enqueue` leaves the
    task to the periodic jobs that catch its work up."""
    return _sink is not None or settings.JOBS_BACKEND == "celery" or _local_scheduler is not None


def _dispatch(path: str, args: tuple[int, ...], eta: datetime | None) -> None:
    _dispatch_many(path, [(args, eta)])


def _dispatch_many(path: str, calls: list[tuple[tuple[int, ...], datetime | None]]) -> None:
    try:
        if _sink is not None:
            for args, eta in calls:
                _sink(path, args, eta)
        elif settings.JOBS_BACKEND == "celery":
            from watchfloor.celery import app

            with app.producer_or_acquire() as producer:
                for args, eta in calls:
                    app.send_task(CELERY_RUN_TASK, args=[path, *args], eta=eta, producer=producer)
        elif _local_scheduler is not None:
            for args, eta in calls:
                _local_scheduler.submit(path, args, eta)
        # else: no scheduler in this process; the periodic jobs catch the work up
    except Exception as exc:  # a broker that is down must not undo or fail a committed write
        log.warning("%d task(s) %s could not be queued (%s)", len(calls), path, type(exc).__name__)
