"""Scale-out: a WebSocket on one web node receives what another node ingested (Redis pub/sub).

A second `watchfloor serve` process shares the first one's database and Redis; a program holding
an API token listens on node A while alerts are posted to node B, in both directions, and an
acknowledgement sent over node B's socket reaches node A's listener. Needs REDIS_URL (without it
each process only hears itself, by design: the embedded mode is one process); mandatory in CI's
PostgreSQL + Redis run (WATCHFLOOR_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from websockets.sync.client import connect

from .conftest import LiveServer
from .support import alert_event


@pytest.fixture
def second_node(server):
    if not server.env.get("REDIS_URL"):
        reason = "needs REDIS_URL: WebSocket events cross nodes through Redis pub/sub"
        if os.environ.get("WATCHFLOOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"WATCHFLOOR_REQUIRE_POSTGRES=1 but the two-node test {reason}")
        pytest.skip(reason)
    node = LiveServer(env=server.env, home=server.home, data=server.data)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def listen(node: LiveServer, token: str):
    ws = connect(
        node.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
    )
    hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "hello"
    return ws


def alerts_seen(ws, titles: set[str], timeout: float = 10.0) -> dict[str, dict]:
    """Read events until every title arrived; {title: row}."""
    seen: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while not titles <= set(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"never received {sorted(titles - set(seen))}"
        message = json.loads(ws.recv(timeout=left))
        for event in message.get("events", []):
            row = event.get("alert")
            if row and row["title"] in titles:
                seen[row["title"]] = {**row, "event": event["type"]}
    return seen


def test_a_socket_on_one_node_hears_what_another_node_did(server, second_node, unique):
    token = server.data["tokens"]["supervisor"]
    site = server.data["sites"][server.data["own_client"]][0]
    on_a, on_b = listen(server, token), listen(second_node, token)
    try:
        to_b, to_a = unique("posted to node B"), unique("posted to node A")
        ids = second_node.post_alerts([alert_event(to_b, site=site)])
        ids |= server.post_alerts([alert_event(to_a, site=site)])
        assert set(alerts_seen(on_a, {to_a, to_b})) == {to_a, to_b}
        assert set(alerts_seen(on_b, {to_a, to_b})) == {to_a, to_b}

        on_b.send(json.dumps({"type": "alert.acknowledge", "id": ids[to_a], "request_id": 1}))
        seen = alerts_seen(on_a, {to_a})
        assert seen[to_a]["status"] == "ACKNOWLEDGED" and seen[to_a]["event"] == "alert.updated"
    finally:
        on_a.close()
        on_b.close()
