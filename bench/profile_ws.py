"""Not a figure: what the live fan-out costs per step, in process, without network or profiler.

`websocket.py` measures the fan-out end to end; this times its three CPU steps on the real code,
one at a time, for one server process holding `--connections` dashboard connections of one
tenant (all the same viewer, as in `websocket.py`):

1. fan-out: `Hub.dispatch` of a published batch of `--batch` alert events to every connection
   (`DashboardConsumer.offer`), then each connection's update as `_send_update` builds it and
   hands it to the socket (the socket replaced by a sink: no ASGI, no network), the real code;
2. for comparison, encoding every connection's update on its own (`json.dumps` with Django's
   encoder, as the consumer did before it shared the events' JSON);
3. deflate: an update compressed as uvicorn's WebSocket protocol does for a browser that
   negotiated permessage-deflate (`websockets`' server factory, 12-bit window, memLevel 5), once
   per connection (each connection has its own compression context).

It prints CPU seconds per step (`time.thread_time`, so other processes on the machine do not
count) and per (event x connection), and writes bench/results/profile_ws.json.

    uv run python bench/profile_ws.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
os.environ.setdefault("WATCHFLOOR_HOME", tempfile.mkdtemp(prefix="wf-profile-ws-"))
os.environ.pop("REDIS_URL", None)

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.serializers.json import DjangoJSONEncoder  # noqa: E402
from websockets.extensions.permessage_deflate import PerMessageDeflate  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402

from watchfloor.access.capabilities import Capability  # noqa: E402
from watchfloor.access.scope import ScopeKind  # noqa: E402
from watchfloor.realtime.consumers import DashboardConsumer  # noqa: E402
from watchfloor.realtime.hub import Hub  # noqa: E402
from watchfloor.realtime.outbox import Outbox  # noqa: E402
from watchfloor.realtime.viewer import Viewer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from websocket import peer_event  # noqa: E402 (the same event shape as websocket.py's peer)


def viewer(pii: bool) -> Viewer:
    caps = {Capability.VIEW.value, Capability.ACK_ALERTS.value}
    if pii:
        caps.add(Capability.VIEW_PII.value)
    return Viewer(
        user_id=1,
        tenant_id=1,
        kind=ScopeKind.ALL_CLIENTS,
        capabilities=frozenset(caps),
        client_ids=frozenset({1}),
        site_ids=frozenset({1}),
        client_codes={"C000": 1},
    )


class Sink:
    """Stands in for the socket: `send` takes the message and returns (no ASGI, no network)."""

    def __init__(self) -> None:
        self.bytes = 0

    async def __call__(self, text_data=None, bytes_data=None, close=False) -> None:
        self.bytes += len(text_data or "")


def consumer(pii: bool, sink: Sink) -> DashboardConsumer:
    """A consumer as `connect()` leaves it (the attributes its event path uses)."""
    c = DashboardConsumer()
    c.viewer, c.tenant_id, c.outbox = viewer(pii), 1, Outbox()
    c._flush_handle, c._sending, c._closed, c._last_flush = None, False, False, 0.0
    c.send = sink
    return c


def events(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        e = peer_event(f"profile storm {i}", i, ("C000", "C000-S00"))
        e["published_at"] = time.time()
        out.append(e)
    return out


async def fan_out(connections: int, batch: int, pii: bool) -> dict[str, float]:
    """CPU of one published batch: `Hub.dispatch` to every connection, then each connection's
    update built and handed to its socket (`_send_update`, the real code; the socket is a
    sink)."""
    hub, sink = Hub(), Sink()
    receivers = [consumer(pii, sink) for _ in range(connections)]
    for r in receivers:
        hub.receivers[1].add(r)
    payload = events(batch)
    t = time.thread_time()
    hub.dispatch(payload)
    dispatched = time.thread_time() - t
    for r in receivers:  # the flushes offer() scheduled: run them here, timed
        if r._flush_handle is not None:
            r._flush_handle.cancel()
            r._flush_handle = None
    t = time.thread_time()
    for r in receivers:
        r._sending = True
        await r._send_update()
    updated = time.thread_time() - t
    for r in receivers:
        if r._flush_handle is not None:
            r._flush_handle.cancel()
    return {
        "dispatch_s": round(dispatched, 4),
        "updates_s": round(updated, 4),
        "update_bytes": sink.bytes // connections,
    }


def encode_each(connections: int, update: int) -> tuple[float, str]:
    """What encoding every connection's update separately costs (`json.dumps` with Django's
    encoder, as the consumer did before c94a123), for comparison."""
    message = {"type": "events", "events": events(update), "truncated": 0}
    t = time.thread_time()
    for _ in range(connections):
        text = json.dumps(message, cls=DjangoJSONEncoder)
    return time.thread_time() - t, text


def deflate_cost(connections: int, text: str) -> tuple[float, int]:
    data = text.encode()
    frame = Frame(Opcode.TEXT, data)
    size = 0
    extensions = [  # as ServerPerMessageDeflateFactory(12, 12, {"memLevel": 5}) negotiates
        PerMessageDeflate(False, False, 12, 12, {"memLevel": 5}) for _ in range(connections)
    ]
    t = time.thread_time()
    for ext in extensions:
        size = len(ext.encode(frame).data)
    return time.thread_time() - t, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500, help="events per published batch")
    args = parser.parse_args()
    n, b = args.connections, args.batch
    limit = settings.REALTIME_MAX_ALERTS_PER_UPDATE
    storm = asyncio.run(fan_out(n, b, pii=True))
    storm_masked = asyncio.run(fan_out(n, b, pii=False))
    single = asyncio.run(fan_out(n, 1, pii=True))
    enc, text = encode_each(n, min(b, limit))
    defl, wire = deflate_cost(n, text)
    enc_one, one_text = encode_each(n, 1)
    defl_one, wire_one = deflate_cost(n, one_text)
    report = {
        "args": vars(args),
        "commit": h.git_commit(),
        "settings": {"max_alerts_per_update": limit, "flush_ms": settings.REALTIME_FLUSH_MS},
        "loadavg": os.getloadavg(),
        "batch_to_all": {"pii": storm, "masked": storm_masked},
        "batch_us_per_event_and_connection": round(
            1e6 * (storm["dispatch_s"] + storm["updates_s"]) / (n * b), 3
        ),
        "one_alert_to_all": single,
        "encode_each_connection": {
            "alerts": min(b, limit),
            "bytes": len(text),
            "s_for_all": round(enc, 4),
            "one_alert_s_for_all": round(enc_one, 4),
        },
        "deflate_each_connection": {
            "bytes_after": wire,
            "s_for_all": round(defl, 4),
            "one_alert_bytes_after": wire_one,
            "one_alert_s_for_all": round(defl_one, 4),
        },
    }
    print(json.dumps(report, indent=2))
    h.write_json("profile_ws", report)


if __name__ == "__main__":
    main()
