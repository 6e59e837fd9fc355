"""Escalation and paging figures (issue 9, section 8), on PostgreSQL + Redis.

1. `sweep`: one escalation sweep over 100,000 open, unacknowledged alerts at 1,000 sites, AS THE
   JOB RUNS IT (`watchfloor.jobs.runtime.run_job("escalation.sweep")`: the lease, the JobRun, the
   Celery messages of `enqueue`), in this process: (a) the first sweep, which opens 100,000
   escalations; (b) a steady-state sweep where the escalations' next steps are spread over the
   next hour, so the steps due within one 20 s sweep interval (~1/180 of them) fall due; (c) an
   idle sweep (nothing due). Target: <= 1 s. Statement counts and the slowest statements of
   each sweep are recorded (EXPLAIN ANALYZE of the main ones with `--explain`).
2. `latency`: 1,000 notifications through a webhook team channel (apprise `json://` to a local
   `WebhookSink` in this process): from the moment the step is DUE (`AlertEscalation.next_at`)
   to RECEIPT by the receiver, p50/p99/max, on (i) the embedded scheduler of a
   `watchfloor serve` subprocess without REDIS_URL and (ii) `watchfloor worker` + `watchfloor
   beat` subprocesses with REDIS_URL (Celery); each with the first steps due spread over 10 s
   starting ~35 s ahead (the sweep queues their timed tasks before they fall due) and as a burst
   (all due in the same second). Target: p99 < 2 s.

`bench/ingest.py --with-jobs` is the third figure (ingestion with escalations running).

The database `watchfloor_bench_esc` is dropped and recreated, Redis db 9 flushed; nothing else
is touched. Everything listens on 127.0.0.1.

    uv run python bench/escalation.py                 # both parts (~5-8 min on 2 cores)
    uv run python bench/escalation.py --parts sweep --explain --no-record
    uv run python bench/escalation.py --alerts 10000 --notifications 200 --no-record   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

BENCH_DB = "watchfloor_bench_esc"
REDIS_DB = 9

CLIENTS = 20
SITES_PER_CLIENT = 50
PEOPLE = 50
WITH_EMAIL = 30  # people with a verified email contact method (the others are UNREACHABLE)
SWEEP_INTERVAL_S = 20
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
ALERT_LINK = re.compile(r"/alerts/(\d+)/")


def psql(sql: str, *, timeout: float | None = None) -> str:
    """harness.psql on the bench database in use (`h.BENCH_DB`: this script's own when run,
    `ingest.py`'s when it imports `insert_alerts`; harness.psql's default is bound at import)."""
    return h.psql(sql, db=h.BENCH_DB, timeout=timeout)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def dist(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 1),
        "p90": round(pct(values, 90), 1),
        "p99": round(pct(values, 99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


# --- setup -----------------------------------------------------------------------------------
def prepare(home: Path) -> dict[str, str]:
    """Fresh database, migrated, the bench tenant; Django set up in this process on it."""
    h.reset_database()
    env = h.watchfloor_env(home)
    env["WATCHFLOOR_PUBLIC_URL"] = "http://127.0.0.1:8000"
    h.log("watchfloor migrate")
    h.watchfloor(["migrate", "--noinput"], env)
    h.watchfloor(
        ["tenant", "create", "--slug", "bench", "--name", "Bench", "--admin", "benchadmin"], env
    )
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "watchfloor.settings"
    import django

    django.setup()
    return env


def build_estate() -> dict[str, Any]:
    """20 clients x 50 sites, 50 people (30 reachable by email), an officer in charge per site,
    a client owner per client, a rotation schedule of 10 people, a webhook team channel."""
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from watchfloor.oncall.models import (
        ContactMethod,
        Layer,
        LayerKind,
        LayerMember,
        Medium,
        Schedule,
        ShiftLength,
    )
    from watchfloor.tenancy.models import Client, Site, Tenant, User

    tenant = Tenant.objects.get(slug="bench")
    now = timezone.now()
    people = User.objects.bulk_create(
        User(
            username=f"person{i:02d}",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            email=f"person{i:02d}@example.com",
            tenant=tenant,
            is_active=True,
        )
        for i in range(PEOPLE)
    )
    # supervisors see every client: escalation never pages anyone about a site they cannot see
    Group.objects.get(name="supervisor").user_set.add(*people)
    ContactMethod.objects.bulk_create(
        ContactMethod(
            tenant=tenant,
            user=p,
            medium=Medium.EMAIL,
            label="work email",
            address=p.email,
            verified_at=now,
        )
        for p in people[:WITH_EMAIL]
    )
    clients = Client.objects.bulk_create(
        Client(tenant=tenant, code=f"C{c:03d}", name=f"Client {c}", owner=people[c % PEOPLE])
        for c in range(CLIENTS)
    )
    Site.objects.bulk_create(
        (
            Site(
                tenant=tenant,
                client=client,
                code=f"C{c:03d}-S{s:02d}",
                name=f"Site {c}.{s}",
                city=f"City {s % 25}",
                state=f"State {c % 5}",
                officer_in_charge=people[(c * SITES_PER_CLIENT + s) % PEOPLE],
            )
            for c, client in enumerate(clients)
            for s in range(SITES_PER_CLIENT)
        ),
        batch_size=500,
    )
    schedule = Schedule.objects.create(tenant=tenant, name="Primary", time_zone="UTC")
    layer = Layer.objects.create(
        tenant=tenant,
        schedule=schedule,
        name="Daily",
        kind=LayerKind.ROTATION,
        rotation_start=now - timedelta(days=3),
        shift_length=ShiftLength.DAILY,
    )
    LayerMember.objects.bulk_create(
        LayerMember(layer=layer, user=people[i], position=i) for i in range(10)
    )
    return {"tenant": tenant, "schedule": schedule, "people": people}


def webhook_channel(tenant, url: str):
    from django.utils import timezone

    from watchfloor.oncall.models import Medium, TeamChannel

    channel, _ = TeamChannel.objects.update_or_create(
        tenant=tenant,
        name="NOC webhook",
        defaults={
            "medium": Medium.WEBHOOK,
            "address": url,
            "verified_at": timezone.now(),
            "active": True,
        },
    )
    return channel


def set_policy(tenant, steps: list[dict], *, repeat: int = 0) -> int:
    """The tenant's default policy gets these steps (a new version, as an admin would edit it)."""
    from watchfloor.oncall.policy_services import ensure_default_policy, update_policy
    from watchfloor.tenancy.models import User

    admin = User.objects.get(username="benchadmin")
    policy = ensure_default_policy(tenant.id)
    policy = update_policy(policy, actor=admin, steps=steps, repeat=repeat, notify_after_minutes=0)
    return policy.current.number


