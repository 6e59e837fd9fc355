"""Retention while ingestion runs: the daily `retention.enforce` job deleting `--alerts` resolved
alerts (1,000,000 by default) must leave ingestion within 10 % of its figure without it.

One fresh PostgreSQL database (the bench harness's), the bench estate, `--alerts` alerts resolved
400 days ago inserted by one SQL statement (past the default 180-day period). The shipped server
(`watchfloor serve`) takes bench/ingest.py's load: 100-alert Alertmanager batches from a pool of
10,000 fingerprints, from `--connections` connections. First a measured run without retention
(the baseline), then the job starts in its own process (`watchfloor shell`, as the scheduler
runs it, its per-run cap lifted so it deletes them all) and the same load is measured while it
deletes; the job's time and rows/s are read when it finishes.

Prints both figures and the ratio; writes bench/results/retention.json; appends a dated section
to docs/benchmarks.md (unless --no-record).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import harness as h
import ingest

SEED_SQL = """
INSERT INTO alerts_alert (
  tenant_id, client_id, site_id, source, type, severity, status, title, description,
  fingerprint, content_hash, entity_type, entity_id, labels, annotations, source_url,
  runbook_url, occurrence_count, suppressed_count, first_seen_at, last_seen_at,
  suppression_reason, correlation_reason, escalation_level, resolution_note, resolved_at,
  created_at, updated_at)
SELECT t.id, s.client_id, s.id, 'native', 'DEVICE_OFFLINE', 'HIGH', 'RESOLVED',
  'old alert ' || g, '', 'old-' || g, 'x', '', '', '{{}}', '{{}}', '', '', 1, 0,
  now() - interval '401 days', now() - interval '400 days', '', '', 0, '',
  now() - interval '400 days', now() - interval '401 days', now() - interval '400 days'
FROM generate_series(1, {n}) g
JOIN tenancy_tenant t ON t.slug = 'bench'
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, array_agg(client_id ORDER BY id) AS clients,
                   count(*) AS n FROM tenancy_site) sites
CROSS JOIN LATERAL (SELECT sites.ids[(1 + g % sites.n)::int] AS id,
                           sites.clients[(1 + g % sites.n)::int] AS client_id) s
"""

JOB_SNIPPET = """
import json, time
from watchfloor.snapshots import retention
t = time.monotonic()
counts = retention.enforce(max_batches=10**6)
print(json.dumps({"counts": counts, "seconds": round(time.monotonic() - t, 2)}))
"""


PORTS = range(8650, 8660)  # this bench's ports on a shared machine (never 8000)


def port_in_range() -> int:
    import socket

    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


h.free_port = port_in_range


def wrk_run(
    server, requests_file, headers, args, label: str, *, wait_quiet: bool = True
) -> dict[str, Any]:
    """Warm-up (after waiting, bounded, for a quiet machine unless told not to: the run beside
    the retention job must not wait for the job), then the measured run."""
    h.wrk(
        server,
        method="POST",
        requests_file=requests_file,
        headers=headers,
        seconds=args.warmup,
        connections=args.connections,
        quiet=wait_quiet,
    )
    res = h.wrk(
        server,
        method="POST",
        requests_file=requests_file,
        headers=headers,
        seconds=args.duration,
        connections=args.connections,
        quiet=False,
    )
    row = res.as_dict()
    row["alerts_per_s"] = round(res.rps * ingest.BATCH, 1)
    h.log(
        f"{label}: {row['alerts_per_s']:,.0f} alerts/s, p50 {res.latency_ms['p50']} ms, "
        f"p99 {res.latency_ms['p99']} ms, CPU {res.cpu}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="resolved alerts to delete")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="do not append to the docs")
    args = parser.parse_args()

    h.ensure_debian_package("wrk", "wrk")
    machine = h.machine_facts()
    report: dict[str, Any] = {
        "benchmark": "retention",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
        "args": vars(args),
    }
    with h.workdir("wf-bench-retention-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = h.setup_watchfloor(env, key_sources=["alertmanager"])
        h.log(f"insert {args.alerts:,} alerts resolved 400 days ago")
        t = time.monotonic()
        h.psql(SEED_SQL.format(n=int(args.alerts)), timeout=1800)
        h.psql("ANALYZE alerts_alert")
        report["seed_seconds"] = round(time.monotonic() - t, 1)
        pool = ingest.alert_pool(estate.sites, datetime.now(UTC))
        bodies = ingest.request_bodies(pool, batch=ingest.BATCH, count=500, seed=1)
        requests_file = work / "batched.requests"
        h.write_requests(requests_file, (("/api/v2/alerts", b) for b in bodies))
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {estate.secrets['key_alertmanager']}",
        }
        with ingest.start_watchfloor(work, env, "serve", args.workers) as wf:
            ingest.preflight(wf, bodies[0], headers)
            ingest.first_pass(wf, bodies[: ingest.FINGERPRINTS // ingest.BATCH], headers)
            report["command_server"] = " ".join(wf.cmd)
            report["without"] = wrk_run(wf, requests_file, headers, args, "without retention")
            h.log("start retention.enforce beside the load")
            job = subprocess.Popen(  # noqa: S603 (our own command)
                ["uv", "run", "--frozen", "watchfloor", "shell", "-c", JOB_SNIPPET],  # noqa: S607
                env=env,
                cwd=h.ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(3)  # past its start-up: deleting by then
            report["with"] = wrk_run(
                wf, requests_file, headers, args, "with retention", wait_quiet=False
            )
            report["job_running_at_end_of_run"] = job.poll() is None
            out, err = job.communicate(timeout=3600)
        if job.returncode:
            raise SystemExit(f"retention job failed: {err[-2000:]}")
        report["job"] = json.loads(out.strip().splitlines()[-1])
        left = int(h.psql("SELECT count(*) FROM alerts_alert WHERE fingerprint LIKE 'old-%'"))
        report["old_alerts_left"] = left

    deleted = report["job"]["counts"].get("resolved_alerts", 0)
    secs = report["job"]["seconds"]
    base, under = report["without"]["alerts_per_s"], report["with"]["alerts_per_s"]
    ratio = under / base if base else 0.0
    report["ratio"] = round(ratio, 3)
    report["rows_per_s"] = round(deleted / secs, 1) if secs else None
    verdict = "within 10 %" if ratio >= 0.9 else "NOT within 10 %"
    summary = (
        f"ingestion {base:,.0f} alerts/s without retention, {under:,.0f} alerts/s while it "
        f"deleted ({ratio:.1%}: {verdict}); retention deleted {deleted:,} resolved alerts in "
        f"{secs:,.0f} s ({report['rows_per_s']:,.0f} rows/s), {left} left; job still running "
        f"at the end of the measured run: {report['job_running_at_end_of_run']}"
    )
    print(summary)
    h.write_json("retention", report)
    if not args.no_record:
        h.append_docs(
            f"\n## Retention while ingestion runs ({report['date']})\n\n"
            f"`{report['command']}`\n\n{h.machine_line(machine)}\n\n"
            f"- {summary}.\n"
            f"- Load: bench/ingest.py's 100-alert Alertmanager batches, {args.connections} "
            f"connections, {args.duration:.0f} s measured after {args.warmup:.0f} s warm-up, "
            f"server `{report['command_server']}`; the job in its own process "
            f"(`retention.enforce`, batches of 2,000 ids, one short transaction each).\n"
        )


if __name__ == "__main__":
    main()
