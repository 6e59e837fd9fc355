"""The incidents list with 10,000 incidents stored: p50/p95/p99 of the page `GET /incidents/`
(its default view and filtered ones), of the overview's SLA tile `GET /api/v1/overview/incidents`
and, when it is there, of the list API `GET /api/v1/incidents`, from one connection.

Data: a fresh database (PostgreSQL `watchfloor_bench_incidents` on 127.0.0.1 unless
`--database-url` says otherwise; `--sqlite` for a file in a temporary folder), migrated, with one
tenant, 10 clients, 100 sites, a supervisor, `--rows` alerts ingested through the pipeline (one
per incident) and `--rows` incidents (default 10,000) over 90 days: ~8 % open (NEW to
IN_PROGRESS, their SLA dues from the default policy, some past 75 % or past due), the rest
RESOLVED or CLOSED, each holding its alert.

Measured in process through Django's test client as the signed-in supervisor (every client in
scope, sees PII): each request is the whole Django request (middleware, session, view, queries,
template) on one database connection, without an HTTP server in front: `--requests` timed after
`--warmup` untimed, per query. Prints the figures, writes bench/results/incidents_list.json,
appends to docs/benchmarks.md (unless --no-record).

    uv run python bench/incidents_list.py              # PostgreSQL on 127.0.0.1
    uv run python bench/incidents_list.py --sqlite
    uv run python bench/incidents_list.py --reuse --profile   # where the page's time goes

`BENCH_DB` names the PostgreSQL database (default `watchfloor_bench_incidents`); `BENCH_REDIS_DB`
set runs the app with `REDIS_URL=redis://127.0.0.1:6379/<db>` (its cache in Redis, as in
production; the db is flushed first). `--reuse` keeps a database an earlier run loaded with the
same `--rows`. `--profile` prints cProfile's top functions of the default page (not a figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PG_DB = os.environ.get("BENCH_DB", "watchfloor_bench_incidents")  # one per engineer

QUERIES = [
    ("the page, default (newest first)", "/incidents/"),
    ("the page, open only", "/incidents/?open=true"),
    ("the page, most severe first", "/incidents/?sort=severity"),
    ("the page, SLA at risk", "/incidents/?sla=at_risk"),
    ("the page, SLA breached, CRITICAL", "/incidents/?sla=breached&severity=CRITICAL"),
    ("the page, one client, text", "/incidents/?client={client}&q=offline"),
    ("the page, page 100 (deep)", "/incidents/?page=100"),
    ("the overview's SLA tile", "/api/v1/overview/incidents"),
    ("the list API, first page", "/api/v1/incidents"),
]


def _setup(args) -> str:
    home = Path(tempfile.mkdtemp(prefix="wf-bench-incidents-"))
    os.environ["WATCHFLOOR_HOME"] = str(home)
    os.environ.setdefault("WATCHFLOOR_SECRET_KEY", "bench-incidents")
    if args.sqlite:
        url = f"sqlite:///{home / 'bench.sqlite3'}"
    else:
        url = args.database_url or f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
        base = url.rsplit("/", 1)[0] + "/postgres"
        name = url.rsplit("/", 1)[1]
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not (args.reuse and exists):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    redis_db = os.environ.get("BENCH_REDIS_DB")
    if redis_db:
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{int(redis_db)}"
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    else:
        os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _load(rows: int, seed: int) -> dict:
    from django.contrib.auth.models import Group

    from watchfloor.access.services import create_integration_key
    from watchfloor.alerts.events import Event, EventAction
    from watchfloor.alerts.models import Alert, Severity
    from watchfloor.alerts.pipeline import ingest
    from watchfloor.incidents.models import (
        Incident,
        IncidentAlert,
        IncidentStatus,
        Origin,
        default_sla_minutes,
    )
    from watchfloor.tenancy.models import Client, Site, Tenant, User

    rng = random.Random(seed)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    clients = [
        Client.objects.create(tenant=tenant, code=f"c{i}", name=f"Client {i}") for i in range(10)
    ]
    sites = Site.objects.bulk_create(
        [
            Site(
                tenant=tenant,
                client=clients[i % 10],
                code=f"s{i}",
                name=f"Site {i}",
                city="Austin",
                state="TX",
                latitude=30.0,
                longitude=-97.0,
            )
            for i in range(100)
        ]
    )
    user = User.objects.create_user(username="bench-supervisor", tenant=tenant)
    user.groups.add(Group.objects.get(name="supervisor"))
    admin = User.objects.create_user(username="bench-admin", tenant=tenant)
    admin.groups.add(Group.objects.get(name="admin"))
    key = create_integration_key(tenant, actor=admin, name="bench", source="native").obj
    # the rules off while the alerts go in: this script makes the incidents itself
    from watchfloor.incidents.services import update_policy

    update_policy(tenant.pk, actor=admin, open_on_critical=False, group_threshold=0)
    started = time.perf_counter()
    types = ["DEVICE_OFFLINE", "SLA_BREACH", "GEOFENCE_BREACH", "InstanceDown", "DiskFull"]
    severities = [s.value for s in Severity]
    for start in range(0, rows, 500):
        ingest(
            [
                Event(
                    action=EventAction.TRIGGER,
                    type=types[n % len(types)],
                    severity=severities[n % 5],
                    site_code=sites[n % 100].code,
                    entity_id=f"e{n}",
                    title=f"{types[n % len(types)]} offline at site {n % 100} ({n})",
                )
                for n in range(start, min(rows, start + 500))
            ],
            key=key,
        )
    alerts = list(Alert.objects.order_by("id").values_list("id", "site_id", "severity"))
    site_client = {s.pk: s.client_id for s in sites}
    now = datetime.now(UTC)
    sla = default_sla_minutes()
    open_statuses = [
        IncidentStatus.NEW,
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.ASSIGNED,
        IncidentStatus.IN_PROGRESS,
    ]
    incidents = []
    for n, (_alert_id, site_id, severity) in enumerate(alerts):
        is_open = rng.random() < 0.08
        if is_open:
            opened = now - timedelta(minutes=rng.uniform(1, 600))
            status = rng.choice(open_statuses)
        else:
            opened = now - timedelta(days=rng.uniform(0.5, 90))
            status = rng.choice([IncidentStatus.RESOLVED, IncidentStatus.CLOSED])
        ack, res = sla[severity]["acknowledge"], sla[severity]["resolve"]
        acked = None if status == IncidentStatus.NEW else opened + timedelta(minutes=ack / 2)
        done = None if is_open else opened + timedelta(minutes=res / 2)
        incidents.append(
            Incident(
                tenant=tenant,
                title=f"Incident {n} at site {site_id}: offline",
                severity=severity,
                status=status,
                origin=Origin.CRITICAL_ALERT,
                client_id=site_client[site_id],
                site_id=site_id,
                opened_at=opened,
                updated_at=opened,
                ack_due_at=opened + timedelta(minutes=ack),
                ack_risk_at=opened + timedelta(minutes=ack * 0.75),
                resolve_due_at=opened + timedelta(minutes=res),
                resolve_risk_at=opened + timedelta(minutes=res * 0.75),
                acknowledged_at=acked,
                resolved_at=done,
                closed_at=done if status == IncidentStatus.CLOSED else None,
            )
        )
    Incident.objects.bulk_create(incidents, batch_size=1000)
    made = list(Incident.objects.order_by("id").values_list("id", "status", "opened_at"))
    IncidentAlert.objects.bulk_create(
        [
            IncidentAlert(
                tenant=tenant,
                incident_id=incident_id,
                alert_id=alert[0],
                open=status in open_statuses,
                joined_at=opened,
            )
            for (incident_id, status, opened), alert in zip(made, alerts, strict=True)
        ],
        batch_size=2000,
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {
        "user": user,
        "client": clients[3].pk,
        "incidents": Incident.objects.count(),
        "open": Incident.objects.open().count(),
        "load_seconds": round(time.perf_counter() - started, 1),
    }


def _loaded(rows: int) -> dict | None:
    """What `_load` returned, from a database an earlier run loaded with `rows` (`--reuse`)."""
    from watchfloor.incidents.models import Incident
    from watchfloor.tenancy.models import Client, Tenant, User

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is None:
        return None
    if Incident.objects.filter(tenant=tenant).count() != rows:
        raise SystemExit(f"--reuse: the database holds another load than --rows {rows}")
    return {
        "user": User.objects.get(username="bench-supervisor"),
        "client": Client.objects.get(tenant=tenant, code="c3").pk,
        "incidents": rows,
        "open": Incident.objects.open().count(),
        "load_seconds": 0.0,
    }


def _profile(user, path: str, requests: int, top: int = 30) -> None:
    """cProfile over `requests` requests of `path` (after a warm-up): the statements of one
    request and the top functions by cumulative and own time."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    browser = Client()
    browser.force_login(user)
    for _ in range(10):
        browser.get(path)
    with CaptureQueriesContext(connection) as queries:
        browser.get(path)
    print(f"== {path}: {len(queries)} statements")
    for q in queries.captured_queries:
        print(f"   {1000 * float(q['time']):6.2f} ms  {q['sql'][:140]}")
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    for _ in range(requests):
        browser.get(path)
    prof.disable()
    wall = (time.perf_counter() - started) * 1000 / requests
    print(f"   {wall:.2f} ms per request under cProfile")
    for sort in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(top)
        print(buf.getvalue())


