"""/api/health/'s broker and workers components, /api/health/live and /api/health/ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from watchfloor.jobs import queries
from watchfloor.jobs.models import JobRun, Outcome
from watchfloor.jobs.schedule import PeriodicJob
from watchfloor.platform import health

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def one_job(monkeypatch):
    """A schedule of one job every 30 s (stale after 90 s); the process started at T0."""
    job = PeriodicJob(name="test.tick", every=timedelta(seconds=30), target="x.y")
    monkeypatch.setattr(health, "schedule", lambda: [job])
    monkeypatch.setattr(queries, "UP_SINCE", T0)
    monkeypatch.setattr(queries, "_installed_at", T0 - timedelta(days=30))
    return job


def _finished_run(at: datetime) -> JobRun:
    return JobRun.objects.create(
        job="test.tick", node="h:1", started_at=at, finished_at=at, outcome=Outcome.OK
    )


def test_workers_are_ok_while_a_job_run_finished_lately(db, one_job):
    _finished_run(T0 + timedelta(minutes=5))
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        component = health._timed(health._workers)
    assert component["status"] == "ok"
    assert component["last_run_at"] == (T0 + timedelta(minutes=5)).isoformat()


def test_workers_are_stale_when_no_run_finished_within_the_stale_period(db, client, one_job):
    _finished_run(T0 + timedelta(minutes=5))
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=91), tick=False):
        answer = client.get("/api/health/")
    assert answer.status_code == 200  # the node still serves
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["components"]["workers"]["status"] == "stale"


def test_workers_are_not_stale_right_after_a_start(db, one_job):
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        assert health._timed(health._workers)["status"] == "ok"  # no run yet, none was due


def test_broker_without_redis_is_in_process(settings):
    settings.CELERY_BROKER_URL = "memory://"
    assert health._timed(health._broker) | {"latency_ms": 0} == {
        "status": "ok",
        "latency_ms": 0,
        "backend": "in-process",
    }


def test_an_unreachable_broker_degrades_without_leaking_its_url(settings):
    # port 1 on localhost: nothing listens, the connection is refused at once
    settings.CELERY_BROKER_URL = "redis://:s3cret@127.0.0.1:1/0"
    component = health._timed(health._broker)
    assert component["status"] == "stale"
    assert component["error"] == "ConnectionError"
    assert "s3cret" not in str(component)


def test_live_touches_no_dependency(client):
    answer = client.get("/api/health/live")  # no `db` fixture: a query would raise
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer["Cache-Control"].startswith("max-age=0")


def test_ready_when_the_database_is_migrated(db, client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    answer = client.get("/api/health/ready")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["migrations"]["status"] == "ok"


def test_not_ready_with_unapplied_migrations(db, client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(
        health.MigrationExecutor, "migration_plan", lambda self, targets: [("pending", False)]
    )
    answer = client.get("/api/health/ready")
    assert answer.status_code == 503
    assert answer.json()["components"]["migrations"] == {
        "status": "error",
        "latency_ms": answer.json()["components"]["migrations"]["latency_ms"],
        "error": "unapplied migrations",
    }


def test_not_ready_when_the_database_is_down(db, client, monkeypatch):
    def refuse():
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(health, "_database", refuse)
    answer = client.get("/api/health/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["components"]["database"]["status"] == "error"
    assert "migrations" not in body["components"]


def test_probes_refuse_other_methods(client):
    assert client.post("/api/health/live").status_code == 405
    assert client.post("/api/health/ready").status_code == 405


def test_ingestion_reports_no_lag_and_each_sources_newest_event(db, client):
    from django.utils import timezone

    from watchfloor.platform.models import PlatformSample

    now = timezone.now()
    newest = now - timedelta(minutes=3)
    PlatformSample.objects.create(
        node="web-a:1",
        at=now - timedelta(minutes=1),
        figures={
            "alerts_per_min_by_source": {"alertmanager": 12.0},
            "last_event_by_source": {"alertmanager": newest.isoformat()},
        },
    )
    body = client.get("/api/health/").json()
    ingestion = body["components"]["ingestion"]
    assert ingestion["status"] == "ok" and ingestion["latency_ms"] >= 0
    assert ingestion["pipeline"] == "staged" and ingestion["lag_seconds"] == 0
    assert (ingestion["pending_batches"], ingestion["pending_events"]) == (0, 0)
    assert ingestion["sources"] == {
        "alertmanager": {"last_event_at": newest.isoformat(), "per_min_5": 12.0}
    }
