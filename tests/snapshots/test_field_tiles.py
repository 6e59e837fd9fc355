"""The overview's field tiles (`/api/v1/overview/field`, snapshots/tiles.py): figures of a small
estate from `compute`, drill-down filters, scope and isolation, the no-snapshot state, trends,
validation and a constant query count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from watchfloor.operations.models import AttendanceRecord, Device, Ticket, WorkOrder
from watchfloor.snapshots import compute, tiles
from watchfloor.snapshots.queries import SnapshotFilters
from watchfloor.tenancy.models import Client, Site

pytestmark = pytest.mark.django_db

END = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
NOW = END + timedelta(minutes=1)
_ids = count(1)


def _common(estate, site, client=None):
    return {
        "tenant": estate.tenant,
        "client": client or site.client,
        "site": site,
        "external_id": f"f{next(_ids)}",
        "received_at": END,
        "created_at": END,
    }


def ticket(estate, site, priority="P1", due=None, client=None):
    return Ticket.objects.create(
        **_common(estate, site, client),
        title="t",
        priority=priority,
        status="OPEN",
        opened_at=END - timedelta(hours=5),
        sla_due_at=due,
    )


def work_order(estate, site, deadline=None):
    return WorkOrder.objects.create(
        **_common(estate, site), title="w", status="PENDING", deadline_at=deadline
    )


def shift(estate, site, status):
    return AttendanceRecord.objects.create(
        **_common(estate, site),
        person_ref=f"p{next(_ids)}",
        shift_start=END - timedelta(hours=1),
        shift_end=END + timedelta(hours=7),
        status=status,
    )


def device(estate, site, status="ONLINE"):
    return Device.objects.create(
        **_common(estate, site),
        name="d",
        device_type="camera",
        status=status,
        last_seen_at=END,
        last_sync_at=END,
    )


LATE = END - timedelta(minutes=1)


def _small_estate(estate):
    """Site 0 (client 1, Austin): 2 open tickets (1 overdue P1), 2 work orders (1 overdue),
    4 expected shifts (2 present, 1 late, 1 missing), 3 devices (1 offline). Site 2 (client 2,
    Austin): 1 overdue P2 ticket, 1 device offline. Site 1 (client 1, Denver): 1 present."""
    s0, s1, s2 = estate.sites[0], estate.sites[1], estate.sites[2]
    s0.officer_in_charge = estate.user("supervisor")
    s0.save(update_fields=["officer_in_charge"])
    ticket(estate, s0, "P1", due=LATE)
    ticket(estate, s0, "P3", due=END + timedelta(hours=2))
    work_order(estate, s0, deadline=LATE)
    work_order(estate, s0)
    for status in ("PRESENT", "PRESENT", "LATE", "MISSING"):
        shift(estate, s0, status)
    device(estate, s0)
    device(estate, s0)
    device(estate, s0, "OFFLINE")
    ticket(estate, s2, "P2", due=LATE)
    device(estate, s2, "OFFLINE")
    shift(estate, s1, "PRESENT")


def test_figures_of_a_small_estate(estate, other_estate):
    _small_estate(estate)
    ticket(other_estate, other_estate.sites[0], "P1", due=LATE)  # another tenant's
    compute.compute_window(END)
    found = tiles.field_tiles(estate.user("admin"), SnapshotFilters(), now=NOW)
    assert found.window_end == END
    fig = found.figures
    assert fig["tickets"] == {
        "open": 3,
        "overdue": 2,
        "open_by_priority": {"P1": 1, "P2": 1, "P3": 1, "P4": 0},
    }
    assert fig["sla"] == {"breaches": 2, "by_priority": {"P1": 1, "P2": 1, "P3": 0, "P4": 0}}
    att = fig["attendance"]
    assert (att["expected"], att["present"], att["late"], att["missing"]) == (5, 3, 1, 1)
    assert att["present_percent"] == 60.0
    assert fig["work_orders"] == {"open": 2, "overdue": 1}
    assert fig["devices"] == {"total": 4, "offline": 2, "online_percent": 50.0}
    # the trend's last point is the newest window; earlier points have no snapshot
    assert found.range == "1h" and len(found.points) == 12 and found.points[-1] == END
    assert found.trends["tickets"][-1] == 3.0 and found.trends["tickets"][0] is None
    assert found.trends["attendance"][-1] == 60.0
    assert found.trends["devices"][-1] == 2.0


def test_drill_down_by_client_city_state_officer_and_site(estate):
    _small_estate(estate)
    compute.compute_window(END)
    admin = estate.user("admin")

    def fig(**kw):
        return tiles.field_tiles(admin, SnapshotFilters(**kw), now=NOW).figures

    assert fig(clients=("acme-c2",))["tickets"]["open"] == 1
    assert fig(clients=("acme-c1",))["devices"]["total"] == 3
    # Austin holds sites 0 and 2; Denver site 1 (one present shift)
    assert fig(city="austin")["sla"]["breaches"] == 2
    assert fig(city="Denver")["attendance"]["present"] == 1
    assert fig(city="Denver")["tickets"]["open"] == 0
    assert fig(state="co")["attendance"]["expected"] == 1
    officer = fig(officer=estate.user("supervisor").id)
    assert (officer["tickets"]["open"], officer["devices"]["offline"]) == (2, 1)
    assert fig(site="acme-c2-s1")["devices"] == {"total": 1, "offline": 1, "online_percent": 0.0}
    # another tenant's code matches nothing: no rows, so no window either
    assert (
        tiles.field_tiles(admin, SnapshotFilters(clients=("globex-c1",)), now=NOW).figures is None
    )


def test_scope_operator_and_site_scoped_viewer(estate):
    _small_estate(estate)
    compute.compute_window(END)
    op = tiles.field_tiles(estate.user("operator"), SnapshotFilters(), now=NOW).figures
    assert (op["tickets"]["open"], op["devices"]["total"]) == (2, 3)  # client 1 only
    viewer = tiles.field_tiles(estate.user("viewer"), SnapshotFilters(), now=NOW).figures
    assert viewer["tickets"]["open"] == 1  # site 2 only
    assert viewer["devices"] == {"total": 1, "offline": 1, "online_percent": 0.0}
    # a client outside the operator's scope matches nothing
    assert (
        tiles.field_tiles(
            estate.user("operator"), SnapshotFilters(clients=("acme-c2",)), now=NOW
        ).figures
        is None
    )


def test_no_snapshot_is_no_figures_not_zeros(estate):
    _small_estate(estate)
    found = tiles.field_tiles(estate.user("admin"), SnapshotFilters(), now=NOW)
    assert found.window_end is None and found.figures is None
    assert all(v is None for values in found.trends.values() for v in values)
    compute.compute_window(END)
    # a snapshot older than a day is no current figure either
    later = tiles.field_tiles(estate.user("admin"), SnapshotFilters(), now=END + timedelta(days=2))
    assert later.figures is None


def test_seven_day_trend_for_a_longer_range(estate):
    _small_estate(estate)
    compute.compute_window(END - timedelta(minutes=5))
    compute.compute_window(END)
    for rng in ("6h", "24h", "7d", "30d"):
        week = tiles.field_tiles(estate.user("admin"), SnapshotFilters(), rng, now=NOW)
        assert week.range == "7d" and len(week.points) == 168 and week.step_seconds == 3600
    # 11:55 and 12:00 both close in the hour starting 11:00
    assert week.points[-2] == END - timedelta(hours=1)
    assert week.trends["tickets"][-2] == 3.0
    assert week.trends["attendance"][-2] == 60.0
    assert week.trends["tickets"][-1] is None


def _clear_of_a_window_boundary(margin: float = 30.0) -> None:
    """Sleep past the next 5-minute boundary when it is near: the test computes one window and
    then asks the API for the latest, which must be the same one (a CI run failed when a boundary
    fell between the two)."""
    import time

    now = datetime.now(UTC)
    next_boundary = compute.latest_closed_window(now) + timedelta(minutes=compute.WINDOW)
    left = (next_boundary - now).total_seconds()
    if left < margin:
        time.sleep(left + 0.5)


def test_api_scope_isolation_validation_and_capability(estate, other_estate, api):
    _clear_of_a_window_boundary()
    now = compute.latest_closed_window()
    ticket(estate, estate.sites[0], "P1")
    ticket(estate, estate.sites[2], "P1")
    ticket(other_estate, other_estate.sites[0], "P1")
    r = api(estate.user("admin")).get("/api/v1/overview/field")
    assert r.status_code == 200, r.content
    assert r.json()["figures"] is None and r.json()["window_end"] is None
    compute.compute_window(now)
    r = api(estate.user("admin")).get("/api/v1/overview/field")
    body = r.json()
    assert body["figures"]["tickets"]["open"] == 2 and body["range"] == "1h"
    assert len(body["points"]) == 12 and body["trends"]["tickets"][-1] == 2.0
    r = api(estate.user("viewer")).get("/api/v1/overview/field")
    assert r.json()["figures"]["tickets"]["open"] == 1
    r = api(estate.user("admin")).get("/api/v1/overview/field", client="globex-c1")
    assert r.json()["figures"] is None
    r = api(other_estate.user("admin")).get("/api/v1/overview/field")
    assert r.json()["figures"]["tickets"]["open"] == 1
    r = api(estate.user("admin")).get("/api/v1/overview/field", range="7d")
    assert r.json()["range"] == "7d" and len(r.json()["points"]) == 168
    for bad in ({"range": "2y"}, {"city": "a\x00b"}, {"officer": "99999999999999999999"}):
        r = api(estate.user("admin")).get("/api/v1/overview/field", **bad)
        assert r.status_code == 422, (bad, r.content)
        assert next(iter(bad)) in r.content.decode()
    assert api().get("/api/v1/overview/field").status_code == 401


def _add_clients(estate, n: int):
    for i in range(n):
        client = Client.objects.create(tenant=estate.tenant, code=f"more-{i}", name=f"More {i}")
        site = Site.objects.create(
            tenant=estate.tenant, client=client, code=f"more-{i}-s", name="s", city="Austin"
        )
        ticket(estate, site, "P1", due=LATE)


def test_query_count_is_constant(estate, api):
    now = compute.latest_closed_window()
    compute.compute_window(now)
    admin = api(estate.user("admin"))

    def n_queries(**params):
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get("/api/v1/overview/field", **params).status_code == 200
        return len(ctx.captured_queries)

    n_queries()  # the token's first use is recorded once
    cases = ({}, {"city": "austin"}, {"range": "7d"}, {"client": "acme-c1,acme-c2"})
    few = [n_queries(**c) for c in cases]
    _add_clients(estate, 12)
    compute.compute_window(now)
    assert [n_queries(**c) for c in cases] == few
    assert max(few) <= 6
