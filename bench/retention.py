"""Retention while ingestion runs: the daily `retention.enforce` job deleting `--alerts` resolved
alerts (1,000,000 by default) must leave ingestion within 10 % of its figure without it (#13 §5).

One fresh PostgreSQL database (the bench harness's), the bench estate, then `--alerts` alerts
resolved 181–400 days ago (past the default 180-day period; the older the lower the id, as
ingestion leaves them) with what the real schema holds beside such alerts: every one's
escalation (stopped), a page delivery for one in ten, a comment for one in fifty, and one in
10,000 still a member of an open incident (those must stay). The seed is server-side SQL
(`INSERT … SELECT generate_series`), with the alert table's secondary indexes dropped during
the insert and built again after (same definitions), then VACUUM ANALYZE and a CHECKPOINT, so
the measured runs start from settled, vacuumed old data.

The shipped server (`watchfloor serve`) takes bench/ingest.py's load: 100-alert Alertmanager
batches from a pool of 10,000 fingerprints, `--connections` connections. Ingestion is staged
(a 2xx means staged): the figure is alerts FOLDED per second, as bench/ingest.py counts it (the
answered alerts over the measured seconds plus the seconds the fold needs after wrk stops to
drain staging). The job starts in its own process (`watchfloor shell`, as the scheduler runs
it, its per-run cap lifted so it deletes them all, at the shipped pace unless `--duty`), and
`--pairs` pairs of measured runs follow in A B B A order: A with the job held between two
batches (a file it checks), B beside it deleting; the ratio is the mean of B over the mean of A,
so the drift of a shared machine's other work falls on both. Then the load stops, the paced job
is stopped and the rest deleted unpaced (or, `--wait-job`, waited for), and what is left is
checked.

Prints both figures, the ratio and the job's CPU share; writes bench/results/retention.json;
appends a dated section to docs/benchmarks.md (unless --no-record).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import harness as h
import ingest

KEPT_EVERY = 10_000  # one old alert in this many is in an open incident: it must stay

SEED_SQL = """
SET session_replication_role = replica;  -- no FK triggers: consistent by construction
SET synchronous_commit = off;
INSERT INTO alerts_alert (
  tenant_id, client_id, site_id, source, type, severity, status, title, description,
  fingerprint, content_hash, entity_type, entity_id, labels, annotations, source_url,
  runbook_url, occurrence_count, suppressed_count, first_seen_at, last_seen_at,
  suppression_reason, correlation_reason, escalation_level, resolution_note, resolved_at,
  time_to_resolve, created_at, updated_at)
SELECT t.id, s.client_id, s.id, 'alertmanager', 'InstanceDown', 'HIGH', 'RESOLVED',
  'InstanceDown on old-' || g || ':9100',
  'InstanceDown has been firing on old-' || g || ':9100 for more than 5 minutes.',
  'old-' || g, md5(g::text), '', '',
  jsonb_build_object('alertname', 'InstanceDown', 'instance', 'old-' || g || ':9100',
                     'severity', 'critical', 'job', 'site-devices'),
  jsonb_build_object('summary', 'InstanceDown on old-' || g || ':9100'),
  '', '', 1 + g % 7, 0, r.at - interval '2 hours', r.at, '', '', 1, '', r.at,
  interval '2 hours', r.at - interval '2 hours', r.at
FROM generate_series(1, {n}) g
JOIN tenancy_tenant t ON t.slug = 'bench'
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, array_agg(client_id ORDER BY id) AS clients,
                   count(*) AS n FROM tenancy_site) sites
CROSS JOIN LATERAL (SELECT sites.ids[(1 + g % sites.n)::int] AS id,
                           sites.clients[(1 + g % sites.n)::int] AS client_id) s
CROSS JOIN LATERAL (SELECT now() - interval '400 days'
                           + (g::float8 / {n}) * interval '219 days' AS at) r;
INSERT INTO oncall_alertescalation (alert_id, tenant_id, policy_version_id, next_step, next_at,
  state, stop_reason, token, queued_token, created_at, updated_at)
SELECT id, tenant_id, NULL, 1, NULL, 'stopped', 'resolved', 2, 1, first_seen_at, resolved_at
FROM alerts_alert WHERE fingerprint LIKE 'old-%';
INSERT INTO oncall_delivery (tenant_id, kind, alert_id, step, medium, address, status, attempts,
  due_at, sent_at, latency_ms, context, last_error, created_at, updated_at)
