"""Redis down: the overview computes, ingestion stores and answers, live updates stay on the
node; the outage is logged once with its recovery, never per request (#12 section 5)."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from support_outages import RedisServer, redis_binary

from support_sinks import webhook
from watchfloor import degrade
from watchfloor.alerts.models import Alert
from watchfloor.events import set_publisher
from watchfloor.realtime import hub
from watchfloor.realtime.hub import RedisPublisher

__all__ = ["webhook"]

OVERVIEW = ("/api/v1/overview/kpis", "/api/v1/overview/sites", "/api/v1/overview/feed")


@pytest.fixture
def redis_server(settings, monkeypatch):
    """A Redis of this test's own behind the cache and the real-time publisher."""
    server = RedisServer(redis_binary())
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "watchfloor.platform.redis_cache.RedisCache",  # the shipped one
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    settings.OVERVIEW_CACHE_SECONDS = 1
    monkeypatch.setattr(RedisPublisher, "_pool", None)
    # a failed component is tried again at its next call (no wait in a test)
    monkeypatch.setattr(degrade, "RETRY_SECONDS", 0)
    degrade.reset()
    set_publisher(RedisPublisher())
    try:
        yield server
    finally:
        set_publisher(None)
        server.stop()
        degrade.reset()


def outage_lines(caplog, what: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "watchfloor.outage" and what in r.getMessage()
    ]


def errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_overview_computes_while_redis_is_down_and_logs_the_outage_once(
    redis_server, estate, api, caplog
):
    caller = api(estate.user("admin"))
    for path in OVERVIEW:
        assert caller.get(path).status_code == 200  # through the cache

    redis_server.stop()
    caplog.set_level(logging.INFO)
    for _ in range(3):
        for path in OVERVIEW:
            response = caller.get(path)
            assert response.status_code == 200, (path, response.content)
    assert caller.get("/api/v1/overview/kpis").json()["open"] is not None
    assert outage_lines(caplog, "unavailable") == [outage_lines(caplog, "unavailable")[0]], (
        "one outage line, not one per request"
    )
    assert "cache is unavailable" in outage_lines(caplog, "unavailable")[0]
    assert errors(caplog) == []

    redis_server.start()
    for path in OVERVIEW:
        assert caller.get(path).status_code == 200
    assert outage_lines(caplog, "available again") == ["cache is available again"]
    assert len(outage_lines(caplog, "unavailable")) == 1


def test_ingestion_stores_and_answers_while_redis_is_down(
    redis_server, estate, client, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from watchfloor.access.services import create_integration_key

    plain = create_integration_key(
        estate.tenant, actor=estate.user("admin"), name="native", source="native"
    ).plain
    on_node: list[list[dict]] = []
    monkeypatch.setattr(hub.HUB, "dispatch_threadsafe", on_node.append)

    def post(n: int):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/v1/alerts",
                data={
                    "type": "DEVICE_OFFLINE",
                    "severity": "HIGH",
                    "title": f"down {n}",
                    "site": estate.sites[0].code,
                    "entity_id": f"cam-{n}",
                },
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {plain}",
            )

    assert post(0).status_code == 202
    assert on_node == []  # published through Redis

    redis_server.stop()
    caplog.set_level(logging.INFO)
    for n in range(1, 6):
        assert post(n).status_code == 202
    assert Alert.objects.filter(tenant=estate.tenant).count() == 6
    assert len(on_node) == 5, "live updates fall back to this node's pages"
    # one line per component (the publisher, and the rate limit's counter in the cache)
    down = [line.split(" (")[0] for line in outage_lines(caplog, "unavailable")]
    assert sorted(down) == ["cache is unavailable", "real-time Redis is unavailable"]
    assert errors(caplog) == [], "no traceback per ingestion request"

    redis_server.start()
    assert post(6).status_code == 202
    assert len(on_node) == 5  # through Redis again
    assert sorted(outage_lines(caplog, "available again")) == [
        "cache is available again",
        "real-time Redis is available again",
    ]


