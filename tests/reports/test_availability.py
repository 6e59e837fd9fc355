"""Attendance and device availability from the KPI snapshots (reports/availability.py): the API
(/api/v1/reports/attendance, /devices), the /reports/ page and its CSV export; figures, filters,
scope and isolation, validation, a constant query count."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from watchfloor.snapshots import partitions
from watchfloor.snapshots.models import COUNT_MEASURES, KpiSnapshot
from watchfloor.tenancy.models import Client, Site

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
D1, D2, OLD = NOW - timedelta(days=2), NOW - timedelta(days=1), NOW - timedelta(days=10)
KEYS = ("attendance_expected", "attendance_present", "attendance_late", "attendance_missing",
        "devices_total", "devices_offline")  # fmt: skip


def write(tenant, end, per_site: dict[Site, tuple[int, ...]]):
    """Site rows with the given figures (KEYS order) and each client's row summing them."""
    partitions.ensure_partitions(end)
    zero = dict.fromkeys(COUNT_MEASURES, 0)
    by_client: dict[int, dict] = {}
    rows = []
    for site, figures in per_site.items():
        measures = {**zero, **dict(zip(KEYS, figures, strict=True))}
        rows.append(
            KpiSnapshot(tenant=tenant, window_end=end, client_id=site.client_id, site=site,
                        city=site.city, state=site.state, computed_at=end, **measures)
        )  # fmt: skip
        total = by_client.setdefault(site.client_id, dict(zero))
        for k in KEYS:
            total[k] += measures[k]
    for client_id, measures in by_client.items():
        rows.append(KpiSnapshot(tenant=tenant, window_end=end, client_id=client_id, site=None,
                                computed_at=end, **measures))  # fmt: skip
    KpiSnapshot.objects.bulk_create(rows)


@pytest.fixture
def seeded(estate, other_estate, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    s0, s1, s2 = (
        estate.sites[0],
        estate.sites[1],
        estate.sites[2],
    )  # c1 Austin, c1 Denver, c2 Austin
    write(estate.tenant, D1, {s0: (4, 2, 1, 1, 10, 1), s1: (2, 2, 0, 0, 0, 0),
                              s2: (0, 0, 0, 0, 4, 4)})  # fmt: skip
    write(estate.tenant, D2, {s0: (4, 4, 0, 0, 10, 0), s1: (2, 1, 0, 1, 0, 0),
                              s2: (0, 0, 0, 0, 4, 2)})  # fmt: skip
    write(estate.tenant, OLD, {s0: (100, 0, 0, 100, 100, 100)})  # outside the 7 days
    write(other_estate.tenant, D1, {other_estate.sites[0]: (10, 0, 0, 10, 10, 10)})
    return estate


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def test_attendance_overall_by_client_lowest_sites_and_daily(seeded, api):
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/attendance", range="7d"))
    assert body["overall"] == {
        "snapshots": 2,
        "expected_mean": 6.0,
        "present_mean": 4.5,
        "late_mean": 0.5,
        "missing_mean": 1.0,
        "present_percent": 75.0,
        "late_percent": 8.3,
        "missing_percent": 16.7,
    }
    clients = {r["client"]: r for r in body["by_client"]}
    assert clients["acme-c1"]["present_percent"] == 75.0
    assert clients["acme-c2"]["present_percent"] is None  # nobody expected: no share
    assert [(r["site"], r["present_percent"]) for r in body["lowest_sites"]] == [
        ("acme-c1-s1", 75.0),
        ("acme-c1-s2", 75.0),
    ]
    days = {d["day"]: d for d in body["daily"]}
    assert days["2026-11-18"]["present_percent"] == 66.7
    assert days["2026-11-19"]["present_percent"] == 83.3
    assert days["2026-11-15"]["snapshots"] == 0 and days["2026-11-15"]["present_percent"] is None
    assert len(body["daily"]) == 8  # 13th noon to 20th noon touches 8 UTC days


def test_devices_online_share(seeded, api):
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/devices"))
    assert body["overall"] == {
        "snapshots": 2,
        "total_mean": 14.0,
        "offline_mean": 3.5,
        "online_percent": 75.0,
    }
    assert {r["client"]: r["online_percent"] for r in body["by_client"]} == {
        "acme-c1": 95.0,
        "acme-c2": 25.0,
    }
    assert [(r["site"], r["online_percent"]) for r in body["lowest_sites"]] == [
        ("acme-c2-s1", 25.0),
        ("acme-c1-s1", 95.0),
    ]


def test_filters_scope_and_isolation(seeded, other_estate, api):
    admin = api(seeded.user("admin"))
    austin = ok(admin.get("/api/v1/reports/attendance", city="austin"))
    assert austin["overall"]["present_percent"] == 75.0  # sites 0 and 2: 6 of 8
    denver = ok(admin.get("/api/v1/reports/devices", state="co"))
    assert denver["overall"]["online_percent"] is None  # no device at the Denver site
    one = ok(admin.get("/api/v1/reports/devices", client="acme-c2"))
    assert [r["client"] for r in one["by_client"]] == ["acme-c2"]
    site = ok(admin.get("/api/v1/reports/attendance", site="acme-c1-s2"))
    assert site["overall"]["present_percent"] == 75.0 and site["overall"]["missing_percent"] == 25.0
    # the operator sees client 1; the viewer site 2 (of client 2) as a sum of its site rows
    op = ok(api(seeded.user("operator")).get("/api/v1/reports/devices"))
    assert op["overall"]["online_percent"] == 95.0
    viewer = ok(api(seeded.user("viewer")).get("/api/v1/reports/devices"))
    assert [r["client"] for r in viewer["by_client"]] == ["acme-c2"]
    assert [r["site"] for r in viewer["lowest_sites"]] == ["acme-c2-s1"]
    # another tenant's code matches nothing; its own admin sees only its own rows
    other = ok(admin.get("/api/v1/reports/attendance", client="globex-c1"))
    assert other["by_client"] == [] and other["overall"]["snapshots"] == 0
    theirs = ok(api(other_estate.user("admin")).get("/api/v1/reports/attendance"))
    assert theirs["overall"]["missing_percent"] == 100.0
    assert [r["client"] for r in theirs["by_client"]] == ["globex-c1"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "1y"}, "range"),
        ({"since": "2026-11-19T00:00:00Z", "until": "2026-11-18T00:00:00Z"}, "until"),
        ({"since": "3001-01-01T00:00:00Z"}, "since"),
        ({"city": "a\x00b"}, "city"),
        ({"officer": "99999999999999999999"}, "officer"),
    ],
)
def test_invalid_parameters_are_a_422_naming_the_field(seeded, api, params, field):
    for path in ("/api/v1/reports/attendance", "/api/v1/reports/devices"):
        r = api(seeded.user("admin")).get(path, **params)
        assert r.status_code == 422, (path, params, r.content)
        assert field in r.json()["error"]["fields"], r.json()