def insert_alerts(count: int, *, first_seen: str, created_at: str = "now()", sites: int) -> float:
    """`count` open NEW unacknowledged alerts by one INSERT … SELECT generate_series; `g` runs
    1..count; `first_seen`/`created_at` are SQL expressions of g. Returns seconds."""
    columns = psql(
        "SELECT column_name, is_nullable, column_default IS NOT NULL, data_type "
        "FROM information_schema.columns WHERE table_name = 'alerts_alert' "
        "ORDER BY ordinal_position"
    )
    sev = "ARRAY[" + ",".join(f"'{s}'" for s in SEVERITIES) + "]"
    known = {
        "tenant_id": "s.tenant_id",
        "client_id": "s.client_id",
        "site_id": "s.id",
        "source": "'native'",
        "type": "'DEVICE_OFFLINE'",
        "severity": f"({sev})[1 + g % 5]",
        "status": "'NEW'",
        "title": "'Device offline at ' || s.name",
        "description": "'Bench alert ' || g",
        "fingerprint": "'esc-' || g || '-' || md5(random()::text)",
        "content_hash": "md5('c' || g)",
        "entity_type": "'device'",
        "entity_id": "s.code || '-dev' || (g % 5)",
        "labels": "jsonb_build_object('site', s.code)",
        "annotations": "'{}'::jsonb",
        "occurrence_count": "1",
        "first_seen_at": f"({first_seen})",
        "last_seen_at": f"({first_seen})",
        "started_at": f"({first_seen})",
        "escalation_level": "0",
        "created_at": f"({created_at})",
        "updated_at": f"({created_at})",
    }
    empty = {
        "character varying": "''",
        "text": "''",
        "jsonb": "'{}'::jsonb",
        "integer": "0",
        "smallint": "0",
        "bigint": "0",
        "boolean": "false",
        "timestamp with time zone": "now()",
        "interval": "NULL",
        "double precision": "0",
    }
    exprs = {}
    for line in columns.splitlines():
        name, nullable, has_default, dtype = line.split("|")
        if name == "id":
            continue
        if name in known:
            exprs[name] = known[name]
        elif nullable == "YES":
            exprs[name] = "NULL"
        elif has_default == "t":
            continue
        else:
            exprs[name] = empty.get(dtype, "NULL")
    sql = f"""
WITH s AS (SELECT row_number() OVER (ORDER BY site.id) - 1 AS n, site.*
           FROM tenancy_site site JOIN tenancy_tenant t ON t.id = site.tenant_id
           WHERE t.slug = 'bench')
INSERT INTO alerts_alert ({", ".join(exprs)})
SELECT {", ".join(exprs.values())}
FROM generate_series(1::bigint, {count}) AS g
JOIN s ON s.n = g % {sites}
"""  # noqa: S608 — built from constants and the schema
    t0 = time.monotonic()
    psql(sql, timeout=1800)
    return time.monotonic() - t0