def test_a_team_channel_code_is_not_checked_while_the_cache_is_down(
    redis_server, estate, api, webhook
):
    """Wrong tries are counted in the cache: with it down, no code is checked (a 422 naming
    the field, never a 500), and the channel verifies once it is back."""
    admin = estate.user("admin")
    created = (
        api(admin)
        .post(
            "/api/v1/team-channels",
            {"name": "NOC room", "medium": "webhook", "address": webhook.url("/room/R1")},
        )
        .json()
    )
    assert api(admin).post(f"/api/v1/team-channels/{created['id']}/send-code").status_code == 200
    code = re.search(r"code is (\d{6})", webhook.wait_for(1)[0].body["message"]).group(1)

    redis_server.stop()
    down = api(admin).post(f"/api/v1/team-channels/{created['id']}/verify", {"code": code})
    assert down.status_code == 422, down.content
    assert "right now" in down.json()["error"]["fields"]["code"]

    redis_server.start()
    back = api(admin).post(f"/api/v1/team-channels/{created['id']}/verify", {"code": code})
    assert back.json()["verified"] is True


def test_maintenance_starts_are_announced_while_the_cache_is_down(
    redis_server, estate, monkeypatch, django_capture_on_commit_callbacks
):
    """The once-per-transition marker lives in the cache: with it down the job still announces
    (a repeat is harmless, a start never announced is not) instead of failing."""
    from django.utils import timezone

    from watchfloor.events import RecordingPublisher
    from watchfloor.maintenance.models import MaintenanceWindow
    from watchfloor.maintenance.services import announce_transitions

    recorder = RecordingPublisher()
    set_publisher(recorder)
    now = timezone.now()
    site = estate.sites[0]
    window = MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=site.client,
        site=site,
        title="Works",
        starts_at=now - timedelta(seconds=20),
        ends_at=now + timedelta(hours=1),
    )
    redis_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert announce_transitions(now=now) == 1
    assert [e["window"]["id"] for e in recorder.of_type("maintenance.started")] == [window.id]


def test_the_cache_keeps_one_redis_client_through_an_outage(redis_server):
    """One `redis.Redis` per pool instead of one per call (watchfloor.platform.redis_cache),
    and that client works again once Redis is back."""
    import redis
    from django.core.cache import caches

    cache = caches["default"]
    backend = cache._cache
    assert backend.get_client() is backend.get_client(write=True)
    cache.set("kept", 1)
    assert cache.get("kept") == 1
    client = backend.get_client()

    redis_server.stop()
    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("kept")
    redis_server.start()
    cache.set("kept", 2)
    assert cache.get("kept") == 2
    assert backend.get_client() is client


def test_the_publisher_keeps_one_client_per_pool(redis_server, monkeypatch):
    import redis

    publisher = RedisPublisher()
    client = publisher._client()
    assert publisher._client() is client
    listener = redis.Redis.from_url(redis_server.url).pubsub(ignore_subscribe_messages=True)
    listener.psubscribe(f"{hub.channel_prefix()}*")
    listener.get_message(timeout=1)
    publisher.send([{"tenant_id": 1, "type": "one"}])  # one tenant: no pipeline
    publisher.send([{"tenant_id": 1, "type": "x"}, {"tenant_id": 2, "type": "y"}])
    heard = []
    for _ in range(20):
        message = listener.get_message(timeout=0.5)
        if message is not None:
            heard.append((message["channel"].decode(), json.loads(message["data"])))
        if len(heard) == 3:
            break
    prefix = hub.channel_prefix()
    assert sorted(heard, key=str) == sorted(
        [
            (f"{prefix}1", [{"tenant_id": 1, "type": "one"}]),
            (f"{prefix}1", [{"tenant_id": 1, "type": "x"}]),
            (f"{prefix}2", [{"tenant_id": 2, "type": "y"}]),
        ],
        key=str,
    )
    listener.close()
    monkeypatch.setattr(RedisPublisher, "_pool", None)  # a new pool (another Redis URL, say)
    assert publisher._client() is not client
    assert publisher._client().connection_pool is RedisPublisher._pool
