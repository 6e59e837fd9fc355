"""The feed rules' job (`operations.feed_rules`, #13 §1) on PostgreSQL: the first run over a
loaded estate (every condition that holds raised through the pipeline) and the steady runs that
follow (nothing new: what the job costs every minute).

Into a scratch database (BENCH_DB, default watchfloor_bench: set your own on a shared machine):
migrates, loads `--clients` clients (2 sites each) and `--records` feed records with the same
generator as bench/snapshots.py (mostly closed history, an open share on top), ANALYZE, then
times `rules.run_feed_rules()` once (first) and `--runs` times more (steady). Prints the figures,
writes bench/results/feed_rules.json, appends to docs/benchmarks.md (unless --no-record).

    BENCH_DB=wf_b_bench uv run python bench/feed_rules.py --clients 100 --records 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import harness as h
from snapshots import _setup_django, load_estate, load_feeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    h.reset_database()
    env = {**os.environ, "DATABASE_URL": f"postgres://{h.PG_USER}@{h.PG_HOST}:5432/{h.BENCH_DB}"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    h.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env)
    _setup_django()
    from django.db import connection

    from watchfloor.alerts.models import Alert
    from watchfloor.operations import rules

    tenant, clients, sites, _admin = load_estate(args.clients)
    with connection.cursor() as cursor:
        feeds = load_feeds(cursor, tenant.id, clients[0].id, sites[0].id, len(sites), args.records)
        cursor.execute("ANALYZE")
    h.log(f"loaded {args.records:,} feed records: {feeds['load_seconds']}")

    started = time.perf_counter()
    first = rules.run_feed_rules()
    first_s = time.perf_counter() - started
    alerts = Alert.objects.filter(tenant=tenant).count()
    h.log(f"first run: {first} in {first_s:.2f} s ({alerts:,} alerts)")
    steady = []
    for _ in range(args.runs):
        started = time.perf_counter()
        counts = rules.run_feed_rules()
        steady.append(time.perf_counter() - started)
        h.log(f"steady run: {counts} in {steady[-1]:.3f} s")
    report = {
        "clients": args.clients,
        "feed_records": args.records,
        "rows": feeds["rows"],
        "first_run_s": round(first_s, 2),
        "first_run": first,
        "alerts": alerts,
        "steady_runs_s": [round(s, 3) for s in steady],
        "steady_median_s": round(statistics.median(steady), 3),
        "machine": h.machine_facts(),
        "commit": h.git_commit(),
    }
    h.write_json("feed_rules", report)
    md = f"""
## {h.now_utc()} — feed rules job (#13 §1)

`{h.command_line()}` at {report["commit"]}; {h.machine_line(report["machine"])}.
PostgreSQL, {args.clients} clients ({2 * args.clients} sites), {args.records:,} feed records
({feeds["rows"]}).

| run | time | raised | resolved |
| --- | --- | --- | --- |
| first (every holding condition raised) | {first_s:.2f} s | {first["raised"]:,} | \
{first["resolved"]:,} |
| steady (nothing new), median of {args.runs} | {report["steady_median_s"] * 1000:.0f} ms | 0 | 0 |
"""
    if args.no_record:
        print(md)
    else:
        h.append_docs(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
