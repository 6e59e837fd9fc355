"""The lean ingestion road (watchfloor.front): ingestion POSTs skip the middleware they never use,
and answer exactly as through Django's full handler — the same statuses, bodies naming the same
fields, headers, audit records, metrics, stored alerts."""

from __future__ import annotations

import copy
import json

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client
from django.test.client import ClientHandler, RequestFactory
from django.urls import Resolver404, resolve

from watchfloor.alerts import staging
from watchfloor.alerts.integrations import views
from watchfloor.alerts.models import Alert
from watchfloor.audit.models import Action, AuditLog
from watchfloor.front import Front, IngestionHandler, is_ingestion

INGESTION_VIEWS = {
    views.alerts_collection,
    views.native_events,
    views.alertmanager_webhook,
    views.alertmanager_v2_alerts,
    views.pagerduty_enqueue,
}

PATHS = [
    "/api/v1/alerts",
    "/api/v1/alerts/",
    "/api/v1/alerts/5",
    "/api/v1/alerts/5/acknowledge",
    "/api/v1/integrations/native",
    "/api/v1/integrations/native/",
    "/api/v1/integrations/native/wfi_abc-DEF_1",
    "/api/v1/integrations/native/wfi_abc/",
    "/api/v1/integrations/native/a/b",
    "/api/v1/integrations/alertmanager",
    "/api/v1/integrations/alertmanager/wfi_x",
    "/api/v1/integrations/pagerduty",
    "/api/v2/alerts",
    "/api/v2/alerts/",
    "/api/v2/alerts/wfi_x",
    "/api/v2/alertsx",
    "/v2/enqueue",
    "/v2/enqueue/",
    "/v2/enqueue/x",
    "/api/v1/incidents",
    "/api/health/",
    "/",
]


def _routes_to_ingestion(path: str) -> bool:
    try:
        return resolve(path).func in INGESTION_VIEWS
    except Resolver404:
        return False


@pytest.mark.parametrize("path", PATHS)
def test_the_front_takes_the_posts_the_urlconf_gives_to_ingestion_and_nothing_else(path):
    routed = _routes_to_ingestion(path)
    assert is_ingestion({"REQUEST_METHOD": "POST", "PATH_INFO": path}) == routed
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):  # the read API, 405s: the full road
        assert not is_ingestion({"REQUEST_METHOD": method, "PATH_INFO": path})


def test_the_front_dispatches_by_the_environ():
    seen = []

    def app(name):
        def call(environ, start_response):
            seen.append(name)
            return [b""]

        return call

    front = Front(app("full"), app("lean"))
    front({"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v2/alerts"}, None)
    front({"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v2/alerts"}, None)
    front({"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/incidents"}, None)
    assert seen == ["lean", "full", "full"]


def test_the_lean_chain_is_a_subset_of_the_settings_in_their_order(settings):
    handler = IngestionHandler()
    handler.load_middleware()
    chain, names = handler._middleware_chain.__wrapped__, []  # inside the Content-Length step
    while hasattr(chain, "get_response") or hasattr(chain, "__wrapped__"):
        inner = getattr(chain, "__wrapped__", chain)
        if hasattr(inner, "get_response"):
            names.append(f"{type(inner).__module__}.{type(inner).__name__}")
            chain = inner.get_response
        else:
            break
    assert names == [m for m in settings.MIDDLEWARE if m in names]
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in names
    assert len(names) >= 4
    assert "watchfloor.platform.unavailable.DatabaseUnavailableMiddleware" in names


def test_the_lean_road_remembers_fixed_paths_and_never_a_path_with_a_key(monkeypatch):
    handler = IngestionHandler()
    factory = RequestFactory()
    first = handler.resolve_request(factory.post("/api/v2/alerts"))
    assert first.func is views.alertmanager_v2_alerts
    again = factory.post("/api/v2/alerts")
    assert handler.resolve_request(again) is first and again.resolver_match is first

    keyed = factory.post("/api/v2/alerts/wfi_secret")
    match = handler.resolve_request(keyed)
    assert match.kwargs == {"key": "wfi_secret"} and keyed.resolver_match is match
    with pytest.raises(Resolver404):
        handler.resolve_request(factory.post("/api/v2/alertsx"))
    assert list(handler._resolved) == ["/api/v2/alerts"]  # no key, no miss kept

    monkeypatch.setattr(IngestionHandler, "RESOLVED_PATHS", 2)
    for path in ("/v2/enqueue", "/api/v1/alerts", "/api/v1/integrations/native"):
        assert handler.resolve_request(factory.post(path)).func in INGESTION_VIEWS
    assert list(handler._resolved) == ["/api/v2/alerts", "/v2/enqueue"]  # bounded


