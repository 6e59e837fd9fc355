"""The Workers and Service status pages and the charts' series (/platform/workers/, /status/,
/samples/): platform operators only, audited; embedded mode and Celery without workers."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from watchfloor import presence
from watchfloor.audit.models import Action, AuditLog
from watchfloor.jobs.models import JobRun, Outcome
from watchfloor.platform import workers as workers_collector
from watchfloor.platform.models import PlatformSample
from watchfloor.tenancy.models import User

PAGES = ["/platform/workers/", "/platform/status/", "/platform/samples/"]


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_a_tenants_admin_is_denied_and_the_denial_audited(client, estate, path):
    admin = estate.user("admin")
    client.force_login(admin)
    response = client.get(path)
    assert response.status_code == 403
    entry = AuditLog.objects.get(action=Action.ACCESS_DENIED)
    assert entry.actor == admin
    assert entry.details == {"requirement": "platform_operator", "method": "GET", "path": path}
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_sign_in(client, db, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_workers_page_in_embedded_mode(signed_in, operator, settings):
    settings.JOBS_BACKEND = "embedded"
    now = timezone.now()
    JobRun.objects.create(
        job="escalation.sweep",
        node="web-1:42",
        started_at=now - timedelta(minutes=1),
        finished_at=now,
        outcome=Outcome.FAILED,
        error="RuntimeError: the sweep broke",
    )
    response = signed_in.get("/platform/workers/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Celery isn't used" in page
    assert "Embedded scheduler: periodic jobs" in page
    for name in ("escalation.sweep", "platform.sample", "jobs.prune_runs"):
        assert f"<code>{name}</code>" in page
    # the failure is listed, with its error for a superuser
    assert "Recent failures" in page and "RuntimeError: the sweep broke" in page
    assert 'aria-current="page">Workers' in page
    entry = AuditLog.objects.get(action=Action.VIEW_SENSITIVE)
    assert entry.actor == operator and entry.details["page"] == "platform.workers"


def test_error_texts_are_for_superusers_only(client, db, settings):
    settings.JOBS_BACKEND = "embedded"
    staff = User.objects.create_user("ops", password="pw", is_staff=True)
    JobRun.objects.create(
        job="escalation.sweep",
        started_at=timezone.now(),
        outcome=Outcome.FAILED,
        error="RuntimeError: secret detail",
    )
    client.force_login(staff)
    page = client.get("/platform/workers/").content.decode()
    assert "escalation.sweep" in page and "secret detail" not in page
    data = client.get("/platform/workers/?format=json").json()
    assert data["workers"]["failures"][0]["error"] == ""


def test_the_workers_page_as_json(signed_in, settings):
    settings.JOBS_BACKEND = "embedded"
    data = signed_in.get("/platform/workers/?format=json").json()
    report = data["workers"]
    assert report["mode"] == "embedded" and report["celery"] is None
    assert {j["name"] for j in report["jobs"]} >= {"platform.sample", "escalation.sweep"}
    job = next(j for j in report["jobs"] if j["name"] == "platform.sample")
    assert job["every_s"] == 30 and job["next_due_at"]


def test_celery_with_the_broker_down_says_so(signed_in, settings):
    settings.JOBS_BACKEND = "celery"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = signed_in.get("/platform/workers/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Broker unreachable" in page and "The broker (Redis) is unreachable" in page


@pytest.mark.postgres
def test_celery_not_running_says_no_workers_answered(_require_postgres, signed_in, settings):
    """PostgreSQL + Redis (REDIS_URL): the broker answers, no worker does."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (the Celery broker)")
    settings.JOBS_BACKEND = "celery"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    from watchfloor.celery import app

    app.conf.broker_url = settings.REDIS_URL
    response = signed_in.get("/platform/workers/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "No workers answered" in page
    assert "Queue <code>" in page  # the broker's queue length is shown
    status = signed_in.get("/platform/status/?format=json").json()["status"]
    row = next(c for c in status["components"] if c["name"] == "workers")
    assert row["status"] == "error" and row["detail"] == "no workers answered"


def test_inspection_reads_the_answers_of_the_workers_that_pinged(monkeypatch):
    calls = []

    class FakeInspect:
        def __init__(self, **kwargs):
            calls.append(kwargs)

        def ping(self):
            return {"w1@host": {"ok": "pong"}}

        def active(self):
            return {"w1@host": [{"name": "watchfloor.jobs.run_job", "args": ["x"]}]}

        def reserved(self):
            return {"w1@host": [{}, {}]}

        def scheduled(self):
            return {"w1@host": []}

        def stats(self):
            return {
                "w1@host": {
                    "pool": {"max-concurrency": 4},
                    "total": {"watchfloor.jobs.run_job": 7, "watchfloor.jobs.run_task": 3},
                    "pid": 99,
                    "uptime": 120,
                }
            }

    from watchfloor.celery import app

    monkeypatch.setattr(app.control, "inspect", lambda **kw: FakeInspect(**kw))
    (worker,) = workers_collector.inspect_workers(timeout=0.5)
    assert worker.name == "w1@host"
    assert (worker.active, worker.reserved, worker.scheduled) == (1, 2, 0)
    assert worker.concurrency == 4 and worker.processed == 10 and worker.pid == 99
    assert worker.active_tasks == ["watchfloor.jobs.run_job"]
    # the second round asks only the workers that answered, returning once all did
    assert calls[1] == {"destination": ["w1@host"], "timeout": 0.5, "limit": 1}


def test_the_status_page_shows_each_component(signed_in, settings):
    settings.JOBS_BACKEND = "embedded"
    settings.ALERT_STAGING_HOLD_LAG, settings.ALERT_STAGING_MAX_LAG = 0.25, 30.0
    presence.announce(5, name="web-a:1")
    now = timezone.now()
    PlatformSample.objects.create(
        node="n",
        at=now - timedelta(minutes=2),
        figures={
            "alerts_per_min_by_source": {"alertmanager": 12.0},
            "last_event_by_source": {"alertmanager": (now - timedelta(minutes=3)).isoformat()},
        },
    )
    response = signed_in.get("/platform/status/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("database", "cache", "broker", "workers", "scheduler", "websocket hub"):
        assert f'data-component="{name}"' in page
    assert "0 s (nothing pending)" in page
    # what the lag means, with this node's bounds (staging: a 2xx is a staged batch)
    assert "above 0.25 s senders are held" in page and "past 30 s they are answered 503" in page
    assert "<code>alertmanager</code>" in page
    assert "<code>web-a:1</code>" in page
    assert "data-platform-charts" in page and "vendor/uplot/uPlot.iife.min.js" in page
    data = signed_in.get("/platform/status/?format=json").json()["status"]
    components = {c["name"]: c for c in data["components"]}
    assert components["database"]["status"] == "ok"
    assert components["database"]["version"].split()[0] in {"SQLite", "PostgreSQL"}
    assert components["database"]["latency_ms"] >= 0
    assert components["workers"]["version"] == "embedded scheduler (no Celery)"
    assert data["ws_by_node"] == {"web-a:1": 5}
    assert data["uptime_s"] > 0
    (source,) = data["sources"]
    assert source["source"] == "alertmanager" and source["per_min_5"] == 12.0
    assert 170 <= source["since_last_s"] <= 400


def test_the_status_page_with_a_stale_job_and_a_failure(signed_in, settings):
    settings.JOBS_BACKEND = "embedded"
    data = signed_in.get("/platform/status/?format=json").json()["status"]
    scheduler = next(c for c in data["components"] if c["name"] == "scheduler")
    # nothing has run in this test database: within the grace period or stale, never an error
    assert scheduler["status"] in {"ok", "stale"}
    assert scheduler["version"] == "embedded scheduler"


def test_samples_are_columns_for_the_charts(signed_in):
    now = timezone.now()
    PlatformSample.objects.create(
        node="n", at=now - timedelta(minutes=1), figures={"open_alerts": 3}
    )
    data = signed_in.get("/platform/samples/?minutes=60").json()
    assert data["minutes"] == 60 and len(data["t"]) == 1
    series = {s["key"]: s for s in data["series"]}
    assert series["open_alerts"]["values"] == [3]
    assert series["cpu_percent"]["values"] == [None]


@pytest.mark.parametrize("bad", ["0", "4", "1441", "abc", "-5", "1e3", "٣٠"])
def test_samples_refuse_a_bad_window_naming_the_field(signed_in, bad):
    response = signed_in.get("/platform/samples/", {"minutes": bad})
    assert response.status_code == 422
    body = json.loads(response.content)
    assert "minutes" in body["error"]["fields"]


def _queries(client, path) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def _runs(n: int):
    now = timezone.now()
    JobRun.objects.bulk_create(
        JobRun(
            job=f"job.{i % 4}",
            node="web:1",
            started_at=now - timedelta(seconds=i),
            finished_at=now,
            outcome=Outcome.FAILED if i % 2 else Outcome.OK,
        )
        for i in range(n)
    )


@pytest.mark.parametrize("path", ["/platform/workers/", "/platform/status/", "/platform/samples/"])
def test_pages_make_a_fixed_number_of_queries_whatever_the_rows(signed_in, settings, path):
    settings.JOBS_BACKEND = "embedded"
    _runs(2)
    PlatformSample.objects.create(node="n", at=timezone.now(), figures={"open_alerts": 1})
    _queries(signed_in, path)  # once: what a process remembers (migrations applied) is read
    few = _queries(signed_in, path)
    _runs(60)
    PlatformSample.objects.bulk_create(
        PlatformSample(
            node="n",
            at=timezone.now() - timedelta(seconds=30 * i),
            figures={"alerts_per_min_by_source": {f"s{i % 5}": 1.0}},
        )
        for i in range(1, 100)
    )
    assert _queries(signed_in, path) == few
    # the session, its user, the audit entry, the top bar's settings and roles, then the page's
    # own: workers 6 (heartbeat, job states 3, runs, failures), status 7 (database check and
    # version, heartbeat, stale jobs, samples twice, the staging lag), samples 1
    expected = {"/platform/workers/": 11, "/platform/status/": 12, "/platform/samples/": 5}
    assert few <= expected[path]


def test_the_status_page_shows_each_circuit_breaker_and_an_open_one(signed_in, settings):
    from django.core.cache import cache

    from watchfloor import circuit

    cache.clear()
    name = "notify:slack:deadbeef"
    for _ in range(settings.CIRCUIT_FAILURES):
        circuit.record(name, ok=False)
    try:
        page = signed_in.get("/platform/status/").content.decode()
        row = re.search(rf'<tr data-circuit="{name}">.*?</tr>', page, re.S)
        assert row and "badge--danger" in row.group(0) and ">open<" in row.group(0)
        assert '<tr data-circuit="broadcast">' in page and '<tr data-circuit="aggregation">' in page
        data = signed_in.get("/platform/status/?format=json").json()
        states = {b["name"]: b["state"] for b in data["breakers"]}
        assert states[name] == "open" and states["broadcast"] == "closed"
    finally:
        circuit.reset(name)
        cache.clear()