SELECT tenant_id, 'page', id, 0, 'email', '', 'sent', 1, first_seen_at + interval '5 minutes',
  first_seen_at + interval '5 minutes 1 second', 900, '{{}}', '',
  first_seen_at + interval '5 minutes', first_seen_at + interval '5 minutes'
FROM alerts_alert WHERE fingerprint LIKE 'old-%' AND id % 10 = 0;
INSERT INTO alerts_alertcomment (tenant_id, alert_id, author_id, body, created_at)
SELECT tenant_id, id, NULL, 'Checked on site: power restored.', resolved_at
FROM alerts_alert WHERE fingerprint LIKE 'old-%' AND id % 50 = 0;
"""

INCIDENT_SNIPPET = """
from django.utils import timezone
from watchfloor.incidents.models import Incident
from watchfloor.tenancy.models import Tenant
now = timezone.now()
inc = Incident.objects.create(
    tenant=Tenant.objects.get(slug="bench"), title="Long-running outage", severity="HIGH",
    status="IN_PROGRESS", origin="manual", opened_at=now, updated_at=now,
)
print(inc.id)
"""

MEMBERS_SQL = """
INSERT INTO incidents_incidentalert (tenant_id, incident_id, alert_id, open, joined_at)
SELECT tenant_id, {incident}, id, true, now() FROM alerts_alert
WHERE fingerprint LIKE 'old-%' AND id % {every} = 0
"""

# Run by `watchfloor shell -c`: says when it starts deleting, then the job's result as JSON.
JOB_SNIPPET = """
import json, os, time
from django.db import connection
from watchfloor.snapshots import retention
HOLD = os.environ.get("BENCH_RETENTION_HOLD", "")


class HeldPace(retention.Pace):
    # the bench's baseline runs between the job's: it holds between two batches while the
    # hold file exists (no transaction open, nothing locked)
    def rest(self):
        super().rest()
        while HOLD and os.path.exists(HOLD):
            time.sleep(0.05)


pace = HeldPace.from_settings()
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    backend = cursor.fetchone()[0]
print("started", pace.duty, backend, flush=True)
t = time.monotonic()
counts = retention.enforce(max_batches=10**6, pace=pace)
print(json.dumps({"counts": counts, "seconds": round(time.monotonic() - t, 2),
                  "duty": pace.duty}), flush=True)
"""

PORTS = range(8730, 8740)  # this bench's ports on a shared machine (never 8000)


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


def seed(n: int) -> dict[str, Any]:
    """The old alerts and their rows; the alert table's secondary indexes built after."""
    t0 = time.monotonic()
    indexes = [
        line.split("|", 1)
        for line in h.psql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'alerts_alert' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'alerts_alert'::regclass)"
        ).splitlines()
    ]
    h.psql("; ".join(f'DROP INDEX "{name}"' for name, _ in indexes))
    h.psql(SEED_SQL.format(n=int(n)), timeout=3600)
    inserted_s = time.monotonic() - t0
    h.psql(
        "SET maintenance_work_mem = '256MB'; " + "; ".join(ddl for _, ddl in indexes),
        timeout=3600,
    )
    indexed_s = time.monotonic() - t0 - inserted_s
    h.psql(
        "VACUUM (ANALYZE) alerts_alert, oncall_alertescalation, oncall_delivery, "
        "alerts_alertcomment",
        timeout=3600,
    )
    h.psql("CHECKPOINT", timeout=600)
    return {
        "seconds": round(time.monotonic() - t0, 1),
        "insert_seconds": round(inserted_s, 1),
        "index_seconds": round(indexed_s, 1),
        "indexes_rebuilt": len(indexes),
    }


def counts() -> dict[str, int]:
    sql = (
        "SELECT (SELECT count(*) FROM alerts_alert WHERE fingerprint LIKE 'old-%'), "
        "(SELECT count(*) FROM oncall_alertescalation e JOIN alerts_alert a ON a.id = e.alert_id "
        " WHERE a.fingerprint LIKE 'old-%'), "
        "(SELECT count(*) FROM oncall_delivery WHERE kind = 'page' AND alert_id IS NOT NULL), "
        "(SELECT count(*) FROM alerts_alertcomment), "
        "(SELECT count(*) FROM incidents_incidentalert)"
    )
    names = ("old_alerts", "old_escalations", "page_deliveries", "comments", "memberships")
    return dict(zip(names, map(int, h.psql(sql).split("|")), strict=True))


