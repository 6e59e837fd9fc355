"""Database down: every ingestion endpoint and the API answer 503 with Retry-After in the one
JSON error shape, pages an HTML 503 ("Database unavailable, retrying") that reloads itself;
never a 500 with a traceback and never a hang (#12 section 5)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from unittest import mock

import pytest
from django.db import OperationalError
from support_outages import free_port

from watchfloor import degrade

INGESTION = (
    "/api/v1/alerts",
    "/api/v1/integrations/native",
    "/api/v1/integrations/alertmanager",
    "/api/v2/alerts",
    "/v2/enqueue",
)
BODIES = {
    "/v2/enqueue": {
        "routing_key": "k" * 32,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "critical"},
    },
    "/api/v1/integrations/alertmanager": {"version": "4", "status": "firing", "alerts": []},
    "/api/v2/alerts": [],
}


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["error"]["code"] == "unavailable"
    assert set(body["error"]) == {"code", "message", "fields"}


@pytest.fixture
def database_down(monkeypatch):
    """Every key and token look-up fails as a database that does not answer makes it fail."""

    def unreachable(*args, **kwargs):
        raise OperationalError("connection failed: Connection refused")

    monkeypatch.setattr(
        "watchfloor.alerts.integrations.auth.authenticate_integration_key", unreachable
    )
    monkeypatch.setattr("watchfloor.access.api_auth.authenticate_api_token", unreachable)
    degrade.reset()
    yield
    degrade.reset()


@pytest.mark.django_db
@pytest.mark.parametrize("path", INGESTION)
def test_ingestion_answers_503_with_retry_after(database_down, client, path, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(3):
        response = client.post(
            path,
            data=json.dumps(BODIES.get(path, {"type": "X", "severity": "HIGH", "title": "t"})),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer " + "k" * 32,
        )
        assert_unavailable(response)
    outages = [r for r in caplog.records if r.name == "watchfloor.outage"]
    assert [r.getMessage().split(" (")[0] for r in outages] == ["database is unavailable"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.django_db
def test_the_api_answers_503_not_500(database_down, client):
    response = client.get("/api/v1/alerts", HTTP_AUTHORIZATION="Bearer " + "t" * 40)
    assert_unavailable(response)


@pytest.mark.django_db
def test_recovery_is_logged_once(database_down, client, caplog, monkeypatch, estate, api):
    caplog.set_level(logging.INFO)
    assert_unavailable(client.get("/api/v1/alerts", HTTP_AUTHORIZATION="Bearer " + "t" * 40))
    monkeypatch.undo()  # the database answers again
    caller = api(estate.user("admin"))
    for _ in range(2):
        assert caller.get("/api/v1/alerts").status_code == 200
    messages = [r.getMessage() for r in caplog.records if r.name == "watchfloor.outage"]
    assert messages[1:] == ["database is available again"]


DEAD_DATABASE_SCRIPT = """
import json, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client, out = Client(), {}
for path, body in json.loads(__import__("sys").argv[1]):
    r = client.post(path, data=json.dumps(body), content_type="application/json",
                    HTTP_AUTHORIZATION="Bearer " + "k" * 32)
    out[path] = [r.status_code, r.get("Retry-After"), r.json()["error"]["code"]]
client = Client(raise_request_exception=False)
client.cookies["sessionid"] = "s" * 32  # a signed-in browser: its session is in the database
for path in ("/", "/alerts/"):
    r = client.get(path)
    out[path] = [r.status_code, r.get("Retry-After"), r["Content-Type"].split(";")[0]]
print(json.dumps(out))
"""


def test_a_dead_postgresql_is_a_503_within_the_pool_timeout(tmp_path):
    """A real process pointed at a PostgreSQL port nobody listens on (psycopg's pool waits at
    most WATCHFLOOR_DB_POOL_TIMEOUT): 503 for every ingestion endpoint and the HTML 503 for a
    signed-in browser's pages, and the process ends."""
    pytest.importorskip("psycopg_pool")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/watchfloor",
        "DJANGO_SETTINGS_MODULE": "watchfloor.settings",
        "WATCHFLOOR_HOME": str(tmp_path),
        "WATCHFLOOR_DB_POOL_TIMEOUT": "1",
        "WATCHFLOOR_DB_CONNECT_TIMEOUT": "1",
    }
    env.pop("REDIS_URL", None)
    cases = [
        [path, BODIES.get(path, {"type": "X", "severity": "HIGH", "title": "t"})]
        for path in INGESTION
    ]
    done = subprocess.run(
        [sys.executable, "-c", DEAD_DATABASE_SCRIPT, json.dumps(cases)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a bound on a hang, not a timing assertion
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers == {
        **{path: [503, "10", "unavailable"] for path in INGESTION},
        **{path: [503, "10", "text/html"] for path in PAGES},
    }
    assert "Traceback" not in done.stderr


PAGES = ("/", "/alerts/")


@contextlib.contextmanager
def every_query_fails():
    """Every connection attempt fails as it does when PostgreSQL does not answer (so the
    session, the signed-in person and the view's own queries all fail)."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    error = OperationalError("connection failed: Connection refused")
    with mock.patch.object(BaseDatabaseWrapper, "ensure_connection", side_effect=error):
        yield


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.content[:500]
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Database unavailable, retrying" in page
    assert f'http-equiv="refresh" content="{response["Retry-After"]}"' in page
    assert "Traceback" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_pages_answer_a_503_page_and_recover(estate, path, caplog):
    """A signed-in person's page with the database down: the session is read by a middleware
    before any view runs (Django's 500 handler answers), then the page again once it is back."""
    from django.test import Client

    caplog.set_level(logging.INFO)
    degrade.reset()
    browser = Client(raise_request_exception=False)
    browser.force_login(estate.user("admin"))
    assert browser.get(path).status_code == 200
    with every_query_fails():
        for _ in range(2):
            assert_unavailable_page(browser.get(path))
    assert browser.get(path).status_code == 200  # the database is back: the page again
    outages = [r for r in caplog.records if r.name == "watchfloor.outage"]
    assert [r.getMessage().split(" (")[0] for r in outages] == [
        "database is unavailable",
        "database is available again",
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    degrade.reset()


@pytest.mark.django_db
def test_a_view_that_loses_the_database_answers_the_page_too(estate, monkeypatch):
    """The database lost inside the view (the innermost middleware answers)."""
    from django.test import Client

    degrade.reset()
    browser = Client(raise_request_exception=False)
    browser.force_login(estate.user("admin"))

    def unreachable(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("watchfloor.dashboard.alerts_views.alert_page", unreachable)
    assert_unavailable_page(browser.get("/alerts/"))
    degrade.reset()


def test_other_server_errors_stay_django_500():
    from django.test import RequestFactory

    from watchfloor.platform.unavailable import server_error

    request = RequestFactory().get("/alerts/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
