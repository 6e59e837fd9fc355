"""Live fan-out on one server process: connections held, memory, delivery latency, a storm.

Watchfloor runs as shipped, `watchfloor serve --workers 1` (uvicorn, ONE process) on PostgreSQL
and Redis (the production path: events go through Redis pub/sub to the process's hub), and the
WebSocket clients run in separate processes (`bench/ws_clients.py`, asyncio + `websockets`, a few
processes, each holding its share of the connections). Everything is on 127.0.0.1. Phases:

1. connections: open `--connections` (5,000) authenticated `/ws/dashboard/` connections, all with
   one API token of the tenant admin (every client in scope), in steps; each counts once its
   `hello` arrived. The server's RSS (psutil, the uvicorn process) before, after each step and
   after closing: memory per connection.
2. latency: `--clients` (1,000) connections; the script posts one alert every 0.5 s for
   `--latency-seconds` (30) through `POST /api/v1/integrations/native` (a new fingerprint each,
   the send time recorded), and every client records when that alert arrives. Delivery latency
   = arrival at the LAST client - POST sent; also split at `published_at` (the commit).
3. storm: `--storm` (10,000) new alerts posted as fast as the API takes them (`--storm-batch`
   alerts per request, `--storm-posters` requests at a time) to the same clients. Per client:
   updates received, how far behind it fell (at each moment: now - `published_at` of the oldest
   batch already published on Redis that it had not received yet; largest over the storm), and
   when it had the last batch, after its publish and after the last POST's answer.
4. peer: the latency phase again through Channels' own fan-out, a group on
   `channels_redis.pubsub.RedisPubSubChannelLayer` (`bench/channels_peer.py` under uvicorn, the
   publisher calling `async_to_sync(layer.group_send)`), same clients, same rate; the ratio.
5. sqlite: the latency phase on the embedded path (SQLite, no Redis: the in-process publisher).

Prints the figures, writes bench/results/websocket.json, appends a dated section to
docs/benchmarks.md (unless --no-record). See bench/README.md.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gc
import json
import math
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

import harness as h

LATENCY_MARK = "wsbench latency "  # the same prefix ws_clients.py looks for
CLIENTS_SCRIPT = h.BENCH / "ws_clients.py"
RESULTS_DIR = h.RESULTS
PEER_GROUP = "wsbench"  # channels_peer.GROUP
PEER_MESSAGE_TYPE = "bench.event"  # channels_peer.MESSAGE_TYPE
BEHIND_TARGET_S = 2.0
LATENCY_TARGET_MS = 250.0


# --- small helpers -----------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p99 of 60 values is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout:.0f}s")


def server_process(server: h.Server) -> psutil.Process:
    """The Python process that runs uvicorn (`uv run` is its parent; one worker: no children)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in server.processes():
            with contextlib.suppress(psutil.Error):
                if "python" in p.name() or "python" in (p.cmdline() or [""])[0]:
                    return p
                if p.pid != server.proc.pid and p.name() not in ("uv",):
                    return p
        time.sleep(0.2)
    raise RuntimeError(f"no Python process under {server.name}")


def rss_mib(proc: psutil.Process) -> float:
    return round(proc.memory_info().rss / 2**20, 1)


# --- client processes ------------------------------------------------------------------------