def _measure(user, path: str, warmup: int, requests: int) -> dict | None:
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    for _ in range(warmup):
        response = browser.get(path)
        if response.status_code == 404 and path.startswith("/api/"):
            return None  # that endpoint is not there (yet)
        assert response.status_code == 200, (path, response.status_code)
    times, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = browser.get(path)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()

    def pct(p: float) -> float:
        return round(times[min(len(times) - 1, int(len(times) * p))], 2)

    return {
        "p50": round(statistics.median(times), 2),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "max": round(times[-1], 2),
        # this process's own CPU per request (Python: view, ORM, template), which a busy machine
        # inflates far less than the wall clock: the part of a request Watchfloor spends itself
        "cpu_p50": round(statistics.median(cpu), 2),
    }


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, load {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep a database loaded before")
    parser.add_argument("--profile", action="store_true", help="cProfile the page, no figures")
    parser.add_argument("--top", type=int, default=30, help="functions listed by --profile")
    args = parser.parse_args()
    url = _setup(args)
    from django.db import connection

    data = (_loaded(args.rows) if args.reuse else None) or _load(args.rows, args.seed)
    if args.profile:
        _profile(data["user"], "/incidents/", args.requests, args.top)
        return 0
    engine = connection.vendor
    print(
        f"{engine}: {data['incidents']} incidents ({data['open']} open) loaded in "
        f"{data['load_seconds']} s",
        flush=True,
    )
    results = []
    for label, path in QUERIES:
        path = path.format(client=data["client"])
        figures = _measure(data["user"], path, args.warmup, args.requests)
        if figures is None:
            print(f"{label:45} {path}: not there, skipped", flush=True)
            continue
        results.append({"query": label, "path": path, **figures})
        print(
            f"{label:45} p50 {figures['p50']:7.2f} ms  p95 {figures['p95']:7.2f} ms  "
            f"p99 {figures['p99']:7.2f} ms  (CPU p50 {figures['cpu_p50']:6.2f} ms)",
            flush=True,
        )
    machine = _machine()
    commit = subprocess.run(
        ["/usr/bin/git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out = {
        "engine": engine,
        "database": url.rsplit("@", 1)[-1],
        "rows": data["incidents"],
        "open": data["open"],
        "requests": args.requests,
        "machine": machine,
        "commit": commit,
        "results": results,
    }
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "incidents_list.json").write_text(json.dumps(out, indent=2))
    if not args.no_record:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        env = " ".join(
            f"{k}={os.environ[k]}" for k in ("BENCH_DB", "BENCH_REDIS_DB") if os.environ.get(k)
        )
        command = (
            f"{env + ' ' if env else ''}uv run python bench/incidents_list.py"
            f" --requests {args.requests} --warmup {args.warmup}"
            + (" --sqlite" if args.sqlite else "")
            + (f" --rows {args.rows}" if args.rows != 10_000 else "")
        )
        cache = "Redis" if os.environ.get("REDIS_URL") else "local memory"
        lines = [
            "",
            f"## Incidents list, {data['incidents']:,} incidents ({engine}), {when}",
            "",
            f"`{command}` at {commit}; {machine}. In process (Django test client, one database",
            f"connection, no HTTP server; cache: {cache}), "
            f"the supervisor signed in; {args.requests} requests per "
            "query after a warm-up. Target (#11 §7): p95 < 50 ms.",
            "",
            "| query | path | p50 ms | p95 ms | p99 ms | CPU p50 ms (this process) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['query']} | `{r['path']}` | {r['p50']} | **{r['p95']}** | {r['p99']} "
            f"| {r['cpu_p50']} |"
            for r in results
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
