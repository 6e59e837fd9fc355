"""Ingestion throughput: Watchfloor vs Prometheus Alertmanager, the same load, one run.

Both servers get the same requests on loopback, one server after the other (never both at once, so
they do not share the 2 cores): `POST /api/v2/alerts` in the Alertmanager v2 API shape, first
100-alert batches, then single alerts, from 16 connections (wrk, 2 threads). Every alert is drawn
from a fixed pool of 10,000 fingerprints (alertname × instance × client/site), so after the first
pass nearly everything is a repeat, as in real monitoring traffic (Prometheus re-sends firing
alerts every evaluation). Each phase is a short warm-up, then a measured run of `--duration` s.

Watchfloor runs on production settings (PostgreSQL, Redis, debug off) under the shipped server
command, `watchfloor serve --workers <cores>`; Alertmanager 0.25 (Debian package, installed when
missing) with a temporary config, its own storage dir and clustering off.

Prints alerts/s for both, the ratios, p50/p99; writes bench/results/ingest.json; appends a dated
section to docs/benchmarks.md (unless --no-record). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness as h

FINGERPRINTS = 10_000
BATCH = 100
ALERTNAMES = [  # (alertname, severity label) — Prometheus conventions
    ("InstanceDown", "critical"),
    ("HighCpuLoad", "warning"),
    ("HighMemoryUsage", "warning"),
    ("DiskWillFillIn4Hours", "critical"),
    ("NetworkInterfaceFlapping", "warning"),
    ("CameraStreamLost", "critical"),
    ("DoorControllerOffline", "high"),
    ("UpsOnBattery", "warning"),
    ("NtpClockSkew", "info"),
    ("CertificateExpiresSoon", "low"),
]
INSTANCES_PER_SITE = 5
AM_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


# --- the load --------------------------------------------------------------------------------


def alert_pool(sites: list[tuple[str, str]], now: datetime) -> list[dict[str, Any]]:
    """10,000 distinct label sets, each as an Alertmanager v2 API alert (firing)."""
    per_site = len(ALERTNAMES) * INSTANCES_PER_SITE
    if len(sites) * per_site < FINGERPRINTS:
        raise SystemExit(f"need {FINGERPRINTS // per_site} sites for {FINGERPRINTS} fingerprints")
    starts = (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ends = (now + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pool = []
    for client, site in sites:
        for name, severity in ALERTNAMES:
            for i in range(INSTANCES_PER_SITE):
                instance = f"{site.lower()}-dev{i}:9100"
                pool.append(
                    {
                        "labels": {
                            "alertname": name,
                            "severity": severity,
                            "instance": instance,
                            "job": "site-devices",
                            "client": client,
                            "site": site,
                        },
                        "annotations": {
                            "summary": f"{name} on {instance}",
                            "description": f"{name} has been firing on {instance} at site "
                            f"{site} for more than 5 minutes.",
                            "runbook_url": f"https://runbooks.example.com/{name}",
                        },
                        "startsAt": starts,
                        "endsAt": ends,
                        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr="
                        f"ALERTS%7Balertname%3D%22{name}%22%7D",
                    }
                )
                if len(pool) == FINGERPRINTS:
                    return pool
    return pool


def request_bodies(pool: list[dict], *, batch: int, count: int, seed: int) -> list[str]:
    """`count` bodies of `batch` distinct alerts: first every fingerprint once, then samples."""
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    bodies = []
    for start in range(0, len(order), batch):  # one full pass over the pool
        bodies.append(
            json.dumps([pool[i] for i in order[start : start + batch]], separators=(",", ":"))
        )
    while len(bodies) < count:
        bodies.append(
            json.dumps([pool[i] for i in rng.sample(order, batch)], separators=(",", ":"))
        )
    return bodies


# --- servers ---------------------------------------------------------------------------------


def start_alertmanager(work: Path) -> h.Server:
    binary = h.ensure_debian_package("prometheus-alertmanager", "prometheus-alertmanager")
    (work / "alertmanager.yml").write_text(AM_CONFIG)
    (work / "am-data").mkdir()
    port = h.free_port()
    server = h.Server(
        "alertmanager",
        [
            binary,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        port=port,
        log_path=work / "alertmanager.log",
    )
    server.wait_ready("/-/ready")
    return server


SERVER_VARIANTS = {
    # name: (description, command builder) — "serve" is the shipped production command
    "serve": "watchfloor serve --workers {workers} (uvicorn, ASGI; the shipped command)",
    "serve-warning": "watchfloor serve --workers {workers} --log-level warning (no access log)",
    "serve-wsgi": "watchfloor serve --wsgi --workers {workers} (gunicorn gevent workers, shipped)",
    "serve-no-group": "watchfloor serve --workers {workers} with WATCHFLOOR_STAGE_GROUP_COMMIT=0 "
    "(each request its own staging INSERT and commit)",
    "serve-metrics-off": "watchfloor serve --workers {workers} with WATCHFLOOR_METRICS=off "
    "(no request metrics middleware, no multiprocess metric files)",
    "gunicorn-wsgi": "gunicorn watchfloor.wsgi -w {workers} (sync WSGI workers, run directly)",
    "serve-asgi": "watchfloor serve --asgi --workers {workers} (uvicorn for HTTP and WebSockets, "
    "the default before 2026-12-04)",
    "uvicorn-asgi": "uvicorn watchfloor.asgi -w {workers} (ASGI, run directly)",
    "granian-wsgi": "granian --interface wsgi --workers {workers} (Rust HTTP, WSGI, run directly)",
    "granian-asgi": "granian --interface asgi --workers {workers} (Rust HTTP, ASGI, run directly)",
}


def watchfloor_command(variant: str, port: int, workers: int) -> list[str]:
    if variant == "serve-wsgi":
        return [
            "uv",
            "run",
            "--frozen",
            "watchfloor",
            "serve",
            "--wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    if variant in ("granian-wsgi", "granian-asgi"):
        interface = variant.split("-")[1]
        return [
            *("uv", "run", "--frozen", "granian", "--interface", interface),
            *("--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--no-ws"),
            # a WSGI worker runs the views in its blocking threads (Django's DB calls block)
            *(("--blocking-threads", "8") if interface == "wsgi" else ()),
            f"watchfloor.{interface}:application",
        ]
    if variant == "uvicorn-asgi":
        return [
            *("uv", "run", "--frozen", "uvicorn", "watchfloor.asgi:application"),
            *("--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--lifespan", "off", "--no-access-log"),
        ]
    if variant == "serve-asgi":
        return [
            *("uv", "run", "--frozen", "watchfloor", "serve", "--asgi", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", str(workers)),
        ]
    if variant in (
        "serve",
        "serve-warning",
        "serve-metrics-off",
        "serve-no-group",
    ):
        cmd = [
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
            str(workers),
        ]
        return cmd + (["--log-level", "warning"] if variant == "serve-warning" else [])
    if variant == "gunicorn-wsgi":
        return [
            "uv",
            "run",
            "--frozen",
            "--with",
            "gunicorn",
            "gunicorn",
            "watchfloor.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    raise ValueError(variant)


# environment a variant adds to the shipped command's
VARIANT_ENV = {
    "serve-metrics-off": {"WATCHFLOOR_METRICS": "off"},
    "serve-no-group": {"WATCHFLOOR_STAGE_GROUP_COMMIT": "0"},
}


def start_watchfloor(work: Path, env: dict[str, str], variant: str, workers: int) -> h.Server:
    port = h.free_port()
    env = {**env, **VARIANT_ENV.get(variant, {})}
    server = h.Server(
        f"watchfloor[{variant}]",
        watchfloor_command(variant, port, workers),
        port=port,
        log_path=work / f"watchfloor-{variant}.log",
        env=env,
        cwd=h.ROOT,
    )
    server.wait_ready("/api/health/", timeout=90)
    return server


# --- jobs running beside (--with-jobs) -------------------------------------------------------

# Run inside `watchfloor shell -c`: a verified webhook team channel (the local receiver), the
# default policy paging it one hour after an alert opens (the ingested alerts, first seen 10
# minutes before the run, are all put under escalation by the sweep but none falls due).
_JOBS_SNIPPET = """
from django.utils import timezone
from watchfloor.oncall.models import Medium, TeamChannel
from watchfloor.oncall.policy_services import ensure_default_policy, update_policy
from watchfloor.tenancy.models import Tenant, User
tenant = Tenant.objects.get(slug="bench")
channel = TeamChannel.objects.create(
    tenant=tenant, name="bench webhook", medium=Medium.WEBHOOK, address={url!r},
    verified_at=timezone.now(),
)
update_policy(
    ensure_default_policy(tenant.id), actor=User.objects.get(username="benchadmin"),
    steps=[{{"delay_minutes": 60, "targets": [{{"kind": "channel", "id": channel.id}}]}}],
    repeat=0, notify_after_minutes=0,
)
print(channel.id)
"""


class JobsBeside:
    """`watchfloor worker` + `watchfloor beat` (Celery, Redis) beside the server, with
    escalation steps falling due all through the run: `rate` alerts per second opened one hour
    before their due time (inserted by SQL, occurrence_count 0 so the stored-state check is
    unchanged) page a webhook team channel whose receiver runs in this process."""

    def __init__(self, work: Path, env: dict[str, str], *, rate: float, window_s: float):
        from escalation import insert_alerts
        from watchfloor.demo.sinks import WebhookSink

        self.sink = WebhookSink().start()
        h.watchfloor(["shell", "-c", _JOBS_SNIPPET.format(url=self.sink.url("/hook"))], env)
        self.count = max(1, round(rate * window_s))
        start = datetime.now(UTC) + timedelta(seconds=5)
        base = (start - timedelta(hours=1)).isoformat()
        step = window_s / self.count
        insert_alerts(
            self.count,
            first_seen=f"'{base}'::timestamptz + ((g - 1) * {step}) * interval '1 second'",
            created_at="now()",
            sites=200,
        )
        h.psql("UPDATE alerts_alert SET occurrence_count = 0 WHERE fingerprint LIKE 'esc-%'")
        self.rate, self.window_s, self.start = rate, window_s, start
        self.procs = [
            h.Server(
                f"watchfloor {cmd}",
                ["uv", "run", "--frozen", "watchfloor", cmd, "--log-level", "warning"],
                port=0,
                log_path=work / f"jobs-{cmd}.log",
                env=env,
                cwd=h.ROOT,
            )
            for cmd in ("worker", "beat")
        ]

    def processes(self):
        return [p for proc in self.procs for p in proc.processes()]

    def summary(self) -> dict[str, Any]:
        rows = h.psql(
            "SELECT job, outcome, count(*), round(avg(duration_ms)), round(max(duration_ms)) "
            "FROM jobs_jobrun GROUP BY 1, 2 ORDER BY 1, 2"
        )
        runs = [
            dict(zip(("job", "outcome", "runs", "avg_ms", "max_ms"), ln.split("|"), strict=True))
            for ln in rows.splitlines()
        ]
        return {
            "steps_due_per_s": self.rate,
            "steps_due_over_s": self.window_s,
            "alerts_preloaded": self.count,
            "escalations": h.psql(
                "SELECT state || ':' || count(*) FROM oncall_alertescalation GROUP BY state"
            ).split(),
            "steps_taken": int(
                h.psql("SELECT count(*) FROM alerts_alert WHERE escalation_level > 0")
            ),
            "deliveries": h.psql(
                "SELECT status || ':' || count(*) FROM oncall_delivery GROUP BY status"
            ).split(),
            "webhooks_received": len(self.sink.requests),
            "job_runs": runs,
        }

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.sink.stop()


# --- phases ----------------------------------------------------------------------------------


def preflight(server: h.Server, body: str, headers: dict[str, str]) -> str:
    status, answer = h.http(
        "POST", server.base_url + "/api/v2/alerts", body=body.encode(), headers=headers
    )
    if status != 200:
        raise SystemExit(
            f"{server.name}: POST /api/v2/alerts answered {status}: "
            f"{answer[:500]!r}\n{server.tail()}"
        )
    return answer.decode(errors="replace")[:200]


PROFILED_FIRST_PASS_S = 12  # py-spy's window over a profiled first pass (it takes 3-5 s)


def first_pass(
    server: h.Server,
    bodies: list[str],
    headers: dict[str, str],
    connections: int = 16,
    *,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Send every fingerprint once, 100 per request, from `connections` connections; timed.

    This is the pool's first pass (new alerts only), as issue 14 measures it: 16 connections
    sending new fingerprints at once. The phases that follow are then the steady state the issue
    describes: repeats of known fingerprints. Watchfloor's pass ends when the fold has stored
    every alert, not when the last answer came. `--cold` skips it, and the first pass then
    happens during the warm-up. `profile`: py-spy samples every server process during the
    pass (raw stacks written there; the figure of a profiled pass is not comparable).
    """
    from concurrent.futures import ThreadPoolExecutor

    spy = None
    if profile is not None:
        profile.parent.mkdir(exist_ok=True)
        spy = h.start_pyspy(server.proc.pid, PROFILED_FIRST_PASS_S, profile)
        time.sleep(2)  # py-spy attaches to every process first

    def send(body: str) -> tuple[float, int]:
        t = time.monotonic()
        status, _ = h.http(
            "POST",
            server.base_url + "/api/v2/alerts",
            body=body.encode(),
            headers=headers,
            timeout=120,
        )
        return 1000 * (time.monotonic() - t), status

    cpu_before = h.cpu_by_process(server) if server.name.startswith("watchfloor") else {}
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        answers = list(pool.map(send, bodies))
    answered_s = time.monotonic() - t0
    settle_s = None
    if server.name.startswith("watchfloor"):
        wait_for_fold()  # the first pass ends when its alerts are folded, not answered
        drained = time.monotonic()
        # ...and grouped: the fold workers hand the incident rules their folds' changes when
        # they go idle (alerts.hooks.coalescing), so the rules' last call ends after the drain
        # and is counted in the pass
        settle()
        settle_s = round(time.monotonic() - drained, 3)
    secs = time.monotonic() - t0
    # which process the pass's work went to (CPU seconds; the server's processes by command)
    cpu = h.cpu_spent(cpu_before, h.cpu_by_process(server)) if cpu_before else {}
    if spy is not None:
        spy.communicate(timeout=120)
    latencies = sorted(ms for ms, _ in answers)
    failures = sum(status != 200 for _, status in answers)
    # which answers, and how late: a failure's cause is in the server's log (BENCH_KEEP_LOGS)
    failed = Counter(status for _, status in answers if status != 200)
    alerts = sum(body.count('"labels"') for body in bodies)
    out = {
        "requests": len(bodies),
        "connections": connections,
        "alerts": alerts,
        "non_200": failures,
        "non_200_statuses": {str(k): v for k, v in sorted(failed.items())},
        "seconds": round(secs, 2),
        "answered_seconds": round(answered_s, 2),
        "settle_s": settle_s,
        "alerts_per_s": round(alerts / secs, 1),
        "profiled": profile is not None,
        "cpu_s": cpu,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2], 2),
            "max": round(latencies[-1], 2),
        },
    }
    h.log(
        f"{server.name}: first pass, {alerts:,} new alerts in {len(bodies)} requests on "
        f"{connections} connections: {secs:.1f}s = {out['alerts_per_s']:,.0f} alerts/s "
        f"(answered in {answered_s:.1f}s), p50 {out['latency_ms']['p50']} ms, non-200: {failures}"
        + (f" {dict(failed)}" if failed else "")
        + (f"; CPU s: {cpu}" if cpu else "")
    )
    return out


