"""KPI snapshots on PostgreSQL (#13 §5): one snapshot of 1,000 clients over 10,000,000 feed
records (< 5 s), and the KPI window queries over 7 days of snapshots: 1 hour ≤ 20 ms, 7 days
≤ 300 ms (p95).

Into a scratch database (BENCH_DB, default watchfloor_bench: set your own on a shared machine):
migrates, creates one tenant with `--clients` clients (2 sites each, 8 cities) and an operator
scoped to 100 of them, loads `--records` feed records server-side (`INSERT … SELECT
generate_series` with the feed tables' secondary indexes dropped and rebuilt after, foreign-key
triggers off for the session; 40 % tickets, 20 % work orders, 20 % attendance, 10 % devices,
10 % geofence events; mostly closed history, an open share on top), VACUUM ANALYZE; `--reuse`
keeps a matching load of an earlier run. Then times `compute.compute_window` (`--runs` times,
the window recomputed each time; `--explain` prints the plans of its grouped queries) and its
rollup step alone, loads `--history-days` of 5-minute snapshots for every client and site,
rebuilds the rollups over them (timed), times the rollup step again over the full history, and
times the queries of queries.py in process (`--repeat` calls each: latest, the 1 h and 7 d
series tenant-wide, by a city, for one client and for the scoped operator; the overview's field
tiles, snapshots/tiles.py; the attendance and device availability reports, reports/availability.py;
and, for the record, the 1 h tenant-wide sums over the raw snapshots without and with a covering
index). Prints the figures, writes bench/results/snapshots.json, appends to docs/benchmarks.md
(unless --no-record).

    BENCH_DB=wf_snap_bench BENCH_REDIS_DB=1 flock /tmp/bench.lock uv run python bench/snapshots.py
"""

# ruff: noqa: S608 (SQL built from constants and ints of this script)
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

import harness as h

CITIES = ["Austin", "Denver", "Boston", "Miami", "Seattle", "Chicago", "Phoenix", "Atlanta"]


def _setup_django() -> None:
    os.environ["DATABASE_URL"] = f"postgres://{h.PG_USER}@{h.PG_HOST}:5432/{h.BENCH_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    import django

    django.setup()


def _sql(cursor, sql: str) -> float:
    started = time.perf_counter()
    cursor.execute(sql)
    return time.perf_counter() - started


def load_estate(n_clients: int):
    from watchfloor.tenancy.models import Client, Site, Tenant, User

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    clients = Client.objects.bulk_create(
        Client(tenant=tenant, code=f"c{i:05d}", name=f"Client {i}") for i in range(n_clients)
    )
    sites = Site.objects.bulk_create(
        Site(
            tenant=tenant,
            client=c,
            code=f"{c.code}-s{j}",
            name=f"Site {j}",
            city=CITIES[(i * 2 + j) % len(CITIES)],
            state="ST",
        )
        for i, c in enumerate(clients)
        for j in range(2)
    )
    admin = User.objects.create_superuser("benchsnap", "b@example.com", "x")
    # a tenant account: superusers have no tenant; give the admin group instead
    admin.is_superuser = False
    admin.is_staff = False
    admin.tenant = tenant
    admin.save()
    from django.contrib.auth.models import Group

    admin.groups.add(Group.objects.get(name="admin"))
    from watchfloor.access.services import assign_scope

    operator = User.objects.create_user("benchsnapop", "o@example.com", "x", tenant=tenant)
    operator.groups.add(Group.objects.get(name="operator"))
    assign_scope(operator, clients=clients[:100])  # scoped: never reads the tenant totals
    return tenant, clients, sites, admin, operator


def existing_estate():
    from watchfloor.tenancy.models import Client, Site, Tenant, User

    tenant = Tenant.objects.get(slug="bench")
    clients = list(Client.objects.filter(tenant=tenant).order_by("id"))
    sites = list(Site.objects.filter(tenant=tenant).order_by("id"))
    return (
        tenant,
        clients,
        sites,
        User.objects.get(username="benchsnap"),
        User.objects.get(username="benchsnapop"),
    )