def measured_run(wf, requests_file, headers, args, label: str, *, wait_quiet: bool) -> dict:
    """Warm-up (after waiting, bounded, for a quiet machine unless told not to: the runs beside
    the retention job must not wait for the job), the measured run, then the fold's drain:
    the figure is alerts folded per second, as bench/ingest.py counts it."""
    h.wrk(
        wf,
        method="POST",
        requests_file=requests_file,
        headers=headers,
        seconds=args.warmup,
        connections=args.connections,
        quiet=wait_quiet,
    )
    res = h.wrk(
        wf,
        method="POST",
        requests_file=requests_file,
        headers=headers,
        seconds=args.duration,
        connections=args.connections,
        quiet=False,
    )
    fold = ingest.wait_for_fold()
    row = res.as_dict()
    row["ok_requests"] = res.requests - res.errors["status"]
    row["answered_alerts_per_s"] = round(res.rps * ingest.BATCH, 1)
    row["fold"] = fold
    row["alerts_per_s"] = round(
        row["ok_requests"] * ingest.BATCH / (res.seconds + fold["drain_s"]), 1
    )
    row["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    h.log(
        f"{label}: {row['alerts_per_s']:,.0f} alerts/s folded ({row['answered_alerts_per_s']:,.0f} "
        f"answered; fold drained {fold['pending_events_at_stop']:,} in {fold['drain_s']} s), "
        f"p50 {res.latency_ms['p50']} ms, p99 {res.latency_ms['p99']} ms, non-2xx "
        f"{res.errors['status']}, CPU {res.cpu}, PG sessions {res.pg_sessions}"
    )
    return row


