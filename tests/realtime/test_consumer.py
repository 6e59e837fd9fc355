"""`/ws/dashboard/` end to end: auth, Origin, scope filtering, masking, acknowledge, rate limit.

Each test drives the real ASGI application (session middleware, routing, consumer) with
Channels' WebsocketCommunicator, and events come from the real services through the configured
publisher (in-process on SQLite, Redis pub/sub when REDIS_URL is set).
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from support_alerts import key_for, trigger
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.asgi import application
from watchfloor.audit.models import Action, AuditLog

__all__ = ["key_for"]

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORIGIN = (b"origin", b"http://testserver")
HOST = (b"host", b"testserver")


@pytest.fixture(autouse=True)
def _hub_left_empty():
    """Every test closes what it opened: a connection left in the hub is a leak."""
    from watchfloor.realtime.hub import HUB

    yield
    leaked = HUB.connections
    HUB.receivers.clear()
    assert leaked == 0, f"{leaked} connection(s) still registered with the hub"


@pytest.fixture
def tokens(estate, token_for) -> dict[str, str]:
    """An API token (Authorization value) per role, made before any event loop runs."""
    return {role: token_for(user) for role, user in estate.users.items()}


@pytest.fixture
def other_tokens(other_estate, token_for) -> dict[str, str]:
    return {role: token_for(user) for role, user in other_estate.users.items()}


def run(coro_fn):
    return async_to_sync(coro_fn)()


async def connect(token: str | None = None, *, origin=ORIGIN, cookie: str | None = None):
    headers = [HOST]
    if origin:
        headers.append(origin)
    if token:
        headers.append((b"authorization", token.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    ws = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
    connected, code = await ws.connect(timeout=5)
    return ws, connected, code


async def receive_until(ws, kind: str, timeout: float = 5.0) -> dict:
    """The next message of type `kind`, skipping others (events, heartbeats...)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive_json_from(timeout=timeout)
            if message["type"] == kind:
                return message


async def alerts_received(ws, want: int, timeout: float = 5.0) -> list[dict]:
    rows = []
    async with asyncio.timeout(timeout):
        while len(rows) < want:
            message = await ws.receive_json_from(timeout=timeout)
            if message["type"] == "events":
                rows.extend(e for e in message["events"] if "alert" in e)
    return rows


def _ingest_in_thread(events, key):
    from django.db import connection

    try:
        return ingest(events, key=key)
    finally:
        connection.close()  # this worker thread's connection goes back to the pool


def ingest_async(estate, key, *events):
    """Ingest in a thread of its own, as a web request would, while the test's loop runs."""
    return sync_to_async(_ingest_in_thread, thread_sensitive=False)(list(events), key)


def test_a_token_connects_without_origin_and_gets_hello(estate, tokens):
    async def scenario():
        ws, connected, _ = await connect(tokens["operator"], origin=None)
        assert connected
        hello = await ws.receive_json_from()
        assert hello["type"] == "hello"
        assert "noc:ack_alerts" in hello["capabilities"]
        assert hello["clients"] == "*"
        await ws.disconnect()

    run(scenario)


def test_no_credentials_is_told_and_closed(estate):
    async def scenario():
        ws, connected, _ = await connect()
        assert connected
        assert (await ws.receive_json_from())["code"] == "unauthenticated"
        assert (await ws.receive_output())["code"] == 4401
        await ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", None])
def test_a_foreign_or_missing_origin_is_refused_for_a_session(estate, client, origin):
    client.force_login(estate.user("admin"))
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario():
        _ws, connected, _ = await connect(
            origin=(b"origin", origin) if origin else None, cookie=cookie
        )
        assert not connected

    run(scenario)


def test_the_browser_session_connects_from_its_own_origin(estate, client):
    client.force_login(estate.user("supervisor"))
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario():
        ws, connected, _ = await connect(cookie=cookie)
        assert connected
        assert (await ws.receive_json_from())["type"] == "hello"
        await ws.disconnect()

    run(scenario)


def test_a_browser_session_survives_the_scope_refresh_on_a_heartbeat(estate, client, monkeypatch):
    """The refresh re-reads the user by pk; a session's user is channels' lazy wrapper (its type
    has no manager: the refresh once crashed the connection a minute in)."""
    from watchfloor.realtime import consumers

    client.force_login(estate.user("supervisor"))
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    monkeypatch.setattr(consumers, "SCOPE_REFRESH_SECONDS", -1)  # every heartbeat refreshes

    async def scenario():
        ws, connected, _ = await connect(cookie=cookie)
        assert connected
        assert (await ws.receive_json_from())["type"] == "hello"
        await ws.send_json_to({"type": "heartbeat"})
        assert (await receive_until(ws, "heartbeat"))["type"] == "heartbeat"
        await ws.disconnect()

    run(scenario)