def staged_pending() -> tuple[int, int]:
    """(batches, events) Watchfloor has answered 2xx and not yet folded into alerts."""
    out = h.psql("SELECT count(*), coalesce(sum(event_count), 0) FROM alerts_stagedbatch")
    batches, events = out.split("|")
    return int(batches), int(events)


def wait_for_fold(timeout: float = 600) -> dict[str, Any]:
    """Wait until the fold has drained staging; how long it took and what was pending.

    A 2xx means staged (durable), not folded: a phase's rate counts only once the fold has
    caught up, so the measured seconds are stretched by this wait (`folded_alerts_per_s`)."""
    t0 = time.monotonic()
    batches, events = staged_pending()
    while True:
        now_batches, _ = staged_pending()
        if now_batches == 0:
            break
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"staging not drained after {timeout:.0f} s ({now_batches} batches)")
        time.sleep(0.05)
    return {
        "pending_batches_at_stop": batches,
        "pending_events_at_stop": events,
        "drain_s": round(time.monotonic() - t0, 3),
    }


def settle(timeout: float = 120) -> float:
    """Seconds after staging drained until the server's database work is done: no session of
    the bench database active or inside a transaction, twice in a row 50 ms apart. The incident
    rules run on the drainer after its folds' commits, so the last rules call ends here, after
    the drain (reported beside a phase as `settle_s`; the first pass counts it)."""
    t0 = time.monotonic()
    quiet = 0
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
    )
    while quiet < 2 and time.monotonic() - t0 < timeout:
        quiet = quiet + 1 if int(h.psql(sql)) == 0 else 0
        time.sleep(0.05)
    return round(time.monotonic() - t0, 3)


