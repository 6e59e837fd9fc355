"""Idle and slow clients cannot starve `watchfloor serve` (#12 section 5).

A real server (uvicorn without Redis, gunicorn's gevent workers with --wsgi, and with Redis the
default: gunicorn's workers beside the WebSocket process on one port) holds 200 idle TCP
connections and 50 slowloris-style partial requests while health is asked on a new connection:
it answers every time. The timeout is a bound on a hang, not a timing assertion; the latency
figure comes from bench/idle_connections.py (docs/benchmarks.md). The server runs on SQLite in
a home of its own whatever the suite's engine: connection handling does not depend on it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from support_outages import RedisServer, free_port, redis_binary

IDLE, SLOW = 200, 50
SLOW_HEAD = b"GET /api/health/live HTTP/1.1\r\nHost: watchfloor\r\nX-Slow: "
CLI = [sys.executable, "-m", "watchfloor.cli"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("idle-home")
    env = _env(path)
    subprocess.run([*CLI, "migrate", "-v", "0"], env=env, check=True, timeout=300)
    return path


def _env(home) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "WATCHFLOOR_DEMO"}
    }
    env.update(WATCHFLOOR_HOME=str(home), DJANGO_SETTINGS_MODULE="watchfloor.settings")
    return env


def _health(port: int, timeout: float = 5.0) -> int:
    url = f"http://127.0.0.1:{port}/api/health/live"
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.status


@pytest.fixture
def env_for(home):
    """The server's environment for a mode: "split" (the default with Redis) gets a Redis of
    the test's own."""
    started: list[RedisServer] = []

    def _for(mode: str) -> dict[str, str]:
        env = _env(home)
        if mode == "split":
            redis = RedisServer(redis_binary())
            redis.start()
            started.append(redis)
            env["REDIS_URL"] = redis.url
        return env

    yield _for
    for redis in started:
        redis.stop()


@pytest.mark.parametrize(
    "mode", [["--asgi"], ["--wsgi"], ["split"]], ids=["uvicorn", "wsgi", "split"]
)
def test_health_answers_while_idle_and_slow_clients_hold_connections(env_for, mode):
    port = free_port()
    flags = [] if mode == ["split"] else mode
    server = subprocess.Popen(
        [*CLI, "serve", *flags, "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env_for(mode[0]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                assert _health(port, timeout=2) == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
        for _ in range(IDLE):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        for _ in range(SLOW):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(SLOW_HEAD)
            held.append(sock)
        # every held connection has been accepted (and the slow ones read) before the probes
        time.sleep(1)
        assert [_health(port) for _ in range(5)] == [200] * 5
    finally:
        for sock in held:
            sock.close()
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            output, _ = server.communicate(timeout=10)
    assert "Traceback" not in output, output[-3000:]
