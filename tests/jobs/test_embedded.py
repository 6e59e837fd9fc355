"""The embedded scheduler's timing, with the runtime replaced by recorders (no database): every
job at the start and then on its interval, never two runs of one job at once in the process,
timed tasks at their time, a clean stop. Waits are bounded polls on events, never fixed sleeps."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from watchfloor.jobs import embedded, runtime
from watchfloor.jobs.schedule import PeriodicJob

WAIT = 20.0


def _until(condition, what: str, timeout: float = WAIT) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"never: {what}"
        time.sleep(0.01)


@pytest.fixture
def recorded(monkeypatch):
    runs: Counter = Counter()
    tasks: list[tuple] = []
    gate = threading.Event()
    lock = threading.Lock()

    def run_job(name):
        with lock:
            runs[name] += 1
        if name == "blocked":
            gate.wait(WAIT)

    def run_task(path, *args):
        with lock:
            tasks.append((path, args, time.time()))

    monkeypatch.setattr(runtime, "run_job", run_job)
    monkeypatch.setattr(runtime, "run_task", run_task)
    yield runs, tasks, gate
    gate.set()


def _jobs(*specs):
    return tuple(PeriodicJob(name, timedelta(seconds=s), "x.y") for name, s in specs)


def test_each_job_runs_at_the_start_then_on_its_interval(recorded):
    runs, _, _ = recorded
    scheduler = embedded.EmbeddedScheduler(_jobs(("fast", 0.05), ("hourly", 3600))).start()
    try:
        _until(lambda: runs["fast"] >= 5, "five fast runs")
        assert runs["hourly"] == 1  # once at the start, not again within the hour
    finally:
        scheduler.stop()
    assert not scheduler.alive


def test_a_job_still_running_here_is_not_started_again(recorded):
    runs, _, gate = recorded
    scheduler = embedded.EmbeddedScheduler(_jobs(("blocked", 0.05), ("fast", 0.05))).start()
    try:
        _until(lambda: runs["fast"] >= 10, "ten intervals")
        assert runs["blocked"] == 1  # its intervals passed while it ran: no queue of runs
        gate.set()
        _until(lambda: runs["blocked"] >= 2, "the next run once it finished")
    finally:
        scheduler.stop()


def test_tasks_run_at_their_time_and_enqueue_reaches_the_scheduler(
    recorded, settings, db, django_capture_on_commit_callbacks
):
    _, tasks, _ = recorded
    settings.JOBS_BACKEND = "embedded"
    scheduler = embedded.EmbeddedScheduler(_jobs(("hourly", 3600))).start()
    try:
        later = datetime.now(UTC) + timedelta(seconds=0.4)
        with django_capture_on_commit_callbacks(execute=True):
            runtime.enqueue("watchfloor.oncall.tasks.take_escalation_step", 1, 7, eta=later)
            runtime.enqueue("watchfloor.oncall.tasks.take_escalation_step", 2, 8)
        scheduler.submit("watchfloor.oncall.tasks.never", (3,), datetime.now(UTC) + timedelta(1))
        _until(lambda: len(tasks) >= 2, "both due tasks")
        assert [t[1] for t in tasks] == [(2, 8), (1, 7)]  # at once first, then the later one
        assert tasks[1][2] >= later.timestamp() - 0.05
    finally:
        scheduler.stop()
    assert len(tasks) == 2  # the one due tomorrow was dropped at the stop, not run
    assert runtime._local_scheduler is None  # enqueue no longer hands anything to it


def test_stop_waits_for_runs_in_progress(recorded):
    runs, _, gate = recorded
    scheduler = embedded.EmbeddedScheduler(_jobs(("blocked", 3600))).start()
    _until(lambda: runs["blocked"] == 1, "the run")
    threading.Timer(0.2, gate.set).start()
    scheduler.stop(timeout=WAIT)
    assert not scheduler.alive
    assert all(not t.is_alive() for t in scheduler._pool._threads)
