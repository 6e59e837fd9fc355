"""The alerts list endpoint and the alerts page with 1,000,000 alerts stored: p50/p95/p99 of
`GET /api/v1/alerts` and of the HTML page `GET /alerts/` (the same parameters and queries).

Loads `--rows` alerts (default 1,000,000) straight into PostgreSQL with one `INSERT … SELECT
generate_series` (spread over the bench tenant's 200 sites, 90 days of history, mostly RESOLVED,
a unique fingerprint per row so the one-active-per-fingerprint index holds), then measures the list
endpoint with wrk, 16 connections, as the bench tenant's admin (API token): the first page, pages
filtered by status / severity / site, each sort, label matchers, overdue, and deep cursor pages;
then the page (`/alerts/`, a signed-in session) for its default view, the feed's link (open
alerts by severity) and a filtered view.

Watchfloor runs on production settings under `watchfloor serve --workers <cores>`. Prints the
figures, writes bench/results/alerts_list.json, appends to docs/benchmarks.md (unless --no-record).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import harness as h
import ingest

# Status and severity mixes (per mille): mostly resolved history, a live open set on top.
STATUS_MIX = [
    ("RESOLVED", 900),
    ("NEW", 40),
    ("ACKNOWLEDGED", 20),
    ("ASSIGNED", 10),
    ("ESCALATED", 10),
    ("SUPPRESSED", 20),
]
SEVERITY_MIX = [("CRITICAL", 50), ("HIGH", 150), ("MEDIUM", 400), ("LOW", 250), ("INFO", 150)]
TYPES = [
    "InstanceDown",
    "HighCpuLoad",
    "DiskWillFillIn4Hours",
    "CameraStreamLost",
    "DEVICE_OFFLINE",
    "SLA_BREACH",
    "ATTENDANCE_MISSING",
    "GEOFENCE_BREACH",
    "SYNC_DEGRADED",
    "WORK_ORDER_OVERDUE",
]


def _case(expr: str, mix: list[tuple[str, int]]) -> str:
    """CASE mapping `expr` (0..999) onto the mix."""
    parts, edge = [], 0
    for value, share in mix:
        edge += share
        parts.append(f"WHEN {expr} < {edge} THEN '{value}'")
    assert edge == 1000
    return "CASE " + " ".join(parts) + " END"


def load_alerts(rows: int, tenant_slug: str = "bench") -> dict[str, Any]:
    """Insert `rows` alerts with one INSERT … SELECT generate_series; returns counts and timing.

    Every NOT NULL column without a database default gets a value: the known columns below, and
    any column added to the model later gets an empty value of its type (logged).
    """

    # independent, deterministic pseudo-random draws per row (PostgreSQL's integer hash)
    def draw(salt: int, n: str | int = 1000) -> str:
        return f"mod(hashint8(g + {salt})::bigint + 2147483648, {n})"

    status = _case(draw(0), STATUS_MIX)
    severity = _case(draw(1_000_003), SEVERITY_MIX)
    types = "ARRAY[" + ",".join(f"'{t}'" for t in TYPES) + "]"
    # first_seen grows with g: 90 days of history, newest last (id order ≈ time order)
    first_seen = f"now() - interval '90 days' + (g * interval '90 days' / {rows})"
    known = {
        "tenant_id": "t.id",
        "client_id": "s.client_id",
        "site_id": "s.id",
        "source": "CASE WHEN g % 3 = 0 THEN 'native' ELSE 'alertmanager' END",
        "integration_key_id": "NULL",
        "type": f"({types})[1 + g % {len(TYPES)}]",
        "severity": "sv",
        "status": "st",
        "title": f"({types})[1 + g % {len(TYPES)}] || ' on ' || s.code || '-dev' || (g % 5)",
        "description": "'Bulk-loaded bench alert number ' || g || ' at site ' || s.code || '.'",
        "fingerprint": "'bench-' || g",
        "content_hash": "md5('content-' || g)",
        "entity_type": "'device'",
        "entity_id": "s.code || '-dev' || (g % 5)",
        "labels": f"jsonb_build_object('alertname', ({types})[1 + g % {len(TYPES)}], "
        "'instance', lower(s.code) || '-dev' || (g % 5) || ':9100', 'job', 'site-devices', "
        "'severity', lower(sv), 'client', c.code, 'site', s.code)",
        "annotations": "jsonb_build_object('summary', 'Bench alert ' || g, 'description', "
        "'Bulk-loaded alert for the list benchmark.')",
        "source_url": "'http://prometheus.example.com:9090/graph'",
        "runbook_url": "''",
        "occurrence_count": "1 + g % 7",
        "suppressed_count": "CASE WHEN st = 'SUPPRESSED' THEN 1 + g % 3 ELSE 0 END",
        "first_seen_at": "fs",
        "last_seen_at": "fs + (g % 240) * interval '1 minute'",
        "started_at": "fs",
        "suppression_reason": "CASE WHEN st = 'SUPPRESSED' THEN 'maintenance' ELSE '' END",
        "correlation_id": "NULL",
        "correlation_reason": "''",
        "escalation_level": "CASE WHEN st = 'ESCALATED' THEN 1 ELSE 0 END",
        "acknowledged_at": "CASE WHEN st IN ('ACKNOWLEDGED', 'ASSIGNED', 'ESCALATED', "
        "'RESOLVED') THEN fs + interval '4 minutes' END",
        "time_to_acknowledge": "CASE WHEN st IN ('ACKNOWLEDGED', 'ASSIGNED', 'ESCALATED', "
        "'RESOLVED') THEN interval '4 minutes' END",
        "resolved_at": "CASE WHEN st = 'RESOLVED' THEN fs + (g % 240 + 5) * interval '1 minute' "
        "END",
        "time_to_resolve": "CASE WHEN st = 'RESOLVED' THEN (g % 240 + 5) * interval '1 minute' END",
        "resolution_note": "''",
        "created_at": "fs",
        "updated_at": "fs + (g % 240) * interval '1 minute'",
    }
    columns = h.psql(
        "SELECT column_name, is_nullable, column_default IS NOT NULL, data_type "
        "FROM information_schema.columns WHERE table_name = 'alerts_alert' "
        "ORDER BY ordinal_position"
    )
    exprs = {}
    empty = {
        "character varying": "''",
        "text": "''",
        "jsonb": "'{}'::jsonb",
        "integer": "0",
        "smallint": "0",
        "bigint": "0",
        "boolean": "false",
        "timestamp with time zone": "now()",
    }
    for line in columns.splitlines():
        name, nullable, has_default, dtype = line.split("|")
        if name == "id":
            continue
        if name in known:
            exprs[name] = known[name]
        elif nullable == "NO" and has_default == "f":
            if dtype not in empty:
                raise SystemExit(
                    f"alerts_alert.{name} ({dtype}) is new and NOT NULL: teach "
                    "bench/alerts_list.py a value for it"
                )
            h.log(
                f"alerts_alert.{name} ({dtype}) is not known to the loader: filled with "
                f"{empty[dtype]}"
            )
            exprs[name] = empty[dtype]
    # built from the constants above and the schema, never from input
    sql = f"""