def clear_alerts() -> None:
    psql(
        "TRUNCATE alerts_alert, oncall_alertescalation, oncall_delivery, oncall_acklinkuse, "
        "jobs_jobrun, jobs_joblease CASCADE"
    )
    h.run(["redis-cli", "-h", "127.0.0.1", "-n", str(h.REDIS_DB), "FLUSHDB"])


# --- 1. the sweep ------------------------------------------------------------------------------
def one_sweep(label: str, explain: bool, profile: bool = False) -> dict[str, Any]:
    """Run the job once as the runtime runs it; time, its JobRun, statements, slowest ones.
    `profile`: under cProfile (slower; the figure is then not the one to quote)."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from watchfloor.jobs.runtime import run_job

    psql("CHECKPOINT")
    busy = h.machine_busy_pct(1.0)
    with CaptureQueriesContext(connection) as captured:
        prof = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        if prof is not None:
            prof.enable()
        run = run_job("escalation.sweep")
        if prof is not None:
            prof.disable()
        wall = time.perf_counter() - t0
    queries = captured.captured_queries
    kinds: dict[str, list[float]] = {}
    for q in queries:
        key = re.sub(r"\s+", " ", q["sql"])[:90]
        key = re.sub(r"\d+", "N", key)
        kinds.setdefault(key, []).append(float(q["time"]))
    slow = sorted(kinds.items(), key=lambda kv: -sum(kv[1]))[:8]
    out = {
        "label": label,
        "wall_s": round(wall, 3),
        "job_duration_ms": run.duration_ms,
        "outcome": run.outcome,
        "error": run.error[:300],
        "result": run.result,
        "statements": len(queries),
        "statement_seconds": round(sum(float(q["time"]) for q in queries), 3),
        "slowest": [{"sql": k, "count": len(v), "seconds": round(sum(v), 3)} for k, v in slow],
        "machine_busy_before_pct": busy,
    }
    if explain:
        out["explain"] = explain_main()
    if prof is not None:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
        out["profile_cumulative"] = text.getvalue().splitlines()[-60:]
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        out["profile_own"] = text.getvalue().splitlines()[-40:]
    steps = run.result.get("steps", 0)
    h.log(
        f"sweep {label}: {wall:.3f}s (job {run.duration_ms:.0f} ms, {run.outcome}) "
        f"{run.result} {len(queries)} statements"
    )
    if steps:
        out["ms_per_step"] = round(wall * 1000 / steps, 2)
    return out


def warm_up() -> None:
    """What a long-lived worker has done before: modules imported (the jobs, oncall and Celery
    apps), a connection to the broker (one message to the bench Redis db, flushed after). The
    measured sweeps then pay for their own work, not for the process's first imports."""
    from django.conf import settings

    import watchfloor.oncall.notify
    import watchfloor.oncall.tasks  # noqa: F401

    if settings.JOBS_BACKEND == "celery":
        from watchfloor.celery import app
        from watchfloor.jobs.runtime import CELERY_RUN_JOB

        app.send_task(CELERY_RUN_JOB, args=["bench.warm-up"], expires=1)