def run_phases(
    server: h.Server, files: dict[str, Path], headers: dict[str, str], args
) -> dict[str, Any]:
    out = {}
    for phase in ("batched", "single"):
        if phase not in args.phases:
            continue
        per_request = BATCH if phase == "batched" else 1
        h.log(f"{server.name}: {phase}: {args.warmup:.0f}s warm-up, {args.duration:.0f}s measured")
        warm, res, attempts = h.measure(
            server,
            method="POST",
            requests_file=files[phase],
            headers=headers,
            warmup=args.warmup,
            seconds=args.duration,
            connections=args.connections,
            max_other_pct=args.max_other,
        )
        row = res.as_dict()
        if args.profile and server.name.startswith("watchfloor"):
            row["profile"] = profile_phase(server, files[phase], headers, args, phase)
        row["alerts_per_request"] = per_request
        row["alerts_per_s"] = round(res.rps * per_request, 1)
        row["ok_requests"] = res.requests - res.errors["status"]
        if server.name.startswith("watchfloor"):
            # answered is not folded: the rate that counts is the fold's. The seconds the fold
            # needs after wrk stopped are added to the measured ones (a lower bound: work left
            # from the warm-up is folded in them too); `answered_alerts_per_s` keeps wrk's.
            fold = wait_for_fold()
            fold["settle_s"] = settle()
            row["fold"] = fold
            row["answered_alerts_per_s"] = row["alerts_per_s"]
            row["alerts_per_s"] = round(
                row["ok_requests"] * per_request / (res.seconds + fold["drain_s"]), 1
            )
            h.log(
                f"{server.name}: {phase}: fold drained {fold['pending_events_at_stop']:,} "
                f"pending events in {fold['drain_s']} s after wrk stopped; its database work "
                f"(the last fold's incident rules) ended {fold['settle_s']} s later"
            )
        row["warmup"] = warm.as_dict()
        row["attempts"] = attempts
        out[phase] = row
        e = res.errors
        bad = e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]
        h.log(
            f"{server.name}: {phase}: {res.rps:,.0f} req/s = {row['alerts_per_s']:,.0f} "
            f"alerts/s, p50 {res.latency_ms['p50']} ms, p99 {res.latency_ms['p99']} ms, "
            f"errors {bad}, CPU {res.cpu}"
        )
        if res.errors["status"]:
            h.log(
                f"{server.name}: {res.errors['status']} non-2xx answers! log tail:\n"
                f"{server.tail(10)}"
            )
    return out


