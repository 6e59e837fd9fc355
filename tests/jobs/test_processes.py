"""The runtime in real processes: the embedded scheduler inside `watchfloor serve` (SQLite, no
Redis), and Celery: `watchfloor worker` and `watchfloor beat` on PostgreSQL + Redis.

The processes get a schedule of their own (ci_schedule.py: a job every second, and a slow one
that takes longer than its interval) and a database of their own; waits poll with a deadline;
each process runs in its own process group and is stopped by its id.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support_databases import scratch_database

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "watchfloor.cli"]
DEADLINE = 120.0  # seconds: a loaded 2-core machine starts Celery slowly


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "WATCHFLOOR_DEMO", "WATCHFLOOR_SECRET_KEY"}
    }
    env.update(
        WATCHFLOOR_HOME=str(home),
        DJANGO_SETTINGS_MODULE="watchfloor.settings",
        WATCHFLOOR_JOBS_SCHEDULE="ci_schedule.SCHEDULE",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        WATCHFLOOR_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    home = env["WATCHFLOOR_HOME"]
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, cwd=home
    )
    assert done.returncode == 0, done.stderr[-4000:]


@contextmanager
def _process(env: dict[str, str], log: Path, *args: str):
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*CLI, *args],
            env=env,
            cwd=env["WATCHFLOOR_HOME"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped by its id only
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is None:  # the process itself: it stops its children (warm shutdown)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    with contextlib.suppress(ProcessLookupError):  # what it started goes with it
        os.killpg(process.pid, signal.SIGKILL)


def _wait_for(what: str, check, logs: list[Path], deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"{what}: not within {deadline:.0f}s\n{tails}")
        time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- embedded: watchfloor serve without Redis ----------------------------------------------------
def _sqlite_runs(path: Path, job: str) -> list[tuple]:
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=5) as db:
        try:
            return db.execute(
                "SELECT outcome, node FROM jobs_jobrun WHERE job = ? ORDER BY id", (job,)
            ).fetchall()
        except sqlite3.OperationalError:  # not migrated yet / locked
            return []


@pytest.mark.parametrize("wsgi", [False, True], ids=["uvicorn", "gunicorn"])
def test_serve_runs_the_periodic_jobs_without_redis(tmp_path, wsgi):
    env = _env(tmp_path, WATCHFLOOR_SECURE_COOKIES="0")
    for name in ("DATABASE_URL", "REDIS_URL", "WATCHFLOOR_JOBS_BACKEND"):
        env.pop(name, None)
    _manage(env, "migrate", "--no-input")
    db = tmp_path / "watchfloor.sqlite3"
    log = tmp_path / "serve.log"
    args = ["serve", "--port", str(_free_port()), "--log-level", "warning"]
    if wsgi:
        args += ["--wsgi", "--workers", "2"]
    with _process(env, log, *args) as server:
        runs = _wait_for(
            "two successful ci.tick runs",
            lambda: [r for r in _sqlite_runs(db, "ci.tick") if r[0] == "ok"][1:],
            [log],
        )
        nodes = {node.rsplit(":", 1)[-1] for _, node in runs}
        if wsgi:  # the scheduler has a process of its own, not gunicorn's master or a worker
            assert str(server.pid) not in nodes
        else:
            assert nodes == {str(server.pid)}
        server.send_signal(signal.SIGTERM)  # the server only: it stops its scheduler itself
        server.wait(30)

        def group_gone() -> bool:
            try:
                os.killpg(server.pid, 0)
            except ProcessLookupError:
                return True
            return False

        _wait_for("every process of the server gone", group_gone, [log], deadline=30)
    assert "Traceback" not in log.read_text()


# --- Celery: watchfloor worker + watchfloor beat on PostgreSQL and Redis -------------------------
@pytest.fixture
def celery_env(tmp_path):
    """A fresh PostgreSQL database and a Celery queue of its own for the processes."""
    url = os.environ.get("DATABASE_URL", "").strip()
    redis = os.environ.get("REDIS_URL", "").strip()
    if not url.startswith("postgres") or not redis:
        reason = "needs PostgreSQL and Redis (DATABASE_URL=postgres://..., REDIS_URL)"
        if os.environ.get("WATCHFLOOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"WATCHFLOOR_REQUIRE_POSTGRES=1 but the Celery test {reason}")
        pytest.skip(reason)
    queue = f"watchfloor-ci-{uuid.uuid4().hex[:10]}"
    with scratch_database(url, "jobs") as (database, conninfo):
        env = _env(tmp_path, DATABASE_URL=database, WATCHFLOOR_CELERY_QUEUE=queue)
        env.pop("WATCHFLOOR_JOBS_BACKEND", None)
        _manage(env, "migrate", "--no-input")
        yield env, conninfo, queue


def _pg_rows(conninfo: dict, query: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(**conninfo) as connection:
        return connection.execute(query, params).fetchall()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_worker_and_beat_run_jobs_once_at_a_time_and_tasks_at_their_eta(
    celery_env, tmp_path, settings
):
    env, db, queue = celery_env
    logs = [tmp_path / f"{name}.log" for name in ("worker1", "worker2", "beat1", "beat2")]
    with (
        _process(env, logs[0], "worker", "--concurrency", "2", "--hostname", "w1@%h"),
        _process(env, logs[1], "worker", "--concurrency", "2", "--hostname", "w2@%h"),
        _process(env, logs[2], "beat"),
        _process(env, logs[3], "beat"),
    ):
        # beat sends the job, a worker runs it, the run is recorded
        _wait_for(
            "a ci.tick run by a worker",
            lambda: _pg_rows(db, "SELECT 1 FROM jobs_jobrun WHERE job='ci.tick' AND outcome='ok'"),
            logs,
        )
        # a task with an eta, sent from here (the web side) through the same queue: it runs
        # once, not before its time (it fails on purpose: the task takes no argument, so the
        # run is recorded, with the time it ran)
        from watchfloor.celery import app
        from watchfloor.jobs import runtime

        settings.JOBS_BACKEND = "celery"
        path = "watchfloor.maintenance.tasks.announce_maintenance_transitions"
        eta = datetime.now(UTC) + timedelta(seconds=4)
        default_queue = app.conf.task_default_queue
        app.conf.task_default_queue = queue
        try:
            runtime.enqueue(path, 42, eta=eta)  # no transaction here: sent at once
        finally:
            app.conf.task_default_queue = default_queue
        task_runs = _wait_for(
            "the enqueued task",
            lambda: _pg_rows(db, "SELECT started_at, error FROM jobs_jobrun WHERE job=%s", (path,)),
            logs,
        )
        assert task_runs[0][0] >= eta - timedelta(milliseconds=500)
        assert task_runs[0][1].startswith("TypeError")
        # the slow job: two beats send it twice a second to four worker processes
        _wait_for(
            "three ci.slow runs and a skipped one",
            lambda: (
                len(_pg_rows(db, "SELECT 1 FROM jobs_jobrun WHERE job='ci.slow' AND outcome='ok'"))
                >= 3
                and _pg_rows(
                    db, "SELECT 1 FROM jobs_jobrun WHERE job='ci.slow' AND outcome='skipped'"
                )
            ),
            logs,
        )
    assert len(_pg_rows(db, "SELECT 1 FROM jobs_jobrun WHERE job=%s", (path,))) == 1
    runs = _pg_rows(
        db,
        "SELECT started_at, finished_at, node FROM jobs_jobrun WHERE job='ci.slow' "
        "AND outcome IN ('ok', 'running') ORDER BY started_at",
    )
    for before, after in itertools.pairwise(runs):
        assert before[1] is not None and after[0] >= before[1], (before, after)  # never at once
    assert len({node for _, _, node in runs}) >= 1
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
