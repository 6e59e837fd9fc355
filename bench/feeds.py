"""Operations feed ingestion vs alert ingestion, 1,000-record batches, on PostgreSQL (issue 13 §5).

One run, one server (`watchfloor serve`, production settings: PostgreSQL + Redis, the feed rules
hook on), the same batch size and the same number of connections for every phase:

- tickets, new external ids (INSERT … ON CONFLICT, all created; the rules judge each one);
- tickets, the same ids with a changed status (all updated);
- tickets, the same batch again (all unchanged: one read, no write);
- devices, new (created);
- alerts, 1,000 new native events per request (`POST /api/v1/alerts`), for comparison.

Prints records/s per phase and the median request time, writes bench/results/feeds.json and, with
`--record`, appends a dated section to docs/benchmarks.md.

    uv run python bench/feeds.py --batches 8 --connections 2 --record
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

BATCH = 1000


def _tickets(estate: h.Estate, batch: int, status: str, tag: str) -> list[dict]:
    opened = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return [
        {
            "external_id": f"{tag}-{batch}-{i}",
            "site": estate.sites[(batch * BATCH + i) % len(estate.sites)][1],
            "title": f"Ticket {i}",
            "priority": ("P1", "P2", "P3", "P4")[i % 4],
            "status": status,
            "opened_at": opened,
            "assignee_name": "Bench Person",
        }
        for i in range(BATCH)
    ]


def _devices(estate: h.Estate, batch: int, tag: str) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "external_id": f"{tag}-{batch}-{i}",
            "site": estate.sites[(batch * BATCH + i) % len(estate.sites)][1],
            "name": f"Camera {i}",
            "device_type": "camera",
            "status": "ONLINE",
            "last_seen_at": now,
            "latitude": 30.0 + i / 10_000,
            "longitude": -97.0,
            "located_at": now,
        }
        for i in range(BATCH)
    ]


def _alerts(estate: h.Estate, batch: int, tag: str) -> list[dict]:
    return [
        {
            "type": "DEVICE_OFFLINE",
            "severity": "LOW",
            "title": f"Camera {i} offline",
            "site": estate.sites[(batch * BATCH + i) % len(estate.sites)][1],
            "dedup_key": f"{tag}-{batch}-{i}",
        }
        for i in range(BATCH)
    ]


def _staged_batches() -> int:
    return int(h.psql("SELECT count(*) FROM alerts_stagedbatch"))


def _wait_for_fold(timeout: float = 600) -> float:
    """Seconds until the alert fold has drained staging (a 202 means staged, not folded)."""
    t0 = time.perf_counter()
    while _staged_batches():
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"staging not drained after {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - t0


def run_phase(
    name: str, url: str, key: str, bodies: list[bytes], connections: int, expect: int
) -> dict:
    """POST every body, `connections` at a time; records/s over the wall time. Alerts are
    answered once staged (202): their wall time runs until the fold has drained them, so both
    sides count records stored where they are read."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times: list[float] = []
    failures: list[str] = []
    queue = list(enumerate(bodies))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, body = queue.pop(0)
            start = time.perf_counter()
            status, answer = h.http("POST", url, body=body, headers=headers, timeout=120)
            elapsed = time.perf_counter() - start
            with lock:
                times.append(elapsed)
                if status != expect:
                    failures.append(f"{status} {answer[:200]!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answered = time.perf_counter() - started
    fold_s = _wait_for_fold() if expect == 202 else 0.0
    wall = time.perf_counter() - started
    records = BATCH * len(bodies)
    result = {
        "phase": name,
        "requests": len(bodies),
        "records": records,
        "seconds": round(wall, 2),
        "answered_s": round(answered, 2),
        "fold_drain_s": round(fold_s, 2),
        "records_per_s": round(records / wall),
        "median_request_ms": round(statistics.median(times) * 1000),
        "failures": len(failures),
    }
    if failures:
        result["first_failure"] = failures[0]
    h.log(
        f"{name}: {result['records_per_s']:,} records/s, median request "
        f"{result['median_request_ms']} ms, failures {len(failures)}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="1,000-record requests per phase")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="server workers")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args()

    m = h.machine_facts()
    h.reset_database()
    with h.workdir("feeds-") as work:
        env = h.watchfloor_env(work)
        estate = h.setup_watchfloor(
            env, clients=20, sites_per_client=10, key_sources=("operations", "native")
        )
        port = args.port or h.free_port()
        cmd = [
            *("uv", "run", "--frozen", "watchfloor", "serve", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", str(args.workers)),
        ]
        with h.Server(
            "watchfloor", cmd, port=port, log_path=work / "server.log", env=env, cwd=h.ROOT
        ) as server:
            server.wait_ready("/api/health/", timeout=90)
            base = server.base_url
            feed_key, native_key = estate.secrets["key_operations"], estate.secrets["key_native"]

            def bodies(make) -> list[bytes]:
                return [json.dumps(make(b)).encode() for b in range(args.batches)]

            tickets_url = f"{base}/api/v1/operations/tickets"
            created = bodies(lambda b: {"records": _tickets(estate, b, "OPEN", "T")})
            updated = bodies(lambda b: {"records": _tickets(estate, b, "IN_PROGRESS", "T")})
            phases = [
                ("tickets created", tickets_url, feed_key, created, 200),
                ("tickets updated", tickets_url, feed_key, updated, 200),
                ("tickets unchanged", tickets_url, feed_key, updated, 200),
                (
                    "devices created",
                    f"{base}/api/v1/operations/devices",
                    feed_key,
                    bodies(lambda b: {"records": _devices(estate, b, "D")}),
                    200,
                ),
                (
                    "alerts created (native)",
                    f"{base}/api/v1/alerts",
                    native_key,
                    bodies(lambda b: _alerts(estate, b, "A")),
                    202,
                ),
            ]
            h.wait_quiet(max_busy_pct=60, timeout=20)
            results = [
                run_phase(name, url, key, payloads, args.connections, expect)
                for name, url, key, payloads, expect in phases
            ]
    alerts = results[-1]["records_per_s"]
    for r in results:
        r["vs_alerts"] = round(r["records_per_s"] / alerts, 2) if alerts else None
    data = {"machine": m, "args": vars(args), "results": results, "command": h.command_line()}
    h.write_json("feeds", data)
    rows = "\n".join(
        f"| {r['phase']} | {r['records_per_s']:,} | {r['vs_alerts']}× | "
        f"{r['median_request_ms']} | {r['failures']} |"
        for r in results
    )
    print(rows)
    if args.record:
        h.append_docs(
            f"""### {h.now_utc()} — operations feeds vs alert ingestion, 1,000-record batches \
(`bench/feeds.py`)

- Command: `{h.command_line()}` (commit {h.git_commit()}).
- Machine: {h.machine_line(m)}. Client and server on the same 2 cores, shared with other work.
- `watchfloor serve --workers {args.workers}` on PostgreSQL + Redis; {args.batches} requests of
  1,000 records per phase from {args.connections} connections; the feed rules hook on. The
  alerts' seconds run until the fold has drained staging (their 202 means staged, not folded).

| phase | records/s | vs alerts | median request (ms) | failures |
| --- | --- | --- | --- | --- |
{rows}
"""
        )


if __name__ == "__main__":
    main()