class _LeanClientHandler(ClientHandler):
    """The test client's handler with the lean road's middleware chain: what gunicorn's
    workers run for an ingestion POST, with the test client's request handling."""

    load_middleware = IngestionHandler.load_middleware


@pytest.fixture
def roads():
    lean = Client()
    lean.handler = _LeanClientHandler(enforce_csrf_checks=True)
    full = Client(enforce_csrf_checks=True)  # the lean road has no CSRF middleware at all
    return {"full": full, "lean": lean}


def _answer(response) -> dict:
    body = response.content
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    headers = {
        name: response.get(name)
        for name in ("Content-Type", "Content-Length", "Retry-After", "WWW-Authenticate", "Allow")
        if response.has_header(name)
    }
    return {"status": response.status_code, "body": parsed, "headers": headers}


def _both(roads, path, body, **headers) -> dict:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return {
        name: _answer(c.post(path, data=data, content_type="application/json", **headers))
        for name, c in roads.items()
    }


NATIVE = {"type": "DEVICE_OFFLINE", "severity": "high", "title": "cam down", "entity_id": "c1"}


def _cases(sample, native_plain, am_plain, pd_plain):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {native_plain}"}
    pd_trigger = sample("pagerduty_trigger.json")
    pd_trigger["routing_key"] = pd_plain
    pd_bad = copy.deepcopy(pd_trigger)
    pd_bad["payload"]["severity"] = "loud"
    return [
        ("/api/v1/alerts", NATIVE, auth),
        ("/api/v1/alerts", [NATIVE, NATIVE], auth),
        (f"/api/v1/integrations/native/{native_plain}", NATIVE, {}),
        (
            "/api/v1/alerts",
            [NATIVE, {**NATIVE, "client": "nobody"}],
            auth,
        ),
        (
            "/api/v1/alerts",
            [{**NATIVE, "severity": 7}],
            auth,
        ),
        ("/api/v1/alerts", b"{not json", auth),
        (
            "/api/v1/alerts",
            {**NATIVE, "title": "a\x00b"},
            auth,
        ),
        ("/api/v1/alerts", NATIVE, {}),
        ("/api/v1/alerts", NATIVE, {"HTTP_AUTHORIZATION": "Bearer wfi_not_a_key"}),
        ("/api/v1/alerts", NATIVE, {"HTTP_AUTHORIZATION": f"Bearer {am_plain}"}),
        (
            "/api/v1/integrations/alertmanager",
            sample("alertmanager_webhook_mixed.json"),
            {"HTTP_AUTHORIZATION": f"Bearer {am_plain}"},
        ),
        (
            "/api/v1/integrations/alertmanager",
            {"alerts": [{"labels": "x"}]},
            {"HTTP_AUTHORIZATION": f"Bearer {am_plain}"},
        ),
        (f"/api/v2/alerts/{am_plain}", sample("prometheus_v2_alerts.json"), {}),
        ("/api/v2/alerts", [{"labels": {}}], {"HTTP_AUTHORIZATION": f"Bearer {am_plain}"}),
        ("/v2/enqueue", pd_trigger, {}),
        ("/v2/enqueue", pd_bad, {}),
        ("/v2/enqueue", {**pd_trigger, "routing_key": "wfi_nope"}, {}),
        ("/v2/enqueue", b"[", {}),
    ]