def explain_main() -> dict[str, str]:
    """EXPLAIN ANALYZE of the sweep's set-based statements as they stand now."""
    statements = {
        "unescalated alerts (opening)": (
            "SELECT a.id FROM alerts_alert a WHERE a.status IN ('NEW','ESCALATED') AND "
            "a.acknowledged_at IS NULL AND NOT EXISTS (SELECT 1 FROM oncall_alertescalation e "
            "WHERE e.alert_id = a.id) LIMIT 5000"
        ),
        "due steps": (
            "SELECT alert_id FROM oncall_alertescalation WHERE state = 'active' AND "
            "next_at <= now() ORDER BY next_at LIMIT 500"
        ),
        "upcoming (queue)": (
            "SELECT alert_id, token, next_at FROM oncall_alertescalation WHERE state = 'active' "
            "AND next_at > now() AND next_at <= now() + interval '60 seconds'"
        ),
    }
    return {
        name: psql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        for name, sql in statements.items()
    }


def part_sweep(estate, args) -> dict[str, Any]:
    from watchfloor.oncall.models import AlertEscalation, Delivery

    tenant, schedule = estate["tenant"], estate["schedule"]
    channel = webhook_channel(tenant, "json://127.0.0.1:9/unused")  # paged, never sent here
    # first step four hours after opening: alerts that opened over the last 3 hours are all
    # under escalation after the first sweep and none is due yet (a: opening only)
    version = set_policy(
        tenant,
        [
            {
                "delay_minutes": 240,
                "severities": [],
                "targets": [{"kind": "officer"}, {"kind": "schedule", "id": schedule.id}],
            },
            {
                "delay_minutes": 5,
                "severities": [],
                "targets": [{"kind": "client_owner"}, {"kind": "channel", "id": channel.id}],
            },
        ],
        repeat=1,
    )
    n = args.alerts
    sites = CLIENTS * SITES_PER_CLIENT
    h.log(f"insert {n:,} open alerts at {sites} sites")
    # opened over the last 3 h (created_at = first seen, after the policy version above)
    load_s = insert_alerts(
        n,
        first_seen=f"now() - interval '1 second' - (g * interval '3 hours' / {n})",
        created_at="now()",
        sites=sites,
    )
    psql("VACUUM ANALYZE")
    out: dict[str, Any] = {"alerts": n, "sites": sites, "load_seconds": round(load_s, 1)}
    out["policy_version"] = version
    warm_up()
    out["first"] = one_sweep("first (opens every escalation)", args.explain, args.profile)
    psql("VACUUM ANALYZE oncall_alertescalation")
    # steady state: next steps spread evenly over the coming hour, shifted so that those
    # due within one sweep interval (20 s of 3,600) are due now
    spread = (  # built from constants
        "UPDATE oncall_alertescalation SET next_at = now() + "  # noqa: S608
        f"((row_number - 1) * 3600.0 / {n} - {SWEEP_INTERVAL_S}) * interval '1 second' "
        "FROM (SELECT alert_id AS id, row_number() OVER (ORDER BY md5(alert_id::text)) "
        "FROM oncall_alertescalation) r WHERE r.id = alert_id"
    )
    psql(spread)
    psql("VACUUM ANALYZE oncall_alertescalation")
    due = AlertEscalation.objects.filter(state="active", next_at__lte=datetime.now(UTC)).count()
    out["due_before_steady"] = due
    deliveries_before = Delivery.objects.count()
    out["steady"] = one_sweep(f"steady state ({due} due)", args.explain, args.profile)
    out["steady"]["deliveries_written"] = Delivery.objects.count() - deliveries_before
    # idle: what fell due while the steady sweep ran is pushed 25 s on, so nothing is due but
    # the next minute still holds its ~1,667 steps to queue
    psql(
        "UPDATE oncall_alertescalation SET next_at = next_at + interval '25 seconds' "
        "WHERE state = 'active' AND next_at <= now() + interval '25 seconds'"
    )
    out["idle"] = one_sweep("idle (nothing due)", args.explain, args.profile)
    steps = out["steady"]["result"].get("steps", 0)
    if steps:
        out["ms_per_step_over_idle"] = round(
            (out["steady"]["wall_s"] - out["idle"]["wall_s"]) * 1000 / steps, 2
        )
    h.run(["redis-cli", "-h", "127.0.0.1", "-n", str(h.REDIS_DB), "FLUSHDB"])
    return out


