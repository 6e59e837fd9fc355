"""Job status: staleness (jobs.queries), /api/health/'s jobs component, the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from watchfloor.jobs import queries, runtime
from watchfloor.jobs.models import Outcome

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def started(monkeypatch):
    """This process started at T0, the jobs app was installed long before."""
    monkeypatch.setattr(queries, "UP_SINCE", T0)
    monkeypatch.setattr(queries, "_installed_at", T0 - timedelta(days=30))


# --- staleness ---------------------------------------------------------------------------------
def test_nothing_is_stale_within_the_stale_period_after_a_start(db, schedule, started):
    with time_machine.travel(T0 + timedelta(seconds=89), tick=False):
        assert queries.stale_jobs() == []
    with time_machine.travel(T0 + timedelta(seconds=91), tick=False):  # 3 × 30 s
        assert queries.stale_jobs() == ["test.ok", "test.boom", "test.missing", "test.nomodule"]
    with time_machine.travel(T0 + timedelta(minutes=3, seconds=1), tick=False):  # 3 × 1 min
        assert "test.number" in queries.stale_jobs()


def test_a_fresh_database_is_not_stale_before_a_job_could_run(db, schedule, monkeypatch):
    monkeypatch.setattr(queries, "UP_SINCE", T0 - timedelta(days=3))  # a long-running process
    monkeypatch.setattr(queries, "_installed_at", T0)  # ... on a database created at T0
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        assert queries.stale_jobs() == []


def test_a_job_that_keeps_failing_or_stopped_running_is_stale(db, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        runtime.run_job("test.ok")
        runtime.run_job("test.boom")
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        stale = queries.stale_jobs()
        assert "test.ok" not in stale  # ran a minute ago
        assert "test.boom" in stale  # it runs, but never successfully
    with time_machine.travel(T0 + timedelta(minutes=6, seconds=31), tick=False):
        assert "test.ok" in queries.stale_jobs()  # no success for over 90 s


def test_skipped_runs_do_not_count_as_success(db, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        runtime.acquire_lease("test.ok", "elsewhere", timedelta(hours=1))
        assert runtime.run_job("test.ok").outcome == Outcome.SKIPPED
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        assert "test.ok" in queries.stale_jobs()


def test_stale_jobs_is_one_query(db, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        for name in ("test.ok", "test.number", "test.boom"):
            runtime.run_job(name)
        with CaptureQueriesContext(connection) as queries_run:
            queries.stale_jobs()
    assert len(queries_run) == 1


def test_job_states_show_the_last_run_and_failures(db, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        runtime.run_job("test.ok")
        runtime.run_job("test.boom")
        runtime.run_job("test.boom")
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=10), tick=False):
        runtime.acquire_lease("test.ok", "elsewhere", timedelta(hours=1))
        runtime.run_job("test.ok")  # skipped: the last run shown stays the successful one
        with CaptureQueriesContext(connection) as ran:
            states = {s.name: s for s in queries.job_states()}
    assert len(ran) <= 3
    ok = states["test.ok"]
    assert ok.last_run.outcome == Outcome.OK and ok.last_ok_at == T0 + timedelta(minutes=5)
    assert ok.next_expected_at == T0 + timedelta(minutes=5, seconds=30) and not ok.stale
    boom = states["test.boom"]
    assert boom.failures == 2 and boom.last_run.outcome == Outcome.FAILED
    assert boom.last_ok_at is None
    never = states["test.number"]
    assert never.last_run is None and never.next_expected_at == T0


# --- /api/health/ ------------------------------------------------------------------------------
def test_health_is_degraded_when_a_job_is_stale(db, client, schedule, started):
    with time_machine.travel(T0 + timedelta(seconds=30), tick=False):
        answer = client.get("/api/health/")
        assert answer.status_code == 200
        assert answer.json()["components"]["jobs"] == {
            "status": "ok",
            "latency_ms": answer.json()["components"]["jobs"]["latency_ms"],
            "stale": [],
        }
    with time_machine.travel(T0 + timedelta(minutes=9), tick=False):
        for name in ("test.ok", "test.number", "test.boom", "test.missing"):
            runtime.run_job(name)
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        answer = client.get("/api/health/")
    # the node still serves: 200 for the load balancer, "degraded" for monitoring
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["components"]["jobs"]["status"] == "stale"
    # failing (boom, missing) or never run (nomodule) for longer than their stale period
    assert body["components"]["jobs"]["stale"] == ["test.boom", "test.missing", "test.nomodule"]
    assert body["components"]["database"]["status"] == "ok"


# --- the API -----------------------------------------------------------------------------------
def test_jobs_need_configure(estate, api, schedule, started):
    for role in ("viewer", "operator", "supervisor", "executive"):
        assert api(estate.user(role)).get("/api/v1/jobs").status_code == 403
        assert api(estate.user(role)).get("/api/v1/jobs/runs").status_code == 403
    assert api().get("/api/v1/jobs").status_code == 401
    assert api(estate.user("admin")).get("/api/v1/jobs").status_code == 200


def test_a_tenant_admin_sees_times_and_outcomes_but_not_errors(estate, api, schedule, started):
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        runtime.run_job("test.boom")
        runtime.run_job("test.ok")
        answer = api(estate.user("admin")).get("/api/v1/jobs")
    assert answer.status_code == 200, answer.content
    jobs = {j["name"]: j for j in answer.json()["items"]}
    assert list(jobs) == ["test.ok", "test.number", "test.boom", "test.missing", "test.nomodule"]
    assert jobs["test.boom"]["last_run"]["outcome"] == "failed"
    assert jobs["test.boom"]["last_run"]["error"] is None
    assert jobs["test.boom"]["failures_24h"] == 1
    assert jobs["test.ok"]["every_seconds"] == 30 and jobs["test.ok"]["stale_after_seconds"] == 90
    runs = api(estate.user("admin")).get("/api/v1/jobs/runs").json()["items"]
    assert [r["job"] for r in runs] == ["test.ok", "test.boom"]
    assert all(r["error"] is None and r["result"] is None and r["node"] is None for r in runs)
    assert "boom" not in answer.content.decode().replace("test.boom", "")


def test_runs_filter_by_job_and_outcome_and_paginate(estate, api, schedule, started):
    for _ in range(3):
        runtime.run_job("test.ok")
    runtime.run_job("test.boom")
    client = api(estate.user("admin"))
    page = client.get("/api/v1/jobs/runs", job="test.ok", limit=2).json()
    assert [r["job"] for r in page["items"]] == ["test.ok", "test.ok"]
    rest = client.get("/api/v1/jobs/runs", job="test.ok", cursor=page["next_cursor"]).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    failed = client.get("/api/v1/jobs/runs", outcome="failed").json()["items"]
    assert [r["job"] for r in failed] == ["test.boom"]
    with CaptureQueriesContext(connection) as ran:
        client.get("/api/v1/jobs/runs", limit=50)
    baseline = len(ran)
    for _ in range(5):
        runtime.run_job("test.number")
    with CaptureQueriesContext(connection) as ran:
        client.get("/api/v1/jobs/runs", limit=50)
    assert len(ran) == baseline  # no query per run


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"job": "x\x00y"}, "job"),
        ({"job": "a" * 101}, "job"),
        ({"outcome": "exploded"}, "outcome"),
        ({"limit": 10**30}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "bm90YXBr"}, "cursor"),
    ],
)
def test_bad_filters_are_4xx_naming_the_field(estate, api, params, field):
    answer = api(estate.user("admin")).get("/api/v1/jobs/runs", **params)
    assert 400 <= answer.status_code < 500, answer.content
    assert field in answer.json()["error"]["fields"], answer.json()


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF", "%00"])
def test_undecodable_job_names_are_refused(estate, api, raw):
    answer = api(estate.user("admin")).get(f"/api/v1/jobs/runs?job={raw}")
    assert answer.status_code == 422, answer.content
    assert "job" in answer.json()["error"]["fields"]


def test_the_endpoints_are_in_the_openapi_document(db, client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/jobs"] and "get" in paths["/api/v1/jobs/runs"]
