"""Idle and slow clients against `watchfloor serve` (uvicorn) and `serve --wsgi` (gunicorn).

For each server mode: start it on a fresh SQLite home, open N idle TCP connections (nothing sent)
and M slowloris-style connections (a request line and half a header, then silence), then time
`GET /api/health/live` on a new connection K times while they are all held. Prints one line per
mode and appends a section to docs/benchmarks.md (with --record).

    uv run python bench/idle_connections.py --idle 200 --slow 50 --probes 20 --record
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

SLOW_HEAD = b"GET /api/health/live HTTP/1.1\r\nHost: watchfloor\r\nX-Slow: "
MODES = {"uvicorn (default)": [], "gunicorn --wsgi": ["--wsgi"]}


def start(home: Path, extra: list[str], port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(WATCHFLOOR_HOME=str(home), DJANGO_SETTINGS_MODULE="watchfloor.settings")
    cli = [sys.executable, "-m", "watchfloor.cli"]
    h.run([*cli, "migrate", "-v", "0"], env=env)
    server = subprocess.Popen(  # noqa: S603 (our own CLI)
        [*cli, "serve", *extra, "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/live", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise RuntimeError("the server did not answer /api/health/live")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def hold(port: int, idle: int, slow: int) -> list[socket.socket]:
    held = []
    for _ in range(idle):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    for _ in range(slow):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(SLOW_HEAD)
        held.append(sock)
    return held


def probe(port: int, timeout: float) -> tuple[int | str, float]:
    started = time.perf_counter()
    try:
        url = f"http://127.0.0.1:{port}/api/health/live"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            status: int | str = answer.status
    except OSError as error:
        status = type(error).__name__
    return status, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0, help="per health request, s")
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args()

    rows = []
    for name, extra in MODES.items():
        with tempfile.TemporaryDirectory(prefix="wf-idle-") as home:
            port = h.free_port()
            server = start(Path(home), extra, port)
            try:
                held = hold(port, args.idle, args.slow)
                time.sleep(1)  # let the server accept and park them
                results = [probe(port, args.timeout) for _ in range(args.probes)]
                for sock in held:
                    sock.close()
            finally:
                stop(server)
        answered = [ms for status, ms in results if status == 200]
        row = {
            "server": name,
            "answered": len(answered),
            "probes": args.probes,
            "p50_ms": round(statistics.median(answered), 1) if answered else None,
            "max_ms": round(max(answered), 1) if answered else None,
            "failures": sorted({str(s) for s, _ in results if s != 200}),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    if args.record:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [
            f"## Idle and slow clients vs. health ({h.now_utc()}, commit {h.git_commit()})",
            "",
            f"`{h.command_line()}` — {os.cpu_count()} cores, load average {load}. Each server "
            f"with 2 workers on SQLite holds {args.idle} idle TCP connections and {args.slow} "
            "slowloris-style partial requests while `GET /api/health/live` is timed on a new "
            f"connection {args.probes} times (timeout {args.timeout:g} s each).",
            "",
            "| server | health answered | p50 ms | max ms | failures |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for row in rows:
            lines.append(
                f"| {row['server']} | {row['answered']}/{row['probes']} | {row['p50_ms']} | "
                f"{row['max_ms']} | {', '.join(row['failures']) or '-'} |"
            )
        h.append_docs("\n".join(lines))


if __name__ == "__main__":
    main()