class ClientPool:
    """`n` ws_clients.py processes, driven by one JSON line per command each."""

    def __init__(self, n: int, work: Path, deflate: bool = True):
        self.deflate = deflate
        self.procs: list[subprocess.Popen] = []
        for i in range(n):
            err = open(work / f"ws-clients-{i}.log", "wb")  # noqa: SIM115 — lives with the proc
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, str(CLIENTS_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            self.procs.append(proc)
        self.pids = [p.pid for p in self.procs]

    def _ask(self, cmds: list[dict], timeout: float) -> list[dict]:
        for proc, cmd in zip(self.procs, cmds, strict=True):
            proc.stdin.write(json.dumps(cmd) + "\n")
            proc.stdin.flush()
        answers = []
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            ready, _, _ = select.select(
                [proc.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            if not ready:
                raise RuntimeError(f"client process {proc.pid} did not answer {cmds[0]['cmd']}")
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"client process {proc.pid} exited ({proc.poll()})")
            answer = json.loads(line)
            if "error" in answer:
                raise RuntimeError(f"client process {proc.pid}: {answer['error']}")
            answers.append(answer)
        return answers

    def ask(self, cmd: dict, timeout: float = 60.0) -> list[dict]:
        return self._ask([cmd] * len(self.procs), timeout)

    def open(
        self, url: str, n: int, headers: dict, *, concurrency: int, timeout: float
    ) -> dict[str, Any]:
        k = len(self.procs)
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        cmds = [
            {
                "cmd": "open",
                "url": url,
                "n": share,
                "headers": headers,
                "concurrency": concurrency,
                "timeout": timeout,
                "deflate": self.deflate,
            }
            for share in shares
        ]
        answers = self._ask(cmds, timeout=timeout * (n / max(1, concurrency * k)) + 4 * timeout)
        errors: dict[str, int] = {}
        for a in answers:
            for reason, count in a["errors"].items():
                errors[reason] = errors.get(reason, 0) + count
        return {
            "asked": n,
            "extensions": sorted({e for a in answers for e in a["extensions"]}),
            "held": sum(a["held"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "errors": errors,
            "seconds": max(a["seconds"] for a in answers),
            "open_total": sum(a["open_total"] for a in answers),
        }

    def phase(self, name: str) -> None:
        self.ask({"cmd": "phase", "name": name})

    def status(self) -> dict[str, Any]:
        answers = self.ask({"cmd": "status"})
        codes: dict[str, int] = {}
        for a in answers:
            for code, count in a["close_codes"].items():
                codes[code] = codes.get(code, 0) + count
        return {
            "open": sum(a["open"] for a in answers),
            "closed_by_server": sum(a["closed_by_server"] for a in answers),
            "close_codes": codes,
            "last_message": max(a["last_message"] for a in answers),
        }

    def collect(self) -> list[dict]:
        conns = []
        for a in self.ask({"cmd": "collect"}, timeout=120):
            conns.extend(c for c in a["conns"] if c["open"])
        return conns

    def close(self) -> int:
        return sum(a["closed"] for a in self.ask({"cmd": "close", "timeout": 30}, timeout=90))

    def wait_quiet(self, quiet: float, limit: float, since: float) -> float:
        """Wait until no client got a message for `quiet` s (bounded by `limit`); seconds."""
        t0 = time.time()
        while time.time() - t0 < limit:
            last = max(self.status()["last_message"], since)
            if time.time() - last >= quiet:
                break
            time.sleep(0.25)
        return round(time.time() - t0, 2)

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                proc.stdin.flush()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- CPU accounting --------------------------------------------------------------------------


class Meter:
    """CPU used during a phase (percent of one core) by the server, the clients, PostgreSQL,
    Redis, and everything else on the machine (other engineers' work, the kernel)."""

    def __init__(
        self,
        server: psutil.Process,
        clients: ClientPool,
        ingest: list[psutil.Process] | None = None,
    ):
        self.server, self.clients, self.ingest = server, clients, ingest

    def _snap(self) -> dict[str, dict[int, float]]:
        clients = []
        for pid in self.clients.pids:
            with contextlib.suppress(psutil.Error):
                clients.append(psutil.Process(pid))
        snap = {
            "server": h._cpu_by_pid([self.server]),
            "clients": h._cpu_by_pid(clients),
            "postgres": h._cpu_by_pid(h._postgres_procs()),
            "redis": h._cpu_by_pid(h._named(["redis-server"])),
        }
        if self.ingest:  # a separate HTTP-only node taking the storm's POSTs
            snap["ingest_node"] = h._cpu_by_pid(self.ingest)
        return snap

    def __enter__(self):
        self.t0, self.m0, self.before = time.monotonic(), psutil.cpu_times(), self._snap()
        self.load_before = loadavg()
        return self

    def __exit__(self, *exc):
        wall = time.monotonic() - self.t0
        after, m1 = self._snap(), psutil.cpu_times()
        busy = sum(
            getattr(m1, f) - getattr(self.m0, f)
            for f in m1._fields
            if f not in ("idle", "iowait", "guest", "guest_nice")
        )
        out = {k: round(100 * h._delta(self.before[k], after[k]) / wall, 1) for k in after}
        out["machine_busy"] = round(100 * busy / wall, 1)
        ours = sum(v for k, v in out.items() if k != "machine_busy")
        out["other"] = round(max(0.0, out["machine_busy"] - ours), 1)
        out["seconds"] = round(wall, 2)
        out["loadavg_before"] = self.load_before
        out["loadavg_after"] = loadavg()
        self.result = out


# --- what is sent ----------------------------------------------------------------------------


def native_event(kind: str, title: str, entity: str, site: tuple[str, str]) -> dict:
    return {
        "type": kind,
        "severity": "high",
        "title": title,
        "client": site[0],
        "site": site[1],
        "entity_type": "device",
        "entity_id": entity,
        "labels": {"bench": "websocket"},
    }


def peer_event(title: str, seq: int, site: tuple[str, str]) -> dict:
    """A Watchfloor `alert.created` event (the same keys and sizes as broadcast.feed_row)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
    return {
        "type": "alert.created",
        "tenant_id": 1,
        "alert": {
            "id": 1_000_000 + seq,
            "client_id": 1,
            "site_id": 1,
            "source": "native",
            "type": "WSBENCH_LATENCY",
            "severity": "HIGH",
            "status": "NEW",
            "title": title,
            "fingerprint": uuid.uuid4().hex,
            "occurrence_count": 1,
            "suppressed_count": 0,
            "suppression_reason": "",
            "correlation_id": None,
            "parent_id": None,
            "escalation_level": 0,
            "assignee_id": None,
            "first_seen_at": now,
            "last_seen_at": now,
            "acknowledged_at": None,
            "resolved_at": None,
            "client_code": site[0],
            "client_name": f"Client {site[0]}",
            "site_code": site[1],
            "site_name": f"Site {site[1]}",
            "city": "City 0",
            "state": "State 0",
            "assignee_name": None,
        },
    }


class NativeSender:
    """Posts one latency alert per call through the native integration endpoint."""

    def __init__(self, base_url: str, key: str, sites: list[tuple[str, str]], run: str):
        self.url = base_url + "/api/v1/integrations/native"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.sites, self.run = sites, run

    def __call__(self, seq: int) -> dict:
        body = json.dumps(
            native_event(
                "WSBENCH_LATENCY",
                f"{LATENCY_MARK}{seq}",
                f"lat-{self.run}-{seq}",
                self.sites[seq % len(self.sites)],
            )
        ).encode()
        t_send = time.time()
        status, _ = h.http("POST", self.url, body=body, headers=self.headers, timeout=30)
        return {"seq": seq, "t_send": t_send, "t_answer": time.time(), "status": status}


class PeerSender:
    """`async_to_sync(layer.group_send)` on Channels' Redis pub/sub layer, as a sync service
    would publish after its commit; `published_at` is stamped just before, like Watchfloor's."""

    def __init__(self, redis_url: str, sites: list[tuple[str, str]]):
        from asgiref.sync import async_to_sync
        from channels_redis.pubsub import RedisPubSubChannelLayer

        self.layer = RedisPubSubChannelLayer(hosts=[redis_url])
        self.group_send = async_to_sync(self.layer.group_send)
        self.sites = sites
        self.lock = threading.Lock()

    def __call__(self, seq: int) -> dict:
        event = peer_event(f"{LATENCY_MARK}{seq}", seq, self.sites[seq % len(self.sites)])
        with self.lock:  # one publisher, as one web node's service
            t_send = time.time()
            event["published_at"] = t_send
            self.group_send(PEER_GROUP, {"type": PEER_MESSAGE_TYPE, "events": [event]})
            t_answer = time.time()
        return {"seq": seq, "t_send": t_send, "t_answer": t_answer, "status": 200}


# --- phases ----------------------------------------------------------------------------------


def connections_phase(
    pool: ClientPool, url: str, headers: dict, server: psutil.Process, args
) -> dict[str, Any]:
    gc.collect()
    time.sleep(2)
    before = rss_mib(server)
    h.log(f"connections: server RSS {before} MiB before; opening {args.connections:,}")
    steps, held = [], 0
    with Meter(server, pool) as meter:
        remaining = args.connections
        while remaining > 0:
            n = min(args.connection_step, remaining)
            res = pool.open(
                url, n, headers, concurrency=args.handshakes, timeout=args.connect_timeout
            )
            remaining -= n
            held = res["open_total"]
            time.sleep(1)
            steps.append(
                {
                    "asked": n,
                    "held": res["held"],
                    "failed": res["failed"],
                    "errors": res["errors"],
                    "seconds": res["seconds"],
                    "open_total": held,
                    "rss_mib": rss_mib(server),
                    "server_fds": server.num_fds(),
                    "extensions": res["extensions"],
                }
            )
            h.log(
                f"connections: +{res['held']}/{n} in {res['seconds']:.1f}s, open {held:,}, "
                f"RSS {steps[-1]['rss_mib']} MiB"
                + (f", failures {res['errors']}" if res["failed"] else "")
            )
            if res["held"] < n // 2:
                h.log("connections: more than half of a step failed; stopping here")
                break
    time.sleep(args.hold_seconds)  # hold them: do they stay open?
    status = pool.status()
    after = rss_mib(server)
    closed = pool.close()
    time.sleep(3)
    after_close = rss_mib(server)
    per_conn = 1024 * (after - before) / status["open"] if status["open"] else None
    out = {
        "asked": args.connections,
        "held": status["open"],
        "held_for_s": args.hold_seconds,
        "closed_by_server": status["closed_by_server"],
        "close_codes": status["close_codes"],
        "failed": sum(s["failed"] for s in steps),
        "errors": {k: v for s in steps for k, v in s["errors"].items()},
        "open_seconds": round(sum(s["seconds"] for s in steps), 1),
        "rss_mib_before": before,
        "rss_mib_after": after,
        "rss_mib_after_close": after_close,
        "kib_per_connection": round(per_conn, 1) if per_conn else None,
        "steps": steps,
        "cpu_pct": meter.result,
        "closed": closed,
    }
    h.log(
        f"connections: held {out['held']:,} of {out['asked']:,} for {args.hold_seconds}s; RSS "
        f"{before} -> {after} MiB = {out['kib_per_connection']} KiB per connection; "
        f"{after_close} MiB after closing"
    )
    return out


def open_clients(pool: ClientPool, url: str, headers: dict, n: int, args) -> dict[str, Any]:
    res = pool.open(url, n, headers, concurrency=args.handshakes, timeout=args.connect_timeout)
    h.log(f"opened {res['held']:,}/{n:,} in {res['seconds']:.1f}s")
    if res["held"] < n:
        h.log(f"  failures: {res['errors']}")
    return res


def latency_phase(pool: ClientPool, sender, server: psutil.Process, args) -> dict[str, Any]:
    """One alert every 1/rate s (absolute schedule) for `seconds`; arrival at every client."""
    count = int(args.latency_seconds * args.rate)
    pool.phase("latency")
    sends: list[dict] = []
    time.sleep(1)
    with Meter(server, pool) as meter, ThreadPoolExecutor(4) as ex:
        t0 = time.time() + 0.2
        futures = []
        for seq in range(count):
            delay = t0 + seq / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(ex.submit(sender, seq))
        sends = [f.result(timeout=60) for f in futures]
        last = max(s["t_answer"] for s in sends)
        pool.wait_quiet(2.0, 15.0, since=last)
    conns = pool.collect()
    return latency_figures(sends, conns, meter.result)


def cpu_ms_per_alert(cpu: dict, alerts: int) -> float:
    """CPU the server spent per alert (ingestion included for Watchfloor): what a busy machine
    cannot inflate the way it inflates latency."""
    return round(10 * cpu["server"] * cpu["seconds"] / alerts, 1)


def latency_figures(sends: list[dict], conns: list[dict], cpu: dict) -> dict[str, Any]:
    n_clients = len(conns)
    per_alert = []
    per_client_lat: list[list[float]] = [[] for _ in conns]
    for s in sends:
        key = str(s["seq"])
        arrivals = []
        published = None
        for i, c in enumerate(conns):
            got = c["arrivals"].get(key)
            if got is not None:
                arrivals.append(got[0])
                published = published or got[1]
                per_client_lat[i].append(got[0] - s["t_send"])
        row = {
            "seq": s["seq"],
            "t_send": s["t_send"],
            "status": s["status"],
            "post_ms": ms(s["t_answer"] - s["t_send"]),
            "received_by": len(arrivals),
        }
        if arrivals:
            row["first_ms"] = ms(min(arrivals) - s["t_send"])
            row["last_ms"] = ms(max(arrivals) - s["t_send"])
            if published:
                row["to_publish_ms"] = ms(published - s["t_send"])
                row["publish_to_last_ms"] = ms(max(arrivals) - published)
                row["publish_to_first_ms"] = ms(min(arrivals) - published)
        per_alert.append(row)
    complete = [r for r in per_alert if r["received_by"] == n_clients and n_clients]
    missing = sum(n_clients - r["received_by"] for r in per_alert)

    def dist(key: str, rows=complete) -> dict[str, float | None]:
        values = [r[key] for r in rows if r.get(key) is not None]
        return {
            "p50": pct(values, 50),
            "p99": pct(values, 99),
            "max": max(values) if values else None,
        }

    client_p50 = [1000 * pct(v, 50) for v in per_client_lat if v]
    client_p99 = [1000 * pct(v, 99) for v in per_client_lat if v]
    out = {
        "alerts": len(sends),
        "clients": n_clients,
        "non_2xx_posts": sum(1 for s in sends if not 200 <= s["status"] < 300),
        "alerts_reaching_every_client": len(complete),
        "missing_deliveries": missing,
        "to_last_client_ms": dist("last_ms"),
        "to_first_client_ms": dist("first_ms"),
        "post_answer_ms": dist("post_ms", per_alert),
        "send_to_publish_ms": dist("to_publish_ms"),
        "publish_to_last_client_ms": dist("publish_to_last_ms"),
        "publish_to_first_client_ms": dist("publish_to_first_ms"),
        "per_client_ms": {
            "p50_median": round(statistics.median(client_p50), 1) if client_p50 else None,
            "p50_max": round(max(client_p50), 1) if client_p50 else None,
            "p99_median": round(statistics.median(client_p99), 1) if client_p99 else None,
            "p99_max": round(max(client_p99), 1) if client_p99 else None,
        },
        "cpu_pct": cpu,
        "server_cpu_ms_per_alert": cpu_ms_per_alert(cpu, len(sends)),
        "per_alert": per_alert,
    }
    t = out["to_last_client_ms"]
    h.log(
        f"latency: {len(complete)}/{len(sends)} alerts reached all {n_clients} clients "
        f"(missing deliveries {missing}); to the last client p50 {t['p50']} ms, p99 {t['p99']} "
        f"ms; publish->last p50 {out['publish_to_last_client_ms']['p50']} ms, p99 "
        f"{out['publish_to_last_client_ms']['p99']} ms; CPU {cpu}"
    )
    return out


class PublishLog:
    """Every batch the server PUBLISHes on Redis during the storm, as Redis hands it out.

    A second subscriber to the hub's channels (`PSUBSCRIBE watchfloor:<db>:rt:*`): it gives the
    `published_at` of every batch, so "how far behind" can be measured against what had really
    been published, and counts events that are not this bench's (Redis pub/sub channels are
    shared by every database number of the Redis server).
    """

    def __init__(self, redis_url: str, mark: str):
        import redis

        self.mark = mark
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        # watchfloor:<redis db>:rt:<tenant> (87a2d96), watchfloor:rt:<tenant> before it
        self.pubsub.psubscribe("watchfloor:*rt:*")
        self.channels: set[str] = set()
        self.batches: list[tuple[float, float, int]] = []  # (received, published_at, events)
        self.foreign_events = 0
        self.foreign_channels: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if not msg or msg["type"] != "pmessage":
                continue
            t = time.time()
            events = json.loads(msg["data"])
            mine = [
                e
                for e in events
                if str((e.get("alert") or {}).get("title", "")).startswith(self.mark)
            ]
            if len(mine) < len(events):
                self.foreign_events += len(events) - len(mine)
                self.foreign_channels.add(msg["channel"].decode())
            if mine:
                self.channels.add(msg["channel"].decode())
                self.batches.append((t, max(e["published_at"] for e in mine), len(mine)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pubsub.close()
        self.client.close()


def storm_phase(
    pool: ClientPool,
    base_url: str,
    key: str,
    sites: list[tuple[str, str]],
    server: psutil.Process,
    redis_url: str,
    args,
    ingest_procs: list[psutil.Process] | None = None,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    mark = f"wsbench storm {run} "
    bodies = []
    for start in range(0, args.storm, args.storm_batch):
        batch = [
            native_event("WSBENCH_STORM", f"{mark}{i}", f"storm-{run}-{i}", sites[i % len(sites)])
            for i in range(start, min(args.storm, start + args.storm_batch))
        ]
        bodies.append(json.dumps(batch).encode())
    url = base_url + "/api/v1/integrations/native"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    pool.phase("storm")
    published = PublishLog(redis_url, mark)
    time.sleep(1)
    answers: list[dict] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def poster() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i, body = queue.pop(0)
            t = time.time()
            status, _ = h.http("POST", url, body=body, headers=headers, timeout=120)
            with lock:
                answers.append({"i": i, "t_send": t, "t_answer": time.time(), "status": status})

    try:
        with Meter(server, pool, ingest_procs) as meter:
            t_start = time.time()
            threads = [threading.Thread(target=poster) for _ in range(args.storm_posters)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=600)
            t_end = max(a["t_answer"] for a in answers)
            settle = pool.wait_quiet(3.0, 120.0, since=t_end)
    finally:
        published.close()
    conns = pool.collect()
    out = storm_figures(conns, answers, published, t_start, t_end, args)
    out["settle_seconds"] = settle
    out["cpu_pct"] = meter.result
    return out


def storm_figures(
    conns: list[dict],
    answers: list[dict],
    published: PublishLog,
    t_start: float,
    t_end: float,
    args,
) -> dict[str, Any]:
    if not published.batches:
        raise RuntimeError("the server published no storm event on Redis")
    pubs = sorted({p for _t, p, _n in published.batches})
    p_last = pubs[-1]
    t_collect = time.time()
    rows = []
    for c in conns:
        msgs = [m for m in c["messages"] if m[1] is not None]
        newest, behind, delay, caught = None, 0.0, 0.0, None

        def oldest_missing(newest, t):
            """Publish time of the oldest batch published before t that the client lacks."""
            i = 0 if newest is None else bisect.bisect_right(pubs, newest)
            return pubs[i] if i < len(pubs) and pubs[i] < t else None

        for t, pub, _n, _trunc, _size in msgs:
            missing = oldest_missing(newest, t)
            if missing is not None:
                behind = max(behind, t - missing)  # just before this update
            newest = pub if newest is None else max(newest, pub)
            delay = max(delay, t - pub)
            if caught is None and newest >= p_last:
                caught = t
        if caught is None:  # never had the last batch: behind until the end of the phase
            missing = oldest_missing(newest, t_collect)
            if missing is not None:
                behind = max(behind, t_collect - missing)
        rows.append(
            {
                "messages": len(c["messages"]),
                "alert_events": sum(m[2] for m in c["messages"]),
                "truncated": sum(m[3] for m in c["messages"]),
                "bytes": sum(m[4] for m in c["messages"]),
                "behind_max_s": behind,
                "newest_delay_max_s": delay,
                "caught_up_after_last_answer_s": None if caught is None else caught - t_end,
                "caught_up_after_last_publish_s": None if caught is None else caught - p_last,
            }
        )

    def spread(key: str) -> dict[str, float | None]:
        values = [r[key] for r in rows if r[key] is not None]
        if not values:
            return {"min": None, "p50": None, "p99": None, "max": None}
        return {
            "min": round(min(values), 3),
            "p50": round(pct(values, 50), 3),
            "p99": round(pct(values, 99), 3),
            "max": round(max(values), 3),
        }

    posted = sum(
        min(args.storm_batch, args.storm - a["i"] * args.storm_batch)
        for a in answers
        if 200 <= a["status"] < 300
    )
    out = {
        "alerts": args.storm,
        "batch": args.storm_batch,
        "posters": args.storm_posters,
        "requests": len(answers),
        "non_2xx": sum(1 for a in answers if not 200 <= a["status"] < 300),
        "alerts_accepted": posted,
        "post_seconds": round(t_end - t_start, 2),
        "alerts_per_s": round(posted / (t_end - t_start), 1),
        "request_ms": {
            "p50": ms(pct([a["t_answer"] - a["t_send"] for a in answers], 50)),
            "max": ms(max(a["t_answer"] - a["t_send"] for a in answers)),
        },
        "published_batches": len(published.batches),
        "published_events": sum(n for _t, _p, n in published.batches),
        "first_publish_after_start_s": round(pubs[0] - t_start, 3),
        "last_publish_before_last_answer_s": round(t_end - p_last, 3),
        "redis_delivery_ms": {
            "p50": ms(pct([t - p for t, p, _n in published.batches], 50)),
            "max": ms(max(t - p for t, p, _n in published.batches)),
        },
        "channels": sorted(published.channels),
        "foreign_events_on_redis": published.foreign_events,
        "foreign_channels": sorted(published.foreign_channels),
        "clients": len(rows),
        "clients_never_caught_up": sum(
            1 for r in rows if r["caught_up_after_last_answer_s"] is None
        ),
        "clients_behind_over_target": sum(1 for r in rows if r["behind_max_s"] > BEHIND_TARGET_S),
        "messages_per_client": spread("messages"),
        "alert_events_per_client": spread("alert_events"),
        "truncated_per_client": spread("truncated"),
        "kib_per_client": {
            k: (None if v is None else round(v / 1024, 1)) for k, v in spread("bytes").items()
        },
        "behind_max_s": spread("behind_max_s"),
        "newest_delay_max_s": spread("newest_delay_max_s"),
        "caught_up_after_last_answer_s": spread("caught_up_after_last_answer_s"),
        "caught_up_after_last_publish_s": spread("caught_up_after_last_publish_s"),
    }
    h.log(
        f"storm: {posted:,} alerts accepted in {out['post_seconds']} s "
        f"({out['alerts_per_s']:,.0f}/s) in {out['published_batches']} published batches; per "
        f"client: messages {out['messages_per_client']}, behind max {out['behind_max_s']} s, "
        f"had the last batch {out['caught_up_after_last_publish_s']} s after its publish; over "
        f"{BEHIND_TARGET_S} s behind: {out['clients_behind_over_target']}, never caught up: "
        f"{out['clients_never_caught_up']}; foreign events on Redis: {published.foreign_events}"
    )
    return out


# --- servers ---------------------------------------------------------------------------------


def start_watchfloor(
    work: Path,
    env: dict[str, str],
    name: str,
    instrument: tuple[str, Path] | None = None,
) -> h.Server:
    port = h.free_port()
    cmd = ["uv", "run", "--frozen", "watchfloor", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    if instrument is not None:  # the same run_uvicorn, instrumented (ws_server_profile.py)
        mode, out = instrument
        cmd = ["uv", "run", "--frozen", "python", str(h.BENCH / "ws_server_profile.py")]
        cmd += [mode, str(out), str(port)]
    server = h.Server(name, cmd, port=port, log_path=work / f"{name}.log", env=env, cwd=h.ROOT)
    server.wait_ready("/api/health/", timeout=90)
    return server


def start_wsgi_node(work: Path, env: dict[str, str]) -> h.Server:
    port = h.free_port()
    cmd = ["uv", "run", "--frozen", "watchfloor", "serve", "--wsgi", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    node = h.Server(
        "watchfloor-wsgi", cmd, port=port, log_path=work / "wsgi.log", env=env, cwd=h.ROOT
    )
    node.wait_ready("/api/health/", timeout=90)
    return node


def start_peer(work: Path, redis_url: str, deflate: bool) -> h.Server:
    port = h.free_port()
    cmd = ["uv", "run", "--frozen", "uvicorn", "--app-dir", str(h.BENCH)]
    cmd += ["channels_peer:application", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", "1", "--lifespan", "off", "--no-server-header"]
    # the same permessage-deflate setting as the Watchfloor server under test
    cmd += ["--ws-per-message-deflate", "true" if deflate else "false"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHFLOOR_", "DJANGO_"))}
    env["WSBENCH_REDIS_URL"] = redis_url
    server = h.Server(
        "channels-peer", cmd, port=port, log_path=work / "peer.log", env=env, cwd=h.ROOT
    )
    wait_port(port, server.proc)
    return server


def warm_up(pool: ClientPool, url: str, headers: dict, post=None) -> None:
    """First connections and a first alert load code and pools before anything is measured."""
    pool.open(url, 4 * len(pool.procs), headers, concurrency=4, timeout=30)
    if post is not None:
        post(-1)
    time.sleep(1)
    pool.close()
    time.sleep(1)


def quiet(report: dict[str, Any]) -> None:
    """Wait (bounded) for a quieter machine before a measured phase; record how busy it was."""
    busy = h.wait_quiet(timeout=report["args"]["quiet_timeout"])
    report.setdefault("machine_busy_before_phases_pct", []).append(busy)


def realtime_settings(env: dict[str, str], args) -> dict[str, str]:
    """The real-time settings under test, when given (else the server's defaults)."""
    if args.flush_ms is not None:
        env["WATCHFLOOR_REALTIME_FLUSH_MS"] = str(args.flush_ms)
    if args.max_alerts is not None:
        env["WATCHFLOOR_REALTIME_MAX_ALERTS"] = str(args.max_alerts)
    if args.server_deflate is not None:
        env["WATCHFLOOR_WS_DEFLATE"] = args.server_deflate
    return env


EFFECTIVE = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'flush_ms': s.REALTIME_FLUSH_MS, 'max_alerts': s.REALTIME_MAX_ALERTS_PER_UPDATE, "
    "'ws_deflate': getattr(s, 'WS_PER_MESSAGE_DEFLATE', True), "
    "'publisher': s.WATCHFLOOR_PUBLISHER}))"
)


def effective_settings(env: dict[str, str]) -> dict[str, Any]:
    """What the server will run with (its defaults may have moved: read them, don't assume)."""
    return json.loads(h.last_line(h.watchfloor(["shell", "-c", EFFECTIVE], env)))


def sqlite_env(home: Path) -> dict[str, str]:
    env = h.watchfloor_env(home)
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    return env


def profile_top(path: Path, n: int = 30) -> list[dict[str, Any]]:
    """The functions with the most own CPU time in a pstats file, with their cumulative time."""
    import pstats

    if not path.exists():
        return []
    stats = pstats.Stats(str(path))
    total = sum(v[2] for v in stats.stats.values()) or 1.0
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]
    out = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in rows:
        short = file.split("site-packages/")[-1].split("/src/")[-1]
        out.append(
            {
                "function": f"{func} ({short}:{line})",
                "calls": calls,
                "own_s": round(tottime, 3),
                "own_pct": round(100 * tottime / total, 1),
                "cumulative_s": round(cumtime, 3),
            }
        )
    return out


def gc_report(path: Path, results: dict[str, Any]) -> dict[str, Any]:
    """The server's GC pauses, and for each latency alert over target the pauses that overlap
    its delivery window (from its POST to its arrival at the last client)."""
    if not path.exists():
        return {"error": f"{path} not written"}
    data = json.loads(path.read_text())
    late = []
    lat = results.get("latency")
    if lat:
        pauses = data["pauses_over_50ms"]
        for row in lat["per_alert"]:
            if row.get("last_ms") is None or row["last_ms"] <= LATENCY_TARGET_MS:
                continue
            t0 = row["t_send"]
            t1 = t0 + row["last_ms"] / 1000
            overlap = [p for p in pauses if t0 - p["pause_s"] <= p["at"] <= t1]
            late.append(
                {
                    "seq": row["seq"],
                    "last_ms": row["last_ms"],
                    "gc_pauses_ms": [round(1000 * p["pause_s"]) for p in overlap],
                    "gc_generations": [p["generation"] for p in overlap],
                }
            )
    data["late_alerts"] = late
    h.log(f"server GC: {json.dumps(data['by_generation'])}; late alerts: {late}")
    return data


def print_profile(report: dict[str, Any]) -> None:
    for kind, rows in report.get("profile", {}).items():
        print(f"\n--- server profile, {kind}: own CPU time (cProfile, thread_time) ---")
        for r in rows:
            print(
                f"{r['own_pct']:5.1f}% {r['own_s']:8.3f}s own {r['cumulative_s']:8.3f}s cum "
                f"{r['calls']:>9} calls  {r['function']}"
            )


# --- report ----------------------------------------------------------------------------------


def fmt(v, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v}{unit}"


def cpu_cell(c: dict) -> str:
    cell = (
        f"{c['server']:.0f} / {c['clients']:.0f} / {c['postgres']:.0f} / {c['redis']:.0f} / "
        f"{c['other']:.0f}"
    )
    if "ingest_node" in c:
        cell += f" (and the HTTP-only node taking the POSTs: {c['ingest_node']:.0f})"
    return cell


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.2f}×"


def machine_line(m: dict[str, Any]) -> str:
    return h.machine_line(m).rsplit(", ", 1)[0]  # without wrk's version (not used here)


def summarise(report: dict[str, Any]) -> tuple[str, str]:
    m, a, r = report["machine"], report["args"], report["results"]
    lines = []
    conn = r.get("connections")
    if conn:
        steps = ", ".join(f"{s['open_total']:,} → {s['rss_mib']} MiB" for s in conn["steps"])
        lines += [
            "**Connections held on one process** (target 5,000):",
            "",
            "| asked | held (after holding them "
            f"{conn['held_for_s']} s) | failed | closed by the server | time to open | server RSS "
            "before → after | per connection | RSS after closing all |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {conn['asked']:,} | **{conn['held']:,}** | {conn['failed']} | "
            f"{conn['closed_by_server']} | {conn['open_seconds']} s | {conn['rss_mib_before']} → "
            f"{conn['rss_mib_after']} MiB | **{conn['kib_per_connection']} KiB** | "
            f"{conn['rss_mib_after_close']} MiB |",
            "",
            f"RSS as connections were opened: {steps}. Failures: "
            f"{json.dumps(conn['errors']) if conn['errors'] else 'none'}. CPU while opening "
            f"(% of one core, server / clients / PostgreSQL / Redis / other): "
            f"{cpu_cell(conn['cpu_pct'])}; load average {conn['cpu_pct']['loadavg_before']}.",
            "",
        ]
    lat_rows = []
    labels = {
        "latency": "Watchfloor hub, PostgreSQL + Redis pub/sub",
        "peer": "Channels group, `RedisPubSubChannelLayer` (peer)",
        "sqlite": "Watchfloor hub, embedded (SQLite, in-process publisher)",
    }
    for key, label in labels.items():
        x = r.get(key)
        if not x:
            continue
        e2e, pub, pc = x["to_last_client_ms"], x["publish_to_last_client_ms"], x["per_client_ms"]
        source = "group_send" if key == "peer" else "POST"
        lat_rows.append(
            f"| {label} | {x['alerts_reaching_every_client']}/{x['alerts']} × {x['clients']:,} "
            f"| {x['missing_deliveries']} | {source}: **{fmt(e2e['p50'])} / {fmt(e2e['p99'])}** "
            f"| {fmt(pub['p50'])} / {fmt(pub['p99'])} | {fmt(x['send_to_publish_ms']['p50'])} "
            f"| {fmt(pc['p50_median'])} / {fmt(pc['p99_median'])} / {fmt(pc['p99_max'])} "
            f"| {cpu_ms_per_alert(x['cpu_pct'], x['alerts'])} | {cpu_cell(x['cpu_pct'])} "
            f"| {x['cpu_pct']['loadavg_before']} |"
        )
    if lat_rows:
        lines += [
            f"**Delivery latency, {a['rate']:g} alerts/s for {a['latency_seconds']:g} s** "
            f"(target p99 under {LATENCY_TARGET_MS:.0f} ms; with {r['latency']['alerts']} alerts "
            "p99 is the slowest one):",
            "",
            "| path | alerts reaching every client × clients | missed deliveries | to the LAST "
            "client p50 / p99 ms | publish → last client p50 / p99 ms | send → publish p50 ms "
            "| per client p50 (median) / p99 (median) / p99 (worst) ms | server CPU ms per "
            "alert | CPU % server / clients / PG / Redis / other | load before |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
            *lat_rows,
            "",
        ]
    if r.get("latency") and r.get("peer"):
        wf, peer = r["latency"], r["peer"]
        pw, pp = wf["publish_to_last_client_ms"], peer["publish_to_last_client_ms"]
        cpu_wf = cpu_ms_per_alert(wf["cpu_pct"], wf["alerts"])
        cpu_peer = cpu_ms_per_alert(peer["cpu_pct"], peer["alerts"])
        lines += [
            "Channels group ÷ Watchfloor hub, publish → last client: p50 "
            f"{ratio(pp['p50'], pw['p50'])}, p99 {ratio(pp['p99'], pw['p99'])}; server CPU per "
            f"alert {ratio(cpu_peer, cpu_wf)} "
            "(Watchfloor's includes taking the alert in over HTTP and storing it)"
            "; the hub coalesces (an update at once after a quiet spell, then at most one per "
            f"{report['settings']['flush_ms']} ms), the peer forwards every message as it comes.",
            "",
        ]
    st = r.get("storm")
    if st:
        b, cu = st["behind_max_s"], st["caught_up_after_last_answer_s"]
        cp, nd = st["caught_up_after_last_publish_s"], st["newest_delay_max_s"]
        mp, ev = st["messages_per_client"], st["alert_events_per_client"]
        lines += [
            f"**Storm: {st['alerts']:,} new alerts** in {st['requests']} requests of "
            f"{st['batch']} ({st['posters']} at a time), accepted in {st['post_seconds']} s "
            f"({st['alerts_per_s']:,.0f} alerts/s, non-2xx: {st['non_2xx']}) by "
            + (
                "the WebSocket server itself"
                if a["storm_ingest"] == "same"
                else "a separate `watchfloor serve --wsgi --workers 1` (events reach the "
                "WebSocket process through Redis)"
            )
            + f", to the same {st['clients']:,} clients (target: none more than "
            f"{BEHIND_TARGET_S:g} s behind):",
            "",
            "| per client | min | p50 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| updates (messages) received | {mp['min']:.0f} | {mp['p50']:.0f} | {mp['p99']:.0f} "
            f"| {mp['max']:.0f} |",
            f"| alert events in them (rest coalesced or `truncated`) | {ev['min']:.0f} | "
            f"{ev['p50']:.0f} | {ev['p99']:.0f} | {ev['max']:.0f} |",
            f"| KiB of message text received | {st['kib_per_client']['min']} | "
            f"{st['kib_per_client']['p50']} | {st['kib_per_client']['p99']} | "
            f"{st['kib_per_client']['max']} |",
            f"| **behind, s** (largest now − published_at of the oldest published batch it "
            f"lacked) | {b['min']} | {b['p50']} | {b['p99']} | **{b['max']}** |",
            f"| largest arrival − published_at of an update's newest event, s | {nd['min']} | "
            f"{nd['p50']} | {nd['p99']} | {nd['max']} |",
            f"| had the last batch, s after its publish | {cp['min']} | {cp['p50']} "
            f"| {cp['p99']} | {cp['max']} |",
            f"| had the last batch, s after the last POST's answer | {cu['min']} | {cu['p50']} "
            f"| {cu['p99']} | {cu['max']} |",
            "",
            f"Clients more than {BEHIND_TARGET_S:g} s behind: "
            f"**{st['clients_behind_over_target']}**; never got the last batch: "
            f"{st['clients_never_caught_up']}. The server published {st['published_batches']} "
            f"batches ({st['published_events']:,} events; Redis handed each to a subscriber "
            f"{st['redis_delivery_ms']['p50']} ms after its `published_at`, p50); the first "
            f"{st['first_publish_after_start_s']} s after the first POST, the last "
            f"{st['last_publish_before_last_answer_s']} s before the last answer. "
            f"Events other Watchfloor installations published on the same Redis server "
            f"meanwhile: {st['foreign_events_on_redis']}. CPU during the storm (% of one core, "
            "server / "
            f"clients / PostgreSQL / Redis / other): {cpu_cell(st['cpu_pct'])}; load average "
            f"{st['cpu_pct']['loadavg_before']} → {st['cpu_pct']['loadavg_after']}.",
            "",
        ]
    gcr = report.get("server_gc")
    if gcr and "by_generation" in gcr:
        g2 = gcr["by_generation"].get("2", {})
        late = gcr.get("late_alerts", [])
        with_gc = [x for x in late if x["gc_pauses_ms"]]
        gens = gcr["by_generation"]
        counts = " / ".join(str(gens.get(g, {}).get("collections", 0)) for g in ("0", "1", "2"))
        longest = max((v.get("max_s", 0) for v in gens.values()), default=0)
        text = (
            "**Server garbage collector** (`--gc-log`"
            + (", `gc.freeze()` after start-up" if a["gc_freeze"] else "")
            + (f", `gc.set_threshold({a['gc_threshold']})`" if a["gc_threshold"] else "")
            + f"): collections of generation 0 / 1 / 2 over the server's life: {counts}; "
            f"full collections {g2.get('total_s', 0)} s in all; the longest pause of any "
            f"generation {ms(longest)} ms (a collection stops the event loop). Alerts over "
            f"{LATENCY_TARGET_MS:.0f} ms: {len(late)}"
        )
        if late:
            text += f"; with a collector pause over 50 ms during their delivery: {len(with_gc)}"
            if with_gc:
                text += (
                    " ("
                    + ", ".join(
                        f"#{x['seq']}: {x['last_ms']:.0f} ms, pause "
                        f"{'+'.join(map(str, x['gc_pauses_ms']))} ms"
                        for x in with_gc
                    )
                    + ")"
                )
        lines += [text + ".", ""]
    body = "\n".join(lines)
    st_ = report["settings"]

    def negotiated_in(*keys: str) -> str:
        found: set[str] = set()
        for key in keys:
            x = r.get(key) or {}
            found.update(x.get("extensions", []))
            for step in x.get("steps", []):
                found.update(step.get("extensions", []))
        return ", ".join(f"`{e}`" for e in sorted(found) if e) or "none"

    negotiated = negotiated_in("connections", "latency_open", "sqlite_open")
    if "peer" in r:
        negotiated += f" (peer: {negotiated_in('peer_open')})"
    uncommitted = ""
    if m.get("uncommitted_src"):
        uncommitted = (
            " (uncommitted, as on disk when the servers started: "
            + ", ".join(f"`{f}`" for f in m["uncommitted_src"])
            + ")"
        )
    deflate = (
        "**permessage-deflate not offered** (`--no-deflate`; browsers offer it)"
        if a["no_deflate"]
        else "offering permessage-deflate, as browsers do"
    )
    parts = [
        name
        for key, name in (
            ("connections", "connections held"),
            ("latency", "latency"),
            ("storm", "storm"),
            ("peer", "vs Channels"),
            ("sqlite", "embedded"),
        )
        if key in r
    ]
    peer_line = (
        "\n  Peer: `bench/channels_peer.py` under the same uvicorn (same permessage-deflate "
        "setting), one process."
        if "peer" in r
        else ""
    )
    latency_line = ""
    if any(k in r for k in ("latency", "peer", "sqlite")):
        latency_line = f"""
- Latency: one new alert every {1 / a["rate"]:g} s through `POST
  /api/v1/integrations/native` (the peer: `async_to_sync(layer.group_send)`), time taken just
  before sending; "to the LAST client" is the latest arrival among all clients minus that time;
  "publish" is the event's `published_at` (after the commit; for the peer, just before
  `group_send`)."""
    md = f"""
### {report["date"]} — WebSocket fan-out on one process: {", ".join(parts)} (`bench/websocket.py`)

- Commit measured: `{m["commit"]}`{uncommitted}
- Command: `{report["command"]}`
- Machine: {machine_line(m)}. Load average before the run: {m["loadavg_before"]}; the machine
  is shared (other engineers' tests): the "other" CPU column is everyone else.
- Server: `{report["server_command"]}` (uvicorn, **one process**, WebSockets by
  `websockets-sansio`) on production settings (PostgreSQL, Redis, debug off) with the
  real-time settings `WATCHFLOOR_REALTIME_FLUSH_MS` = {st_["flush_ms"]},
  `WATCHFLOOR_REALTIME_MAX_ALERTS` = {st_["max_alerts"]}, permessage-deflate
  {"on" if st_["ws_deflate"] else "off"} (`WATCHFLOOR_WS_DEFLATE`); WebSocket extensions
  negotiated: {negotiated}.{peer_line}
- Clients: {a["client_procs"]} processes of `bench/ws_clients.py` (asyncio on uvloop,
  `websockets` {report["websockets"]}, {deflate}, no client pings), on the same 2 cores as
  the server. Watchfloor clients authenticate with one API token of the tenant
  admin (every client in scope) and no Origin; every connection counts once its `hello`
  arrived.{latency_line}

{body}"""
    return body, md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000, help="phase 1 target")
    parser.add_argument("--connection-step", type=int, default=1000)
    parser.add_argument("--hold-seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=1000, help="subscribed clients, 2-4")
    parser.add_argument("--rate", type=float, default=2.0, help="latency alerts per second")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--storm", type=int, default=10_000)
    parser.add_argument("--storm-batch", type=int, default=500)
    parser.add_argument("--storm-posters", type=int, default=2)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do): what compression costs",
    )
    parser.add_argument(
        "--storm-ingest",
        choices=("same", "wsgi"),
        default="same",
        help="where the storm is posted: the WebSocket server itself (one process, default) or "
        "a separate `watchfloor serve --wsgi --workers 1` (HTTP-only node; events reach the "
        "WebSocket process through Redis, as in the documented scale-out)",
    )
    parser.add_argument("--handshakes", type=int, default=50, help="per client process")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument(
        "--phases",
        default="connections,latency,storm,peer,sqlite",
        help="comma-separated subset of connections,latency,storm,peer,sqlite",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=300.0,
        help="before each measured phase, wait up to this long for a quiet machine",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the PostgreSQL server under cProfile (bench/ws_server_profile.py); prints "
        "where its CPU went; figures are slowed by the profiler, so implies --no-record",
    )
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="run the PostgreSQL server with its garbage collector's pauses logged "
        "(bench/ws_server_profile.py gc): how many, how long, and which late alerts they match",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="with --gc-log: the server calls gc.freeze() after start-up (an experiment)",
    )
    parser.add_argument(
        "--gc-threshold",
        default="",
        help="with --gc-log: gc.set_threshold(a, b, c) in the server, e.g. 50000,20,10",
    )
    parser.add_argument(
        "--flush-ms",
        type=int,
        help="WATCHFLOOR_REALTIME_FLUSH_MS for the Watchfloor servers (default: theirs)",
    )
    parser.add_argument(
        "--max-alerts",
        type=int,
        help="WATCHFLOOR_REALTIME_MAX_ALERTS for the Watchfloor servers (default: theirs)",
    )
    parser.add_argument(
        "--server-deflate",
        choices=("true", "false"),
        help="WATCHFLOOR_WS_DEFLATE for the Watchfloor servers (default: theirs)",
    )
    parser.add_argument("--database", default=h.BENCH_DB, help="dropped and recreated")
    parser.add_argument("--redis-db", type=int, default=h.REDIS_DB, help="flushed")
    parser.add_argument("--quick", action="store_true", help="500 connections, 200 clients, 10 s")
    parser.add_argument(
        "--no-record", action="store_true", help="do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()
    if args.quick:
        args.connections, args.connection_step = 500, 250
        args.clients, args.latency_seconds, args.storm = 200, 10.0, 2000
        args.hold_seconds = 3.0
    phases = set(args.phases.split(","))
    if args.profile:
        args.no_record = True
    if args.profile or args.gc_log:
        RESULTS_DIR.mkdir(exist_ok=True)
    h.BENCH_DB, h.REDIS_DB = args.database, args.redis_db
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"

    from importlib.metadata import version

    machine = h.machine_facts()
    # what "+uncommitted-src" in the commit means: the src files that differ from it
    dirty = h.run(["git", "-C", str(h.ROOT), "status", "--porcelain", "--", "src"], check=False)
    machine["uncommitted_src"] = sorted(line[3:] for line in dirty.stdout.splitlines())
    report: dict[str, Any] = {
        "benchmark": "websocket",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
        "args": {k: v for k, v in vars(args).items() if k != "no_record"},
        "websockets": version("websockets"),
        "server_command": "watchfloor serve --workers 1"
        if not (args.profile or args.gc_log)
        else "python bench/ws_server_profile.py "
        + ("profile" if args.profile else "gc")
        + " … (watchfloor serve's run_uvicorn, instrumented)",
        "results": {},
    }
    results = report["results"]
    with h.workdir("wf-bench-ws-") as work:
        pool = ClientPool(args.client_procs, work, deflate=not args.no_deflate)
        try:
            if phases & {"connections", "latency", "storm"}:
                h.reset_database()
                env = realtime_settings(h.watchfloor_env(work / "home"), args)
                if args.gc_freeze:
                    env["WSBENCH_GC_FREEZE"] = "1"
                if args.gc_threshold:
                    env["WSBENCH_GC_THRESHOLD"] = args.gc_threshold
                estate = h.setup_watchfloor(env, key_sources=("native",))
                report["settings"] = effective_settings(env)
                h.log(f"server settings: {report['settings']}")
                token, key = estate.secrets["api_token"], estate.secrets["key_native"]
                headers = {"Authorization": f"Bearer {token}"}
                prof = RESULTS_DIR / "websocket-server"
                instrument = None
                if args.profile or args.gc_log:
                    instrument = ("profile" if args.profile else "gc", prof)
                with start_watchfloor(work, env, "watchfloor-pg", instrument) as server:
                    proc = server_process(server)
                    url = f"ws://127.0.0.1:{server.port}/ws/dashboard/"
                    sender = NativeSender(server.base_url, key, estate.sites, uuid.uuid4().hex[:6])
                    warm_up(pool, url, headers, sender)
                    if "connections" in phases:
                        quiet(report)
                        results["connections"] = connections_phase(pool, url, headers, proc, args)
                    if phases & {"latency", "storm"}:
                        results["latency_open"] = open_clients(
                            pool, url, headers, args.clients, args
                        )
                        results["rss_mib_with_clients"] = rss_mib(proc)
                    if "latency" in phases:
                        quiet(report)
                        results["latency"] = latency_phase(pool, sender, proc, args)
                    if "storm" in phases:
                        quiet(report)
                        with contextlib.ExitStack() as stack:
                            ingest_url, ingest_procs = server.base_url, []
                            if args.storm_ingest == "wsgi":
                                node = stack.enter_context(start_wsgi_node(work, env))
                                ingest_url, ingest_procs = node.base_url, node.processes()[1:]
                            results["storm"] = storm_phase(
                                pool,
                                ingest_url,
                                key,
                                estate.sites,
                                proc,
                                redis_url,
                                args,
                                ingest_procs,
                            )
                    results["server_status_after"] = pool.status()
                    pool.close()
                if args.gc_log:
                    report["server_gc"] = gc_report(Path(f"{prof}.gc.json"), results)
                if args.profile:
                    report["profile"] = {
                        kind: profile_top(Path(f"{prof}.{kind}.prof"))
                        for kind in ("loop", "threads")
                    }
            if "peer" in phases:
                h.run(["redis-cli", "-h", "127.0.0.1", "-n", str(args.redis_db), "FLUSHDB"])
                sites = [(f"C{c:03d}", f"C{c:03d}-S{s:02d}") for c in range(20) for s in range(10)]
                if "settings" not in report:
                    env = realtime_settings(h.watchfloor_env(work / "home-peer"), args)
                    env.pop("DATABASE_URL")
                    env.pop("REDIS_URL")
                    report["settings"] = effective_settings(env)
                with start_peer(work, redis_url, report["settings"]["ws_deflate"]) as server:
                    proc = server_process(server)
                    url = f"ws://127.0.0.1:{server.port}/ws/peer/"
                    sender = PeerSender(redis_url, sites)
                    warm_up(pool, url, {}, sender)
                    rss_before = rss_mib(proc)
                    results["peer_open"] = open_clients(pool, url, {}, args.clients, args)
                    time.sleep(1)
                    results["peer_rss_mib"] = {"before": rss_before, "after": rss_mib(proc)}
                    quiet(report)
                    results["peer"] = latency_phase(pool, sender, proc, args)
                    pool.close()
            if "sqlite" in phases:
                env = realtime_settings(sqlite_env(work / "home-sqlite"), args)
                if "settings" not in report:
                    report["settings"] = effective_settings(env)
                estate = h.setup_watchfloor(env, key_sources=("native",))
                headers = {"Authorization": f"Bearer {estate.secrets['api_token']}"}
                with start_watchfloor(work, env, "watchfloor-sqlite") as server:
                    proc = server_process(server)
                    url = f"ws://127.0.0.1:{server.port}/ws/dashboard/"
                    sender = NativeSender(
                        server.base_url,
                        estate.secrets["key_native"],
                        estate.sites,
                        uuid.uuid4().hex[:6],
                    )
                    warm_up(pool, url, headers, sender)
                    results["sqlite_open"] = open_clients(pool, url, headers, args.clients, args)
                    quiet(report)
                    results["sqlite"] = latency_phase(pool, sender, proc, args)
                    pool.close()
        finally:
            pool.stop()

    console, md = summarise(report)
    print(console)
    print_profile(report)
    h.write_json("websocket", report)
    if args.no_record:
        print("\n--- the section --no-record kept out of docs/benchmarks.md ---\n" + md)
    else:
        h.append_docs(md)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
