"""Where an ingestion request's time goes: cProfile of `POST /api/v2/alerts`, in process.

The companion of ingest.py when a target is missed. It prepares the bench database like ingest.py
(production settings: PostgreSQL, Redis), then, in a child process with those settings, sends the
same bodies through Django's full request stack (every middleware, the view, the pipeline) with
the test client — sequentially, one request at a time, no HTTP server — first the pool's first
pass (new alerts), then repeats, under cProfile. It prints, per kind of request, the wall time per
request, the share spent inside PostgreSQL round trips (psycopg's `execute`/`commit` wait), and the
top functions by own time and by cumulative time; writes bench/results/profile_ingest.json.

Not a throughput figure (one request at a time, profiler overhead included): a breakdown.

`--roads` instead drives the production WSGI application (`watchfloor.wsgi`, as gunicorn calls
it) with single-alert requests, one at a time, without the test client: the CPU per request
(`time.process_time`, no profiler) of the full Django handler and of the lean ingestion road
(watchfloor.front), then a cProfile of the lean road.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness as h
import ingest


def _inner(args) -> None:
    """Runs with the bench database's settings in the environment."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    key = os.environ["BENCH_KEY"]
    sites = [(f"C{c:03d}", f"C{c:03d}-S{s:02d}") for c in range(20) for s in range(10)]
    pool = ingest.alert_pool(sites, datetime.now(UTC))
    batches = ingest.request_bodies(pool, batch=ingest.BATCH, count=500, seed=1)
    singles = ingest.request_bodies(pool, batch=1, count=2 * ingest.FINGERPRINTS, seed=1)
    first = batches[: ingest.FINGERPRINTS // ingest.BATCH]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")

    def post(body: str) -> None:
        r = client.post("/api/v2/alerts", data=body, content_type="application/json")
        if r.status_code != 200:
            raise SystemExit(f"answered {r.status_code}: {r.content[:300]!r}")

    out: dict[str, Any] = {}
    kinds = [
        ("first_pass_batches", first[: args.first]),
        ("repeat_batches", batches[len(first) : len(first) + args.batches]),
        ("repeat_singles", singles[ingest.FINGERPRINTS : ingest.FINGERPRINTS + args.singles]),
    ]
    for name, bodies in kinds:
        for body in bodies[:2]:  # warm caches and the pool
            post(body)
        with CaptureQueriesContext(connection) as queries:  # the statements of one request
            post(bodies[2])
        statements = [
            {"ms": round(1000 * float(q["time"]), 2), "sql": q["sql"][:200]}
            for q in queries.captured_queries
        ]
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for body in bodies[3:]:
            post(body)
        prof.disable()
        wall = time.perf_counter() - t0
        n = len(bodies) - 3
        stats = pstats.Stats(prof)
        db = sum(
            v[3]
            for k, v in stats.stats.items()
            if k[2] in ("execute", "commit", "executemany")
            and ("psycopg/cursor.py" in k[0] or "psycopg/connection.py" in k[0])
        )
        rows = []
        for sort in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(args.top)
            rows.append(buf.getvalue())
        alerts = sum(b.count('"labels"') for b in bodies[3:])
        out[name] = {
            "requests": n,
            "alerts": alerts,
            "wall_s": round(wall, 3),
            "ms_per_request": round(1000 * wall / n, 2),
            "alerts_per_s_one_at_a_time": round(alerts / wall, 1),
            "postgres_roundtrips_s": round(db, 3),
            "postgres_share_pct": round(100 * db / wall, 1),
            "statements_per_request": statements,
            "top_by_own_time": rows[0],
            "top_by_cumulative_time": rows[1],
        }
        print(
            f"== {name}: {n} requests, {1000 * wall / n:.2f} ms each under cProfile, "
            f"{alerts / wall:,.0f} alerts/s one at a time; psycopg execute/commit "
            f"{100 * db / wall:.0f} % of the time",
            flush=True,
        )
        for st in statements:
            print(f"   {st['ms']:7.2f} ms  {st['sql'][:160]}")
        print(rows[0][-6000:])
        print(rows[1][-6000:])
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out, indent=2))


