"""A realistic estate for the overview benchmark: 1,000 sites, 1,000,000 alerts, in PostgreSQL.

- 20 clients (security, facilities, retail… names), 50 sites each, in 50 US cities with their real
  latitude/longitude (jittered a few km per site) and time zones; 60 officers in charge (95 % of
  the sites have one); two bench users with API tokens: a supervisor (all clients, sees PII) and
  an operator assigned to three clients (PII masked).
- 1,000,000 alerts over the last 30 days, inserted by one `INSERT … SELECT generate_series`
  statement (the alerts list benchmark loads this way at ~30k rows/s): ~97 % RESOLVED, ~3 % still
  active, more of them the younger the alert (60 % of the last hour's, 1.9 % of those older than a
  week: a few long-running problems); active ones are mostly acknowledged or assigned, young
  ones mostly NEW, 10 % suppressed (mostly by maintenance). Severity mix CRITICAL 3 %, HIGH 12 %,
  MEDIUM 35 %, LOW 30 %, INFO 20 %; 1 % of alerts are client-wide (no site). Acknowledged and
  resolved alerts carry their timestamps and durations (0.5–30 min to acknowledge, up to ~8 h to
  resolve), so "today" has real MTTA/MTTR figures whenever the benchmark runs.

Run alone to (re)build the database `$BENCH_DB_dash` (`watchfloor_bench_dash` without BENCH_DB;
Redis db BENCH_REDIS_DB, 12 without it) and print what it holds:

    uv run python bench/load_dashboard_data.py [--rows N]

bench/dashboard.py imports it (build_estate, load_alerts) and does the same before measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import harness as h

# BENCH_DB (one per engineer on a shared machine) + "_dash", and BENCH_REDIS_DB; by default
# watchfloor_bench_dash and Redis db 12
BENCH_DB = os.environ.get("BENCH_DB", "watchfloor_bench") + "_dash"
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
# harness functions read these module globals when called: the overview bench keeps its own
# database, so it never drops the one the other benchmarks use.
h.BENCH_DB = BENCH_DB
h.REDIS_DB = REDIS_DB

CLIENTS = [
    ("northwind", "Northwind Security"),
    ("contoso", "Contoso Facilities"),
    ("initech", "Initech Field Services"),
    ("umbrella", "Umbrella Logistics"),
    ("globex", "Globex Retail"),
    ("stark", "Stark Properties"),
    ("wayne", "Wayne Enterprises"),
    ("acme", "Acme Warehousing"),
    ("hooli", "Hooli Campuses"),
    ("soylent", "Soylent Foods"),
    ("vandelay", "Vandelay Imports"),
    ("cyberdyne", "Cyberdyne Labs"),
    ("tyrell", "Tyrell Manufacturing"),
    ("wonka", "Wonka Confectionery"),
    ("oceanic", "Oceanic Transit"),
    ("massive", "Massive Dynamic"),
    ("piedpiper", "Pied Piper Data Centers"),
    ("gringotts", "Gringotts Banking"),
    ("monarch", "Monarch Hotels"),
    ("dunder", "Dunder Mifflin Paper"),
]
# (city, state, latitude, longitude, time zone)
CITIES = [
    ("New York", "NY", 40.71, -74.01, "America/New_York"),
    ("Los Angeles", "CA", 34.05, -118.24, "America/Los_Angeles"),
    ("Chicago", "IL", 41.88, -87.63, "America/Chicago"),
    ("Houston", "TX", 29.76, -95.37, "America/Chicago"),
    ("Phoenix", "AZ", 33.45, -112.07, "America/Phoenix"),
    ("Philadelphia", "PA", 39.95, -75.17, "America/New_York"),
    ("San Antonio", "TX", 29.42, -98.49, "America/Chicago"),
    ("San Diego", "CA", 32.72, -117.16, "America/Los_Angeles"),
    ("Dallas", "TX", 32.78, -96.80, "America/Chicago"),
    ("Austin", "TX", 30.27, -97.74, "America/Chicago"),
    ("Jacksonville", "FL", 30.33, -81.66, "America/New_York"),
    ("San Jose", "CA", 37.34, -121.89, "America/Los_Angeles"),
    ("Fort Worth", "TX", 32.76, -97.33, "America/Chicago"),
    ("Columbus", "OH", 39.96, -83.00, "America/New_York"),
    ("Charlotte", "NC", 35.23, -80.84, "America/New_York"),
    ("Indianapolis", "IN", 39.77, -86.16, "America/Indiana/Indianapolis"),
    ("San Francisco", "CA", 37.77, -122.42, "America/Los_Angeles"),
    ("Seattle", "WA", 47.61, -122.33, "America/Los_Angeles"),
    ("Denver", "CO", 39.74, -104.99, "America/Denver"),
    ("Washington", "DC", 38.91, -77.04, "America/New_York"),
    ("Boston", "MA", 42.36, -71.06, "America/New_York"),
    ("Nashville", "TN", 36.16, -86.78, "America/Chicago"),
    ("Detroit", "MI", 42.33, -83.05, "America/Detroit"),
    ("Portland", "OR", 45.52, -122.68, "America/Los_Angeles"),
    ("Las Vegas", "NV", 36.17, -115.14, "America/Los_Angeles"),
    ("Memphis", "TN", 35.15, -90.05, "America/Chicago"),
    ("Louisville", "KY", 38.25, -85.76, "America/Kentucky/Louisville"),
    ("Baltimore", "MD", 39.29, -76.61, "America/New_York"),
    ("Milwaukee", "WI", 43.04, -87.91, "America/Chicago"),
    ("Albuquerque", "NM", 35.08, -106.65, "America/Denver"),
    ("Tucson", "AZ", 32.22, -110.97, "America/Phoenix"),
    ("Fresno", "CA", 36.74, -119.79, "America/Los_Angeles"),
    ("Sacramento", "CA", 38.58, -121.49, "America/Los_Angeles"),
    ("Kansas City", "MO", 39.10, -94.58, "America/Chicago"),
    ("Atlanta", "GA", 33.75, -84.39, "America/New_York"),
    ("Miami", "FL", 25.76, -80.19, "America/New_York"),
    ("Raleigh", "NC", 35.78, -78.64, "America/New_York"),
    ("Omaha", "NE", 41.26, -95.93, "America/Chicago"),
    ("Minneapolis", "MN", 44.98, -93.27, "America/Chicago"),
    ("Tampa", "FL", 27.95, -82.46, "America/New_York"),
    ("New Orleans", "LA", 29.95, -90.07, "America/Chicago"),
    ("Cleveland", "OH", 41.50, -81.69, "America/New_York"),
    ("Pittsburgh", "PA", 40.44, -79.99, "America/New_York"),
    ("Salt Lake City", "UT", 40.76, -111.89, "America/Denver"),
    ("St. Louis", "MO", 38.63, -90.20, "America/Chicago"),
    ("Orlando", "FL", 28.54, -81.38, "America/New_York"),
    ("Cincinnati", "OH", 39.10, -84.51, "America/New_York"),
    ("Boise", "ID", 43.62, -116.20, "America/Boise"),
    ("Richmond", "VA", 37.54, -77.44, "America/New_York"),
    ("Anchorage", "AK", 61.22, -149.90, "America/Anchorage"),
]
FIRST_NAMES = [
    "Maria", "James", "Aisha", "Wei", "Carlos", "Priya", "John", "Fatima", "Liam", "Sofia",
    "Noah", "Olivia", "Mateo", "Amara", "Ethan", "Yuki", "Lucas", "Zara", "Diego", "Hannah",
]  # fmt: skip
LAST_NAMES = [
    "Garcia", "Smith", "Khan", "Chen", "Okafor", "Patel", "Johnson", "Nguyen", "Kowalski",
    "Silva", "Brown",
]  # fmt: skip
SITE_KINDS = ["DC", "Store", "Campus", "Yard", "Office", "Plant", "Warehouse", "Depot"]
SITES_PER_CLIENT = 50
OFFICERS = 60
OPERATOR_CLIENTS = ("northwind", "contoso", "initech")

# Run inside `watchfloor shell`: clients, officers, sites, the two bench users. Sites are built
# deterministically from the lists above (a client keeps to a region of ~12 cities).
_ESTATE_SNIPPET = """
import json, random
from django.contrib.auth.models import Group
from watchfloor.access.services import assign_scope
from watchfloor.tenancy.models import Client, Site, Tenant, User
spec = json.loads({spec!r})
rng = random.Random(4)
tenant = Tenant.objects.get(slug="bench")
clients = Client.objects.bulk_create(
    Client(tenant=tenant, code=code, name=name) for code, name in spec["clients"]
)
operators = Group.objects.get(name="operator")
officers = []
for i in range(spec["officers"]):
    first = spec["first"][i % len(spec["first"])]
    last = spec["last"][(i * 7) % len(spec["last"])]
    user = User.objects.create_user(
        username=f"officer{{i:02d}}", first_name=first, last_name=last, tenant=tenant,
        email=f"{{first.lower()}}.{{last.lower()}}{{i}}@example.com",
        phone=f"+1-555-01{{i:02d}}-{{i:04d}}",
    )
    user.groups.add(operators)
    officers.append(user)
