"""Rate limits per integration key and per API token: 429 with Retry-After, counted in
`watchfloor_rate_limited_total{kind}`, and let through when the cache is down (#12 section 5)."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from watchfloor import degrade, ratelimit
from watchfloor.access.services import create_integration_key
from watchfloor.alerts.models import Alert


def limited_count(kind: str) -> float:
    return REGISTRY.get_sample_value("watchfloor_rate_limited_total", {"kind": kind}) or 0.0


@pytest.fixture
def limits(settings):
    settings.RATE_LIMITS = {"integration_key": 3, "api_token": 2}
    degrade.reset()
    yield settings.RATE_LIMITS
    degrade.reset()


def issue(estate, source="native") -> str:
    return create_integration_key(
        estate.tenant, actor=estate.user("admin"), name=source, source=source
    ).plain


def native(client, plain: str, n: int):
    return client.post(
        "/api/v1/alerts",
        data=json.dumps(
            {
                "type": "DEVICE_OFFLINE",
                "severity": "HIGH",
                "title": f"t{n}",
                "entity_id": f"cam-{n}",
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )


def assert_limited(response, field: str) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert set(error["fields"]) == {field}


@pytest.mark.django_db
def test_an_integration_key_over_its_limit_gets_429_and_nothing_is_stored(limits, estate, client):
    plain, other = issue(estate), issue(estate)
    before = limited_count("integration_key")
    assert [native(client, plain, n).status_code for n in range(3)] == [202, 202, 202]
    assert_limited(native(client, plain, 3), "key")
    assert Alert.objects.filter(tenant=estate.tenant).count() == 3
    assert limited_count("integration_key") == before + 1
    assert native(client, other, 4).status_code == 202  # per key, not per tenant


@pytest.mark.django_db
def test_alertmanager_with_the_key_in_the_path_and_pagerduty(limits, estate, client):
    plain = issue(estate, "alertmanager")
    path = f"/api/v1/integrations/alertmanager/{plain}"
    body = json.dumps({"version": "4", "status": "firing", "alerts": []})
    for _ in range(3):
        assert client.post(path, data=body, content_type="application/json").status_code == 200
    assert_limited(client.post(path, data=body, content_type="application/json"), "key")

    routing_key = issue(estate, "pagerduty")
    event = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }
    answers = [
        client.post("/v2/enqueue", data=json.dumps(event), content_type="application/json")
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["status"] == "throttle event"
    assert int(answers[-1]["Retry-After"]) >= 1


@pytest.mark.django_db
def test_an_api_token_over_its_limit_gets_429(limits, estate, client, token_for):
    before = limited_count("api_token")
    header = token_for(estate.user("admin"))
    answers = [client.get("/api/v1/alerts", HTTP_AUTHORIZATION=header) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_limited(answers[-1], "token")
    assert limited_count("api_token") == before + 1
    other = token_for(estate.user("admin"))
    assert client.get("/api/v1/alerts", HTTP_AUTHORIZATION=other).status_code == 200


@pytest.mark.django_db
def test_the_cache_down_lets_ingestion_through(limits, estate, client, monkeypatch):
    def unreachable(key, n=1):
        raise RedisConnectionError("Error 111 connecting. Connection refused.")

    monkeypatch.setattr(ratelimit, "_count", unreachable)
    plain = issue(estate)
    assert [native(client, plain, n).status_code for n in range(5)] == [202] * 5
    assert degrade.is_down("cache")


@pytest.mark.django_db
def test_zero_switches_a_limit_off(settings, estate, client):
    settings.RATE_LIMITS = {"integration_key": 0, "api_token": 0}
    plain = issue(estate)
    assert [native(client, plain, n).status_code for n in range(4)] == [202] * 4


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    ticking = Clock()
    monkeypatch.setattr(ratelimit.time, "monotonic", ticking)
    return ticking


def shared_count(kind: str, identity) -> int:
    from django.core.cache import cache

    window = int(ratelimit.time.time() // ratelimit.WINDOW_SECONDS)
    return cache.get(f"ratelimit:{kind}:{identity}:{window}") or 0


@pytest.mark.django_db
def test_a_process_adds_its_requests_to_the_shared_count_in_batches(settings, clock):
    settings.RATE_LIMITS = {"integration_key": 1000}
    assert ratelimit.check("integration_key", 7) is None
    assert shared_count("integration_key", 7) == 1  # the first request of a window syncs
    for _ in range(9):
        assert ratelimit.check("integration_key", 7) is None
    assert shared_count("integration_key", 7) == 1  # kept here within SYNC_EVERY
    clock.now += ratelimit.SYNC_EVERY
    assert ratelimit.check("integration_key", 7) is None
    assert shared_count("integration_key", 7) == 11  # every request counted, none twice


@pytest.mark.django_db
def test_near_the_limit_every_request_counts_what_other_processes_added(settings, clock):
    from django.core.cache import cache

    settings.RATE_LIMITS = {"integration_key": 10}
    assert ratelimit.check("integration_key", 8) is None  # shared 1
    window = int(ratelimit.time.time() // ratelimit.WINDOW_SECONDS)
    cache.incr(f"ratelimit:integration_key:8:{window}", 6)  # another process: shared 7
    answers = [ratelimit.check("integration_key", 8) for _ in range(8)]
    # Alone, this process would let 9 more through. Its 7th request brings its estimate (1
    # shared + 7 here) to 80 % of the limit: it adds them and reads 14, over the limit.
    assert answers[:6] == [None] * 6
    assert all(isinstance(a, ratelimit.Limited) for a in answers[6:])
    assert shared_count("integration_key", 8) == 1 + 6 + 8  # and each later request at once


@pytest.mark.django_db
def test_a_new_window_starts_from_zero(settings, clock, monkeypatch):
    settings.RATE_LIMITS = {"integration_key": 2}
    assert [ratelimit.check("integration_key", 9) is None for _ in range(3)] == [
        True,
        True,
        False,
    ]
    later = ratelimit.time.time() + ratelimit.WINDOW_SECONDS
    monkeypatch.setattr(ratelimit.time, "time", lambda: later)
    assert ratelimit.check("integration_key", 9) is None


@pytest.mark.django_db
def test_a_full_table_of_identities_in_one_window_starts_afresh(settings, clock, monkeypatch):
    settings.RATE_LIMITS = {"status_page": 60}
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 3)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert ratelimit.check("status_page", address) is None
    assert len(ratelimit._windows) == 3
    assert ratelimit.check("status_page", "192.0.2.4") is None
    assert list(ratelimit._windows) == ["status_page:192.0.2.4"]
    assert shared_count("status_page", "192.0.2.1") == 1  # synced before it was dropped