WITH t AS (SELECT id FROM tenancy_tenant WHERE slug = '{tenant_slug}'),
     s AS (SELECT row_number() OVER (ORDER BY site.id) - 1 AS n, site.id, site.client_id,
                  site.code
           FROM tenancy_site site JOIN t ON site.tenant_id = t.id),
     nsites AS (SELECT count(*) AS n FROM s)
INSERT INTO alerts_alert ({", ".join(exprs)})
SELECT {", ".join(exprs.values())}
FROM generate_series(1::bigint, {rows}) AS g
CROSS JOIN t
CROSS JOIN nsites
CROSS JOIN LATERAL (SELECT {status} AS st, {severity} AS sv, {first_seen} AS fs) AS v
JOIN s ON s.n = {draw(2_000_003, "nsites.n")}
JOIN tenancy_client c ON c.id = s.client_id
"""  # noqa: S608
    h.log(f"loading {rows:,} alerts with INSERT … SELECT generate_series")
    t0 = time.monotonic()
    h.psql(sql, timeout=3600)
    load_s = time.monotonic() - t0
    h.log(f"loaded in {load_s:.0f}s; VACUUM ANALYZE")
    t0 = time.monotonic()
    h.psql("VACUUM ANALYZE alerts_alert", timeout=3600)
    vacuum_s = time.monotonic() - t0
    by_status = dict(
        line.split("|")
        for line in h.psql("SELECT status, count(*) FROM alerts_alert GROUP BY 1").splitlines()
    )
    return {
        "rows": rows,
        "load_seconds": round(load_s, 1),
        "vacuum_analyze_seconds": round(vacuum_s, 1),
        "by_status": {k: int(v) for k, v in sorted(by_status.items())},
        "table_size": h.psql("SELECT pg_size_pretty(pg_total_relation_size('alerts_alert'))"),
    }


# --- the queries -----------------------------------------------------------------------------


SORT_KEYS = {"-first_seen": "first_seen_at", "-last_seen": "last_seen_at"}


def cursor_after(pk: int, sort: str = "-first_seen") -> str:
    """The list's keyset cursor (watchfloor.alerts.listing) after the row `pk` in `sort`:
    base64url of JSON [sort, "after", [key value…, id]]."""
    column = SORT_KEYS[sort]
    value = h.psql(
        f"SELECT to_char({column} AT TIME ZONE 'UTC', "  # noqa: S608 (constants only)
        f'\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\') FROM alerts_alert WHERE id = {int(pk)}'
    )
    raw = json.dumps([sort, "after", [value, pk]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def session_cookie(env: dict[str, str]) -> str:
    """A signed-in session of the bench admin (made in the database, as a login would)."""
    out = h.watchfloor(["shell", "-c", _SESSION_SNIPPET], env)
    return h.last_line(out)


_SESSION_SNIPPET = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
user = get_user_model().objects.get(username="benchadmin")
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(user.pk)
# the backend a sign-in records: the first that loads users (the sign-in throttle's does not)
from django.utils.module_loading import import_string
store[BACKEND_SESSION_KEY] = next(
    path for path in settings.AUTHENTICATION_BACKENDS if hasattr(import_string(path), "get_user")
)
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
print(f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
"""


