"""KPI snapshots: every measure on a small estate, an idempotent window, a query count
constant in the number of clients, partitions (PostgreSQL), the client health table, and the API's
scope and isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_incidents import make_alert
from watchfloor.alerts.models import Severity, Status
from watchfloor.operations.models import (
    AttendanceRecord,
    Device,
    GeofenceEvent,
    OperationsPolicy,
    Ticket,
    WorkOrder,
)
from watchfloor.snapshots import compute, health, partitions, queries
from watchfloor.snapshots.models import MEASURES, KpiSnapshot
from watchfloor.tenancy.models import Client, Site

pytestmark = pytest.mark.django_db

END = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
_ids = count(1)


def _common(estate, site, client=None):
    return {
        "tenant": estate.tenant,
        "client": client or site.client,
        "site": site,
        "external_id": f"x{next(_ids)}",
        "received_at": END,
        "created_at": END,
    }


def ticket(estate, site, priority="P1", status="OPEN", due=None, client=None):
    return Ticket.objects.create(
        **_common(estate, site, client),
        title="t",
        priority=priority,
        status=status,
        opened_at=END - timedelta(hours=5),
        sla_due_at=due,
    )


def work_order(estate, site, status="PENDING", deadline=None):
    return WorkOrder.objects.create(
        **_common(estate, site), title="w", status=status, deadline_at=deadline
    )


def shift(estate, site, status, start=END - timedelta(hours=1), end=END + timedelta(hours=7)):
    return AttendanceRecord.objects.create(
        **_common(estate, site),
        person_ref=f"p{next(_ids)}",
        shift_start=start,
        shift_end=end,
        status=status,
    )


def device(estate, site, status="ONLINE", seen=END, synced=END, device_type="camera"):
    return Device.objects.create(
        **_common(estate, site),
        name="d",
        device_type=device_type,
        status=status,
        last_seen_at=seen,
        last_sync_at=synced,
    )


def geofence(estate, site, kind="ENTER", at=END - timedelta(minutes=1)):
    return GeofenceEvent.objects.create(**_common(estate, site), kind=kind, occurred_at=at)


def _row(estate, end=END, client=None, site=None):
    return KpiSnapshot.objects.get(
        tenant=estate.tenant, window_end=end, client=client or site.client, site=site
    )


def test_window_end_alignment():
    assert compute.window_end_of(END) == END
    assert compute.window_end_of(END + timedelta(seconds=1)) == END + timedelta(minutes=5)
    assert compute.latest_closed_window(END + timedelta(minutes=4, seconds=59)) == END


def test_every_measure_per_site_and_client(estate, other_estate):
    s1, s2 = estate.sites[0], estate.sites[1]  # both of client 1
    late = END - timedelta(minutes=1)
    ticket(estate, s1, "P1", due=late)  # open, overdue
    ticket(estate, s1, "P2", due=END + timedelta(hours=1))  # open
    ticket(estate, s2, "P3", status="IN_PROGRESS", due=late)
    ticket(estate, s1, "P1", status="RESOLVED", due=late)  # closed: not counted
    ticket(estate, None, "P4", client=estate.clients[0], due=late)  # client-level only
    work_order(estate, s1, "PENDING", deadline=late)
    work_order(estate, s1, "SCHEDULED")
    work_order(estate, s2, "IN_PROGRESS", deadline=late)
    work_order(estate, s2, "COMPLETED", deadline=late)
    shift(estate, s1, "PRESENT")
    shift(estate, s1, "LATE")
    shift(estate, s1, "MISSING")
    shift(estate, s1, "EXCUSED")
    shift(estate, s1, "EXPECTED")
    shift(estate, s1, "PRESENT", start=END - timedelta(hours=9), end=END - timedelta(hours=1))
    device(estate, s1)  # online, synced
    device(estate, s1, status="OFFLINE")
    device(estate, s1, seen=END - timedelta(minutes=20), synced=END - timedelta(hours=2))
    device(estate, s1, device_type="panic", seen=END - timedelta(minutes=20))  # 30 min allowed
    device(estate, s1, status="RETIRED")
    device(estate, s2, seen=None, synced=None)
    OperationsPolicy.objects.create(tenant=estate.tenant, device_silence_by_type={"panic": 30})
    geofence(estate, s1)
    geofence(estate, s1, "BREACH")
    geofence(estate, s1, at=END - timedelta(minutes=6))  # previous window
    make_alert(estate, 1, site=s1, severity=Severity.CRITICAL)
    make_alert(estate, 2, site=s1, severity=Severity.HIGH, type="DEVICE_SPOOF")
    make_alert(estate, 3, site=s1, severity=Severity.LOW, status=Status.RESOLVED)
    make_alert(estate, 4, site=s2, severity=Severity.INFO, type="GEOFENCE_BREACH")
    ticket(other_estate, other_estate.sites[0], "P1", due=late)  # another tenant's

    result = compute.compute_window(END)
    assert result["rows"] == 2 * (2 + 4)  # two tenants: 2 client rows + 4 site rows each

    r1 = _row(estate, site=s1)
    assert (r1.tickets_open_p1, r1.tickets_overdue_p1, r1.tickets_open_p2) == (1, 1, 1)
    assert (r1.tickets_overdue_p2, r1.tickets_open_p3) == (0, 0)
    assert (r1.work_orders_open, r1.work_orders_overdue) == (2, 1)
    assert (r1.work_orders_pending, r1.work_orders_scheduled) == (1, 1)
    assert (r1.attendance_expected, r1.attendance_present) == (4, 1)
    assert (r1.attendance_late, r1.attendance_missing) == (1, 1)
    assert (r1.devices_total, r1.devices_offline, r1.devices_synced) == (4, 2, 3)
    assert r1.sync_health == 75
    assert (r1.geofence_events, r1.geofence_breaches) == (2, 1)
    assert (r1.alerts_open_critical, r1.alerts_open_high, r1.alerts_open_low) == (1, 1, 0)
    assert r1.security_anomalies == 1
    assert (r1.city, r1.state) == (s1.city, s1.state)

    r2 = _row(estate, site=s2)
    assert (r2.tickets_open_p3, r2.tickets_overdue_p3, r2.work_orders_in_progress) == (1, 1, 1)
    assert (r2.devices_total, r2.devices_offline, r2.sync_health) == (1, 1, 0)
    assert (r2.alerts_open_info, r2.security_anomalies) == (1, 1)

    c1 = _row(estate, client=estate.clients[0])
    assert c1.city == "" and c1.site_id is None
    assert c1.tickets_open_p4 == 1 and c1.tickets_overdue_p4 == 1  # the site-less ticket
    for m in MEASURES:
        if m in ("tickets_open_p4", "tickets_overdue_p4", "sync_health"):
            continue
        assert getattr(c1, m) == getattr(r1, m) + getattr(r2, m), m
    assert c1.sync_health == 60  # 3 of 5 devices synced

    empty = _row(estate, client=estate.clients[1])
    assert all(getattr(empty, m) == 0 for m in MEASURES if m != "sync_health")
    assert empty.sync_health is None
    assert _row(other_estate, client=other_estate.clients[0]).tickets_overdue_p1 == 1


def test_recomputing_a_window_replaces_it(estate):
    ticket(estate, estate.sites[0], "P1")
    compute.compute_window(END)
    first = set(KpiSnapshot.objects.values_list("id", flat=True))
    ticket(estate, estate.sites[0], "P1")
    compute.compute_window(END)
    assert KpiSnapshot.objects.filter(window_end=END).count() == 6
    assert not first & set(KpiSnapshot.objects.values_list("id", flat=True))
    assert _row(estate, site=estate.sites[0]).tickets_open_p1 == 2
    compute.compute_window(END + timedelta(minutes=5))
    assert KpiSnapshot.objects.count() == 12


def _add_clients(estate, n: int):
    for i in range(n):
        client = Client.objects.create(tenant=estate.tenant, code=f"more-{n}-{i}", name="More")
        site = Site.objects.create(
            tenant=estate.tenant, client=client, code=f"ms-{n}-{i}", name="S"
        )
        ticket(estate, site, "P2")
        device(estate, site)
        make_alert(estate, 1000 * n + i, site=site)


def _compute_queries() -> tuple[int, int]:
    """(reads and deletes, inserts): SQLite's bulk insert splits rows in batches of its
    999-variable limit, so the inserts are counted apart."""
    with CaptureQueriesContext(connection) as ctx:
        compute.compute_window(END)
    inserts = sum(1 for q in ctx.captured_queries if q["sql"].startswith("INSERT"))
    return len(ctx.captured_queries) - inserts, inserts


def test_query_count_is_constant_in_the_number_of_clients(estate):
    _add_clients(estate, 2)
    few, _ = _compute_queries()
    _add_clients(estate, 30)
    reads, inserts = _compute_queries()
    assert reads == few
    if connection.vendor == "postgresql":
        # one bulk statement for the 34 client rows and 36 site rows, one per rollup table
        assert inserts == 1 + 3
    assert KpiSnapshot.objects.filter(site__isnull=True).count() == 2 + 32


def _snap_series(estate):
    """Three windows: P1 tickets open 1, 2, 3 at site 0 (client 1), 5 at site 2 (client 2)."""
    site0, site2 = estate.sites[0], estate.sites[2]
    ticket(estate, site2, "P1")
    for _ in range(4):
        ticket(estate, site2, "P1")
    for k in range(3):
        ticket(estate, site0, "P1")
        compute.compute_window(END - timedelta(minutes=5 * (2 - k)))


def test_queries_latest_series_and_scope(estate):
    _snap_series(estate)
    admin, operator, viewer = (estate.user(r) for r in ("admin", "operator", "viewer"))
    f = queries.SnapshotFilters()
    now = END + timedelta(minutes=1)
    latest = queries.latest(admin, f, now=now)
    assert latest.window_end == END
    assert {r.client_code: r.measures["tickets_open_p1"] for r in latest.rows} == {
        "acme-c1": 3,
        "acme-c2": 5,
    }
    assert all(r.health_score == 100 for r in latest.rows)  # nothing overdue
    # the job has not run for two hours: the day's newest window is still found
    assert queries.latest(admin, f, now=END + timedelta(hours=2)).window_end == END
    assert queries.latest(admin, f, now=END + timedelta(days=2)).window_end is None
    # the operator sees client 1 only; the viewer site 2 (of client 2) only, as a sum of sites
    assert [r.client_code for r in queries.latest(operator, f, now=now).rows] == ["acme-c1"]
    seen = queries.latest(viewer, f, now=now).rows
    assert [(r.client_code, r.measures["tickets_open_p1"]) for r in seen] == [("acme-c2", 5)]
    sites = queries.latest(viewer, f, "site", now=now).rows
    assert [r.site_id for r in sites] == [estate.sites[2].id]
    # city filter: Austin holds sites 0 and 2
    austin = queries.latest(admin, queries.SnapshotFilters(city="austin"), now=now)
    assert sum(r.measures["tickets_open_p1"] for r in austin.rows) == 8
    one = queries.series(admin, "tickets_open_p1", "1h", f, now=now)
    assert one.step_seconds == 300 and len(one.points) == 12
    assert [p.value for p in one.points[-3:]] == [6.0, 7.0, 8.0]
    assert one.points[0].value is None
    mine = queries.series(
        operator, "tickets_open_p1", "1h", queries.SnapshotFilters(clients=("acme-c1",)), now=now
    )
    assert [p.value for p in mine.points[-3:]] == [1.0, 2.0, 3.0]
    assert queries.series(viewer, "tickets_open_p1", "1h", f, now=now).points[-1].value == 5.0


def test_seven_day_series_is_hourly(estate):
    _snap_series(estate)
    admin = estate.user("admin")
    week = queries.series(
        admin, "tickets_open_p1", "7d", queries.SnapshotFilters(), now=END + timedelta(minutes=1)
    )
    assert week.step_seconds == 3600 and len(week.points) == 168
    # 11:50, 11:55 and 12:00 all close in the hour starting 11:00: the average of 6, 7, 8
    assert week.points[-2].at == END - timedelta(hours=1)
    assert week.points[-2].value == 7.0
    assert week.points[-1].value is None


def test_health_score_formula():
    assert health.score({}) == 100
    worst = {
        "tickets_overdue_p1": 9,
        "work_orders_overdue": 9,
        "attendance_expected": 2,
        "attendance_missing": 2,
        "devices_total": 1,
        "devices_offline": 1,
        "alerts_open_critical": 3,
    }
    assert health.score(worst) == 0
    assert (
        health.score({"tickets_overdue_p2": 1, "attendance_expected": 4, "attendance_late": 1})
        == 92
    )


@pytest.mark.postgres
def test_partitions_created_and_dropped(_require_postgres):
    far = datetime(2031, 5, 17, tzinfo=UTC)
    created = partitions.ensure_partitions(far)
    assert created == [
        "snapshots_kpisnapshot_p203105",
        "snapshots_kpisnapshot_p203106",
        "snapshots_kpisnapshot_p203107",
    ]
    assert partitions.ensure_partitions(far) == []
    names = [p.name for p in partitions.partitions()]
    assert names == sorted(names)
    dropped = partitions.drop_partitions_before(datetime(2031, 7, 1, tzinfo=UTC))
    assert "snapshots_kpisnapshot_p203105" in dropped
    assert "snapshots_kpisnapshot_p203106" in dropped
    assert "snapshots_kpisnapshot_p203107" not in dropped
    assert "snapshots_kpisnapshot_p203107" in {p.name for p in partitions.partitions()}


@pytest.mark.postgres
def test_compute_creates_the_window_partition_and_retention_drops_it(_require_postgres, estate):
    end = datetime(2032, 3, 10, 8, 0, tzinfo=UTC)
    ticket(estate, estate.sites[0], "P1")
    compute.compute_window(end)
    assert KpiSnapshot.objects.filter(window_end=end).count() == 6
    partitions.drop_partitions_before(datetime(2032, 4, 1, tzinfo=UTC))
    assert not KpiSnapshot.objects.filter(window_end=end).exists()


def test_client_health_table_scores_as_python(estate):
    now = compute.latest_closed_window()
    late = now - timedelta(hours=1)
    ticket(estate, estate.sites[0], "P1", due=late)
    ticket(estate, estate.sites[1], "P2", due=late)
    work_order(estate, estate.sites[0], deadline=late)
    shift(
        estate,
        estate.sites[0],
        "MISSING",
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
    )
    shift(
        estate,
        estate.sites[0],
        "LATE",
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
    )
    shift(
        estate,
        estate.sites[0],
        "PRESENT",
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=1),
    )
    device(estate, estate.sites[0], status="OFFLINE", seen=now, synced=now)
    device(estate, estate.sites[0], seen=now, synced=now)
    make_alert(estate, 1, severity=Severity.CRITICAL, type="SECURITY_ANOMALY")
    compute.compute_window(now)
    admin = estate.user("admin")
    scores = {
        h.client_code: h.score for h in queries.client_health(admin, queries.SnapshotFilters())
    }
    row = _row(estate, end=now, client=estate.clients[0])
    expected = health.score({m: getattr(row, m) for m in MEASURES})
    assert scores == {"acme-c1": expected, "acme-c2": 100}
    assert expected < 100
    # scoped: the operator sees client 1 only
    op = queries.client_health(estate.user("operator"), queries.SnapshotFilters())
    assert [h.client_code for h in op] == ["acme-c1"]


def test_api_scope_isolation_and_capability(estate, other_estate, api):
    now = compute.latest_closed_window()
    ticket(estate, estate.sites[0], "P1")
    ticket(other_estate, other_estate.sites[0], "P1")
    compute.compute_window(now)
    r = api(estate.user("admin")).get("/api/v1/snapshots/latest")
    assert r.status_code == 200, r.content
    body = r.json()
    assert [i["client"]["code"] for i in body["items"]] == ["acme-c1", "acme-c2"]
    assert body["items"][0]["measures"]["tickets_open_p1"] == 1
    # another tenant's client code matches nothing
    r = api(estate.user("admin")).get("/api/v1/snapshots/latest", client="globex-c1")
    assert r.json()["items"] == []
    r = api(estate.user("operator")).get("/api/v1/snapshots/latest", level="site")
    assert {i["site"]["code"] for i in r.json()["items"]} == {"acme-c1-s1", "acme-c1-s2"}
    r = api(estate.user("viewer")).get("/api/v1/snapshots/health")
    assert [i["client"]["code"] for i in r.json()["items"]] == ["acme-c2"]
    r = api(estate.user("admin")).get(
        "/api/v1/snapshots/series", measure="tickets_open_p1", range="1h"
    )
    assert r.status_code == 200 and r.json()["points"][-1]["value"] == 2.0 - 1.0
    r = api(estate.user("admin")).get("/api/v1/snapshots/series", measure="nope")
    assert r.status_code == 422 and "measure" in r.content.decode()
    r = api(estate.user("admin")).get("/api/v1/snapshots/latest", city="a\x00b")
    assert r.status_code == 422
    assert api().get("/api/v1/snapshots/latest").status_code == 401


def test_list_query_count_is_constant(estate, api):
    now = compute.latest_closed_window()
    compute.compute_window(now)
    admin = api(estate.user("admin"))

    def n_queries(path, **params):
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get(path, **params).status_code == 200
        return len(ctx.captured_queries)

    n_queries("/api/v1/snapshots/latest")  # the token's first use is recorded once
    few = [n_queries("/api/v1/snapshots/latest", level=lv) for lv in ("client", "site")]
    _add_clients(estate, 12)
    compute.compute_window(now)
    assert [n_queries("/api/v1/snapshots/latest", level=lv) for lv in ("client", "site")] == few