def _environ(body: bytes, key: str) -> dict:
    import io as _io

    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v2/alerts",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {key}",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": _io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def _roads(args) -> None:
    """CPU per request (`--batch` alerts each) through each road of the WSGI application and
    the CPU of the fold of what they staged, then a profile of the lean road."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    # no drainer runs in this process while it times requests (the fold is drained between the
    # roads): the flow control would hold, then refuse, the requests once the lag passed its bound
    os.environ["WATCHFLOOR_STAGING_HOLD_LAG"] = "1e9"
    os.environ["WATCHFLOOR_STAGING_MAX_LAG"] = "1e9"
    import django

    django.setup()
    from watchfloor.alerts import staging, upkeep
    from watchfloor.wsgi import application

    key = os.environ["BENCH_KEY"]

    def call(app, body: bytes) -> None:
        status: list[str] = []
        out = b"".join(app(_environ(body, key), lambda s, h, exc=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"answered {status[0]}: {out[:300]!r}")

    sites = [(f"C{c:03d}", f"C{c:03d}-S{s:02d}") for c in range(20) for s in range(10)]
    pool = ingest.alert_pool(sites, datetime.now(UTC))
    size = args.batch
    singles = [
        b.encode() for b in ingest.request_bodies(pool, batch=size, count=4 * args.singles, seed=2)
    ]
    if size > 1:  # the pool's first pass, folded, so every timed alert is a repeat
        first = ingest.request_bodies(pool, batch=ingest.BATCH, count=100, seed=1)
        for body in first[: ingest.FINGERPRINTS // ingest.BATCH]:
            call(application, body.encode())
        staging.drain_pending()

    roads = {"full": application.app, "lean": application}
    out: dict[str, Any] = {}
    n = args.singles
    for name, app in roads.items():
        for body in singles[:50]:  # warm: caches, the pool, imports
            call(app, body)
        staging.drain_pending()
        upkeep.tend(force=True)  # fresh statistics, as the server's drainers keep them
        cpu0, t0 = time.process_time(), time.perf_counter()
        for body in singles[:n]:
            call(app, body)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        fold_cpu0 = time.process_time()
        folded = staging.drain_pending()
        fold_cpu = time.process_time() - fold_cpu0
        out[name] = {
            "requests": n,
            "alerts_per_request": size,
            "cpu_ms": round(1000 * cpu / n, 3),
            "wall_ms": round(1000 * wall / n, 3),
            "fold_cpu_us_per_alert": round(1e6 * fold_cpu / max(folded, 1), 1),
        }
        print(
            f"== {name} road: {1000 * cpu / n:.3f} ms CPU, {1000 * wall / n:.3f} ms wall per "
            f"{size}-alert request (one at a time, {n} requests); then the fold of their "
            f"{folded:,} alerts: {1e6 * fold_cpu / max(folded, 1):.1f} µs of CPU an alert",
            flush=True,
        )
    out["fold_sizes"] = _fold_sizes(args, staging, lambda body: call(application, body), singles)
    prof = cProfile.Profile()
    prof.enable()
    for body in singles[n : 2 * n]:
        call(application, body)
    prof.disable()
    for sort in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(args.top)
        print(buf.getvalue()[-8000:])
    staging.drain_pending()
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out, indent=2))


def _fold_sizes(args, staging, send, bodies: list[bytes]) -> dict[str, Any]:
    """The fold's cost against its size (`--fold-sizes`): requests staged K at a time, each K
    folded by one `drain_pending` (one fold), as a drainer takes what arrived during its last
    fold. CPU is this process's; wall adds PostgreSQL's statements and the commit's flush."""
    out: dict[str, Any] = {}
    from watchfloor.alerts import upkeep

    for size in (int(k) for k in args.fold_sizes.split(",") if k):
        upkeep.tend(force=True)
        cpu = wall = 0.0
        folded = 0
        sent = 0
        while sent + size <= args.singles:
            for body in bodies[sent : sent + size]:
                send(body)
            sent += size
            cpu0, t0 = time.process_time(), time.perf_counter()
            folded += staging.drain_pending()
            cpu += time.process_time() - cpu0
            wall += time.perf_counter() - t0
        if not folded:
            continue
        out[str(size)] = {
            "alerts": folded,
            "cpu_us_per_alert": round(1e6 * cpu / folded, 1),
            "wall_us_per_alert": round(1e6 * wall / folded, 1),
        }
        print(
            f"== folds of {size} staged request(s) ({folded:,} alerts): {1e6 * cpu / folded:.1f} "
            f"µs CPU, {1e6 * wall / folded:.1f} µs wall an alert",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--first", type=int, default=100, help="first-pass batches (all 100 by default)"
    )
    parser.add_argument("--batches", type=int, default=60, help="repeat batches profiled")
    parser.add_argument("--singles", type=int, default=1000, help="repeat singles profiled")
    parser.add_argument(
        "--fold-sizes",
        default="",
        help="--roads: also fold the staged requests K at a time for each K of this "
        "comma-separated list (the fold's cost against its size)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        help="--roads: alerts per request (default 1; with more, the pool's first pass is "
        "folded first, so the timed alerts are repeats)",
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--roads",
        action="store_true",
        help="CPU per single-alert request through the WSGI application, full and lean road",
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        (_roads if args.roads else _inner)(args)
        return
    with h.workdir("wf-bench-profile-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = h.setup_watchfloor(env, key_sources=["alertmanager"])
        env["BENCH_KEY"] = estate.secrets["key_alertmanager"]
        h.RESULTS.mkdir(exist_ok=True)
        env["BENCH_OUT"] = str(
            h.RESULTS / ("profile_roads.json" if args.roads else "profile_ingest.json")
        )
        # no fold thread in this process: drain_pending() folds between the measured loops
        env["WATCHFLOOR_FOLD_IN_PROCESS"] = "0"
        cmd = [
            "uv",
            "run",
            "--frozen",
            "python",
            str(Path(__file__).resolve()),
            "--inner",
            f"--first={args.first}",
            f"--batches={args.batches}",
            f"--singles={args.singles}",
            f"--batch={args.batch}",
            f"--fold-sizes={args.fold_sizes}",
            f"--top={args.top}",
            *(["--roads"] if args.roads else []),
        ]
        subprocess.run(cmd, env=env, cwd=h.ROOT, check=True)  # noqa: S603
    h.log(f"wrote {env['BENCH_OUT']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