def profile_phase(server: h.Server, file: Path, headers: dict[str, str], args, phase: str):
    """One more run of the phase with py-spy sampling the server (not the measured figure)."""
    h.RESULTS.mkdir(exist_ok=True)
    variant = server.name.split("[")[-1].rstrip("]")
    out = h.RESULTS / f"ingest-profile-{variant}-{phase}.txt"
    spy = h.start_pyspy(server.proc.pid, args.duration + 2, out)
    time.sleep(2)  # py-spy attaches to every process first
    res = h.wrk(
        server,
        method="POST",
        requests_file=file,
        headers=headers,
        seconds=args.duration,
        connections=args.connections,
        quiet=False,
    )
    _, err = spy.communicate(timeout=120)
    if not out.exists():
        h.log(f"py-spy wrote nothing: {err[-2000:]}")
        return {"error": err[-2000:]}
    summary = h.profile_summary(out)
    summary["raw_file"] = str(out.relative_to(h.ROOT))
    summary["run_while_profiled"] = res.as_dict()
    h.log(
        f"{server.name} {phase} profile (under py-spy {res.rps:,.0f} req/s):\n"
        + h.format_profile(summary)
    )
    return summary


def sent_alerts(
    results: dict[str, Any], first: dict[str, Any] | None, connections: int
) -> tuple[int, int]:
    """(alerts answered 2xx, alerts possibly in flight when a wrk run stopped).

    Warm-ups, the first pass and the preflight batch included. wrk stops after its duration
    without waiting for the answers in flight, which the server still processes: up to
    `connections` requests per wrk run.
    """
    total = BATCH
    if first:
        total += (first["requests"] - first["non_200"]) * BATCH
    in_flight = 0
    for row in results.values():
        per = row["alerts_per_request"]
        for attempt in row["attempts"]:  # warm-up and measured run of every attempt
            total += attempt["ok_requests"] * per
            in_flight += 2 * connections * per
        profiled = row.get("profile", {}).get("run_while_profiled")
        if profiled:
            total += (profiled["requests"] - profiled["errors"]["status"]) * per
            in_flight += connections * per
    return total, in_flight


def watchfloor_check(sent: tuple[int, int]) -> dict[str, Any]:
    """What was stored: rows, statuses and the sum of occurrence counts against what was sent.

    The sum must lie between the alerts answered 2xx and that plus the ones in flight.
    """
    rows = h.psql(
        "SELECT status, count(*), coalesce(sum(occurrence_count), 0) "
        "FROM alerts_alert WHERE fingerprint NOT LIKE 'esc-%' GROUP BY status ORDER BY status"
    )
    by_status = {}
    occurrences = 0
    for line in rows.splitlines():
        status, count, occ = line.split("|")
        by_status[status] = int(count)
        occurrences += int(occ)
    answered, in_flight = sent
    return {
        "rows_by_status": by_status,
        "sum_occurrence_count": occurrences,
        "alerts_answered_2xx": answered,
        "at_most_in_flight_at_wrk_stops": in_flight,
        "consistent": answered <= occurrences <= answered + in_flight,
    }


def alertmanager_check(server: h.Server) -> dict[str, Any]:
    status, body = h.http(
        "GET",
        server.base_url + "/api/v2/alerts?active=true&silenced=true"
        "&inhibited=true&unprocessed=true",
    )
    return {"alerts_held": len(json.loads(body)) if status == 200 else f"HTTP {status}"}