def scenarios(limit: int) -> dict[str, dict[str, Any]]:
    """name → {description, paths}; wrk cycles through each scenario's paths."""
    max_id = int(h.psql("SELECT max(id) FROM alerts_alert"))
    min_id = int(h.psql("SELECT min(id) FROM alerts_alert"))
    sites = h.psql("SELECT id FROM tenancy_site ORDER BY id").split()
    cities = h.psql("SELECT DISTINCT city FROM tenancy_site ORDER BY city").splitlines()
    base = "/api/v1/alerts?"

    def q(**params) -> str:
        return base + urlencode({"limit": limit, **params})

    depths = [0.25, 0.5, 0.75, 0.9, 0.99]
    deep_ids = [int(max_id - (max_id - min_id) * d) for d in depths]

    def page(**params) -> str:
        return "/alerts/?" + urlencode(params)

    return {
        "first_page": {"what": "first page, no filter", "paths": [q()]},
        "active": {"what": "active=true (everything not resolved)", "paths": [q(active="true")]},
        "status_new": {"what": "status=NEW", "paths": [q(status="NEW")]},
        "severity_critical": {"what": "severity=CRITICAL", "paths": [q(severity="CRITICAL")]},
        "new_critical": {
            "what": "status=NEW&severity=CRITICAL",
            "paths": [q(status="NEW", severity="CRITICAL")],
        },
        "site": {
            "what": "site=<id> (cycling over the 200 sites)",
            "paths": [q(site=site_id) for site_id in sites],
        },
        "city_active": {
            "what": "city=<name>&active=true (cycling over the cities)",
            "paths": [q(city=city, active="true") for city in cities],
        },
        "search": {"what": "q=<text> (title search)", "paths": [q(q="CameraStreamLost on C013")]},
        "deep_cursor": {
            "what": "cursor 25–99 % deep, no filter",
            "paths": [q(cursor=cursor_after(i)) for i in deep_ids],
        },
        "deep_cursor_last_seen": {
            "what": "sort=-last_seen, cursor 25–99 % deep (no index: every row)",
            "paths": [q(sort="-last_seen", cursor=cursor_after(i, "-last_seen")) for i in deep_ids],
        },
        "deep_cursor_critical": {
            "what": "cursor 25–99 % deep, severity=CRITICAL",
            "paths": [q(severity="CRITICAL", cursor=cursor_after(i)) for i in deep_ids],
        },
        "sort_first_seen": {
            "what": "sort=first_seen (oldest first)",
            "paths": [q(sort="first_seen")],
        },
        "sort_severity_active": {
            "what": "active=true&sort=severity (the feed's order)",
            "paths": [q(active="true", sort="severity")],
        },
        "labels": {
            "what": 'labels={job="site-devices",alertname=~"Instance.*"}&active=true',
            "paths": [q(labels='{job="site-devices",alertname=~"Instance.*"}', active="true")],
        },
        "overdue": {"what": "overdue=true", "paths": [q(overdue="true")]},
        "page_default": {
            "what": "the page /alerts/ (HTML), no filter",
            "paths": [page()],
            "session": True,
        },
        "page_open_critical": {
            "what": "the page /alerts/?active=true&severity=CRITICAL&sort=severity",
            "paths": [page(active="true", severity="CRITICAL", sort="severity")],
            "session": True,
        },
        "page_site_labels": {
            "what": 'the page, site=<id>&labels={alertname=~"Disk.*"} (cycling sites)',
            "paths": [page(site=site_id, labels='{alertname=~"Disk.*"}') for site_id in sites],
            "session": True,
        },
    }


