"""run_job, the lease, run_task and enqueue (watchfloor.jobs.runtime)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import job_targets
import pytest
import time_machine
from django.utils import timezone

import watchfloor.maintenance.tasks as maintenance_tasks
from support_jobs import task_queue
from watchfloor.jobs import runtime
from watchfloor.jobs.models import JobLease, JobRun, Outcome
from watchfloor.jobs.retention import prune_runs

__all__ = ["task_queue"]

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- run_job -------------------------------------------------------------------------------------
def test_a_run_is_recorded_with_its_counts_and_releases_the_lease(db, schedule):
    with time_machine.travel(T0, tick=False):
        run = runtime.run_job("test.ok")
    run.refresh_from_db()
    assert run.outcome == Outcome.OK and run.job == "test.ok"
    assert run.result == {"done": 3, "flag": 1}  # numbers only: text never reaches the record
    assert run.started_at == T0 and run.finished_at == T0 and run.duration_ms >= 0
    assert run.node and run.error == ""
    lease = JobLease.objects.get(job="test.ok")
    assert lease.expires_at <= T0  # released: the next run anywhere may take it
    assert job_targets.CALLS == ["ok"]


def test_a_number_is_recorded_as_a_count(db, schedule):
    assert runtime.run_job("test.number").result == {"count": 7}


def test_a_failing_job_is_a_failed_run_with_its_error_cut_and_never_raises(db, schedule):
    run = runtime.run_job("test.boom")
    run.refresh_from_db()
    assert run.outcome == Outcome.FAILED
    assert run.error.startswith("ValueError: boom xxx") and len(run.error) == 2000
    assert run.finished_at is not None and run.result == {}
    # the lease is given back even after a failure
    assert runtime.acquire_lease("test.boom", "someone else", timedelta(seconds=5))


@pytest.mark.parametrize("name", ["test.missing", "test.nomodule"])
def test_a_target_that_cannot_be_imported_is_a_failed_run(db, schedule, name):
    run = runtime.run_job(name)
    assert run.outcome == Outcome.FAILED and run.pk is not None
    assert run.error.startswith(("ImportError", "ModuleNotFoundError"))


def test_an_unknown_job_is_a_failed_run(db, schedule):
    run = runtime.run_job("test.nobody")
    assert run.outcome == Outcome.FAILED and run.error.startswith("LookupError")
    assert JobRun.objects.filter(job="test.nobody", outcome=Outcome.FAILED).count() == 1


def test_a_failure_is_logged_once_and_its_recovery_once(db, schedule, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="watchfloor.jobs.runtime")
    for _ in range(3):
        runtime.run_job("test.boom")
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "ValueError" in failures[0].getMessage()
    assert "xxx" not in failures[0].getMessage()  # the message (it may hold data) is not logged
    monkeypatch.setattr(job_targets, "boom", job_targets.ok)
    caplog.clear()
    runtime.run_job("test.boom")
    runtime.run_job("test.boom")
    recovered = [r for r in caplog.records if "runs again" in r.getMessage()]
    assert len(recovered) == 1


# --- the lease -----------------------------------------------------------------------------------
def test_a_job_held_elsewhere_is_skipped_until_the_lease_expires(db, schedule):
    with time_machine.travel(T0, tick=False):
        assert runtime.acquire_lease("test.ok", "other-node:1:abc", timedelta(minutes=2))
        run = runtime.run_job("test.ok")
        assert run.outcome == Outcome.SKIPPED and job_targets.CALLS == []
    with time_machine.travel(T0 + timedelta(minutes=1, seconds=59), tick=False):
        assert runtime.run_job("test.ok").outcome == Outcome.SKIPPED
    # the other process died mid-run: after its lease, the job is ours again
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert runtime.run_job("test.ok").outcome == Outcome.OK
    assert job_targets.CALLS == ["ok"]


def test_the_lease_is_taken_only_when_expired_or_already_ours(db):
    lease = timedelta(seconds=60)
    with time_machine.travel(T0, tick=False):
        assert runtime.acquire_lease("j", "a", lease)  # first: inserted
        assert not runtime.acquire_lease("j", "b", lease)
        assert runtime.acquire_lease("j", "a", lease)  # renewal by its holder
        runtime.release_lease("j", "b")  # not b's: nothing changes
        assert not runtime.acquire_lease("j", "b", lease)
        runtime.release_lease("j", "a")
        assert runtime.acquire_lease("j", "b", lease)
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        assert runtime.acquire_lease("j", "c", lease)
    assert JobLease.objects.get(job="j").holder == "c"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_processes_get_one_lease():
    """Threads with their own connections race for one expired lease: one winner each round."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(6)
    for round_ in range(5):
        JobLease.objects.update_or_create(
            job="race", defaults={"holder": "", "expires_at": timezone.now() - timedelta(1)}
        )
        wins = []

        def race(i, round_=round_, wins=wins):
            try:
                barrier.wait(timeout=10)
                if runtime.acquire_lease("race", f"h{round_}-{i}", timedelta(minutes=1)):
                    wins.append(i)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert len(wins) == 1, wins