def test_a_user_without_a_scope_capability_is_forbidden(estate, token_for):
    from django.contrib.auth.models import Group

    user = estate.user("viewer")
    user.groups.set([Group.objects.create(name="nothing")])
    token = token_for(user)

    async def scenario():
        ws, _connected, _ = await connect(token)
        message = await ws.receive_json_from()
        assert message["code"] == "forbidden"
        assert (await ws.receive_output())["code"] == 4403

    run(scenario)


def test_events_are_filtered_by_scope_and_masked(estate, key_for, tokens):
    key = key_for(estate)
    viewer_site = estate.sites[2].code  # the viewer sees only this site
    other_site = estate.sites[0].code

    async def scenario():
        viewer, *_ = await connect(tokens["viewer"])
        admin, *_ = await connect(tokens["admin"])
        await receive_until(viewer, "hello")
        await receive_until(admin, "hello")
        await ingest_async(
            estate,
            key,
            trigger(site=other_site, title="Door forced, call +1 (415) 555-0100"),
            trigger(site=viewer_site, title="Camera down, tell jane.doe@example.com"),
        )
        admin_rows = await alerts_received(admin, 2)
        assert {r["alert"]["site_code"] for r in admin_rows} == {other_site, viewer_site}
        viewer_rows = await alerts_received(viewer, 1)
        assert [r["alert"]["site_code"] for r in viewer_rows] == [viewer_site]
        assert viewer_rows[0]["type"] == "alert.created"
        assert "jane.doe@example.com" not in viewer_rows[0]["alert"]["title"]
        assert "jane.doe@example.com" in next(
            r["alert"]["title"] for r in admin_rows if r["alert"]["site_code"] == viewer_site
        )
        # nothing else arrives for the viewer
        assert await viewer.receive_nothing(timeout=0.5)
        await viewer.disconnect()
        await admin.disconnect()

    run(scenario)


def test_another_tenant_never_receives_the_event(estate, other_estate, key_for, other_tokens):
    key = key_for(estate)

    async def scenario():
        stranger, *_ = await connect(other_tokens["admin"])
        await receive_until(stranger, "hello")
        await ingest_async(estate, key, trigger(site=estate.sites[0].code))
        assert await stranger.receive_nothing(timeout=0.7)
        await stranger.disconnect()

    run(scenario)


def test_subscribe_narrows_to_clients_in_scope_only(estate, key_for, tokens):
    key = key_for(estate)
    _first, second = estate.clients

    async def scenario():
        ws, *_ = await connect(tokens["supervisor"])
        await receive_until(ws, "hello")
        await ws.send_json_to({"type": "subscribe", "clients": ["globex-c1"]})
        error = await receive_until(ws, "error")
        assert error["field"] == "clients" and "not in your scope" in error["message"]
        await ws.send_json_to({"type": "subscribe", "clients": [second.code]})
        assert (await receive_until(ws, "subscribed"))["clients"] == [second.code]
        await ingest_async(
            estate, key, trigger(site=estate.sites[0].code), trigger(site=estate.sites[3].code)
        )
        rows = await alerts_received(ws, 1)
        assert [r["alert"]["client_code"] for r in rows] == [second.code]
        assert await ws.receive_nothing(timeout=0.5)
        await ws.send_json_to({"type": "unsubscribe", "clients": [second.code]})
        assert (await receive_until(ws, "subscribed"))["clients"] == []
        await ws.send_json_to({"type": "subscribe", "clients": "*"})
        assert (await receive_until(ws, "subscribed"))["clients"] == "*"
        await ws.disconnect()

    run(scenario)


def _open_alert(estate, key, site_index=2) -> Alert:
    ingest([trigger(site=estate.sites[site_index].code, severity=Severity.CRITICAL)], key=key)
    return Alert.objects.latest("id")


def test_a_viewer_cannot_acknowledge_over_the_socket(estate, key_for, tokens):
    alert = _open_alert(estate, key_for(estate))

    async def scenario():
        ws, *_ = await connect(tokens["viewer"])
        await receive_until(ws, "hello")
        await ws.send_json_to({"type": "alert.acknowledge", "id": alert.id, "request_id": "r1"})
        error = await receive_until(ws, "error")
        assert error == {
            "type": "error",
            "code": "forbidden",
            "message": "You need the noc:ack_alerts capability.",
            "request_id": "r1",
        }
        await ws.disconnect()

    run(scenario)
    alert.refresh_from_db()
    assert alert.status == Status.NEW
    denied = AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=estate.user("viewer"))
    assert denied.exists()


