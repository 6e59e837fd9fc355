"""incident.created / incident.updated reach `/ws/dashboard/` end to end: from the services,
through the configured publisher and the hub, filtered by each receiver's scope and masked for
users without `noc:view_pii` (the same path as alert events)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from realtime.test_consumer import _hub_left_empty, connect, receive_until, run, tokens
from support_incidents import make_alert
from watchfloor.incidents import services
from watchfloor.incidents.models import Origin

__all__ = ["_hub_left_empty", "tokens"]

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def incidents_received(ws, want: int, timeout: float = 5.0) -> list[dict]:
    rows: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(rows) < want:
            message = await ws.receive_json_from(timeout=timeout)
            if message["type"] == "events":
                rows.extend(e for e in message["events"] if "incident" in e)
    return rows


def _in_thread(call):
    from django.db import connection

    def run_it():
        try:
            return call()
        finally:
            connection.close()

    return sync_to_async(run_it, thread_sensitive=False)()


def test_incident_events_are_scoped_and_masked(estate, tokens):
    seen_by_viewer = make_alert(estate, 1, site=estate.sites[2], title="Call jane.doe@example.com")
    elsewhere = make_alert(estate, 2, site=estate.sites[0])
    supervisor = estate.user("supervisor")

    async def scenario():
        viewer, *_ = await connect(tokens["viewer"])  # sees site 2 of client 2 only
        admin, *_ = await connect(tokens["admin"])
        await receive_until(viewer, "hello")
        await receive_until(admin, "hello")
        mine = await _in_thread(
            lambda: services.open_incident(
                [seen_by_viewer], origin=Origin.CRITICAL_ALERT, tenant=estate.tenant
            )
        )
        await _in_thread(
            lambda: services.open_incident(
                [elsewhere], origin=Origin.CRITICAL_ALERT, tenant=estate.tenant
            )
        )
        admin_rows = await incidents_received(admin, 2)
        assert {r["type"] for r in admin_rows} == {"incident.created"}
        viewer_rows = await incidents_received(viewer, 1)
        assert [r["incident"]["id"] for r in viewer_rows] == [mine.id]
        assert "jane.doe@example.com" not in viewer_rows[0]["incident"]["title"]
        assert "actor_id" not in viewer_rows[0]
        assert any("jane.doe@example.com" in r["incident"]["title"] for r in admin_rows)
        await _in_thread(lambda: services.acknowledge_incident(mine, actor=supervisor))
        [update] = await incidents_received(viewer, 1)
        assert update["type"] == "incident.updated"
        assert update["incident"]["status"] == "ACKNOWLEDGED"
        assert set(update["incident"]) >= {
            "id",
            "title",
            "severity",
            "status",
            "client_id",
            "site_id",
            "alert_count",
            "commander_id",
            "commander_name",
            "sla",
            "updated_at",
        }
        await viewer.disconnect()
        await admin.disconnect()

    run(scenario)