# --- tasks ---------------------------------------------------------------------------------------
def test_run_task_records_a_failure_under_the_path_and_nothing_on_success(db, monkeypatch):
    seen = []
    monkeypatch.setattr(maintenance_tasks, "probe", seen.append, raising=False)
    assert runtime.run_task("watchfloor.maintenance.tasks.probe", 5) is None
    assert seen == [5] and not JobRun.objects.exists()

    def broken(pk):
        raise KeyError(pk)

    monkeypatch.setattr(maintenance_tasks, "probe", broken, raising=False)
    run = runtime.run_task("watchfloor.maintenance.tasks.probe", 9)
    assert run.outcome == Outcome.FAILED and run.error == "KeyError: 9"
    assert JobRun.objects.get().job == "watchfloor.maintenance.tasks.probe"


@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("os.system", ()),
        ("watchfloor.jobs.runtime.run_job", ()),  # not a tasks module
        ("watchfloor.maintenance.services.announce_transitions", ()),
        ("watchfloor.maintenance.tasks.x\x00", ()),
        ("watchfloor.maintenance.tasks.announce_maintenance_transitions", ("1",)),
        ("watchfloor.maintenance.tasks.announce_maintenance_transitions", (True,)),
        ("watchfloor.maintenance.tasks.announce_maintenance_transitions", (2**64,)),
        ("watchfloor.maintenance.tasks.announce_maintenance_transitions", (-1,)),
    ],
)
def test_only_task_functions_with_primary_keys_are_accepted(db, path, args):
    with pytest.raises(ValueError):
        runtime.enqueue(path, *args)
    # and a message naming one anyway (a forged Celery message) runs nothing
    run = runtime.run_task(path, *args)
    assert run.outcome == Outcome.FAILED and run.error.startswith("ValueError")


def test_enqueue_hands_the_task_over_only_after_commit(
    db, task_queue, django_capture_on_commit_callbacks
):
    eta = T0 + timedelta(minutes=5)
    path = "watchfloor.maintenance.tasks.announce_maintenance_transitions"
    with django_capture_on_commit_callbacks(execute=True):
        runtime.enqueue(path, eta=eta)
        assert task_queue.calls == []  # not before the commit
    assert task_queue.calls == [(path, (), eta)]
    with pytest.raises(ValueError):
        runtime.enqueue(path, eta=datetime(2026, 1, 1))  # naive


def test_task_queue_runs_what_is_due_as_time_moves(
    db, task_queue, monkeypatch, django_capture_on_commit_callbacks
):
    seen = []
    monkeypatch.setattr(maintenance_tasks, "probe", seen.append, raising=False)
    path = "watchfloor.maintenance.tasks.probe"
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            runtime.enqueue(path, 1)
            runtime.enqueue(path, 2, eta=T0 + timedelta(minutes=2))
        assert task_queue.run_due() == 1 and seen == [1]
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert task_queue.run_due() == 1 and seen == [1, 2]


