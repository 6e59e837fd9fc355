"""Incident events on `/ws/dashboard/`: each receiver gets `incident.created`/`incident.updated`
only for incidents in its scope (an incident sits on its client and site like an alert; one
spanning several clients only for the all-clients scope), with the title and the commander's
name masked without `noc:view_pii`; and end to end, from the service to the socket."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from support_alerts import key_for, trigger
from watchfloor.alerts.models import Alert
from watchfloor.alerts.pipeline import ingest
from watchfloor.asgi import application
from watchfloor.realtime.viewer import load_viewer, mask_event

__all__ = ["key_for"]

TITLE = "Call jane.doe@example.com on +1-555-123-4567"


def event(estate, *, client, site) -> dict:
    return {
        "type": "incident.updated",
        "tenant_id": estate.tenant.pk,
        "actor_id": 1,
        "incident": {
            "id": 7,
            "title": TITLE,
            "client_id": client.pk if client else None,
            "site_id": site.pk if site else None,
            "commander_name": "Jane Doe",
            "status": "NEW",
        },
    }


def _view(viewer, event: dict, cache: dict) -> dict | None:
    """The event as the consumer hands it to this viewer: None when out of scope, else shown."""
    return viewer.shown(event, cache) if viewer.sees(event) else None


def test_incident_events_follow_scope_and_are_masked(estate):
    on_first_site = event(estate, client=estate.clients[0], site=estate.sites[0])
    on_viewer_site = event(estate, client=estate.clients[1], site=estate.sites[2])
    spanning = event(estate, client=None, site=None)
    supervisor = load_viewer(estate.user("supervisor"))  # all clients, sees PII
    operator = load_viewer(estate.user("operator"))  # the first client, no PII
    viewer = load_viewer(estate.user("viewer"))  # one site of the second client
    cache: dict = {}
    assert _view(supervisor, on_first_site, cache) is on_first_site
    assert _view(supervisor, spanning, cache) is spanning
    seen = _view(operator, on_first_site, cache)
    assert seen is not None
    assert "jane.doe@example.com" not in seen["incident"]["title"]
    assert seen["incident"]["commander_name"] != "Jane Doe"
    assert _view(operator, on_viewer_site, cache) is None
    assert _view(operator, spanning, cache) is None
    assert _view(viewer, on_viewer_site, cache) is not None
    assert _view(viewer, on_first_site, cache) is None
    # the original is left alone
    assert on_first_site["incident"]["title"] == TITLE
    assert "actor_id" not in mask_event(on_first_site)


def _open_in_thread(estate, alert_ids):
    from django.db import connection

    from watchfloor.incidents import services
    from watchfloor.incidents.models import Origin

    try:
        alerts = list(Alert.objects.filter(pk__in=alert_ids))
        return services.open_incident(
            alerts, actor=estate.user("supervisor"), origin=Origin.MANUAL, tenant=estate.tenant
        ).pk
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_opened_incident_reaches_the_sockets_in_scope(estate, key_for, token_for):
    from watchfloor.realtime.hub import HUB

    ingest([trigger(site=estate.sites[0].code, title=TITLE)], key=key_for(estate))
    alert_ids = list(Alert.objects.values_list("id", flat=True))
    tokens = {role: token_for(estate.user(role)) for role in ("operator", "viewer")}

    async def connect(token):
        ws = WebsocketCommunicator(
            application,
            "/ws/dashboard/",
            headers=[(b"host", b"testserver"), (b"authorization", token.encode())],
        )
        await ws.connect(timeout=5)
        while (await ws.receive_json_from(timeout=5))["type"] != "hello":
            pass
        return ws

    async def incidents(ws) -> list[dict]:
        async with asyncio.timeout(5):
            while True:
                message = await ws.receive_json_from(timeout=5)
                if message["type"] == "events":
                    found = [e for e in message["events"] if "incident" in e]
                    if found:
                        return found

    async def scenario():
        operator, viewer = await connect(tokens["operator"]), await connect(tokens["viewer"])
        opened = await sync_to_async(_open_in_thread, thread_sensitive=False)(estate, alert_ids)
        got = await incidents(operator)
        assert got[0]["type"] == "incident.created"
        assert got[0]["incident"]["id"] == opened
        assert "jane.doe@example.com" not in got[0]["incident"]["title"]
        assert await viewer.receive_nothing(timeout=0.5)  # another client's site
        await operator.disconnect()
        await viewer.disconnect()

    try:
        async_to_sync(scenario)()
    finally:
        HUB.receivers.clear()
