"""PostgreSQL alone: the cost of folding repeats into alerts_alert, as shipped vs HOT-friendly.

A repeat of an open alert bumps `occurrence_count`, `last_seen_at` and `updated_at`. Because
`last_seen_at` is indexed (`alert_tenant_last_seen`), no such UPDATE can be HOT: every repeat
writes a new entry into each of the table's indexes. This script measures, with pgbench and no
Python in the path, transactions that lock and bump 100 random alerts of 10,000 (the shape of the
pipeline's repeat statement), first on the migrated schema, then after an experimental change
(default: drop that index and set fillfactor 70, so the updates can be HOT). It reports
transactions/s (×100 = rows/s), average latency, and the HOT share of the updates.

Prints, writes bench/results/pg_repeat_update.json, appends to docs/benchmarks.md (unless
--no-record). Not a statement about the whole product: the database side of one statement.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path
from typing import Any

import alerts_list
import harness as h

BUMP = """\
WITH ids AS (SELECT DISTINCT 1 + (random() * (:n - 1))::int AS id FROM generate_series(1, 100)),
locked AS (SELECT a.id FROM alerts_alert a JOIN ids USING (id) ORDER BY a.id FOR UPDATE OF a)
UPDATE alerts_alert SET occurrence_count = alerts_alert.occurrence_count + 1,
  last_seen_at = now(), updated_at = now()
FROM locked WHERE alerts_alert.id = locked.id;
"""
DEFAULT_EXPERIMENT = (
    "DROP INDEX alert_tenant_last_seen; ALTER TABLE alerts_alert SET (fillfactor = 70)"
)


def pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise SystemExit("pgbench not found (Debian package postgresql-15 ships it)")


def run_pgbench(binary: str, script: Path, clients: int, seconds: int, rows: int) -> dict:
    h.psql("SELECT pg_stat_reset()")
    out = h.run(
        [
            binary,
            "-h",
            h.PG_HOST,
            "-U",
            h.PG_USER,
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-D",
            f"n={rows}",
            "-f",
            str(script),
            h.BENCH_DB,
        ]
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    h.psql("SELECT pg_stat_force_next_flush()")
    upd, hot = h.psql(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'alerts_alert'"
    ).split("|")
    return {
        "clients": clients,
        "tps": round(tps, 1),
        "rows_per_s": round(tps * 100),
        "latency_avg_ms": lat,
        "updates": int(upd),
        "hot_pct": round(100 * int(hot) / max(int(upd), 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds per pgbench run")
    parser.add_argument("--clients", default="1,16", help="comma-separated client counts")
    parser.add_argument("--experiment-sql", default=DEFAULT_EXPERIMENT)
    parser.add_argument("--quick", action="store_true", help="5 s runs")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.duration = 5
    binary = pgbench_binary()
    report: dict[str, Any] = {
        "benchmark": "pg_repeat_update",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": h.machine_facts(),
        "args": vars(args),
        "results": {},
    }
    with h.workdir("wf-bench-pg-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        h.setup_watchfloor(env)
        alerts_list.load_alerts(args.rows)
        # every row open, as after ingest.py's first pass (open rows are in the partial index)
        h.psql("UPDATE alerts_alert SET status = 'NEW', resolved_at = NULL, time_to_resolve = NULL")
        script = work / "bump.sql"
        script.write_text(BUMP)
        for label, sql in (("as migrated", ""), ("experiment", args.experiment_sql)):
            if sql:
                h.log(f"experiment: {sql}")
                h.psql(sql)
            h.psql("VACUUM FULL ANALYZE alerts_alert")
            for clients in (int(c) for c in args.clients.split(",")):
                res = run_pgbench(binary, script, clients, args.duration, args.rows)
                report["results"][f"{label}/{clients}"] = {"schema": label, **res}
                h.log(f"{label}, {clients} clients: {res}")
    rows = [
        f"| {r['schema']} | {r['clients']} | {r['tps']:,.0f} | {r['rows_per_s']:,} "
        f"| {r['latency_avg_ms']} | {r['hot_pct']} |"
        for r in report["results"].values()
    ]
    table = "\n".join(
        [
            "| schema | clients | transactions/s (100 rows each) | rows/s | avg latency ms "
            "| HOT updates % |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    m = report["machine"]
    src = "`bench/pg_repeat_update.py`"
    md = f"""
### {report["date"]} — PostgreSQL alone: bumping repeats, as migrated vs HOT-friendly ({src})

- Commit measured: `{m["commit"]}` (its migrations)
- Command: `{report["command"]}`
- Machine: {h.machine_line(m)}.
- Load: pgbench, {args.duration} s per run; each transaction locks 100 random alerts of
  {args.rows:,} open alerts in id order and bumps `occurrence_count`, `last_seen_at`,
  `updated_at` (the shape of the pipeline's repeat statement, without RETURNING).
  "experiment" = the migrated schema after `{args.experiment_sql}`, then `VACUUM FULL`.

{table}
"""
    print(table)
    h.write_json("pg_repeat_update", report)
    if args.no_record:
        print(md)
    else:
        h.append_docs(md)


if __name__ == "__main__":
    main()