# --- report ----------------------------------------------------------------------------------


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def jobs_section(lines: list[str]) -> str:
    if not lines:
        return ""
    return (
        "\nIngestion with escalations running (`--with-jobs`: `watchfloor worker` + `watchfloor "
        "beat` beside the server, their CPU counted in the server column; target: within 10 % "
        "of the figure without them): " + " ".join(lines) + "\n"
    )


def summarise(report: dict[str, Any]) -> tuple[str, str]:
    """(console text, markdown section)."""
    am = report["servers"].get("alertmanager", {})
    wf_variants = [k for k in report["servers"] if k.startswith("watchfloor")]
    rows = []
    for name in ["alertmanager", *wf_variants]:
        for phase, row in report["servers"].get(name, {}).get("phases", {}).items():
            label = report["servers"][name]["label"]
            cpu = row["cpu_pct_of_one_core"]
            e = row["errors"]
            errors = e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]
            rows.append(
                f"| {label} | {'100-alert batches' if phase == 'batched' else 'single alerts'} "
                f"| {fmt(row['requests_per_s'])} | {fmt(row['alerts_per_s'])} "
                f"| {row['latency_ms']['p50']} | {row['latency_ms']['p99']} | {errors} "
                f"| {cpu['server_pct']:.0f} / {cpu['postgres_pct']:.0f} / {cpu['wrk_pct']:.0f} "
                f"/ {cpu['other_pct']:.0f} |"
            )
    lines_ratio = []
    verdicts = []
    for name in wf_variants:
        wf = report["servers"][name]["phases"]
        label = report["servers"][name]["label"]
        for phase in ("batched", "single"):
            if phase in wf and phase in am.get("phases", {}):
                ratio = wf[phase]["alerts_per_s"] / am["phases"][phase]["alerts_per_s"]
                report.setdefault("ratios", {})[f"{name}/{phase}"] = round(ratio, 3)
                lines_ratio.append(f"{label}, {phase}: {ratio:.2f}× Alertmanager's alerts/s")
        if "batched" in wf and "batched" in am.get("phases", {}):
            ratio = wf["batched"]["alerts_per_s"] / am["phases"]["batched"]["alerts_per_s"]
            verdicts.append(
                f"{label}: batched ≥ 0.5× Alertmanager: "
                f"{'met' if ratio >= 0.5 else 'NOT met'} ({ratio:.2f}×)"
            )
        if "single" in wf:
            s = wf["single"]
            ok = s["requests_per_s"] >= 2000 and s["latency_ms"]["p99"] < 50  # issue 14
            verdicts.append(
                f"{label}: single ≥ 2,000 req/s with p99 < 50 ms: "
                f"{'met' if ok else 'NOT met'} ({fmt(s['requests_per_s'])} req/s, "
                f"p99 {s['latency_ms']['p99']} ms)"
            )
    jobs_lines = []
    for name in wf_variants:
        base = report["servers"].get(name.removesuffix("+jobs"))
        if not name.endswith("+jobs") or base is None:
            continue
        srv = report["servers"][name]
        parts = []
        for phase in ("batched", "single"):
            if phase in srv["phases"] and phase in base["phases"]:
                ratio = srv["phases"][phase]["alerts_per_s"] / base["phases"][phase]["alerts_per_s"]
                report.setdefault("jobs_ratios", {})[f"{name}/{phase}"] = round(ratio, 3)
                parts.append(
                    f"{phase} {fmt(srv['phases'][phase]['alerts_per_s'])} vs "
                    f"{fmt(base['phases'][phase]['alerts_per_s'])} alerts/s = {ratio:.2f}× "
                    f"({'within' if ratio >= 0.9 else 'NOT within'} 10 %)"
                )
        j = srv.get("jobs", {})
        jobs_lines.append(
            f"{base['label']} with the jobs running beside it: {'; '.join(parts)}. Jobs: "
            f"{j.get('steps_due_per_s')} escalation steps due per second over "
            f"{j.get('steps_due_over_s')} s ({j.get('alerts_preloaded')} alerts opened an hour "
            f"before, paging a webhook channel), steps taken {j.get('steps_taken')}, "
            f"deliveries {j.get('deliveries')}, webhooks received {j.get('webhooks_received')}, "
            f"escalations {j.get('escalations')}, job runs {json.dumps(j.get('job_runs'))}."
        )
    metrics_lines = []
    off, on = (
        report["servers"].get("watchfloor-serve-metrics-off"),
        report["servers"].get("watchfloor"),
    )
    if off is not None and on is not None:
        for phase in ("batched", "single"):
            if phase in off["phases"] and phase in on["phases"]:
                with_m = on["phases"][phase]["alerts_per_s"]
                without = off["phases"][phase]["alerts_per_s"]
                overhead = 1 - with_m / without if without else 0.0
                report.setdefault("metrics_overhead", {})[phase] = round(overhead, 4)
                metrics_lines.append(
                    f"Metrics overhead, {phase}: {fmt(with_m)} alerts/s with metrics vs "
                    f"{fmt(without)} without (WATCHFLOOR_METRICS=off) = {overhead * 100:.1f} % "
                    f"({'within' if overhead < 0.05 else 'NOT within'} the 5 % target)"
                )
    extra_text = jobs_section(jobs_lines)
    if metrics_lines:
        extra_text += (
            "\nMetrics on vs off (`--variants serve,serve-metrics-off`, one run; the shipped "
            "`serve` has the request metrics middleware and prometheus-client's multiprocess "
            "files, `serve-metrics-off` has neither): " + "; ".join(metrics_lines) + ".\n"
        )
    rules_lines = []
    for name in wf_variants:
        base = report["servers"].get(name.removesuffix("-rules-off"))
        if not name.endswith("-rules-off") or base is None:
            continue
        off = report["servers"][name]
        parts = []
        if base.get("first_pass") and off.get("first_pass"):
            ratio = base["first_pass"]["alerts_per_s"] / off["first_pass"]["alerts_per_s"]
            report.setdefault("rules_ratios", {})[f"{name}/first_pass"] = round(ratio, 3)
            parts.append(
                f"first pass (every alert new: the rules open and join incidents) "
                f"{fmt(base['first_pass']['alerts_per_s'])} vs "
                f"{fmt(off['first_pass']['alerts_per_s'])} alerts/s = {ratio:.2f}×"
            )
        for phase in ("batched", "single"):
            if phase in base["phases"] and phase in off["phases"]:
                ratio = base["phases"][phase]["alerts_per_s"] / off["phases"][phase]["alerts_per_s"]
                report.setdefault("rules_ratios", {})[f"{name}/{phase}"] = round(ratio, 3)
                parts.append(
                    f"{phase} {fmt(base['phases'][phase]['alerts_per_s'])} vs "
                    f"{fmt(off['phases'][phase]['alerts_per_s'])} alerts/s = {ratio:.2f}× "
                    f"({'within' if ratio >= 0.9 else 'NOT within'} 10 %)"
                )
        check = base.get("check", {})
        if "incidents" in check:
            settles = [
                str(row["fold"].get("settle_s")) for row in base["phases"].values() if "fold" in row
            ]
            parts.append(
                f"with the rules on, {check.get('alerts_in_incidents', 0):,} alerts were in "
                f"{check['incidents']:,} incidents at the end (the rules run on the drainer "
                "after each fold's commit, inside the counted seconds, except the last fold's: "
                f"its database work ended {', '.join(settles) or '?'} s after the drain)"
            )
        rules_lines.append(f"{base['label']}, incident rules on ÷ off: {'; '.join(parts)}.")
    rules_text = (
        "\nIncident rules on vs off (`--rules-off`; target: within 10 %): "
        + " ".join(rules_lines)
        + "\n"
        if rules_lines
        else ""
    )
    extra_text += rules_text
    m = report["machine"]
    a = report["args"]
    diagnosis = []
    for name in wf_variants:
        srv = report["servers"][name]
        for phase, row in srv["phases"].items():
            sessions = ", ".join(f"{v:g} {k}" for k, v in list(row["pg_sessions"].items())[:4])
            line = f"- {srv['label']}, {phase}: PostgreSQL sessions on average: {sessions}."
            prof = row.get("profile")
            if prof and "request_threads" in prof:
                kinds = ", ".join(
                    f"{r['pct']:g} % {r['function']}" for r in prof["request_threads"][:4]
                )
                own = ", ".join(
                    f"{r['function']} {r['pct']:g} %" for r in prof["request_python_self"][:5]
                )
                steps = ", ".join(
                    f"{r['function'].split(' (')[0]} {r['pct']:g} %"
                    for r in prof["request_python_inclusive"][:8]
                )
                run = prof["run_while_profiled"]
                line += (
                    f" py-spy (a separate run, {run['requests_per_s']:,.0f} req/s while "
                    f"sampled; raw stacks in `{prof['raw_file']}`): request threads {kinds}. "
                    f"Of their running-Python samples, by own time: {own}; Watchfloor steps "
                    f"(inclusive): {steps}."
                )
            diagnosis.append(line)
    checks = []
    for srv in report["servers"].values():
        if srv.get("check"):
            checks.append(f"{srv['label']}: {json.dumps(srv['check'])}")
    firsts = []
    for srv in report["servers"].values():
        fp = srv.get("first_pass")
        if fp:
            firsts.append(
                f"{srv['label']}: {fp['alerts']:,} new alerts in {fp['seconds']} s = "
                f"{fmt(fp['alerts_per_s'])} alerts/s (p50 {fp['latency_ms']['p50']} ms per "
                f"100-alert request, max {fp['latency_ms']['max']} ms, non-200: {fp['non_200']})"
            )
    am_first = report["servers"].get("alertmanager", {}).get("first_pass")
    for name in wf_variants:
        fp = report["servers"][name].get("first_pass")
        if fp and am_first:
            ratio = fp["alerts_per_s"] / am_first["alerts_per_s"]
            report.setdefault("ratios", {})[f"{name}/first_pass"] = round(ratio, 3)
            label = report["servers"][name]["label"]
            lines_ratio.append(f"{label}, first pass: {ratio:.2f}× Alertmanager's alerts/s")
            verdicts.append(
                f"{label}: first pass (16 connections, new fingerprints) ≥ 0.3× Alertmanager: "
                f"{'met' if ratio >= 0.3 and not fp['non_200'] else 'NOT met'} ({ratio:.2f}×, "
                f"non-200 {fp['non_200']})"
            )
    if a["cold"]:
        seeding_note = (
            "`--cold`: no separate first pass; the 10,000 fingerprints are new during the first "
            "warm-up (16 connections), every alert after that is a repeat."
        )
    else:
        seeding_note = (
            "Before the phases, each server gets the pool's first pass (10,000 new "
            f"fingerprints, 100 per request) from {a['connections']} connections, timed below "
            "(Watchfloor's until the fold has stored them all); every alert of the measured "
            "phases is then a repeat. Watchfloor answers once a batch is staged: its alerts/s "
            "count the seconds the fold needed after wrk stopped (`fold` in the JSON)."
        )
    experiment = (
        f"- **Experiment, not the shipped schema**: after setup the bench database ran "
        f"`{a['experiment_sql']}`.\n"
        if a.get("experiment_sql")
        else ""
    )
    table = "\n".join(
        [
            "| server | load | requests/s | alerts/s | p50 ms | p99 ms | errors "
            "| CPU % server / PG / wrk / other |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )
    md = f"""
### {report["date"]} — ingestion, Watchfloor vs Alertmanager (`bench/ingest.py`)

- Commit measured: `{m["commit"]}`
- Command: `{report["command"]}`
- Machine: {h.machine_line(m)}; {m.get("alertmanager", "")}. The load generator (wrk, 2 threads)
  shares the machine; the servers run one after the other, never at once. Load average before
  the run: {m["loadavg_before"]}.
- Load: {FINGERPRINTS:,} fingerprints ({len(ALERTNAMES)} alertnames × {INSTANCES_PER_SITE}
  instances × {FINGERPRINTS // (len(ALERTNAMES) * INSTANCES_PER_SITE)} client/site pairs),
  Alertmanager v2 API bodies sent identically to both (`POST /api/v2/alerts`); {a["connections"]}
  connections; per phase {a["warmup"]:.0f} s warm-up then {a["duration"]:.0f} s measured.
  {seeding_note}
{experiment}- CPU columns: percent of one core during the measured run ({m["nproc"]} cores =
  {100 * m["nproc"]} %); "PG" is PostgreSQL's own processes and the bench database's
  sessions, "other" is the rest of the machine's busy time (kernel loopback work, other
  processes such as a test suite run by someone else; a run with more than 25 % is repeated).

{table}

First pass: {"; ".join(firsts) or "n/a (--cold)"}.

Ratios (Watchfloor ÷ Alertmanager, alerts/s): {"; ".join(lines_ratio) or "n/a"}.

Targets: {"; ".join(verdicts) or "n/a"}.
{extra_text}
Stored-state check (what each server holds after the run): {"; ".join(checks) or "n/a"}.

Where Watchfloor's time goes (pg_stat_activity sampled every 0.25 s during the measured run):

{chr(10).join(diagnosis) or "n/a"}
"""
    console = (
        f"{table}\n\nFirst pass: {'; '.join(firsts)}\nRatios: {'; '.join(lines_ratio)}\n"
        f"Targets: {'; '.join(verdicts)}\n{extra_text}"
    )
    console += "Checks: " + "; ".join(checks)
    return console, md


# --- main ------------------------------------------------------------------------------------


def run_watchfloor(
    work, spec, with_jobs, files, bodies, sites, report, args, *, rules_off: bool = False
) -> None:
    """One Watchfloor arm: a fresh database, the server (and the jobs beside it), the phases.
    `rules_off`: the incident rules are off: their hook (WATCHFLOOR_ALERT_CHANGE_HOOKS empty)
    and their 30 s sweep (WATCHFLOOR_INCIDENT_RULES_LOOKBACK 0: it finds no alert to group)."""
    variant, _, n = spec.partition(":")
    workers = int(n) if n else args.workers
    first_pass_bodies = bodies["batched"][: FINGERPRINTS // BATCH]  # every fingerprint once
    h.reset_database()
    suffix = ("-jobs" if with_jobs else "") + ("-rules-off" if rules_off else "")
    env = h.watchfloor_env(work / f"home-{variant}{suffix}")
    for item in args.server_env:
        name, _, value = item.partition("=")
        env[name] = value
    if rules_off:
        env["WATCHFLOOR_ALERT_CHANGE_HOOKS"] = ""
        env["WATCHFLOOR_INCIDENT_RULES_LOOKBACK"] = "0"
    if args.rules_off and not with_jobs:
        # both arms of the comparison run their tasks in the server's own embedded scheduler,
        # so the queued incident rules are done (and their CPU counted) during the run
        env["WATCHFLOOR_JOBS_BACKEND"] = "embedded"
    estate = h.setup_watchfloor(env, key_sources=["alertmanager"])
    if args.experiment_sql:
        h.log(f"experiment: {args.experiment_sql}")
        h.psql(args.experiment_sql)
    assert [s for s in estate.sites] == sites
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {estate.secrets['key_alertmanager']}",
    }
    jobs = None
    if with_jobs:
        # the steps keep falling due for 10 minutes: longer than an arm, even one stretched by
        # waits for a quiet machine and repeated runs (those not yet due are never taken)
        window = 600.0
        jobs = JobsBeside(work, env, rate=args.jobs_rate, window_s=window)
    key = "watchfloor" if spec == "serve" else f"watchfloor-{spec}"
    key += "+jobs" if with_jobs else ""
    key += "-rules-off" if rules_off else ""
    try:
        with start_watchfloor(work, env, variant, workers) as wf:
            if jobs is not None:  # their CPU counts as the server's, not as "other" work
                server_processes = wf.processes
                wf.processes = lambda: [*server_processes(), *jobs.processes()]
            first = preflight(wf, bodies["batched"][0], headers)
            h.log(f"watchfloor preflight: {first!r}")
            seeded = (
                None
                if args.cold
                else first_pass(
                    wf,
                    first_pass_bodies,
                    headers,
                    args.connections,
                    # --profile: the pass happens once, so it is the profiled one (not comparable)
                    profile=h.RESULTS / f"ingest-profile-{variant}{suffix}-first-pass.txt"
                    if args.profile
                    else None,
                )
            )
            phases = run_phases(wf, files, headers, args)
            label = "Watchfloor " + SERVER_VARIANTS[variant].format(workers=workers).split(" (")[
                0
            ].replace("watchfloor ", "")
            report["servers"][key] = {
                "first_pass": seeded,
                "label": label
                + (" + jobs (worker, beat, pages due)" if with_jobs else "")
                + (", incident rules off" if rules_off else ""),
                "variant": spec,
                "workers": workers,
                "command": " ".join(wf.cmd),
                "phases": phases,
            }
    finally:
        if jobs is not None:
            jobs.stop()
    if jobs is not None:
        report["servers"][key]["jobs"] = jobs.summary()
        h.log(f"jobs beside the server: {report['servers'][key]['jobs']}")
    # read back after the server stopped: it finishes the requests in flight first
    report["servers"][key]["check"] = watchfloor_check(
        sent_alerts(phases, report["servers"][key].get("first_pass"), args.connections)
    )
    if args.rules_off:
        report["servers"][key]["check"]["incidents"] = int(
            h.psql("SELECT count(*) FROM incidents_incident")
        )
        report["servers"][key]["check"]["alerts_in_incidents"] = int(
            h.psql("SELECT count(*) FROM incidents_incidentalert")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=5, help="warm-up seconds per phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 s phases, 2 s warm-up (a smoke run; still recorded unless --no-record)",
    )
    parser.add_argument(
        "--targets",
        default="alertmanager,watchfloor",
        help="comma-separated: alertmanager, watchfloor",
    )
    parser.add_argument("--phases", default="batched,single")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="Watchfloor worker processes (default: number of cores)",
    )
    parser.add_argument(
        "--variants",
        default="serve",
        help=f"Watchfloor server configs, comma-separated: "
        f"{', '.join(SERVER_VARIANTS)}, each optionally NAME:WORKERS (default: serve, the "
        "shipped one)",
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="repeat a measured run (up to 3 runs) when other processes used more than this "
        "percent of one core during it (default 25)",
    )
    parser.add_argument(
        "--experiment-sql",
        default="",
        help="SQL run on the bench database after setup, before Watchfloor starts (to measure "
        "a schema change before proposing it, e.g. dropping an index); recorded in the report",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="skip the timed first pass: the 16-connection warm-up then sends the "
        "10,000 new fingerprints",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each measured Watchfloor phase, run it once more under py-spy "
        "(uv tool run py-spy) and report the top functions",
    )
    parser.add_argument(
        "--with-jobs",
        action="store_true",
        help="run each Watchfloor variant twice: alone, then with `watchfloor worker` + `beat` "
        "beside it and escalation steps falling due all through the run (the ratio is reported)",
    )
    parser.add_argument(
        "--jobs-rate",
        type=float,
        default=5.0,
        help="--with-jobs: escalation steps (pages) falling due per second (default 5)",
    )
    parser.add_argument(
        "--rules-off",
        action="store_true",
        help="run each Watchfloor variant once more with the incident rules off "
        "(their hook and their 30 s sweep): the ratio rules on ÷ off is reported",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a WATCHFLOOR_ setting for every Watchfloor server of the run (repeatable; "
        "recorded in the report), e.g. WATCHFLOOR_HOOK_COALESCE_SECONDS=0",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not append to docs/benchmarks.md"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=h.QUIET_TIMEOUT,
        help="the longest wait for a quiet machine before each measured run (default "
        f"{h.QUIET_TIMEOUT:g} s; lower on a machine that is never quiet)",
    )
    args = parser.parse_args()
    h.QUIET_TIMEOUT = args.quiet_timeout
    if args.quick:
        args.duration, args.warmup = 5, 2
    args.phases = args.phases.split(",")
    targets = args.targets.split(",")
    variants = args.variants.split(",")
    for v in variants:
        name, _, n = v.partition(":")
        if name not in SERVER_VARIANTS or (n and not n.isdigit()):
            parser.error(f"unknown variant {v} (use NAME or NAME:WORKERS)")

    h.ensure_debian_package("wrk", "wrk")
    am_binary = h.ensure_debian_package("prometheus-alertmanager", "prometheus-alertmanager")
    machine = h.machine_facts({"alertmanager": [am_binary, "--version"]})
    report: dict[str, Any] = {
        "benchmark": "ingest",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
        "args": {
            "experiment_sql": args.experiment_sql,
            "cold": args.cold,
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "workers": args.workers,
            "phases": args.phases,
            "seed": args.seed,
            "with_jobs": args.with_jobs,
            "jobs_rate": args.jobs_rate,
            "rules_off": args.rules_off,
        },
        "load": {"fingerprints": FINGERPRINTS, "batch": BATCH},
        "servers": {},
    }

    with h.workdir("wf-bench-ingest-") as work:
        # The estate is needed first: labels carry its client/site codes.
        sites = [(f"C{c:03d}", f"C{c:03d}-S{s:02d}") for c in range(20) for s in range(10)]
        pool = alert_pool(sites, datetime.now(UTC))
        files = {}
        bodies = {
            "batched": request_bodies(pool, batch=BATCH, count=500, seed=args.seed),
            "single": request_bodies(pool, batch=1, count=2 * FINGERPRINTS, seed=args.seed),
        }
        first_pass_bodies = bodies["batched"][: FINGERPRINTS // BATCH]  # every fingerprint once
        for phase, items in bodies.items():
            files[phase] = work / f"{phase}.requests"
            h.write_requests(files[phase], (("/api/v2/alerts", b) for b in items))
        h.log(
            f"bodies: {len(bodies['batched'])} batches "
            f"(~{len(bodies['batched'][0]) // 1024} KiB each), "
            f"{len(bodies['single'])} singles (~{len(bodies['single'][0])} B each)"
        )

        if "alertmanager" in targets:
            headers = {"Content-Type": "application/json", "Authorization": "Bearer unused"}
            with start_alertmanager(work) as am:
                first = preflight(am, bodies["batched"][0], headers)
                h.log(f"alertmanager preflight: {first!r}")
                seeded = (
                    None
                    if args.cold
                    else first_pass(am, first_pass_bodies, headers, args.connections)
                )
                phases = run_phases(am, files, headers, args)
                report["servers"]["alertmanager"] = {
                    "first_pass": seeded,
                    "label": machine["alertmanager"]
                    .split(" (")[0]
                    .replace("alertmanager, version", "Alertmanager"),
                    "command": " ".join(am.cmd),
                    "phases": phases,
                    "check": alertmanager_check(am),
                }

        if "watchfloor" in targets:
            arms = [False, True] if args.with_jobs else [False]
            for spec in variants:
                for with_jobs in arms:
                    run_watchfloor(work, spec, with_jobs, files, bodies, sites, report, args)
                if args.rules_off:
                    run_watchfloor(
                        work, spec, False, files, bodies, sites, report, args, rules_off=True
                    )

    console, md = summarise(report)
    print(console)
    h.write_json("ingest", report)
    if args.no_record:
        print("\n--- the section --no-record kept out of docs/benchmarks.md ---\n" + md)
    else:
        h.append_docs(md)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