def test_every_kind_of_answer_is_the_same_on_both_roads(
    roads, estate, northwind, plain_key, sample
):
    native_plain, _ = plain_key(estate, "native")
    am_plain, _ = plain_key(estate, "alertmanager")
    pd_plain, _ = plain_key(estate, "pagerduty")
    statuses = set()
    for path, body, headers in _cases(sample, native_plain, am_plain, pd_plain):
        audits = AuditLog.objects.filter(action=Action.AUTH_FAILED).count()
        answers = _both(roads, path, body, REMOTE_ADDR="192.0.2.7", **headers)
        assert answers["lean"] == answers["full"], (path, body)
        statuses.add(answers["lean"]["status"])
        failed = AuditLog.objects.filter(action=Action.AUTH_FAILED).order_by("-id")
        if failed.count() > audits:  # a presented key that failed: audited on both roads alike
            assert failed.count() == audits + 2
            newest = list(failed[:2])
            assert {a.ip for a in newest} == {"192.0.2.7"}
            assert newest[0].details == newest[1].details
    assert {200, 202, 400, 401, 422} <= statuses
    # both roads staged what they accepted and the fold stored it: every alert twice as often
    assert Alert.objects.filter(tenant=estate.tenant).exists()
    assert all(a.occurrence_count % 2 == 0 for a in Alert.objects.filter(tenant=estate.tenant))


def test_too_large_and_backlogged_are_the_same_on_both_roads(roads, estate, plain_key, settings):
    plain, _ = plain_key(estate, "native")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    answers = _both(roads, "/api/v1/alerts", {**NATIVE, "description": "x" * 200}, **auth)
    assert answers["lean"] == answers["full"]
    assert answers["lean"]["status"] == 413
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    settings.ALERT_STAGING_MAX_EVENTS = -1  # any backlog at all is past the bound
    staging.forget_lag()
    answers = _both(roads, "/api/v1/alerts", NATIVE, **auth)
    assert answers["lean"] == answers["full"]
    assert answers["lean"]["status"] == 503 and answers["lean"]["headers"]["Retry-After"]
    assert not Alert.objects.exists()


def test_the_lean_road_is_rate_limited(roads, estate, plain_key, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "integration_key": 2}
    plain, _ = plain_key(estate, "native")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    lean = roads["lean"]
    codes = [
        lean.post("/api/v1/alerts", json.dumps(NATIVE), content_type="application/json", **auth)
        for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [202, 202, 429]
    assert codes[-1]["Retry-After"]
    assert json.loads(codes[-1].content)["error"]["fields"]["key"]


def test_the_lean_road_counts_requests_per_route(roads, estate, plain_key):
    from prometheus_client import REGISTRY

    plain, _ = plain_key(estate, "native")
    labels = {"route": "api/v1/alerts", "method": "POST", "status": "202"}

    def count() -> float:
        return REGISTRY.get_sample_value("watchfloor_http_requests_total", labels) or 0.0

    before = count()
    response = roads["lean"].post(
        "/api/v1/alerts",
        json.dumps(NATIVE),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 202
    assert count() == before + 1


@pytest.fixture
def _degrade_reset():
    from watchfloor import degrade

    degrade.reset()
    yield
    degrade.reset()


def test_the_lean_road_answers_503_when_the_database_is_down(
    roads, estate, plain_key, monkeypatch, _degrade_reset
):
    from django.db import OperationalError

    plain, _ = plain_key(estate, "native")

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(staging, "_insert", down)
    response = roads["lean"].post(
        "/api/v1/alerts",
        json.dumps(NATIVE),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert response.status_code == 503
    assert response["Retry-After"]
    assert json.loads(response.content)["error"]["fields"] == {"database": "Unreachable."}


def test_a_request_is_a_wsgi_request_on_the_lean_road(roads, estate, plain_key, monkeypatch):
    """The views get Django's own request object, META and all (the audit reads it)."""
    seen = []
    original = views._ingest_request

    def spy(request, *args, **kwargs):
        seen.append(request)
        return original(request, *args, **kwargs)

    monkeypatch.setattr(views, "_ingest_request", spy)
    plain, _ = plain_key(estate, "native")
    roads["lean"].post(
        "/api/v1/alerts",
        json.dumps(NATIVE),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
        HTTP_USER_AGENT="vmalert/1.0",
    )
    [request] = seen
    assert isinstance(request, WSGIRequest)
    assert request.META["HTTP_USER_AGENT"] == "vmalert/1.0"
    assert request.resolver_match.route == "api/v1/alerts"
