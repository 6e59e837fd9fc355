"""Database down: every ingestion endpoint and the API answer 503 with Retry-After in the one
JSON error shape, never a 500 with a traceback and never a hang (#12 section 5)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

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
print(json.dumps(out))
"""


def test_a_dead_postgresql_is_a_503_within_the_pool_timeout(tmp_path):
    """A real process pointed at a PostgreSQL port nobody listens on (psycopg's pool waits at
    most WATCHFLOOR_DB_POOL_TIMEOUT): 503 for every ingestion endpoint, and the process ends."""
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
    assert answers == {path: [503, "10", "unavailable"] for path in INGESTION}
    assert "Traceback" not in done.stderr
