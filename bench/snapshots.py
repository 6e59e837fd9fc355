"""KPI snapshots on PostgreSQL (#13 §5): one snapshot of 1,000 clients over 10,000,000 feed
records (< 5 s), and the KPI window queries over 7 days of snapshots: 1 hour ≤ 20 ms, 7 days
≤ 300 ms (p95).

Into a scratch database (BENCH_DB, default watchfloor_bench: set your own on a shared machine):
migrates, creates one tenant with `--clients` clients (2 sites each, 8 cities), loads `--records`
feed records with `INSERT … SELECT generate_series` (40 % tickets, 20 % work orders, 20 %
attendance, 10 % devices, 10 % geofence events; mostly closed history, an open share on top),
ANALYZE, then times `compute.compute_window` (`--runs` times, the window recomputed each time),
loads `--history-days` of 5-minute snapshots for every client and site, refreshes the views
(timed) and times the queries of queries.py in process (`--repeat` calls each: latest, the 1 h
series and the 7 d series, tenant-wide and filtered by a city and by a client; the overview's
field tiles, snapshots/tiles.py; the attendance and device availability reports over 24 h and
7 days, reports/availability.py). Prints the
figures, writes bench/results/snapshots.json, appends to docs/benchmarks.md (unless
--no-record).

    BENCH_DB=wf_d_bench uv run python bench/snapshots.py
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
    return tenant, clients, sites, admin


def load_feeds(cursor, tenant_id: int, c0: int, s0: int, n_sites: int, records: int) -> dict:
    """Feed records spread over the sites (site k belongs to client k // 2)."""
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
    args = parser.parse_args()

    h.reset_database()
    env = {**os.environ, "DATABASE_URL": f"postgres://{h.PG_USER}@{h.PG_HOST}:5432/{h.BENCH_DB}"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    h.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env)
    _setup_django()
    from django.db import connection

    from watchfloor.alerts.overview_queries import OverviewFilters
    from watchfloor.reports import availability
    from watchfloor.reports.queries import ReportRange
    from watchfloor.snapshots import compute, partitions, queries, tiles
    from watchfloor.snapshots.models import KpiSnapshot

    h.log(f"estate: {args.clients} clients, {2 * args.clients} sites")
    tenant, clients, sites, admin = load_estate(args.clients)
    with connection.cursor() as cursor:
        h.log(f"loading {args.records:,} feed records")
        feeds = load_feeds(cursor, tenant.id, clients[0].id, sites[0].id, len(sites), args.records)
        h.log(f"loaded: {feeds['load_seconds']}")
        cursor.execute("ANALYZE")
    end = compute.latest_closed_window()
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = compute.compute_window(end)
        runs.append(round(time.perf_counter() - started, 2))
        h.log(f"snapshot of {result['rows']} rows: {runs[-1]} s")
    with connection.cursor() as cursor:
        h.log(f"loading {args.history_days} days of snapshots")
        history_rows, history_s = load_history(cursor, end, args.history_days)
        cursor.execute("ANALYZE snapshots_kpisnapshot")
    started = time.perf_counter()
    partitions.refresh_views()
    refresh_s = round(time.perf_counter() - started, 2)
    h.log(f"{history_rows:,} snapshot rows ({history_s:.0f} s); views refreshed in {refresh_s} s")

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
        fn()  # warm
        figures[name] = timed(fn, args.repeat)
        h.log(f"{name}: {figures[name]}")

    report = {
        "clients": args.clients,
        "sites": len(sites),
        "feed_records": args.records,
        "feeds": feeds,
        "snapshot_seconds": runs,
        "snapshot_rows_per_window": KpiSnapshot.objects.filter(window_end=end).count(),
        "history_rows": history_rows,
        "refresh_views_seconds": refresh_s,
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
  {", ".join(f"{s} s" for s in runs)} (target < 5 s).
- {history_rows:,} snapshot rows ({args.history_days} days of 5-minute windows);
  `refresh_views()` (both views, CONCURRENTLY): {refresh_s} s.

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