def test_noc_view_is_required(seeded, api):
    assert api().get("/api/v1/reports/devices").status_code == 401


def test_query_count_is_constant(seeded, api):
    admin = api(seeded.user("admin"))

    def n_queries(path):
        with CaptureQueriesContext(connection) as ctx:
            ok(admin.get(path, range="7d"))
        return len(ctx.captured_queries)

    paths = ("/api/v1/reports/attendance", "/api/v1/reports/devices")
    n_queries(paths[0])  # the token's first use is recorded once
    few = [n_queries(p) for p in paths]
    for i in range(10):
        client = Client.objects.create(tenant=seeded.tenant, code=f"more-{i}", name=f"More {i}")
        site = Site.objects.create(tenant=seeded.tenant, client=client, code=f"more-{i}-s",
                                   name="s", city="Austin")  # fmt: skip
        write(seeded.tenant, D1, {site: (3, 1, 1, 1, 2, 1)})
    assert [n_queries(p) for p in paths] == few
    assert max(few) <= 6


def test_the_page_shows_availability_and_the_export_holds_it(seeded, client):
    client.force_login(seeded.user("supervisor"))
    page = client.get("/reports/", {"range": "7d"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "not in this report yet" not in html
    assert 'data-report-table="availability-clients"' in html
    assert 'data-report-chart="availability"' in html
    assert 'data-availability="present">75.0 %' in html
    assert 'data-availability="online">75.0 %' in html
    assert '"availability": {"days": ["2026-11-13"' in html  # chart data for js/reports.js
    response = client.get("/reports/export.csv", {"range": "7d"})
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert ["attendance", "overall", "", "", "2", "6.0", "4.5", "0.5", "1.0", "75.0", "8.3",
            "16.7"] in rows  # fmt: skip
    assert ["devices", "client", "acme-c2", "Client 2", "2", "4.0", "3.0", "25.0"] in rows
    assert ["devices", "site", "acme-c2-s1", "Site 1 of Client 2", "2", "4.0", "3.0",
            "25.0"] in rows  # fmt: skip
    assert any(r[:3] == ["attendance", "day", "2026-11-19"] for r in rows)


def test_the_page_says_when_there_is_no_snapshot(estate, client, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    client.force_login(estate.user("supervisor"))
    html = client.get("/reports/", {"range": "24h"}).content.decode()
    assert "data-availability-empty" in html and "No KPI snapshot in this range" in html


def test_rows_of_a_deleted_site_are_left_out_not_a_500(seeded, api):
    Site.objects.filter(code="acme-c2-s1").delete()
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/devices"))
    assert [r["site"] for r in body["lowest_sites"]] == ["acme-c1-s1"]
    assert body["overall"]["online_percent"] == 75.0  # the client's rows still count
