"""Where a `GET /api/v1/alerts` request's time goes: cProfile of the full Django stack, in process.

The companion of alerts_list.py. It loads the same data (default 1,000,000 alerts), then in a child
process on production settings sends list requests through Django's full stack with the test
client, one at a time: first without the profiler (this process's CPU and the wall time per
request: the server side's cost, PostgreSQL's own CPU not included), then under cProfile. Per
query it prints the SQL statements per request (with their time), both times, the share inside
psycopg round trips, and the top functions; writes bench/results/profile_list.json.

Not a throughput figure (one request at a time, profiler overhead included): a breakdown.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import time
from pathlib import Path
from typing import Any

import alerts_list
import harness as h


def _inner(args) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_TOKEN']}", HTTP_HOST="127.0.0.1")
    scen = alerts_list.scenarios(50)
    out: dict[str, Any] = {}
    for name in args.only.split(","):
        paths = scen[name]["paths"]
        for p in paths[:3]:
            r = client.get(p)
            if r.status_code != 200:
                raise SystemExit(f"{p} answered {r.status_code}: {r.content[:300]!r}")
        with CaptureQueriesContext(connection) as queries:
            client.get(paths[0])
        statements = [
            {"ms": round(1000 * float(q["time"]), 2), "sql": q["sql"][:300]}
            for q in queries.captured_queries
        ]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(args.requests):
            client.get(paths[i % len(paths)])
        plain_cpu = (time.process_time() - cpu0) / args.requests
        plain_wall = (time.perf_counter() - wall0) / args.requests
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for i in range(args.requests):
            client.get(paths[i % len(paths)])
        prof.disable()
        wall = time.perf_counter() - t0
        stats = pstats.Stats(prof)
        db = sum(
            v[3]
            for k, v in stats.stats.items()
            if k[2] in ("execute", "commit") and "psycopg/" in k[0]
        )
        tops = []
        for sort in ("tottime", "cumulative"):
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(args.top)
            tops.append(buf.getvalue())
        out[name] = {
            "path": paths[0],
            "statements_per_request": statements,
            "ms_per_request_under_cprofile": round(1000 * wall / args.requests, 2),
            "ms_per_request_without_profiler": {
                "process_cpu": round(1000 * plain_cpu, 2),
                "wall": round(1000 * plain_wall, 2),
            },
            "psycopg_share_pct": round(100 * db / wall, 1),
            "top_by_own_time": tops[0],
            "top_by_cumulative_time": tops[1],
        }
        print(
            f"== {name} ({paths[0]}): without the profiler {1000 * plain_cpu:.2f} ms of this "
            f"process's CPU and {1000 * plain_wall:.2f} ms wall per request; "
            f"{1000 * wall / args.requests:.2f} ms per request under cProfile, psycopg execute "
            f"{100 * db / wall:.0f} %; statements per request:"
        )
        for s in statements:
            print(f"   {s['ms']:7.2f} ms  {s['sql'][:150]}")
        print(tops[1][-5000:])
        print(tops[0][-3000:])
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="profiled requests per query")
    parser.add_argument("--only", default="first_page,site,deep_cursor")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args)
        return
    with h.workdir("wf-bench-profile-list-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = h.setup_watchfloor(env)
        alerts_list.load_alerts(args.rows)
        env["BENCH_TOKEN"] = estate.secrets["api_token"]
        h.RESULTS.mkdir(exist_ok=True)
        env["BENCH_OUT"] = str(h.RESULTS / "profile_list.json")
        cmd = [
            "uv",
            "run",
            "--frozen",
            "python",
            str(Path(__file__).resolve()),
            "--inner",
            f"--requests={args.requests}",
            f"--only={args.only}",
            f"--top={args.top}",
        ]
        subprocess.run(cmd, env=env, cwd=h.ROOT, check=True)  # noqa: S603
    h.log(f"wrote {env['BENCH_OUT']}")


if __name__ == "__main__":
    main()
