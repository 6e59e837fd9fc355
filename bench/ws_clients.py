"""WebSocket clients for bench/websocket.py: one process holds many connections (asyncio).

Not a benchmark on its own: `websocket.py` starts a few of these processes and drives them with
one JSON command per line on stdin; each answers one JSON line on stdout. Commands:

- `{"cmd": "open", "url", "n", "headers", "concurrency", "timeout", "deflate"}`: open `n` more
  connections (at most `concurrency` handshakes at a time; `deflate`: offer permessage-deflate,
  as browsers do); each counts as held once its first message, the server's `hello`, arrived.
  Answers how many were held, failed (and why) and how long it took.
- `{"cmd": "phase", "name": "idle" | "latency" | "storm"}`: forget what was recorded and record
  for this phase from now on.
- `{"cmd": "status"}`: connections open, closed by the server, time of the newest message.
- `{"cmd": "collect"}`: what each open connection recorded in the current phase.
- `{"cmd": "close"}`: close every connection; `{"cmd": "exit"}`.

What is recorded per connection, with `time.time()` at the moment the message was read:
- latency phase: for each alert whose title is `<LATENCY_MARK><seq>`, the first arrival time and
  the event's `published_at` (messages are small here, each is parsed as JSON);
- storm phase: per message its arrival time, the `published_at` of its first (newest) event, the
  number of alert events and `truncated`, and its size. Storm messages hold up to 200 alerts, so
  they are not parsed as JSON (that would make these processes, not the server, the bottleneck):
  the server sends events newest first, so the first `published_at` is the newest.

Like a browser: permessage-deflate negotiated (unless told not to), no client pings (the server
pings; the library answers), no Origin header (API token in `Authorization`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import sys
import time

import websockets
from websockets.asyncio.client import connect

LATENCY_MARK = "wsbench latency "
PUBLISHED = re.compile(r'"published_at":\s*([0-9.eE+-]+)')
TRUNCATED = re.compile(r'"truncated":\s*(\d+)')
ALERT_EVENT = ('"type": "alert.', '"type":"alert.')  # json.dumps' default or compact separators


class Conn:
    __slots__ = ("arrivals", "closed_code", "index", "messages", "task", "ws")

    def __init__(self, index: int):
        self.index = index
        self.ws = None
        self.task: asyncio.Task | None = None
        self.arrivals: dict = {}
        self.messages: list = []
        self.closed_code: int | None = None


class Clients:
    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.phase = "idle"
        self.last_message = 0.0
        self.closed_by_server = 0
        self.close_codes: dict[str, int] = {}

    # --- connections ---------------------------------------------------------------------
    async def open(
        self, url: str, n: int, headers: dict, concurrency: int, timeout: float, deflate: bool
    ):
        started = time.monotonic()
        sem = asyncio.Semaphore(concurrency)
        errors: dict[str, int] = {}
        held = 0
        extensions = set()

        async def one(index: int) -> None:
            nonlocal held
            async with sem:
                conn = Conn(index)
                try:
                    ws = await connect(
                        url,
                        additional_headers=headers,
                        proxy=None,
                        ping_interval=None,
                        open_timeout=timeout,
                        max_size=None,
                        user_agent_header="wsbench",
                        compression="deflate" if deflate else None,
                    )
                except Exception as exc:
                    reason = f"connect: {type(exc).__name__}: {str(exc)[:80]}"
                    errors[reason] = errors.get(reason, 0) + 1
                    return
                try:
                    async with asyncio.timeout(timeout):
                        first = json.loads(await ws.recv())
                except Exception as exc:
                    reason = f"no hello: {type(exc).__name__}: {str(exc)[:80]}"
                    errors[reason] = errors.get(reason, 0) + 1
                    await ws.close()
                    return
                if first.get("type") != "hello":
                    reason = f"first message {first.get('type')!r}: {str(first)[:80]}"
                    errors[reason] = errors.get(reason, 0) + 1
                    await ws.close()
                    return
                conn.ws = ws
                extensions.add(ws.response.headers.get("Sec-WebSocket-Extensions", ""))
                conn.task = asyncio.get_running_loop().create_task(self.read(conn))
                self.conns.append(conn)
                held += 1

        base = len(self.conns)
        await asyncio.gather(*(one(base + i) for i in range(n)))
        return {
            "held": held,
            "failed": n - held,
            "errors": errors,
            "seconds": round(time.monotonic() - started, 3),
            "open_total": self.open_count(),
            "extensions": sorted(extensions),
        }

    def open_count(self) -> int:
        return sum(1 for c in self.conns if c.closed_code is None)

    async def read(self, conn: Conn) -> None:
        ws = conn.ws
        try:
            async for raw in ws:
                t = time.time()
                self.last_message = t
                if self.phase == "latency":
                    self.on_latency(conn, raw, t)
                elif self.phase == "storm":
                    self.on_storm(conn, raw, t)
        except websockets.ConnectionClosed:
            pass
        finally:
            code = ws.close_code if ws.close_code is not None else -1
            conn.closed_code = code
            if self.phase != "closing":
                self.closed_by_server += 1
                self.close_codes[str(code)] = self.close_codes.get(str(code), 0) + 1

    def on_latency(self, conn: Conn, raw, t: float) -> None:
        msg = json.loads(raw)
        if msg.get("type") != "events":
            return
        for event in msg.get("events", ()):
            title = (event.get("alert") or {}).get("title") or ""
            if title.startswith(LATENCY_MARK):
                seq = title[len(LATENCY_MARK) :]
                if seq not in conn.arrivals:
                    conn.arrivals[seq] = (t, event.get("published_at"))

    def on_storm(self, conn: Conn, raw, t: float) -> None:
        if isinstance(raw, bytes):
            raw = raw.decode()
        head = raw[:64]
        if '"type": "events"' not in head and '"type":"events"' not in head:
            return
        m = PUBLISHED.search(raw)
        newest = float(m.group(1)) if m else None
        tail = TRUNCATED.search(raw, max(0, len(raw) - 40))
        conn.messages.append(
            (
                t,
                newest,
                raw.count(ALERT_EVENT[0]) + raw.count(ALERT_EVENT[1]),
                int(tail.group(1)) if tail else 0,
                len(raw),
            )
        )

    def set_phase(self, name: str) -> None:
        for conn in self.conns:
            conn.arrivals = {}
            conn.messages = []
        self.phase = name

    def collect(self) -> list[dict]:
        return [
            {
                "index": c.index,
                "open": c.closed_code is None,
                "arrivals": c.arrivals,
                "messages": c.messages,
            }
            for c in self.conns
        ]

    async def close(self, timeout: float) -> int:
        self.phase = "closing"
        live = [c for c in self.conns if c.closed_code is None]

        async def one(conn: Conn) -> None:
            with contextlib.suppress(Exception):
                await conn.ws.close()

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(one(c) for c in live))
        for conn in self.conns:
            if conn.task is not None and not conn.task.done():
                conn.task.cancel()
        closed = len(live)
        self.conns = []
        self.phase = "idle"
        return closed


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return round(ru.ru_utime + ru.ru_stime, 3)


async def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clients = Clients()

    def answer(payload: dict) -> None:
        payload["cpu_seconds"] = cpu_seconds()
        sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = json.loads(line)
        kind = cmd["cmd"]
        try:
            if kind == "open":
                answer(
                    await clients.open(
                        cmd["url"],
                        cmd["n"],
                        cmd["headers"],
                        cmd["concurrency"],
                        cmd["timeout"],
                        cmd.get("deflate", True),
                    )
                )
            elif kind == "phase":
                clients.set_phase(cmd["name"])
                answer({"phase": cmd["name"]})
            elif kind == "status":
                answer(
                    {
                        "open": clients.open_count(),
                        "closed_by_server": clients.closed_by_server,
                        "close_codes": clients.close_codes,
                        "last_message": clients.last_message,
                        "nofile": hard,
                    }
                )
            elif kind == "collect":
                answer({"conns": clients.collect()})
            elif kind == "close":
                answer({"closed": await clients.close(cmd.get("timeout", 30.0))})
            elif kind == "exit":
                await clients.close(10.0)
                answer({"bye": True})
                return
            else:
                answer({"error": f"unknown command {kind!r}"})
        except Exception as exc:  # answer anyway: the driver waits for one line per command
            answer({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