def test_an_operator_acknowledges_over_the_socket_and_everyone_sees_it(estate, key_for, tokens):
    alert = _open_alert(estate, key_for(estate), site_index=0)  # the operator's client

    async def scenario():
        operator, *_ = await connect(tokens["operator"])
        watcher, *_ = await connect(tokens["supervisor"])
        await receive_until(operator, "hello")
        await receive_until(watcher, "hello")
        await operator.send_json_to({"type": "alert.acknowledge", "id": alert.id})
        reply = await receive_until(operator, "ack")
        assert reply["alert"] == {"id": alert.id, "status": Status.ACKNOWLEDGED}
        rows = await alerts_received(watcher, 1)
        assert rows[0]["type"] == "alert.updated"
        assert rows[0]["alert"]["status"] == Status.ACKNOWLEDGED
        await operator.send_json_to({"type": "alert.acknowledge", "id": alert.id})
        assert (await receive_until(operator, "error"))["code"] == "conflict"
        await operator.disconnect()
        await watcher.disconnect()

    run(scenario)


def test_acknowledging_another_tenants_alert_is_not_found(estate, other_estate, key_for, tokens):
    alert = _open_alert(other_estate, key_for(other_estate), site_index=0)

    async def scenario():
        ws, *_ = await connect(tokens["admin"])
        await receive_until(ws, "hello")
        await ws.send_json_to({"type": "alert.acknowledge", "id": alert.id})
        assert (await receive_until(ws, "error"))["code"] == "not_found"
        await ws.send_json_to({"type": "alert.acknowledge", "id": "12"})
        assert (await receive_until(ws, "error"))["field"] == "id"
        await ws.disconnect()

    run(scenario)


def test_more_than_the_rate_limit_is_refused_and_closed(estate, tokens, settings):
    settings.REALTIME_RATE_LIMIT = 5

    async def scenario():
        ws, *_ = await connect(tokens["viewer"])
        await receive_until(ws, "hello")
        for _ in range(5):
            await ws.send_json_to({"type": "heartbeat"})
            assert (await ws.receive_json_from())["type"] == "heartbeat"
        await ws.send_json_to({"type": "heartbeat"})
        error = await ws.receive_json_from()
        assert error["code"] == "rate_limited"
        assert (await ws.receive_output())["code"] == 4429

    run(scenario)


def test_metrics_request_answers_the_overview_tiles(estate, key_for, tokens):
    _open_alert(estate, key_for(estate), site_index=2)

    async def scenario():
        ws, *_ = await connect(tokens["viewer"])
        await receive_until(ws, "hello")
        await ws.send_json_to({"type": "metrics.request", "request_id": 7, "filters": {}})
        metrics = await receive_until(ws, "metrics")
        assert metrics["request_id"] == 7
        assert metrics["kpis"]["open"]["by_severity"]["CRITICAL"] == 1
        await ws.send_json_to({"type": "metrics.request", "filters": {"range": "2y"}})
        error = await receive_until(ws, "error")
        assert error["field"] == "filters.range"
        await ws.send_json_to({"type": "nonsense"})
        assert (await receive_until(ws, "error"))["field"] == "type"
        await ws.disconnect()

    run(scenario)


def test_a_storm_is_coalesced_into_few_bounded_updates(estate, key_for, tokens, settings):
    settings.REALTIME_MAX_ALERTS_PER_UPDATE = 50
    key = key_for(estate)
    site = estate.sites[0].code

    async def scenario():
        ws, *_ = await connect(tokens["admin"])
        await receive_until(ws, "hello")
        events = [trigger(site=site, entity_id=f"dev-{i}", title=f"Device {i}") for i in range(300)]
        await ingest_async(estate, key, *events)
        updates = []
        async with asyncio.timeout(10):
            while sum(len(u["events"]) + u["truncated"] for u in updates) < 300:
                message = await ws.receive_json_from(timeout=5)
                if message["type"] == "events":
                    updates.append(message)
        assert all(len(u["events"]) <= 50 for u in updates)
        assert len(updates) < 10
        assert updates[0]["truncated"] > 0  # the page is told to resync instead
        await ws.disconnect()

    run(scenario)


def test_a_connection_that_cannot_be_written_to_leaves_the_hub(estate, key_for, tokens):
    from watchfloor.realtime.hub import HUB

    key = key_for(estate)

    async def scenario():
        ws, *_ = await connect(tokens["admin"])
        await receive_until(ws, "hello")
        (consumer,) = HUB.receivers[estate.tenant.id]

        async def gone(*args, **kwargs):
            raise ConnectionResetError("client went away")

        consumer.send = gone  # as when the peer vanished without a close frame
        await ingest_async(estate, key, trigger(site=estate.sites[0].code))
        async with asyncio.timeout(5):
            while estate.tenant.id in HUB.receivers:
                await asyncio.sleep(0.05)
        await ws.disconnect()  # and a late disconnect() does not unregister twice

    run(scenario)


def test_every_closed_connection_has_left_the_hub(estate, tokens):
    from watchfloor.realtime.hub import HUB

    async def scenario():
        sockets = [(await connect(tokens[role]))[0] for role in ("admin", "viewer", "operator")]
        for ws in sockets:
            await receive_until(ws, "hello")
        assert HUB.connections == 3
        for ws in sockets:
            await ws.disconnect()

    run(scenario)