cities = spec["cities"]
sites = []
for c, client in enumerate(clients):
    home = [cities[(c * 5 + k * 3) % len(cities)] for k in range(12)]
    for s in range(spec["sites_per_client"]):
        city, state, lat, lon, tz = home[rng.randrange(len(home))]
        kind = spec["kinds"][rng.randrange(len(spec["kinds"]))]
        sites.append(Site(
            tenant=tenant, client=client, code=f"{{client.code}}-{{s + 1:03d}}",
            name=f"{{city}} {{kind}} {{s + 1}}", city=city, state=state,
            latitude=round(lat + rng.uniform(-0.08, 0.08), 5),
            longitude=round(lon + rng.uniform(-0.08, 0.08), 5), timezone=tz,
            officer_in_charge=(
                None if rng.random() < 0.05 else officers[rng.randrange(len(officers))]
            ),
        ))
Site.objects.bulk_create(sites, batch_size=500)
sup = User.objects.create_user(username="bench-supervisor", first_name="Sam", last_name="Super",
                               tenant=tenant, password=spec["password"])
sup.groups.add(Group.objects.get(name="supervisor"))
op = User.objects.create_user(username="bench-operator", first_name="Olga", last_name="Oper",
                              tenant=tenant, password=spec["password"])
op.groups.add(operators)
assign_scope(op, clients=[c for c in clients if c.code in spec["operator_clients"]])
print(json.dumps({{"clients": len(clients), "sites": len(sites), "officers": len(officers)}}))
"""


def build_estate(env: dict[str, str], password: str) -> dict[str, Any]:
    """Migrate the fresh database; create the bench tenant, estate, users and API tokens."""
    h.log("watchfloor migrate")
    h.watchfloor(["migrate", "--noinput"], env)
    out = h.watchfloor(
        ["tenant", "create", "--slug", "bench", "--name", "Bench", "--admin", "benchadmin"], env
    )
    admin_password = h.last_line(out)
    spec = {
        "clients": CLIENTS,
        "cities": CITIES,
        "first": FIRST_NAMES,
        "last": LAST_NAMES,
        "kinds": SITE_KINDS,
        "officers": OFFICERS,
        "sites_per_client": SITES_PER_CLIENT,
        "operator_clients": list(OPERATOR_CLIENTS),
        "password": password,
    }
    h.log(f"create {len(CLIENTS)} clients x {SITES_PER_CLIENT} sites, {OFFICERS} officers")
    made = json.loads(
        h.last_line(
            h.watchfloor(["shell", "-c", _ESTATE_SNIPPET.format(spec=json.dumps(spec))], env)
        )
    )
    tokens = {}
    for user in ("bench-supervisor", "bench-operator"):
        out = h.watchfloor(["token", "create", "--user", user, "--name", "bench"], env)
        tokens[user] = h.last_line(out)
    return {
        "made": made,
        "tokens": tokens,
        "admin_password": admin_password,
        "users": {"supervisor": "bench-supervisor", "operator": "bench-operator"},
    }


def _case(expr: str, mix: list[tuple[str, int]]) -> str:
    """CASE mapping `expr` (0..999) onto a per-mille mix."""
    parts, edge = [], 0
    for value, share in mix:
        edge += share
        parts.append(f"WHEN {expr} < {edge} THEN '{value}'")
    assert edge == 1000, mix
    return "CASE " + " ".join(parts) + " END"


SEVERITY_MIX = [("CRITICAL", 30), ("HIGH", 120), ("MEDIUM", 350), ("LOW", 300), ("INFO", 200)]
# status of an alert still active: young ones are mostly NEW, older ones were picked up
ACTIVE_YOUNG = [
    ("NEW", 700),
    ("ACKNOWLEDGED", 120),
    ("ASSIGNED", 60),
    ("ESCALATED", 20),
    ("SUPPRESSED", 100),
]
ACTIVE_OLD = [
    ("NEW", 150),
    ("ACKNOWLEDGED", 450),
    ("ASSIGNED", 250),
    ("ESCALATED", 50),
    ("SUPPRESSED", 100),
]
TYPES = [
    "InstanceDown",
    "CameraStreamLost",
    "DoorControllerOffline",
    "UpsOnBattery",
    "DEVICE_OFFLINE",
    "SLA_BREACH",
    "ATTENDANCE_MISSING",
    "GEOFENCE_BREACH",
    "SYNC_DEGRADED",
    "WORK_ORDER_OVERDUE",
    "TICKET_ESCALATED",
    "SECURITY_ANOMALY",
]


def load_alerts(rows: int) -> dict[str, Any]:
    """Insert `rows` alerts with one INSERT … SELECT generate_series, then VACUUM ANALYZE."""

    def draw(salt: int, n: str | int = 1000) -> str:  # independent per-row draws, 0..n-1
        return f"mod(hashint8(g * 7919 + {salt})::bigint + 2147483648, {n})"

    types = "ARRAY[" + ",".join(f"'{t}'" for t in TYPES) + "]"
    # first seen: evenly over 30 days (id order = time order), newest last
    first_seen = f"now() - interval '30 days' + (g * interval '30 days' / {rows})"
    active_permille = (
        "CASE WHEN age < interval '1 hour' THEN 600 WHEN age < interval '6 hours' THEN 250 "
        "WHEN age < interval '1 day' THEN 80 WHEN age < interval '7 days' THEN 35 ELSE 19 END"
    )
    status = (
        f"CASE WHEN {draw(11)} >= {active_permille} THEN 'RESOLVED' "
        f"WHEN age < interval '2 hours' THEN {_case(draw(12), ACTIVE_YOUNG)} "
        f"ELSE {_case(draw(12), ACTIVE_OLD)} END"
    )
    severity = _case(draw(13), SEVERITY_MIX)
    # minutes to acknowledge 0.5–30, to resolve 5 min–8 h (skewed short), capped at now
    tta = f"(30 + {draw(14, 1770)}) * interval '1 second'"
    ttr = f"(300 + ({draw(15)} * {draw(16)} / 1000) * 28) * interval '1 second'"
    known = {
        "tenant_id": "t.id",
        "client_id": "s.client_id",
        "site_id": f"CASE WHEN {draw(17)} < 10 THEN NULL ELSE s.id END",
        "source": "CASE WHEN g % 3 = 0 THEN 'native' ELSE 'alertmanager' END",
        "integration_key_id": "NULL",
        "type": f"({types})[1 + {draw(18, len(TYPES))}]",
        "severity": "sv",
        "status": "st",
        "title": f"({types})[1 + {draw(18, len(TYPES))}] || ' at ' || s.name || "
        f"CASE WHEN {draw(19)} < 50 THEN ' — call the guard on +1-555-010-' || "
        f"lpad(({draw(20, 10000)})::text, 4, '0') ELSE ' (' || s.code || '-dev' || (g % 5) || ')' "
        "END",
        "description": "'Bulk-loaded alert ' || g || ' for the overview benchmark.'",
        "fingerprint": "'dash-' || g",
        "content_hash": "md5('content-' || g)",
        "entity_type": "'device'",
        "entity_id": "s.code || '-dev' || (g % 5)",
        "labels": "jsonb_build_object('site', s.code, 'client', c.code, 'severity', lower(sv))",
        "annotations": "'{}'::jsonb",
        "source_url": "''",
        "runbook_url": "''",
        "occurrence_count": "1 + g % 9",
        "suppressed_count": "CASE WHEN st = 'SUPPRESSED' THEN 1 + g % 4 ELSE 0 END",
        "first_seen_at": "fs",
        # resolved: last seen before it was resolved; active: still firing, seen in the last 3 h
        "last_seen_at": "CASE WHEN st = 'RESOLVED' THEN fs + (r - fs) * 0.8 "
        f"ELSE greatest(fs, now() - {draw(21, 180)} * interval '1 minute') END",
        "started_at": "fs",
        "suppression_reason": f"CASE WHEN st <> 'SUPPRESSED' THEN '' WHEN {draw(22)} < 900 "
        "THEN 'maintenance' ELSE 'backpressure' END",
        "maintenance_window_id": "NULL",
        "correlation_id": "NULL",
        "correlation_reason": "''",
        "parent_id": "NULL",
        "acknowledged_at": "CASE WHEN st IN ('ACKNOWLEDGED', 'ASSIGNED', 'RESOLVED') THEN a END",
        "acknowledged_by_id": "NULL",
        "time_to_acknowledge": "CASE WHEN st IN ('ACKNOWLEDGED', 'ASSIGNED', 'RESOLVED') "
        "THEN a - fs END",
        "assigned_at": "CASE WHEN st = 'ASSIGNED' THEN a END",
        "assigned_by_id": "NULL",
        "assignee_id": "CASE WHEN st = 'ASSIGNED' THEN "
        f"officers.ids[1 + {draw(23, 'array_length(officers.ids, 1)')}] END",
        "escalated_at": "CASE WHEN st = 'ESCALATED' THEN least(fs + interval '15 minutes', now()) "
        "END",
        "escalated_by_id": "NULL",
        "escalation_level": "CASE WHEN st = 'ESCALATED' THEN 1 ELSE 0 END",
        "resolved_at": "CASE WHEN st = 'RESOLVED' THEN r END",
        "resolved_by_id": "NULL",
        "resolution_note": "''",
        "time_to_resolve": "CASE WHEN st = 'RESOLVED' THEN r - fs END",
        "created_at": "fs",
        "updated_at": "fs",
    }
    columns = h.psql(
        "SELECT column_name, is_nullable, column_default IS NOT NULL, data_type "
        "FROM information_schema.columns WHERE table_name = 'alerts_alert' "
        "ORDER BY ordinal_position",
        db=BENCH_DB,
    )
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
    exprs = {}
    for line in columns.splitlines():
        name, nullable, has_default, dtype = line.split("|")
        if name == "id":
            continue
        if name in known:
            exprs[name] = known[name]
        elif nullable == "YES" or has_default == "t":
            exprs[name] = "DEFAULT" if has_default == "t" else "NULL"
        else:
            if dtype not in empty:
                raise SystemExit(f"alerts_alert.{name} ({dtype}) is NOT NULL: give it a value")
            h.log(f"alerts_alert.{name} ({dtype}) is not known to the loader: {empty[dtype]}")
            exprs[name] = empty[dtype]
    if "DEFAULT" in exprs.values():
        exprs = {k: v for k, v in exprs.items() if v != "DEFAULT"}
    sql = f"""
