"""The embedded scheduler: the periodic jobs and the enqueued tasks, inside the web process.

`watchfloor serve` and `watchfloor demo` start one when there is no Celery (no REDIS_URL), so
the embedded default needs no Redis and no extra process. One daemon thread keeps the times;
the runs happen in a small thread pool (4 threads), so one slow job or task never delays the
others. A job is not started again in this process while its previous run still goes; across
processes and nodes the lease of `runtime.run_job` keeps it to one run at a time.

Connections: each run happens in a pool thread and gives its database connections back at the
end (`runtime`), so the scheduler holds none between runs. uvicorn starts its workers with
`spawn` (a fresh interpreter: no thread, pool or connection of this process is inherited), so
the scheduler runs as a thread of the serving process. gunicorn (`serve --wsgi`) *forks* its
workers from its master at any time (a worker that died is replaced): a master holding
connections or a psycopg pool would hand them to the children. So with `--wsgi` the scheduler
runs in a process of its own, a fresh interpreter (`start_process`), stopped with the server.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from watchfloor.jobs import runtime
from watchfloor.jobs.schedule import PeriodicJob, schedule

log = logging.getLogger(__name__)

WORKERS = 4
TICK = 1.0  # seconds between looks at the clock at most


class EmbeddedScheduler:
    def __init__(self, jobs: tuple[PeriodicJob, ...] | None = None, *, workers: int = WORKERS):
        self.jobs = tuple(jobs) if jobs is not None else schedule()
        self.workers = workers
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._running: set[str] = set()  # periodic jobs with a run in progress here
        self._tasks: list[tuple[float, int, str, tuple[int, ...]]] = []  # (due, seq, path, ids)
        self._seq = itertools.count()

    # --- life ------------------------------------------------------------------------------
    def start(self) -> EmbeddedScheduler:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="watchfloor-job")
        self._thread = threading.Thread(target=self._loop, name="watchfloor-scheduler", daemon=True)
        self._thread.start()
        runtime.set_local_scheduler(self)
        log.info("embedded scheduler started: %d periodic jobs", len(self.jobs))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, let the runs in progress finish (up to `timeout`), drop the
        timed tasks not yet due (the periodic jobs redo them after a restart)."""
        runtime.set_local_scheduler(None)
        with self._wake:
            self._stopping = True
            self._tasks.clear()
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + timeout
            for worker in list(getattr(self._pool, "_threads", ())):
                worker.join(max(0.0, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- work ------------------------------------------------------------------------------
    def submit(self, path: str, args: tuple[int, ...], eta: datetime | None) -> None:
        """Run the task `path(*args)` at `eta` (wall clock) or at once."""
        due = time.time() if eta is None else eta.timestamp()
        with self._wake:
            if self._stopping:
                return
            heapq.heappush(self._tasks, (due, next(self._seq), path, args))
            self._wake.notify_all()

    def _loop(self) -> None:
        # every job runs soon after the start (the lease keeps it to one run across processes)
        # then every `every`; the clock for periodic jobs is monotonic
        next_run = {job.name: time.monotonic() for job in self.jobs}
        while True:
            with self._wake:
                if self._stopping:
                    return
                due_tasks = []
                now_wall = time.time()
                while self._tasks and self._tasks[0][0] <= now_wall:
                    due_tasks.append(heapq.heappop(self._tasks))
            try:
                for _, _, path, args in due_tasks:
                    self._pool.submit(runtime.run_task, path, *args)
                now = time.monotonic()
                for job in self.jobs:
                    if next_run[job.name] <= now:
                        next_run[job.name] = now + job.every.total_seconds()
                        self._start_job(job)
            except RuntimeError:  # the pool was shut down under us: stopping
                return
            except Exception:
                log.exception("the embedded scheduler's loop failed; it goes on")
            with self._wake:
                if self._stopping:
                    return
                wait = min(next_run.values(), default=time.monotonic() + TICK) - time.monotonic()
                if self._tasks:
                    wait = min(wait, self._tasks[0][0] - time.time())
                self._wake.wait(max(0.01, min(wait, TICK)))

    def _start_job(self, job: PeriodicJob) -> None:
        with self._wake:
            if job.name in self._running:
                return  # still running here since the last time: no queue of runs builds up
            self._running.add(job.name)
        self._pool.submit(self._run_job, job.name)

    def _run_job(self, name: str) -> None:
        try:
            runtime.run_job(name)
        finally:
            with self._wake:
                self._running.discard(name)


_current: EmbeddedScheduler | None = None


def start() -> EmbeddedScheduler:
    """Start this process's scheduler (once); `stop()` ends it."""
    global _current
    if _current is None or not _current.alive:
        _current = EmbeddedScheduler().start()
    return _current


def running_here() -> bool:
    """Whether this process runs the embedded scheduler (a thread of it, alive)."""
    return _current is not None and _current.alive


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


# --- a process of its own (for gunicorn's forking master) ----------------------------------------
CHILD = (
    "import os, sys, django; "
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'watchfloor.settings'); django.setup(); "
    "from watchfloor.jobs.embedded import process_main; process_main(int(sys.argv[1]))"
)


def process_main(parent: int) -> None:
    """The child's life: the scheduler until SIGTERM, or until its parent is gone."""
    scheduler = start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us after its server
    while not done.wait(1.0):
        if os.getppid() != parent:  # the server went away without stopping us
            break
    scheduler.stop()


class SchedulerProcess:
    """The embedded scheduler in a child process of its own (`python -c CHILD`): a fresh
    interpreter inherits no connection, pool or thread of the server. A plain subprocess, not
    `multiprocessing`: gunicorn forks its workers with os.fork, and multiprocessing's exit
    handler in a forked worker would terminate "its" daemonic children, this scheduler among
    them, whenever a worker exits."""

    def __init__(self):
        self._process: subprocess.Popen | None = None
        self._owner = 0  # the pid that started the child: only it stops it

    def start(self) -> SchedulerProcess:
        self._owner = os.getpid()
        self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-c", CHILD, str(os.getpid())],
            stdin=subprocess.DEVNULL,
        )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        process = self._process
        # a gunicorn worker forked from the server unwinds through the same `finally` when it
        # exits: the scheduler is not its child, and stopping it is the server's business
        if process is None or os.getpid() != self._owner or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None


def start_process() -> SchedulerProcess:
    return SchedulerProcess().start()


def start_for_server(*, forking: bool):
    """What `serve` and `demo` call before serving: the embedded scheduler when jobs are not
    Celery's (JOBS_BACKEND "embedded", the default without REDIS_URL), else None. `forking`:
    the server forks its workers (gunicorn), so the scheduler gets a process of its own.
    The answer has `stop()`; call it once the server returned."""
    from django.conf import settings

    if settings.JOBS_BACKEND != "embedded":
        return None
    return start_process() if forking else start()