def _loaded(n_clients: int, records: int) -> bool:
    """Whether the bench database holds this estate and these feed records already."""
    try:
        tickets = h.psql_value("SELECT count(*) FROM operations_ticket")
        clients = h.psql_value("SELECT count(*) FROM tenancy_client")
        operator = h.psql_value("SELECT count(*) FROM tenancy_user WHERE username = 'benchsnapop'")
    except Exception:  # no database, no table: load it
        return False
    return (int(tickets), int(clients), int(operator)) == (records * 4 // 10, n_clients, 1)


def explain(tenant_id: int, end) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each grouped query of one tenant's snapshot."""
    from django.db import connection

    from watchfloor.snapshots import compute

    for qs in compute._tenant_queries(tenant_id, end):
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()), "\n", flush=True)


# the feed tables' indexes for the snapshot's grouped queries (operations 0004; the shifts in
# progress read attendance_end, (tenant, shift_end), of operations 0003)
KPI_INDEXES = ("ticket_open_kpi", "work_order_open_kpi", "device_kpi", "attendance_end")
FEED_TABLES = (
    "operations_ticket",
    "operations_workorder",
    "operations_attendancerecord",
    "operations_device",
    "operations_geofenceevent",
)


def _secondary_indexes(cursor, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, ALTER … ADD CONSTRAINT) of the unique constraints and the CREATE INDEX statements
    of the other indexes of `table` (the primary key stays)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    constraints = [
        (name, f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {d}')
        for name, d in cursor.fetchall()
    ]
    cursor.execute(
        "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    )
    return constraints, [row[0] for row in cursor.fetchall()]


def load_feeds(cursor, tenant_id: int, c0: int, s0: int, n_sites: int, records: int) -> dict:
    """Feed records spread over the sites (site k belongs to client k // 2), server-side
    (`INSERT … SELECT generate_series`), fast: the feed tables' secondary indexes and unique
    constraints are dropped first and built after the load, and the foreign-key triggers are
    off for the session (`session_replication_role = replica`: the ids are the estate's own);
    then VACUUM ANALYZE (visibility map and statistics, as autovacuum leaves a settled table)."""
    saved = {}
    started = time.perf_counter()
    cursor.execute("SET session_replication_role = replica")
    cursor.execute("SET maintenance_work_mem = '512MB'")
    for table in FEED_TABLES:
        constraints, indexes = _secondary_indexes(cursor, table)
        saved[table] = (constraints, indexes)
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
            [table],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
    drop_s = time.perf_counter() - started
    where = f"{tenant_id}, {c0} + (g % {n_sites}) / 2, {s0} + (g % {n_sites})"
    common = "tenant_id, client_id, site_id, external_id, received_at, created_at"
    now = "now()"
    n = {
        "tickets": records * 4 // 10,
        "work_orders": records * 2 // 10,
        "attendance": records * 2 // 10,
        "devices": records // 10,
        "geofence": records // 10,
    }
    timings = {}
    timings["tickets"] = _sql(
        cursor,
        f"""INSERT INTO operations_ticket ({common}, title, category, priority, status,
            opened_at, sla_due_at, escalation_level, assignee_name)
        SELECT {where}, 't' || g, {now}, {now}, 'ticket', '', 'P' || (1 + g % 4),
            CASE WHEN g % 20 = 0 THEN 'OPEN' WHEN g % 20 = 1 THEN 'IN_PROGRESS'
                 ELSE 'CLOSED' END,
            {now} - (g % 2000) * interval '1 hour',
            {now} - (g % 2000) * interval '1 hour' + interval '8 hours', 0, ''
        FROM generate_series(1, {n["tickets"]}) g""",
    )
    timings["work_orders"] = _sql(
        cursor,
        f"""INSERT INTO operations_workorder ({common}, title, category, priority, status,
            deadline_at, assignee_name)
        SELECT {where}, 'w' || g, {now}, {now}, 'wo', '', 'P3',
            (ARRAY['PENDING','SCHEDULED','IN_PROGRESS','ON_HOLD','COMPLETED','COMPLETED',
                   'COMPLETED','COMPLETED','COMPLETED','CANCELLED'])[1 + g % 10],
            {now} + ((g % 200) - 100) * interval '1 hour', ''
        FROM generate_series(1, {n["work_orders"]}) g""",
    )
    timings["attendance"] = _sql(
        cursor,
        f"""INSERT INTO operations_attendancerecord ({common}, person_ref, person_name,
            shift_start, shift_end, status)
        SELECT {where}, 'a' || g, {now}, {now}, 'p' || (g % 50000), '',
            date_trunc('hour', {now}) - (g % 720) * interval '1 hour',
            date_trunc('hour', {now}) - (g % 720) * interval '1 hour' + interval '8 hours',
            (ARRAY['PRESENT','PRESENT','PRESENT','PRESENT','PRESENT','PRESENT','LATE',
                   'MISSING','EXCUSED','EXPECTED'])[1 + g % 10]
        FROM generate_series(1, {n["attendance"]}) g""",
    )
    timings["devices"] = _sql(
        cursor,
        f"""INSERT INTO operations_device ({common}, name, device_type, status, last_seen_at,
            last_sync_at)
        SELECT {where}, 'd' || g, {now}, {now}, 'dev', (ARRAY['camera','panic','phone'])[1 + g % 3],
            CASE WHEN g % 50 = 0 THEN 'OFFLINE' WHEN g % 97 = 0 THEN 'RETIRED' ELSE 'ONLINE' END,
            {now} - (g % 40) * interval '1 minute', {now} - (g % 90) * interval '1 minute'
        FROM generate_series(1, {n["devices"]}) g""",
    )
    timings["geofence"] = _sql(
        cursor,
        f"""INSERT INTO operations_geofenceevent ({common}, person_ref, kind, occurred_at)
        SELECT {where}, 'g' || g, {now}, {now}, 'p' || (g % 50000),
            (ARRAY['ENTER','EXIT','BREACH'])[1 + g % 3],
            {now} - (g % 2592000) * interval '1 second'
        FROM generate_series(1, {n["geofence"]}) g""",
    )
    started = time.perf_counter()
    for constraints, indexes in saved.values():
        for sql in indexes:
            cursor.execute(sql)
        for _, sql in constraints:
            cursor.execute(sql)
    timings["indexes"] = time.perf_counter() - started
    cursor.execute("SET session_replication_role = DEFAULT")
    started = time.perf_counter()
    for table in FEED_TABLES:
        cursor.execute(f'VACUUM ANALYZE "{table}"')
    timings["vacuum_analyze"] = time.perf_counter() - started
    timings["drop_indexes"] = drop_s
    return {"rows": n, "load_seconds": {k: round(v, 1) for k, v in timings.items()}}


def load_history(cursor, end, days: int) -> tuple[int, float]:
    """`days` of 5-minute windows ending at `end`: a copy of the rows of `end` per window with
    the measures jittered (one INSERT … SELECT)."""
    from watchfloor.snapshots.models import COUNT_MEASURES, SNAPSHOT_TABLE

    windows = days * 288
    cols = ", ".join(COUNT_MEASURES)
    jitter = ", ".join(f"GREATEST(0, {c} + ((w * 7 + id) % 5) - 2)" for c in COUNT_MEASURES)
    elapsed = _sql(
        cursor,
        f"""INSERT INTO {SNAPSHOT_TABLE} (tenant_id, window_end, client_id, site_id, city,
            state, officer_in_charge_id, {cols}, sync_health, computed_at)
        SELECT tenant_id, window_end - w * interval '5 minutes', client_id, site_id, city,
            state, officer_in_charge_id, {jitter}, sync_health, computed_at
        FROM {SNAPSHOT_TABLE}, generate_series(1, {windows - 1}) w
        WHERE window_end = %s""".replace("%s", f"'{end.isoformat()}'"),
    )
    cursor.execute(f"SELECT count(*) FROM {SNAPSHOT_TABLE}")
    return cursor.fetchone()[0], elapsed


def timed(fn, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
        "max_ms": round(samples[-1], 1),
        "n": repeat,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bench database's estate and feed records when they match --clients and "
        "--records (migrate, empty the snapshot tables, skip the load)",
    )
    parser.add_argument(
        "--compare-indexes",
        action="store_true",
        help="time the snapshot without the feed tables' KPI indexes first, then with them",
    )
    parser.add_argument(
        "--no-availability",
        action="store_true",
        help="leave out the availability reports (seconds a call at 1,000 clients over 7 days)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the snapshot's grouped queries"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()

    env = {**os.environ, "DATABASE_URL": f"postgres://{h.PG_USER}@{h.PG_HOST}:5432/{h.BENCH_DB}"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    reuse = args.reuse and _loaded(args.clients, args.records)
    if not reuse:
        h.reset_database()
    h.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env)
    _setup_django()
    from django.db import connection

    from watchfloor.alerts.overview_queries import OverviewFilters
    from watchfloor.reports import availability
    from watchfloor.reports.queries import ReportRange
    from watchfloor.snapshots import compute, queries, rollups, tasks, tiles
    from watchfloor.snapshots.models import COUNT_MEASURES, KpiSnapshot

    if reuse:
        h.log(f"reusing the estate and {args.records:,} feed records of {h.BENCH_DB}")
        tenant, clients, sites, admin, operator = existing_estate()
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE snapshots_kpisnapshot, snapshots_kpi_total, snapshots_kpi_hourly, "
                "snapshots_client_health"
            )
        feeds = {"rows": "reused", "load_seconds": {}}
    else:
        h.log(f"estate: {args.clients} clients, {2 * args.clients} sites")
        tenant, clients, sites, admin, operator = load_estate(args.clients)
        with connection.cursor() as cursor:
            h.log(f"loading {args.records:,} feed records")
            feeds = load_feeds(
                cursor, tenant.id, clients[0].id, sites[0].id, len(sites), args.records
            )
            h.log(f"loaded: {feeds['load_seconds']}")
            cursor.execute("ANALYZE")
    end = compute.latest_closed_window()
    without = []
    if args.compare_indexes:
        # the snapshot without the feed tables' KPI indexes first, then with them
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c WHERE c.relname IN "
                f"({', '.join(repr(n) for n in KPI_INDEXES)})"
            )
            kpi_defs = cursor.fetchall()
            for name, _ in kpi_defs:
                cursor.execute(f'DROP INDEX "{name}"')
        if args.explain:
            explain(tenant.id, end)
        for _ in range(args.runs):
            started = time.perf_counter()
            compute.compute_window(end)
            without.append(round(time.perf_counter() - started, 2))
            h.log(f"snapshot without the KPI indexes: {without[-1]} s")
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for _, sql in kpi_defs:
                cursor.execute(sql)
            h.log(f"KPI indexes built in {time.perf_counter() - started:.1f} s")
    if args.explain:
        explain(tenant.id, end)
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = compute.compute_window(end)
        runs.append(round(time.perf_counter() - started, 2))
        h.log(f"snapshot of {result['rows']} rows: {runs[-1]} s ({result['rolled']})")
    roll_runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        rollups.roll_window(end, [tenant.id])
        roll_runs.append(round((time.perf_counter() - started) * 1000, 1))
    h.log(f"of which the rollups (totals, hour, health): {roll_runs} ms")
    with connection.cursor() as cursor:
        h.log(f"loading {args.history_days} days of snapshots")
        history_rows, history_s = load_history(cursor, end, args.history_days)
        cursor.execute("ANALYZE snapshots_kpisnapshot")
    started = time.perf_counter()
    rebuilt = rollups.rebuild(end - timedelta(days=args.history_days), end)
    rebuild_s = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE snapshots_kpi_total")
        cursor.execute("VACUUM ANALYZE snapshots_kpi_hourly")
        cursor.execute("VACUUM ANALYZE snapshots_client_health")
    started = time.perf_counter()
    tasks.refresh_views()
    maintenance_ms = round((time.perf_counter() - started) * 1000, 1)
    h.log(
        f"{history_rows:,} snapshot rows ({history_s:.0f} s); rollups rebuilt in {rebuild_s} s "
        f"({rebuilt}); the refresh_views job (partitions, prune) {maintenance_ms} ms"
    )
    # a steady run over the full history: the window's hour holds 12 windows
    steady = []
    for _ in range(args.runs):
        started = time.perf_counter()
        rollups.roll_window(end, [tenant.id])
        steady.append(round((time.perf_counter() - started) * 1000, 1))
    h.log(f"rollups of one window over {args.history_days} days of history: {steady} ms")

    f_all = queries.SnapshotFilters()
    f_city = queries.SnapshotFilters(city=CITIES[0])
    f_client = queries.SnapshotFilters(clients=(clients[7].code,))
    now = end + timedelta(minutes=1)
    figures = {}
    for name, fn in {
        "latest (1,000 client rows)": lambda: queries.latest(admin, f_all, now=now),
        "series 1h, tenant": lambda: queries.series(admin, "tickets_open_p1", "1h", f_all, now=now),
        "series 1h, city": lambda: queries.series(
            admin, "attendance_missing", "1h", f_city, now=now
        ),
        "series 1h, one client": lambda: queries.series(
            admin, "devices_offline", "1h", f_client, now=now
        ),
        "series 7d, tenant": lambda: queries.series(admin, "tickets_open_p1", "7d", f_all, now=now),
        "series 7d, city": lambda: queries.series(
            admin, "attendance_missing", "7d", f_city, now=now
        ),
        "series 7d, one client": lambda: queries.series(
            admin, "sync_health", "7d", f_client, now=now
        ),
        "series 1h, operator of 100 clients": lambda: queries.series(
            operator, "tickets_open_p1", "1h", f_all, now=now
        ),
        "series 7d, operator of 100 clients": lambda: queries.series(
            operator, "tickets_open_p1", "7d", f_all, now=now
        ),
        "client health": lambda: queries.client_health(admin, f_all, now=now),
        # the overview's field tiles (snapshots/tiles.py): newest window + the trends
        "field tiles 1h, tenant": lambda: tiles.field_tiles(admin, f_all, "", now=now),
        "field tiles 1h, city": lambda: tiles.field_tiles(admin, f_city, "", now=now),
        "field tiles 7d, tenant": lambda: tiles.field_tiles(admin, f_all, "7d", now=now),
        # the availability reports (reports/availability.py) over the snapshots of the range
        "availability 24h, tenant": lambda: availability.availability(
            admin, OverviewFilters(), ReportRange.build(preset="24h", now=now)
        ),
        "availability 7d, tenant": lambda: availability.availability(
            admin, OverviewFilters(), ReportRange.build(preset="7d", now=now)
        ),
        "availability 7d, one client": lambda: availability.availability(
            admin,
            OverviewFilters(clients=(clients[7].code,)),
            ReportRange.build(preset="7d", now=now),
        ),
    }.items():
        if args.no_availability and name.startswith("availability"):
            continue
        fn()  # warm
        figures[name] = timed(fn, args.repeat)
        h.log(f"{name}: {figures[name]}")

    # what the totals replace: the 1-hour tenant-wide sums over the snapshots themselves, as
    # they are and with a covering index (tenant, window_end) INCLUDE the measures on client rows
    def raw_hour():
        return queries.window_sums(
            admin, f_all, ("tickets_open_p1",), end - timedelta(hours=1), end, raw=True
        )

    raw_hour()
    figures["raw 1h sums, tenant (no totals)"] = timed(raw_hour, args.repeat)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX kpi_bench_covering ON snapshots_kpisnapshot (tenant_id, window_end) "
            f"INCLUDE ({', '.join(COUNT_MEASURES)}) WHERE site_id IS NULL"
        )
        cursor.execute("ANALYZE snapshots_kpisnapshot")
        covering_s = round(time.perf_counter() - started, 1)
    raw_hour()
    figures["raw 1h sums, tenant, covering index (not vacuumed)"] = timed(raw_hour, args.repeat)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("VACUUM snapshots_kpisnapshot")
        vacuum_s = round(time.perf_counter() - started, 1)
    raw_hour()
    figures["raw 1h sums, tenant, covering index (vacuumed)"] = timed(raw_hour, args.repeat)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX kpi_bench_covering")
    h.log(f"covering index built in {covering_s} s, vacuum {vacuum_s} s")
    for name in [n for n in figures if n.startswith("raw ")]:
        h.log(f"{name}: {figures[name]}")

    report = {
        "covering_index_build_s": covering_s,
        "vacuum_s": vacuum_s,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "clients": args.clients,
        "sites": len(sites),
        "feed_records": args.records,
        "feeds": feeds,
        "snapshot_seconds": runs,
        "snapshot_seconds_without_kpi_indexes": without,
        "rollup_ms_per_window": roll_runs,
        "rollup_ms_per_window_full_history": steady,
        "rollup_rebuild_seconds": rebuild_s,
        "refresh_views_job_ms": maintenance_ms,
        "reused_load": reuse,
        "snapshot_rows_per_window": KpiSnapshot.objects.filter(window_end=end).count(),
        "history_rows": history_rows,
        "queries": figures,
        "machine": h.machine_facts(),
        "commit": h.git_commit(),
    }
    h.write_json("snapshots", report)
    rows = "\n".join(
        f"| {name} | {v['p50_ms']} | {v['p95_ms']} | {v['max_ms']} |" for name, v in figures.items()
    )
    md = f"""
## {h.now_utc()} — KPI snapshots (#13 §2, §5)

`{h.command_line()}` at {report["commit"]}; {h.machine_line(report["machine"])}.
PostgreSQL, in process (no HTTP), one connection. {args.clients:,} clients, {len(sites):,} sites,
{args.records:,} feed records ({feeds["rows"]}).

- One snapshot (every client and site, {report["snapshot_rows_per_window"]:,} rows):
  {", ".join(f"{s} s" for s in runs)} (target < 5 s){
        "; without the feed tables' KPI indexes (operations 0004, attendance_end): "
        + ", ".join(f"{s} s" for s in without)
        if without
        else ""
    }.
  Of a run, the rollups (tenant totals, the window's hour, client health; snapshots/rollups.py):
  {", ".join(f"{s} ms" for s in roll_runs)}; with {args.history_days} days of history behind:
  {", ".join(f"{s} ms" for s in steady)}.
- {history_rows:,} snapshot rows ({args.history_days} days of 5-minute windows); the rollups
  rebuilt over them (`rollups.rebuild`, a backfill): {rebuild_s} s; the `snapshots.refresh_views`
  job (partitions ahead, prune): {maintenance_ms} ms.
- Load average before / after: {load_before} / {os.getloadavg()}; feed load
  {"reused from an earlier run" if reuse else feeds["load_seconds"]}.

| query ({args.repeat} calls) | p50 ms | p95 ms | max ms |
| --- | --- | --- | --- |
{rows}
"""
    if args.no_record:
        print(md)
    else:
        h.append_docs(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