# --- 2. latency ----------------------------------------------------------------------------------
def start_runtime(mode: str, env: dict[str, str], work: Path) -> list[h.Server]:
    if mode == "embedded":
        env = {k: v for k, v in env.items() if k != "REDIS_URL"}
        port = h.free_port()
        server = h.Server(
            "watchfloor serve (embedded scheduler)",
            [
                "uv",
                "run",
                "--frozen",
                "watchfloor",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            port=port,
            log_path=work / "serve.log",
            env=env,
            cwd=h.ROOT,
        )
        server.wait_ready("/api/health/", timeout=90)
        return [server]
    worker = h.Server(
        "watchfloor worker",
        ["uv", "run", "--frozen", "watchfloor", "worker", "--log-level", "warning"],
        port=0,
        log_path=work / "worker.log",
        env=env,
        cwd=h.ROOT,
    )
    beat = h.Server(
        "watchfloor beat",
        ["uv", "run", "--frozen", "watchfloor", "beat", "--log-level", "warning"],
        port=0,
        log_path=work / "beat.log",
        env=env,
        cwd=h.ROOT,
    )
    time.sleep(8)  # both import Django and connect to Redis; nothing to poll
    for proc in (worker, beat):
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
    return [worker, beat]


def latency_run(
    mode: str, shape: str, env, work: Path, tenant, sink, count: int, lead_s: float
) -> dict[str, Any]:
    from watchfloor.oncall.models import Delivery

    clear_alerts()
    sink.requests.clear()
    servers = start_runtime(mode, env, work)
    try:
        spread = 10.0 if shape == "spread" else 0.0
        start = datetime.now(UTC) + timedelta(seconds=lead_s)
        # first step 1 minute after first seen: first_seen = due - 60 s; created now, so the
        # alerts freeze the policy version made before them
        step = spread / count
        base = (start - timedelta(minutes=1)).isoformat()
        load_s = insert_alerts(
            count,
            first_seen=f"'{base}'::timestamptz + ((g - 1) * {step}) * interval '1 second'",
            created_at="now()",
            sites=CLIENTS * SITES_PER_CLIENT,
        )
        h.log(f"{mode}/{shape}: {count} alerts due from {start:%H:%M:%S} over {spread:.0f}s")
        end = start + timedelta(seconds=spread)
        deadline = time.monotonic() + lead_s + spread + args_timeout(count)
        busy_samples = []
        while time.monotonic() < deadline and len(sink.requests) < count:
            busy_samples.append(h.machine_busy_pct(1.0))
        got = len(sink.requests)
        time.sleep(2)  # anything still in flight
        cpu = {
            s.name: round(sum(p.cpu_times().user + p.cpu_times().system for p in s.processes()), 1)
            for s in servers
        }
    finally:
        for server in servers:
            server.stop()
    received: dict[int, datetime] = {}
    for hook in list(sink.requests):
        body = hook.body if isinstance(hook.body, dict) else {}
        m = ALERT_LINK.search(str(body.get("message", hook.body)))
        if m:
            received.setdefault(int(m.group(1)), datetime.fromisoformat(hook.received_at))
    rows = list(
        Delivery.objects.filter(channel__isnull=False, kind="page").values(
            "alert_id", "due_at", "status", "sent_at", "alert__escalated_at"
        )
    )
    lat, step_late, send_part = [], [], []
    for r in rows:
        at = received.get(r["alert_id"])
        if at is None:
            continue
        lat.append((at - r["due_at"]).total_seconds() * 1000)
        if r["alert__escalated_at"]:
            step_late.append((r["alert__escalated_at"] - r["due_at"]).total_seconds() * 1000)
            send_part.append((at - r["alert__escalated_at"]).total_seconds() * 1000)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    out = {
        "mode": mode,
        "shape": shape,
        "alerts": count,
        "due_from": start.isoformat(),
        "due_to": end.isoformat(),
        "insert_seconds": round(load_s, 2),
        "deliveries": len(rows),
        "statuses": statuses,
        "received": got,
        "matched": len(lat),
        "due_to_receipt_ms": dist(lat),
        "due_to_step_taken_ms": dist(step_late),
        "step_taken_to_receipt_ms": dist(send_part),
        "runtime_cpu_seconds": cpu,
        "machine_busy_pct_during": round(statistics.fmean(busy_samples), 1)
        if busy_samples
        else None,
    }
    d = out["due_to_receipt_ms"]
    h.log(
        f"{mode}/{shape}: received {got}/{count}, due->receipt p50 {d.get('p50')} ms "
        f"p99 {d.get('p99')} ms max {d.get('max')} ms; statuses {statuses}"
    )
    return out


def args_timeout(count: int) -> float:
    return 60.0 + count * 0.1  # bounded wait past the last due time


def part_latency(estate, env, args, work: Path) -> dict[str, Any]:
    from watchfloor.demo.sinks import WebhookSink

    tenant = estate["tenant"]
    out: dict[str, Any] = {"runs": []}
    with WebhookSink() as sink:
        channel = webhook_channel(tenant, sink.url("/hook"))
        out["policy_version"] = set_policy(
            tenant,
            [
                {
                    "delay_minutes": 1,
                    "severities": [],
                    "targets": [{"kind": "channel", "id": channel.id}],
                }
            ],
        )
        for mode in args.modes:
            for shape in args.shapes:
                out["runs"].append(
                    latency_run(mode, shape, env, work, tenant, sink, args.notifications, args.lead)
                )
    return out


# --- 3. where one notification's time goes -------------------------------------------------------
def part_path(estate, args) -> dict[str, Any]:
    """In this process, one at a time: the timed task that takes one alert's step
    (`take_escalation_step`) and the task that sends its webhook (`send_delivery`), as the
    runtime runs them (`run_task`), for `--path-count` alerts; mean time of each and cProfile's
    top functions. What the runtime would have queued is caught with `set_task_sink`."""
    import cProfile
    import io
    import pstats

    from watchfloor.demo.sinks import WebhookSink
    from watchfloor.jobs import runtime

    tenant = estate["tenant"]
    count = args.path_count
    caught: list[tuple[str, tuple]] = []
    runtime.set_task_sink(lambda path, ids, eta: caught.append((path, ids)))
    out: dict[str, Any] = {"alerts": count}
    try:
        with WebhookSink() as sink:
            channel = webhook_channel(tenant, sink.url("/hook"))
            set_policy(
                tenant,
                [{"delay_minutes": 1, "targets": [{"kind": "channel", "id": channel.id}]}],
            )
            due = datetime.now(UTC) + timedelta(seconds=3)
            base = (due - timedelta(minutes=1)).isoformat()
            insert_alerts(count, first_seen=f"'{base}'::timestamptz", sites=1000)
            runtime.run_job("escalation.sweep")  # opens them, queues their timed tasks
            steps = [c for c in caught if c[0].endswith("take_escalation_step")]
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.1)
            for label, tasks_of in (
                ("take_escalation_step", lambda: steps),
                ("send_delivery", lambda: [c for c in caught if c[0].endswith("send_delivery")]),
            ):
                tasks = tasks_of()
                prof = cProfile.Profile()
                t0 = time.perf_counter()
                prof.enable()
                for path, ids in tasks:
                    runtime.run_task(path, *ids)
                prof.disable()
                wall = time.perf_counter() - t0
                text = io.StringIO()
                pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(45)
                out[label] = {
                    "tasks": len(tasks),
                    "ms_each_under_cprofile": round(wall * 1000 / max(1, len(tasks)), 2),
                    "profile_cumulative": text.getvalue().splitlines()[-55:],
                }
                h.log(
                    f"path: {len(tasks)} x {label}: {wall * 1000 / max(1, len(tasks)):.1f} ms each"
                )
            out["received"] = len(sink.requests)
    finally:
        runtime.set_task_sink(None)
    return out