WITH t AS (SELECT id FROM tenancy_tenant WHERE slug = 'bench'),
     s AS (SELECT row_number() OVER (ORDER BY site.id) - 1 AS n, site.*
           FROM tenancy_site site JOIN t ON site.tenant_id = t.id),
     nsites AS (SELECT count(*) AS n FROM s),
     officers AS (SELECT array_agg(u.id ORDER BY u.id) AS ids FROM tenancy_user u
                  JOIN t ON u.tenant_id = t.id WHERE u.username LIKE 'officer%')
INSERT INTO alerts_alert ({", ".join(exprs)})
SELECT {", ".join(exprs.values())}
FROM generate_series(1::bigint, {rows}) AS g
CROSS JOIN t
CROSS JOIN nsites
CROSS JOIN officers
CROSS JOIN LATERAL (SELECT {first_seen} AS fs) AS v0
CROSS JOIN LATERAL (SELECT now() - v0.fs AS age) AS v1
CROSS JOIN LATERAL (SELECT {status} AS st, {severity} AS sv,
                           least(v0.fs + {tta}, now()) AS a,
                           least(v0.fs + {tta} + {ttr}, now()) AS r) AS v
JOIN s ON s.n = {draw(24, "nsites.n")}
JOIN tenancy_client c ON c.id = s.client_id
"""  # noqa: S608 — built from the constants above and the schema, never from input
    h.log(f"loading {rows:,} alerts with INSERT … SELECT generate_series")
    t0 = time.monotonic()
    h.psql(sql, db=BENCH_DB, timeout=3600)
    load_s = time.monotonic() - t0
    h.log(f"loaded in {load_s:.0f}s; VACUUM ANALYZE")
    t0 = time.monotonic()
    h.psql("VACUUM ANALYZE", db=BENCH_DB, timeout=3600)
    vacuum_s = time.monotonic() - t0
    return {"rows": rows, "load_seconds": round(load_s, 1), "vacuum_seconds": round(vacuum_s, 1)}


# since midnight UTC
REWRITE_TODAY = (
    "WITH midnight AS (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m),"
    " u AS (UPDATE alerts_alert SET updated_at = updated_at FROM midnight"
    " WHERE acknowledged_at >= midnight.m OR resolved_at >= midnight.m RETURNING 1)"
    " SELECT count(*) FROM u"
)
ACKNOWLEDGED_TODAY = (
    "SELECT count(*) FROM alerts_alert"
    " WHERE acknowledged_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)
RESOLVED_TODAY = (
    "SELECT count(*) FROM alerts_alert"
    " WHERE resolved_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
)


def settle() -> dict[str, int]:
    """Leave the table as a day of ingestion leaves it, not as a fresh VACUUM does.

    Live, every active alert is re-sent by its source every minute or so (a HOT update of its
    row), and today's acknowledged and resolved alerts were updated today: their heap pages are
    not all-visible until the next VACUUM (autovacuum runs every ~200,000 changes on a 1M-row
    table, days apart), so index-only scans must visit the heap for them. This bumps each active
    alert once (as a repeat would) and rewrites today's acknowledged/resolved rows once, then
    ANALYZEs (statistics, no VACUUM).
    """
    bumped = h.psql(
        "WITH u AS (UPDATE alerts_alert SET occurrence_count = occurrence_count + 1, "
        "last_seen_at = greatest(last_seen_at, now() - interval '3 minutes') "
        "WHERE NOT status = 'RESOLVED' RETURNING 1) SELECT count(*) FROM u",
        db=BENCH_DB,
        timeout=600,
    )
    today = h.psql(REWRITE_TODAY, db=BENCH_DB, timeout=600)
    h.psql("ANALYZE", db=BENCH_DB, timeout=600)
    return {"active_bumped": int(bumped), "today_rewritten": int(today)}


def describe() -> dict[str, Any]:
    """What the database holds: rows by status, active by severity, today's counts, sizes."""

    def pairs(sql: str) -> dict[str, int]:
        out = h.psql(sql, db=BENCH_DB)
        return {k: int(v) for k, v in (line.split("|") for line in out.splitlines())}

    return {
        "by_status": pairs("SELECT status, count(*) FROM alerts_alert GROUP BY 1 ORDER BY 1"),
        "open_by_severity": pairs(
            "SELECT severity, count(*) FROM alerts_alert WHERE status IN ('NEW', "
            "'ACKNOWLEDGED', 'ASSIGNED', 'ESCALATED') GROUP BY 1 ORDER BY 1"
        ),
        "acknowledged_today": int(h.psql(ACKNOWLEDGED_TODAY, db=BENCH_DB)),
        "resolved_today": int(h.psql(RESOLVED_TODAY, db=BENCH_DB)),
        "sites": int(h.psql("SELECT count(*) FROM tenancy_site", db=BENCH_DB)),
        "clients": int(h.psql("SELECT count(*) FROM tenancy_client", db=BENCH_DB)),
        "table_size": h.psql(
            "SELECT pg_size_pretty(pg_total_relation_size('alerts_alert'))", db=BENCH_DB
        ),
        "index_sizes": {
            name: size
            for name, size in (
                line.split("|")
                for line in h.psql(
                    "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) "
                    "FROM pg_stat_user_indexes WHERE relname = 'alerts_alert' ORDER BY 1",
                    db=BENCH_DB,
                ).splitlines()
            )
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with h.workdir("wf-bench-dash-load-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = build_estate(env, password="bench-" + os.urandom(12).hex())
        data = load_alerts(args.rows)
        data["settled"] = settle()
    print(json.dumps({"estate": estate["made"], "load": data, "holds": describe()}, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
