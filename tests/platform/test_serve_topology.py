"""The default `watchfloor serve` with Redis: one command, one port, HTTP from gunicorn's gevent
workers and WebSockets from one uvicorn process (platform/ws_splice.py, docs/decisions.md).

A real server in a home of its own (SQLite, and a Redis of the test's own, whatever the suite's
engine: the topology depends on Redis, not on the database): an alert posted over HTTP reaches a
WebSocket opened on the same port (so the event went worker -> staging -> the fold process ->
Redis -> the WebSocket process), a foreign Origin is refused at the handshake, the WebSocket
process and the fold process come back after kill -9, and a SIGTERM stops every process.
Timeouts bound a hang; they are not timing assertions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from support_outages import RedisServer, free_port, redis_binary
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

CLI = [sys.executable, "-m", "watchfloor.cli"]
SEED = """
from watchfloor.tenancy.services import create_client, create_site
from watchfloor.tenancy.models import Tenant
tenant = Tenant.objects.get(slug="topo")
client = create_client(tenant, actor=None, code="C1", name="Client 1")
create_site(tenant, actor=None, client=client, code="C1-S1", name="Site 1")
"""


@pytest.fixture(scope="module")
def redis():
    server = RedisServer(redis_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def estate(tmp_path_factory, redis):
    home = tmp_path_factory.mktemp("topology-home")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "WATCHFLOOR_DEMO"}
    }
    env.update(
        WATCHFLOOR_HOME=str(home),
        DJANGO_SETTINGS_MODULE="watchfloor.settings",
        REDIS_URL=redis.url,
        WATCHFLOOR_ALLOWED_HOSTS="127.0.0.1,localhost",
    )

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*CLI, *args], env=env, check=True, timeout=300, capture_output=True, text=True
        )
        return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""

    cli("migrate", "-v", "0")
    cli("tenant", "create", "--slug", "topo", "--name", "Topology", "--admin", "topoadmin")
    cli("shell", "-c", SEED)
    key = cli("integration-key", "create", "--tenant", "topo", "--source", "native")
    token = cli("token", "create", "--user", "topoadmin", "--name", "topology")
    return {"env": env, "key": key, "token": token}


def _health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/live", timeout=5) as r:
        return r.status


def _wait_health(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        try:
            if _health(port) == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the server never answered"
        time.sleep(0.3)


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append((int(entry), cmdline))
    return found


def _ws_process(pid: int) -> int | None:
    for child, cmdline in _children(pid):
        if "--uds" in cmdline:
            return child
    return None


def _fold_process(pid: int) -> int | None:
    for child, cmdline in _children(pid):
        if "watchfloor.cli pipeline" in cmdline:
            return child
    return None


def _workers(pid: int) -> list[tuple[int, str]]:
    return [
        c for c in _children(pid) if "--uds" not in c[1] and "watchfloor.cli pipeline" not in c[1]
    ]


def _post_alert(port: int, key: str, entity: str) -> int:
    body = json.dumps(
        {
            "type": "TOPOLOGY_CHECK",
            "severity": "high",
            "title": f"topology {entity}",
            "client": "C1",
            "site": "C1-S1",
            "entity_type": "device",
            "entity_id": entity,
        }
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/integrations/native",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (http, loopback)
        return answer.status


def _receive_alert(ws, title: str, timeout: float = 30.0) -> dict:
    """Messages until an update carrying the alert titled `title`."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no live update for {title!r}"
        message = json.loads(ws.recv(timeout=remaining))
        if title in json.dumps(message):
            return message


def _live_alert_arrives(port: int, estate: dict, entity: str) -> None:
    url = f"ws://127.0.0.1:{port}/ws/dashboard/"
    with connect(
        url, additional_headers={"Authorization": f"Bearer {estate['token']}"}, open_timeout=30
    ) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello", hello
        assert _post_alert(port, estate["key"], entity) in (200, 201, 202)
        _receive_alert(ws, f"topology {entity}")


@pytest.fixture
def server(estate):
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=estate["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_health(port, process)
        yield port, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)


def test_one_port_serves_http_from_gunicorn_and_websockets_from_uvicorn(server, estate):
    port, process = server
    assert len(_workers(process.pid)) == 2, _children(process.pid)  # gunicorn's, forked
    assert _ws_process(process.pid) is not None  # and the WebSocket process beside them
    assert _fold_process(process.pid) is not None  # and the fold process

    # posted over HTTP to a worker, heard by the WebSocket process through Redis, on one port
    _live_alert_arrives(port, estate, "dev-1")

    # the Origin check still runs (in the WebSocket process): a foreign page is refused at the
    # handshake, before any data
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"ws://127.0.0.1:{port}/ws/dashboard/", origin="http://evil.example", open_timeout=30
        )
    assert refused.value.response.status_code == 403


def test_the_websocket_process_comes_back_after_kill_9(server, estate):
    port, process = server
    first = _ws_process(process.pid)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:  # serve starts a new one; until it listens, an upgrade answers 503
        second = _ws_process(process.pid)
        if second not in (None, first):
            try:
                _live_alert_arrives(port, estate, f"dev-after-{second}")
                break
            except (InvalidStatus, OSError, TimeoutError):
                pass
        assert time.monotonic() < deadline, "the WebSocket process did not come back"
        time.sleep(0.5)
    assert _health(port) == 200


def test_the_fold_process_comes_back_after_kill_9_and_nothing_staged_is_left(server, estate):
    """While it is gone the other processes' standby drainers fold (what was answered 2xx still
    reaches the screens); `serve` starts a new one, which folds from then on."""
    port, process = server
    first = _fold_process(process.pid)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _live_alert_arrives(port, estate, "dev-fold-gone")
    deadline = time.monotonic() + 120
    while _fold_process(process.pid) in (None, first):
        assert time.monotonic() < deadline, "the fold process did not come back"
        time.sleep(0.5)
    _live_alert_arrives(port, estate, "dev-fold-back")


def test_sigterm_stops_every_process(server):
    _, process = server
    children = [_ws_process(process.pid), _fold_process(process.pid)]
    assert None not in children
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    deadline = time.monotonic() + 30
    for child in children:
        while os.path.exists(f"/proc/{child}") and _is_alive(child):
            assert time.monotonic() < deadline, f"{child} outlived serve:\n{output}"
            time.sleep(0.2)


def _is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