class JobCpu:
    """CPU seconds of the job: its processes (uv, Python) and its PostgreSQL backend."""

    def __init__(self, pid: int, backend: int):
        import psutil

        self.procs = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            self.procs = [root, *root.children(recursive=True)]
        with contextlib.suppress(psutil.Error):
            self.procs.append(psutil.Process(backend))

    def seconds(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: S112 (a process gone: its last reading is lost)
                continue
        return total


def old_left() -> int:
    return int(h.psql("SELECT count(*) FROM alerts_alert WHERE fingerprint LIKE 'old-%'"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="resolved alerts to delete")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pairs",
        type=int,
        default=2,
        help="pairs of measured runs, one with the job held, one beside it, in A B B A order "
        "(default 2)",
    )
    parser.add_argument(
        "--duty",
        type=float,
        default=None,
        help="the job's duty cycle (WATCHFLOOR_RETENTION_DUTY; default: the shipped setting)",
    )
    parser.add_argument("--job-timeout", type=float, default=1800)
    parser.add_argument(
        "--wait-job",
        action="store_true",
        help="after the measured runs, wait for the paced job to finish (default: stop it and "
        "delete the rest unpaced with the load off)",
    )
    parser.add_argument("--quiet-timeout", type=float, default=h.QUIET_TIMEOUT)
    parser.add_argument("--no-record", action="store_true", help="do not append to the docs")
    args = parser.parse_args()
    h.QUIET_TIMEOUT = args.quiet_timeout

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
        h.log(f"seed {args.alerts:,} alerts resolved 181-400 days ago, with their rows")
        report["seed"] = seed(args.alerts)
        incident = int(h.last_line(h.watchfloor(["shell", "-c", INCIDENT_SNIPPET], env)))
        h.psql(MEMBERS_SQL.format(incident=incident, every=KEPT_EVERY))
        report["before"] = counts()
        h.log(f"seeded in {report['seed']}: {report['before']}")
        pool = ingest.alert_pool(estate.sites, datetime.now(UTC))
        bodies = ingest.request_bodies(pool, batch=ingest.BATCH, count=500, seed=1)
        requests_file = work / "batched.requests"
        h.write_requests(requests_file, (("/api/v2/alerts", b) for b in bodies))
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {estate.secrets['key_alertmanager']}",
        }
        job_env = dict(env)
        if args.duty is not None:
            job_env["WATCHFLOOR_RETENTION_DUTY"] = str(args.duty)
        with ingest.start_watchfloor(work, env, "serve", args.workers) as wf:
            ingest.preflight(wf, bodies[0], headers)
            report["first_pass"] = ingest.first_pass(
                wf, bodies[: ingest.FINGERPRINTS // ingest.BATCH], headers
            )
            report["command_server"] = " ".join(wf.cmd)
            report["loadavg_before_baseline"] = [round(x, 2) for x in os.getloadavg()]
            hold = work / "hold"
            hold.touch()  # the job holds after its first batch until a "with" run
            job_env["BENCH_RETENTION_HOLD"] = str(hold)
            h.log("start retention.enforce beside the load")
            job_log = work / "retention-job.log"
            job = subprocess.Popen(  # noqa: S603 (our own command)
                ["uv", "run", "--frozen", "watchfloor", "shell", "-c", JOB_SNIPPET],  # noqa: S607
                env=job_env,
                cwd=h.ROOT,
                stdout=subprocess.PIPE,
                stderr=open(job_log, "w"),  # noqa: SIM115 (closed with the work dir)
                text=True,
            )
            assert job.stdout is not None
            seen = []  # the shell may print its own lines first (objects imported…)
            while (line := job.stdout.readline()) and not line.startswith("started "):
                seen.append(line.strip())
            if not line:
                raise SystemExit(f"retention job did not start: {seen} {job_log.read_text()}")
            report["duty"] = float(line.split()[1])
            cpu = JobCpu(job.pid, int(line.split()[2]))
            job_started = time.monotonic()
            time.sleep(2)  # its first batch, then it holds
            # A B B A …: the baseline and the runs beside the job alternate, so the drift of a
            # shared machine's other work falls on both
            order = []
            for i in range(args.pairs):
                order += [False, True] if i % 2 == 0 else [True, False]
            report["without"], report["with"] = [], []
            for n, beside in enumerate(order):
                if beside:
                    hold.unlink(missing_ok=True)
                else:
                    hold.touch()
                    time.sleep(1)  # the batch in flight ends
                left_before, cpu_before, t0 = old_left(), cpu.seconds(), time.monotonic()
                row = measured_run(
                    wf,
                    requests_file,
                    headers,
                    args,
                    f"run {n + 1}/{len(order)}, {'beside the job' if beside else 'job held'}",
                    wait_quiet=n == 0,
                )
                wall = time.monotonic() - t0
                row["wall_s"] = round(wall, 1)
                row["job_cpu_pct_of_one_core"] = round(100 * (cpu.seconds() - cpu_before) / wall, 1)
                row["old_alerts_deleted_during"] = left_before - old_left()
                row["job_running_at_end"] = job.poll() is None
                row["seconds_since_job_start"] = round(time.monotonic() - job_started, 1)
                h.log(
                    f"  job: {row['old_alerts_deleted_during']:,} old alerts deleted, "
                    f"{row['job_cpu_pct_of_one_core']} % of a core"
                )
                report["with" if beside else "without"].append(row)
            hold.unlink(missing_ok=True)
        # the load is off. --wait-job: wait (bounded) for the paced job to delete the rest;
        # else stop it (our own process) and delete the rest unpaced (duty 1): its rows/s is the
        # job's speed when nothing else runs, and the bench keeps the shared machine minutes,
        # not the paced job's tens of minutes
        beside_s = sum(w["wall_s"] for w in report["with"])
        report["paced"] = {
            "deleted": sum(w["old_alerts_deleted_during"] for w in report["with"]),
            "seconds": round(beside_s, 1),
        }
        report["paced"]["rows_per_s"] = round(report["paced"]["deleted"] / beside_s, 1)
        if args.wait_job:
            try:
                out, _ = job.communicate(timeout=args.job_timeout)
            except subprocess.TimeoutExpired:
                job.terminate()
                out, _ = job.communicate(timeout=60)
                report["job_timed_out"] = True
            report["job_log_tail"] = job_log.read_text()[-3000:]
            if job.returncode and not report.get("job_timed_out"):
                raise SystemExit(f"retention job failed: {report['job_log_tail']}")
            lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
            report["job"] = json.loads(lines[-1]) if lines else None
        else:
            job.terminate()
            job.communicate(timeout=60)
            h.log(f"paced job stopped: {report['paced']}; the rest unpaced, load off")
            t = time.monotonic()
            out = h.run(
                ["uv", "run", "--frozen", "watchfloor", "shell", "-c", JOB_SNIPPET],
                env={**env, "WATCHFLOOR_RETENTION_DUTY": "1"},
                cwd=h.ROOT,
                timeout=args.job_timeout,
            ).stdout
            lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
            report["finish"] = json.loads(lines[-1]) if lines else None
            report["finish_wall_s"] = round(time.monotonic() - t, 1)
        report["job_wall_s"] = round(time.monotonic() - job_started, 1)
        report["after"] = counts()
        report["dangling"] = int(
            h.psql(
                "SELECT (SELECT count(*) FROM oncall_alertescalation e WHERE NOT EXISTS "
                "(SELECT 1 FROM alerts_alert a WHERE a.id = e.alert_id)) + "
                "(SELECT count(*) FROM oncall_delivery d WHERE d.alert_id IS NOT NULL AND "
                "NOT EXISTS (SELECT 1 FROM alerts_alert a WHERE a.id = d.alert_id))"
            )
        )

    duty_label = report.get("duty")

    def mean(rows: list[dict]) -> float:
        return sum(r["alerts_per_s"] for r in rows) / len(rows) if rows else 0.0

    base, beside = mean(report["without"]), mean(report["with"])
    ratio = beside / base if base else 0.0
    report["ratio"] = round(ratio, 3)
    kept = report["before"]["memberships"]
    left = report["after"]["old_alerts"]
    verdict = "within 10 %" if ratio >= 0.9 else "NOT within 10 %"

    def run_line(r: dict) -> str:
        return (
            f"{r['alerts_per_s']:,.0f} (other {r['cpu_pct_of_one_core']['other_pct']:.0f} %, job "
            f"{r['job_cpu_pct_of_one_core']:.0f} %)"
        )

    windows = (
        f"job held: {', '.join(run_line(r) for r in report['without'])}; beside the job: "
        f"{', '.join(run_line(r) for r in report['with'])} alerts/s folded (CPU in % of one "
        f"core; A B B A order)"
    )
    paced = report["paced"]
    if report.get("job"):
        job = report["job"]
        c = job.get("counts") or {}
        rest = (
            f"the job (duty {job.get('duty')}) deleted {c.get('resolved_alerts', 0):,} resolved "
            f"alerts in {job.get('seconds', 0):,.0f} s (busy {c.get('busy_s')} s, paused "
            f"{c.get('paused_s')} s){'; JOB TIMED OUT' if report.get('job_timed_out') else ''}"
        )
    else:
        fin = report.get("finish") or {}
        c = fin.get("counts") or {}
        n = c.get("resolved_alerts", 0)
        secs = fin.get("seconds") or 0
        rest = (
            f"beside the load the job (duty {duty_label}) deleted {paced['deleted']:,} in "
            f"{paced['seconds']:,.0f} s ({paced['rows_per_s']:,.0f} rows/s); then, load off, "
            f"the rest {n:,} unpaced in {secs:,.0f} s ({n / secs if secs else 0:,.0f} rows/s)"
        )
    summary = (
        f"ingestion {base:,.0f} alerts/s folded with the job held, {beside:,.0f} beside it: "
        f"{ratio:.1%} ({verdict}); {windows}; {rest}; {left} old alerts left (expected {kept}: "
        f"the members of an open incident), dangling escalations/deliveries {report['dangling']}"
    )
    print(summary)
    h.write_json("retention", report)
    if not args.no_record:
        w0 = report["with"][0] if report["with"] else {}
        b0 = report["without"][0] if report["without"] else {}
        h.append_docs(
            f"\n## Retention while ingestion runs ({report['date']})\n\n"
            f"`{report['command']}`\n\n{h.machine_line(machine)}; commit `{machine['commit']}`; "
            f"load average before the run {machine['loadavg_before']}, before the baseline "
            f"{report['loadavg_before_baseline']}.\n\n"
            f"- {summary}.\n"
            f"- Seed: {args.alerts:,} alerts with their escalations, deliveries, comments and "
            f"incident memberships in {report['seed']['seconds']} s "
            f"(insert {report['seed']['insert_seconds']} s, {report['seed']['indexes_rebuilt']} "
            f"secondary indexes built after in {report['seed']['index_seconds']} s).\n"
            f"- Load: bench/ingest.py's 100-alert Alertmanager batches, {args.connections} "
            f"connections, {args.duration:.0f} s measured after {args.warmup:.0f} s warm-up per "
            f"run, alerts folded per second (answered ÷ measured seconds + the fold's drain "
            f"after wrk stopped), server `{report['command_server']}`; the job in its own "
            f"process (`retention.enforce`, its per-run cap lifted).\n"
            f"- CPU (% of one core), first run held: {b0.get('cpu_pct_of_one_core')}; first run "
            f"beside: {w0.get('cpu_pct_of_one_core')}. PostgreSQL sessions held: "
            f"{b0.get('pg_sessions')}; beside: {w0.get('pg_sessions')}.\n"
        )


if __name__ == "__main__":
    main()