def check_answers(server: h.Server, auth: dict[str, dict], scen: dict[str, dict[str, Any]]) -> dict:
    """Every scenario's first path once: status, item count, and a next cursor is returned."""
    out = {}
    for name, sc in scen.items():
        headers = auth["session" if sc.get("session") else "token"]
        status, body = h.http("GET", server.base_url + sc["paths"][0], headers=headers)
        info: dict[str, Any] = {"status": status}
        if status == 200 and sc.get("session"):
            info.update(rows=body.count(b"<tr>") - 1, bytes=len(body))
        elif status == 200:
            data = json.loads(body)
            items = data.get("items", data if isinstance(data, list) else [])
            info.update(
                items=len(items), next_cursor=bool(data.get("next_cursor")), bytes=len(body)
            )
        else:
            info["body"] = body[:300].decode(errors="replace")
        out[name] = info
        h.log(f"check {name}: {info}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per query")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--limit", type=int, default=50, help="page size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--quick", action="store_true", help="100,000 rows, 5 s per query, 1 s warm-up"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument(
        "--variants",
        default="serve",
        help="server configs as in ingest.py (serve, serve-wsgi, gunicorn-wsgi…; NAME:WORKERS)",
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=25.0,
        help="repeat a measured run (up to 3 runs) when other processes used more than this "
        "percent of one core during it (default 25)",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=h.QUIET_TIMEOUT,
        help="seconds to wait for an idle machine before each wrk run (then measure anyway)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="do not append to docs/benchmarks.md"
    )
    args = parser.parse_args()
    h.QUIET_TIMEOUT = args.quiet_timeout
    if args.quick:
        args.rows, args.duration, args.warmup = min(args.rows, 100_000), 5, 1

    h.ensure_debian_package("wrk", "wrk")
    machine = h.machine_facts()
    report: dict[str, Any] = {
        "benchmark": "alerts_list",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
        "args": {k: v for k, v in vars(args).items() if k != "no_record"},
        "servers": {},
        "results": {},
    }
    with h.workdir("wf-bench-list-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = h.setup_watchfloor(env)
        token = estate.secrets["api_token"]
        auth = {
            "token": {"Authorization": f"Bearer {token}"},
            "session": {"Cookie": session_cookie(env)},
        }
        report["data"] = load_alerts(args.rows)
        h.log(f"data: {report['data']}")
        scen = scenarios(args.limit)
        if args.only:
            scen = {k: v for k, v in scen.items() if k in args.only.split(",")}
        for spec in args.variants.split(","):
            variant, _, n = spec.partition(":")
            workers = int(n) if n else args.workers
            port = h.free_port()
            cmd = ingest.watchfloor_command(variant, port, workers)
            label = "Watchfloor " + ingest.SERVER_VARIANTS[variant].format(workers=workers).split(
                " ("
            )[0].replace("watchfloor ", "")
            with h.Server(
                f"watchfloor[{spec}]",
                cmd,
                port=port,
                log_path=work / f"wf-{variant}.log",
                env=env,
                cwd=h.ROOT,
            ) as wf:
                wf.wait_ready("/api/health/", timeout=90)
                report["servers"][spec] = {"label": label, "command": " ".join(cmd)}
                answers = check_answers(wf, auth, scen)
                report["servers"][spec]["answers"] = answers
                bad = {k: v for k, v in answers.items() if v["status"] != 200}
                if bad:
                    raise SystemExit(f"the list endpoint failed: {bad}\n{wf.tail()}")
                for name, sc in scen.items():
                    headers = auth["session" if sc.get("session") else "token"]
                    file = work / f"{name}.requests"
                    h.write_requests(file, ((p, "") for p in sc["paths"]))
                    _warm, res, attempts = h.measure(
                        wf,
                        method="GET",
                        requests_file=file,
                        headers=headers,
                        warmup=args.warmup,
                        seconds=args.duration,
                        connections=args.connections,
                        max_other_pct=args.max_other,
                    )
                    # the same query from one connection: service time without queueing
                    one = h.wrk(
                        wf,
                        method="GET",
                        requests_file=file,
                        headers=headers,
                        seconds=min(5, args.duration),
                        connections=1,
                        threads=1,
                        quiet=False,
                    )
                    row = res.as_dict()
                    row.update(
                        what=sc["what"],
                        attempts=attempts,
                        example_path=sc["paths"][0],
                        server=spec,
                        label=label,
                    )
                    row["one_connection"] = {
                        "requests_per_s": round(one.rps, 1),
                        "latency_ms": one.latency_ms,
                    }
                    report["results"][f"{spec}/{name}"] = row
                    h.log(
                        f"{spec} {name}: {res.rps:,.0f} req/s, p50 {res.latency_ms['p50']} ms, "
                        f"p95 {res.latency_ms['p95']} ms, p99 {res.latency_ms['p99']} ms, "
                        f"errors {res.errors}; one connection: p50 {one.latency_ms['p50']} ms, "
                        f"p95 {one.latency_ms['p95']} ms"
                    )

    console, md = summarise(report)
    print(console)
    h.write_json("alerts_list", report)
    if args.no_record:
        print("\n--- the section --no-record kept out of docs/benchmarks.md ---\n" + md)
    else:
        h.append_docs(md)


def summarise(report: dict[str, Any]) -> tuple[str, str]:
    rows = []
    for _name, r in report["results"].items():
        e = r["errors"]
        errors = e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]
        cpu = r["cpu_pct_of_one_core"]
        one = r["one_connection"]["latency_ms"]
        rows.append(
            f"| {r['label']} | {r['what']} | {r['requests_per_s']:,.0f} | {r['latency_ms']['p50']} "
            f"| **{r['latency_ms']['p95']}** | {r['latency_ms']['p99']} | {one['p50']} / "
            f"{one['p95']} | {errors} "
            f"| {cpu['server_pct']:.0f} / {cpu['postgres_pct']:.0f} / {cpu['wrk_pct']:.0f} "
            f"/ {cpu['other_pct']:.0f} |"
        )
    table = "\n".join(
        [
            "| server | query (`GET /api/v1/alerts?limit=…`, or the page) | requests/s "
            "| p50 ms | p95 ms "
            "| p99 ms | 1 connection: p50 / p95 ms | errors | CPU % server / PG / wrk / other |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )
    m, a, d = report["machine"], report["args"], report["data"]
    servers = "; ".join(f"`{v['command']}`" for v in report["servers"].values())
    md = f"""
### {report["date"]} — alerts list with {d["rows"]:,} alerts stored (`bench/alerts_list.py`)

- Commit measured: `{m["commit"]}`
- Command: `{report["command"]}`
- Machine: {h.machine_line(m)}. wrk (2 threads) shares the machine. Load average before the run:
  {m["loadavg_before"]}.
- Servers: {servers}, on production settings (PostgreSQL, Redis, debug off).
- Data: {d["rows"]:,} alerts over 200 sites and 90 days, bulk-loaded by one statement
  (generate_series) in {d["load_seconds"]} s (table with indexes {d["table_size"]});
  statuses {json.dumps(d["by_status"])}.
- Each query: page size {a["limit"]} (the page: its own 50), {a["connections"]} connections,
  {a["warmup"]:.0f} s warm-up, then {a["duration"]:.0f} s measured, as the tenant admin (API
  token, or a signed-in session for the page; every client in scope);
  then the same query from one connection for 5 s (latency without queueing). CPU columns are
  percent of one core ({m["nproc"]} cores = {100 * m["nproc"]} %) during the 16-connection run.

{table}
"""
    return table, md


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
