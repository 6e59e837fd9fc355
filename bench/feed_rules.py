"""The feed rules' job (`operations.feed_rules`, #13 §1) on PostgreSQL: the first run over a
loaded estate (every condition that holds raised through the pipeline) and the steady runs that
follow (nothing new: what the job costs every minute).

Into a scratch database (BENCH_DB, default watchfloor_bench: set your own on a shared machine):
migrates, loads `--clients` clients (2 sites each) and `--records` feed records with the same
generator as bench/snapshots.py (mostly closed history, an open share on top), ANALYZE, then
times `rules.run_feed_rules()` once (first, a full pass), then `--runs` times each: the steady
run (only what can have changed since the last run), the full pass every tenant got each minute
before (`full=True`, side by side), and the steady run after `--churn` devices reported. Prints
the figures, writes bench/results/feed_rules.json, appends to docs/benchmarks.md (unless
--no-record).

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
    parser.add_argument(
        "--churn",
        type=int,
        default=1000,
        help="devices that report between the runs of the last series (0: no such series)",
    )
    parser.add_argument(
        "--no-full", action="store_true", help="leave out the full-pass series (the old job)"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    load_before = [round(x, 2) for x in os.getloadavg()]
    h.reset_database()
    env = {**os.environ, "DATABASE_URL": f"postgres://{h.PG_USER}@{h.PG_HOST}:5432/{h.BENCH_DB}"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    h.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env)
    _setup_django()
    from django.db import connection

    from watchfloor.alerts.models import Alert
    from watchfloor.operations import rules

    tenant, clients, sites, *_ = load_estate(args.clients)
    with connection.cursor() as cursor:
        feeds = load_feeds(cursor, tenant.id, clients[0].id, sites[0].id, len(sites), args.records)
        # the estate was written an hour ago, not during the runs (else every steady run would
        # judge every record as just written): what changes between runs is `--churn`
        for table in (
            "operations_ticket",
            "operations_workorder",
            "operations_attendancerecord",
            "operations_device",
            "operations_geofenceevent",
        ):
            cursor.execute(f"UPDATE {table} SET updated_at = now() - interval '1 hour'")  # noqa: S608
        cursor.execute("VACUUM ANALYZE")
    h.log(f"loaded {args.records:,} feed records: {feeds['load_seconds']}")

    def timed(label: str, **kw) -> tuple[float, dict, dict]:
        stats: dict = {}
        started = time.perf_counter()
        counts = rules.run_feed_rules(stats=stats, **kw)
        elapsed = time.perf_counter() - started
        h.log(f"{label}: {counts} {stats} in {elapsed:.3f} s")
        return elapsed, counts, stats

    first_s, first, first_stats = timed("first run")
    alerts = Alert.objects.filter(tenant=tenant).count()
    open_rule_alerts = (
        Alert.objects.filter(tenant=tenant, source="operations").exclude(status="RESOLVED").count()
    )
    h.log(f"{alerts:,} alerts, {open_rule_alerts:,} open rule alerts")
    rows: list[tuple[str, list[float], dict, dict]] = []

    def series(label: str, runs: int, before=None, **kw) -> None:
        times, counts, stats = [], {}, {}
        for _ in range(runs):
            if before is not None:
                before()
            elapsed, counts, stats = timed(label, **kw)
            times.append(elapsed)
        rows.append((label, times, counts, stats))

    # the job as it runs every minute: only what can have changed since the last run
    series("steady (nothing written since)", args.runs)
    # the run before this change, every minute: every record that may hold, every open alert
    if not args.no_full:
        series("full pass (`full=True`, the job before this change)", args.runs, full=True)

    def churn() -> None:
        """A minute of device traffic: `--churn` devices report (seen now)."""
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE operations_device SET last_seen_at = now(), updated_at = now()
                WHERE id IN (SELECT id FROM operations_device WHERE tenant_id = %s
                             ORDER BY random() LIMIT %s)""",
                [tenant.id, args.churn],
            )

    if args.churn:
        series(f"steady after {args.churn:,} devices reported", args.runs, before=churn)
    steady = rows[0][1]
    full = rows[1][1] if not args.no_full else []
    report = {
        "clients": args.clients,
        "feed_records": args.records,
        "rows": feeds["rows"],
        "first_run_s": round(first_s, 2),
        "first_run": first,
        "first_run_stats": first_stats,
        "alerts": alerts,
        "open_rule_alerts": open_rule_alerts,
        "series": [
            {"label": label, "runs_s": [round(t, 4) for t in times], "counts": c, "stats": st}
            for label, times, c, st in rows
        ],
        "steady_median_s": round(statistics.median(steady), 4),
        "full_median_s": round(statistics.median(full), 3) if full else None,
        "loadavg_before": load_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": h.machine_facts(),
        "commit": h.git_commit(),
    }
    h.write_json("feed_rules", report)
    table = "\n".join(
        f"| {label}, median of {len(times)} | {statistics.median(times) * 1000:,.1f} ms | "
        f"{st.get('judged', 0):,} | {c.get('raised', 0):,} | {c.get('resolved', 0):,} |"
        for label, times, c, st in rows
    )
    ratio = ""
    if full:
        steady_s, full_s = report["steady_median_s"], report["full_median_s"]
        ratio = (
            f"Steady ÷ full pass in this run: {steady_s / full_s:.4f} "
            f"({full_s / max(steady_s, 1e-9):,.0f}× faster)."
        )
    md = f"""
## {h.now_utc()} — feed rules job, steady run (#13 §1)

`{h.command_line()}` at {report["commit"]}; {h.machine_line(report["machine"])}.
Load average before the run {report["loadavg_before"]}, after {report["loadavg_after"]}.
PostgreSQL, {args.clients} clients ({2 * args.clients} sites), {args.records:,} feed records
({feeds["rows"]}); {open_rule_alerts:,} open rule alerts after the first run.

| run | time | conditions judged | raised | resolved |
| --- | --- | --- | --- | --- |
| first (every holding condition raised) | {first_s:.2f} s | {first_stats["judged"]:,} | \
{first["raised"]:,} | {first["resolved"]:,} |
{table}
{ratio}
"""
    if args.no_record:
        print(md)
    else:
        h.append_docs(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
