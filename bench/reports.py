"""The reports (#13 §3) over 1,000,000 alerts on PostgreSQL: p50/p95 of each report
(response times, frequency, SLA, noisy sites, and the whole page's set) over the last 30 and
the last 90 days, as the bench tenant's admin (all clients), plus the EXPLAIN of each query.

Loads `--rows` alerts with bench/alerts_list.py's loader (90 days of history, 200 sites, mostly
resolved), fills the daily rollup (`watchfloor rollup_reports`'s loop, timed, then one steady
`reports.rollup` run, timed) unless `--no-rollup` (the reports then read the alerts alone), then
calls `watchfloor.reports.queries` in this process (Django on the bench
database): the figures are the database's and the ORM's time, without HTTP. Each report runs
`--iterations` times per range (after one warm-up run). The EXPLAIN (ANALYZE, BUFFERS) of every
query of one run is summarised by its scan nodes, so a plan that reads the whole table for a
30-day range shows. Prints the figures, writes bench/results/reports.json, appends to
docs/benchmarks.md (unless --no-record).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

import alerts_list
import harness as h

REPORTS = ("response_times", "frequency", "sla_compliance", "noisy_sites", "full_report")


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def scans(plan: str) -> list[str]:
    """The scan nodes of a text plan: `Index Only Scan using alert_resolved_day`, …"""
    found = re.findall(
        r"((?:Parallel )?(?:Seq|Index Only|Index|Bitmap Heap|Bitmap Index) Scan"
        r"(?: using \w+)?(?: on \w+)?)",
        plan,
    )
    return sorted(set(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 5 iterations")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--no-rollup", action="store_true", help="no daily rollup: the reports read the alerts"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.iterations = min(args.rows, 100_000), 5

    report: dict[str, Any] = {
        "benchmark": "reports",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": h.machine_facts(),
        "args": {k: v for k, v in vars(args).items() if k != "no_record"},
        "results": {},
        "plans": {},
    }
    with h.workdir("wf-bench-reports-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        h.setup_watchfloor(env)
        report["data"] = alerts_list.load_alerts(args.rows)
        h.log(f"data: {report['data']}")
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
        import django

        django.setup()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from watchfloor.alerts.overview_queries import OverviewFilters
        from watchfloor.reports import queries
        from watchfloor.tenancy.models import User

        user = User.objects.get(username="benchadmin")
        f = OverviewFilters()
        report["rollup"] = None
        if not args.no_rollup:
            from watchfloor.reports.models import AlertDayRollup, ResponseDayRollup
            from watchfloor.reports.rollup import roll_up

            t0 = time.perf_counter()
            runs = 0
            while True:
                runs += 1
                if not roll_up()["days_behind"]:
                    break
            backfill = time.perf_counter() - t0
            t0 = time.perf_counter()
            steady = roll_up()
            steady_s = time.perf_counter() - t0
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_size_pretty(pg_total_relation_size('reports_alertdayrollup')"
                    " + pg_total_relation_size('reports_responsedayrollup'))"
                )
                size = cursor.fetchone()[0]
            report["rollup"] = {
                "backfill_s": round(backfill, 1),
                "backfill_runs": runs,
                "steady_run_ms": round(steady_s * 1000, 1),
                "steady_counts": steady,
                "alert_rows": AlertDayRollup.objects.count(),
                "response_rows": ResponseDayRollup.objects.count(),
                "size": size,
            }
            h.log(f"rollup: {report['rollup']}")
        for days in (30, 90):
            now = timezone.now()
            r = queries.ReportRange.build(since=now - timedelta(days=days), until=now, now=now)
            for name in REPORTS:
                fn = getattr(queries, name)
                fn(user, f, r, now=now)  # warm-up
                times = []
                for _ in range(args.iterations):
                    t0 = time.perf_counter()
                    fn(user, f, r, now=now)
                    times.append((time.perf_counter() - t0) * 1000)
                key = f"{name}_{days}d"
                report["results"][key] = {
                    "p50_ms": round(statistics.median(times), 1),
                    "p95_ms": round(p(times, 0.95), 1),
                    "max_ms": round(max(times), 1),
                }
                h.log(f"{key}: {report['results'][key]}")
            with CaptureQueriesContext(connection) as ctx:
                queries.full_report(user, f, r, now=now)
            plans = []
            with connection.cursor() as cursor:
                for q in ctx.captured_queries:
                    if "alerts_alert" not in q["sql"] and "rollup" not in q["sql"]:
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                    text = "\n".join(row[0] for row in cursor.fetchall())
                    total = re.search(r"Execution Time: ([\d.]+) ms", text)
                    plans.append(
                        {
                            "query": q["sql"][:160],
                            "scans": scans(text),
                            "execution_ms": float(total.group(1)) if total else None,
                        }
                    )
            report["plans"][f"{days}d"] = plans
            report["results"][f"queries_{days}d"] = len(ctx.captured_queries)
    h.write_json("reports", report)
    section = summarise(report)
    print(section)
    if not args.no_record:
        h.append_docs(section)


def _rollup_line(rollup: dict[str, Any] | None) -> str:
    if rollup is None:
        return "No daily rollup (`--no-rollup`): every report reads the alerts."
    return (
        f"Daily rollup: backfill {rollup['backfill_s']} s in {rollup['backfill_runs']} job runs "
        f"({rollup['alert_rows']:,} alert-day rows + {rollup['response_rows']:,} response-day "
        f"rows, {rollup['size']}); a steady `reports.rollup` run {rollup['steady_run_ms']} ms "
        f"({rollup['steady_counts']}). The reports read it for the whole days and the alerts "
        "for the rest (today, edges, active alerts)."
    )


def summarise(report: dict[str, Any]) -> str:
    res, d = report["results"], report["data"]
    lines = [
        f"## Reports over {d['rows']:,} alerts (PostgreSQL"
        f"{', daily rollup' if report.get('rollup') else ''}) — {report['date']}",
        "",
        f"Command: `{report['command']}` · {h.machine_line(report['machine'])}",
        "",
        f"{d['rows']:,} alerts over 90 days on 200 sites (table {d['table_size']}); "
        f"`watchfloor.reports.queries` called in-process as the tenant admin (all clients, no "
        f"filter), {report['args']['iterations']} runs each after a warm-up.",
        "",
        _rollup_line(report.get("rollup")),
        "",
        "| report | 30 days p50 | 30 days p95 | 90 days p50 | 90 days p95 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in REPORTS:
        a, b = res[f"{name}_30d"], res[f"{name}_90d"]
        lines.append(
            f"| {name} | {a['p50_ms']} ms | {a['p95_ms']} ms | {b['p50_ms']} ms | "
            f"{b['p95_ms']} ms |"
        )
    lines += [
        "",
        f"Queries per whole report: {res['queries_30d']}. Scan nodes (EXPLAIN ANALYZE):",
        "",
    ]
    for span, plans in report["plans"].items():
        for plan in plans:
            lines.append(
                f"- {span}: {', '.join(plan['scans']) or '—'} ({plan['execution_ms']} ms): "
                f"`{plan['query'][:90]}…`"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(h.BENCH))
    main()