def test_with_celery_enqueue_sends_the_generic_task(
    db, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from watchfloor.celery import app

    sent = []

    def send_task(name, *, producer, **kw):
        sent.append((name, kw, producer))

    monkeypatch.setattr(app, "send_task", send_task)
    settings.JOBS_BACKEND = "celery"
    eta = T0 + timedelta(minutes=1)
    path = "watchfloor.oncall.tasks.take_escalation_step"
    with django_capture_on_commit_callbacks(execute=True):
        runtime.enqueue(path, 4, 2, eta=eta)
        runtime.enqueue_many(path, [((5, 1), eta), ((6, 1), None)])
    assert [(name, kw) for name, kw, _ in sent] == [
        (runtime.CELERY_RUN_TASK, {"args": [path, 4, 2], "eta": eta}),
        (runtime.CELERY_RUN_TASK, {"args": [path, 5, 1], "eta": eta}),
        (runtime.CELERY_RUN_TASK, {"args": [path, 6, 1], "eta": None}),
    ]
    # a batch goes through one producer
    assert sent[1][2] is sent[2][2] and sent[1][2] is not None


def test_a_broker_that_is_down_never_fails_the_caller(
    db, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from watchfloor.celery import app

    def down(*a, **kw):
        raise ConnectionError("redis down")

    monkeypatch.setattr(app, "send_task", down)
    settings.JOBS_BACKEND = "celery"
    with django_capture_on_commit_callbacks(execute=True):
        runtime.enqueue("watchfloor.maintenance.tasks.announce_maintenance_transitions")
    assert "could not be queued" in caplog.text


def test_embedded_enqueue_goes_to_this_process_scheduler_or_nowhere(
    db, settings, django_capture_on_commit_callbacks
):
    settings.JOBS_BACKEND = "embedded"
    got = []

    class Local:
        def submit(self, path, args, eta):
            got.append((path, args, eta))

    path = "watchfloor.maintenance.tasks.announce_maintenance_transitions"
    with django_capture_on_commit_callbacks(execute=True):
        runtime.enqueue(path)  # no scheduler in this process: nothing happens, nothing fails
    runtime.set_local_scheduler(Local())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            runtime.enqueue(path)
    finally:
        runtime.set_local_scheduler(None)
    assert got == [(path, (), None)]


# --- retention -----------------------------------------------------------------------------------
def test_prune_deletes_old_runs_in_batches(db, settings):
    settings.JOBS_RUN_RETENTION_DAYS = 7
    for days in (30, 10, 8, 6, 1):
        JobRun.objects.create(job="x", started_at=T0 - timedelta(days=days), outcome=Outcome.OK)
    stuck = JobRun.objects.create(job="y", started_at=T0 - timedelta(hours=25))
    JobRun.objects.create(job="y", started_at=T0 - timedelta(hours=2))  # may still run
    with time_machine.travel(T0, tick=False):
        assert prune_runs(batch=2) == {"deleted": 3, "abandoned": 1}
    assert sorted((T0 - r.started_at).days for r in JobRun.objects.filter(job="x")) == [1, 6]
    stuck.refresh_from_db()
    assert stuck.outcome == Outcome.FAILED and stuck.error.startswith("Abandoned")
    assert JobRun.objects.filter(job="y", outcome=Outcome.RUNNING).count() == 1


def test_the_real_schedule_names_existing_or_announced_targets():
    from watchfloor.jobs.schedule import SCHEDULE

    names = [job.name for job in SCHEDULE]
    assert len(names) == len(set(names))
    assert {
        "maintenance.transitions",
        "escalation.sweep",
        "notifications.send_due",
        "oncall.refresh_calendars",
        "jobs.prune_runs",
        "platform.sample",
        "incidents.rules_sweep",
        "incidents.sla_breaches",
        "incidents.paging",
        "retention.enforce",
        "operations.feed_rules",
        "snapshots.compute",
        "snapshots.refresh_views",
        "operations.heartbeats",
        "reports.rollup",
    } == set(names)
    for job in SCHEDULE:
        assert job.target.startswith("watchfloor.")
        assert job.stale_period >= job.every * 2


# --- in threads with their own connections (PostgreSQL) -----------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_longer_than_its_lease_keeps_it_and_others_are_skipped(settings):
    """The lease is renewed while the run lasts: another process trying meanwhile is skipped."""
    import threading

    from watchfloor.jobs.schedule import PeriodicJob

    settings.JOBS_SCHEDULE = (
        PeriodicJob(
            "test.long",
            timedelta(seconds=1),
            "job_targets.wait_for_renewal",
            lease=timedelta(milliseconds=300),
        ),
    )
    done = {}
    worker = threading.Thread(target=lambda: done.setdefault("run", runtime.run_job("test.long")))
    worker.start()
    try:
        deadline = timezone.now() + timedelta(seconds=15)
        while not JobLease.objects.filter(job="test.long").exists():
            assert timezone.now() < deadline
        first_expiry = JobLease.objects.get(job="test.long").expires_at
        while timezone.now() <= first_expiry:  # past the lease it took at the start ...
            assert timezone.now() < deadline
        others = []  # ... the run still holds the job
        while worker.is_alive() and len(others) < 3:
            others.append(runtime.run_job("test.long").outcome)
    finally:
        worker.join(20)
    assert done["run"].outcome == Outcome.OK and done["run"].result == {"renewals": 8}
    assert others and set(others) == {Outcome.SKIPPED}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_in_a_thread_gives_its_connection_back(schedule):
    import threading

    from django.db import connections

    held = {}

    def in_a_worker_thread():
        runtime.run_job("test.ok")
        held["ok"] = connections["default"].connection
        runtime.run_task("watchfloor.maintenance.tasks.announce_maintenance_transitions")
        held["task"] = connections["default"].connection

    thread = threading.Thread(target=in_a_worker_thread)
    thread.start()
    thread.join(20)
    assert held == {"ok": None, "task": None}


def test_runs_and_tasks_are_counted_for_prometheus(db, schedule):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0

    before = {
        "ok": value("watchfloor_job_runs_total", job="test.ok", outcome="ok"),
        "failed": value("watchfloor_job_runs_total", job="test.boom", outcome="failed"),
        "unknown": value("watchfloor_job_runs_total", job="unknown", outcome="failed"),
        "timed": value("watchfloor_job_duration_seconds_count", job="test.ok"),
        "task": value("watchfloor_tasks_total", task="invalid", outcome="failed"),
    }
    runtime.run_job("test.ok")
    runtime.run_job("test.boom")
    runtime.run_job("made.up.name")  # a forged message never adds a label value
    runtime.run_task("os.system", 1)
    assert value("watchfloor_job_runs_total", job="test.ok", outcome="ok") == before["ok"] + 1
    assert (
        value("watchfloor_job_runs_total", job="test.boom", outcome="failed")
        == before["failed"] + 1
    )
    assert (
        value("watchfloor_job_runs_total", job="unknown", outcome="failed") == before["unknown"] + 1
    )
    assert value("watchfloor_job_duration_seconds_count", job="test.ok") == before["timed"] + 1
    assert value("watchfloor_tasks_total", task="invalid", outcome="failed") == before["task"] + 1


def test_a_broken_schedule_is_a_failed_run_not_an_exception(db, settings):
    from watchfloor.jobs.schedule import PeriodicJob

    settings.JOBS_SCHEDULE = (
        PeriodicJob("twice", timedelta(seconds=5), "job_targets.ok"),
        PeriodicJob("twice", timedelta(seconds=9), "job_targets.ok"),
    )
    run = runtime.run_job("twice")
    assert run.outcome == Outcome.FAILED and "share a name" in run.error
    settings.JOBS_SCHEDULE = "no.such.module.SCHEDULE"
    assert runtime.run_job("twice").outcome == Outcome.FAILED


def test_a_run_left_running_by_a_dead_process_is_closed_by_the_next_run(db, settings):
    from watchfloor.jobs.models import ABANDONED
    from watchfloor.jobs.schedule import PeriodicJob

    settings.JOBS_SCHEDULE = [PeriodicJob("x", timedelta(seconds=30), "builtins.dict")]
    left = JobRun.objects.create(job="x", started_at=timezone.now() - timedelta(minutes=5))
    other = JobRun.objects.create(job="other", started_at=timezone.now())  # another job's
    run = runtime.run_job("x")
    assert run.outcome == Outcome.OK
    left.refresh_from_db()
    other.refresh_from_db()
    assert (left.outcome, left.error) == (Outcome.FAILED, ABANDONED)
    assert left.finished_at is not None
    assert other.outcome == Outcome.RUNNING