# --- report --------------------------------------------------------------------------------------
def sweep_lines(sw: dict[str, Any] | None, without_broker: bool) -> list[str]:
    if not sw:
        return []
    how = (
        "the same, with the timed tasks dispatched nowhere (`enqueue` on the embedded backend "
        "with no scheduler in the process): the sweep's work without the Celery messages"
        if without_broker
        else 'as the job runs it (`run_job("escalation.sweep")`: lease, JobRun, Celery '
        "messages to Redis for the timed tasks)"
    )
    lines = [
        f"**One escalation sweep over {sw['alerts']:,} open, unacknowledged alerts at "
        f"{sw['sites']:,} sites**, {how}, PostgreSQL. Target <= 1 s.",
        "",
        "| sweep | wall | job's own duration | result | statements (their time) | busy before |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for key in ("first", "steady", "idle"):
        r = sw[key]
        lines.append(
            f"| {r['label']} | {r['wall_s'] * 1000:,.0f} ms | {r['job_duration_ms']:,.0f} ms "
            f"| {json.dumps(r['result'])} | {r['statements']} ({r['statement_seconds'] * 1000:,.0f}"
            f" ms) | {r['machine_busy_before_pct']} % |"
        )
    lines.append("")
    if "ms_per_step_over_idle" in sw:
        lines.append(
            f"Per step taken (steady minus idle, over the steps): "
            f"{sw['ms_per_step_over_idle']} ms; the steady sweep wrote "
            f"{sw['steady'].get('deliveries_written')} deliveries."
        )
        lines.append("")
    return lines


def summarise(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"### {report['date']} — escalation and paging (`bench/escalation.py`)",
        "",
        f"`{report['command']}`"
        + (
            f" (recorded afterwards with `{report['recorded_with']}`)"
            if "recorded_with" in report
            else ""
        )
        + f" at commit `{m['commit']}`. Machine: {h.machine_line(m)}; load "
        f"average before {m['loadavg_before']} (the machine is shared with other engineers' "
        "test runs; the busy figure before each measurement is in bench/results/escalation.json).",
        "",
    ]
    for key in ("sweep", "sweep_without_broker"):
        lines += sweep_lines(report.get(key), key == "sweep_without_broker")
    lat = report.get("latency")
    if lat:
        lines += [
            "**Due → receipt of webhook notifications** (a team channel, apprise `json://` to a "
            "local receiver): from `AlertEscalation.next_at` to the receiver's clock at receipt. "
            "Target p99 < 2 s.",
            "",
            "| runtime | due times | received | p50 | p99 | max | due → step taken p99 | "
            "step → receipt p99 | runtime CPU s | machine busy |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in lat["runs"]:
            d = r["due_to_receipt_ms"]
            mode = (
                "embedded (`watchfloor serve`, no REDIS_URL)"
                if r["mode"] == "embedded"
                else "Celery (`watchfloor worker` + `beat`, Redis)"
            )
            shape = "spread over 10 s" if r["shape"] == "spread" else "all in one second"
            lines.append(
                f"| {mode} | {shape} | {r['received']}/{r['alerts']} | {d.get('p50')} ms | "
                f"{d.get('p99')} ms | {d.get('max')} ms | "
                f"{r['due_to_step_taken_ms'].get('p99')} ms | "
                f"{r['step_taken_to_receipt_ms'].get('p99')} ms | "
                f"{sum(r['runtime_cpu_seconds'].values()):.0f} | "
                f"{r['machine_busy_pct_during']} % of a core |"
            )
        lines.append("")
    if report.get("findings"):
        lines += ["Findings:", ""] + [f"- {f}" for f in report["findings"]] + [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="sweep,latency")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--notifications", type=int, default=1_000)
    parser.add_argument("--modes", default="embedded,celery")
    parser.add_argument("--shapes", default="spread,burst")
    parser.add_argument(
        "--lead", type=float, default=35.0, help="seconds from the alerts' insert to the first due"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE after each sweep")
    parser.add_argument(
        "--profile", action="store_true", help="each sweep under cProfile (not for the figures)"
    )
    parser.add_argument(
        "--sweep-without-broker",
        action="store_true",
        help="also run the sweeps with the timed tasks dispatched nowhere (their Celery cost)",
    )
    parser.add_argument("--path-count", type=int, default=200, help="--parts path: alerts")
    parser.add_argument("--findings", default="", help="a file of findings lines for the docs")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--from-json",
        default="",
        help="no run: report a saved bench/results/escalation.json (with --findings) instead",
    )
    args = parser.parse_args()
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        report["recorded_with"] = h.command_line()
        record(report, args)
        return
    h.BENCH_DB = BENCH_DB  # harness functions read these module globals when called
    h.REDIS_DB = REDIS_DB
    args.parts = args.parts.split(",")
    args.modes = args.modes.split(",")
    args.shapes = args.shapes.split(",")
    if not 1 <= args.alerts <= 1_000_000 or not 1 <= args.notifications <= 100_000:
        parser.error("--alerts 1..1,000,000, --notifications 1..100,000")

    machine = h.machine_facts()
    report: dict[str, Any] = {
        "benchmark": "escalation",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
    }
    with h.workdir("wf-bench-esc-") as work:
        env = prepare(work / "home")
        estate = build_estate()
        if "sweep" in args.parts:
            from django.conf import settings

            report["sweep"] = part_sweep(estate, args)
            clear_alerts()
            if args.sweep_without_broker:
                # the same sweeps with `enqueue` dispatching nowhere (embedded backend, no
                # scheduler in this process): what the Celery messages cost
                settings.JOBS_BACKEND = "embedded"
                report["sweep_without_broker"] = part_sweep(estate, args)
                settings.JOBS_BACKEND = "celery"
                clear_alerts()
        if "path" in args.parts:
            report["path"] = part_path(estate, args)
            clear_alerts()
        if "latency" in args.parts:
            report["latency"] = part_latency(estate, env, args, work)
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    record(report, args)


def record(report: dict[str, Any], args) -> None:
    if args.findings:
        report["findings"] = [
            ln.strip() for ln in Path(args.findings).read_text().splitlines() if ln.strip()
        ]
    md = summarise(report)
    print(md)
    h.write_json("escalation", report)
    if args.no_record:
        h.log("--no-record: docs/benchmarks.md left alone")
    else:
        h.append_docs(md)


if __name__ == "__main__":
    main()
