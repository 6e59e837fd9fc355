"""/api/health/ per component, and the OpenAPI document and docs page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from watchfloor.platform import health

V1_OPERATIONS = {
    "/api/v1/me": {"get"},
    "/api/v1/clients": {"get", "post"},
    "/api/v1/clients/{client_id}": {"get", "patch"},
    "/api/v1/sites": {"get", "post"},
    "/api/v1/sites/{site_id}": {"get", "patch"},
    "/api/v1/tokens": {"get", "post"},
    "/api/v1/tokens/{token_id}": {"delete"},
    "/api/v1/integration-keys": {"get", "post"},
    "/api/v1/integration-keys/{key_id}": {"get", "delete"},
    "/api/v1/audit": {"get"},
}


@pytest.fixture(autouse=True)
def _just_started(monkeypatch):
    """This process "just started": no periodic job can be stale yet (tests/jobs cover it)."""
    from django.utils import timezone

    monkeypatch.setattr("watchfloor.jobs.queries.UP_SINCE", timezone.now())


def test_health_is_ok_with_every_component(db, client):
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["components"]) == {
        "database",
        "cache",
        "broker",
        "workers",
        "jobs",
        "ingestion",
    }
    for component in body["components"].values():
        assert component["status"] == "ok"
        assert component["latency_ms"] >= 0
    assert body["components"]["database"]["vendor"] == connection.vendor
    expected_cache = (
        "RedisCache" if "redis" in settings.CACHES["default"]["BACKEND"] else "LocMemCache"
    )
    assert body["components"]["cache"]["backend"] == expected_cache
    assert "no-cache" in response["Cache-Control"]


def _failing():
    raise ConnectionError("database is down")


@pytest.mark.parametrize("component", ["database", "cache", "jobs"])
def test_failed_component_makes_health_503(db, client, monkeypatch, component):
    monkeypatch.setattr(health, f"_{component}", _failing)
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["components"][component]["status"] == "error"
    assert body["components"][component]["error"] == "ConnectionError"
    others = set(body["components"]) - {component}
    assert all(body["components"][o]["status"] == "ok" for o in others)
    assert "down" not in response.content.decode(), "the error text is not exposed"


def test_health_needs_no_login_and_only_get(db, client):
    assert client.get("/api/health/").status_code == 200
    assert client.post("/api/health/").status_code == 405


def test_openapi_lists_every_endpoint(db, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, methods in V1_OPERATIONS.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}


def test_openapi_documents_the_error_shape_and_pagination(db, client):
    spec = client.get("/api/v1/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/v1/sites"]["get"]["parameters"]}
    assert {"cursor", "limit", "client", "city", "state", "officer", "active", "q"} <= params
    page = spec["components"]["schemas"]["SitePage"]["properties"]
    assert {"items", "next_cursor"} <= set(page)


def test_docs_redirect_and_page(db, client):
    response = client.get("/api/docs")
    assert response.status_code in (301, 302)
    assert response["Location"] == "/api/v1/docs"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"openapi.json" in page.content
