"""The overview's data endpoints: KPI tiles, sites of the map, live feed.

Counts, scope, filters, masking, exact shapes, 4xx naming the field, and a query count that does
not grow with the estate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from support_alerts import key_for, trigger
from support_api import V1, error_code, error_fields, session_client
from watchfloor.access.services import assign_scope
from watchfloor.alerts.broadcast import alert_payload
from watchfloor.alerts.models import OPEN_STATUSES, Alert, Severity, Status
from watchfloor.alerts.overview_queries import start_of_day
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.services import (
    acknowledge_alert,
    assign_alert,
    resolve_alert,
)
from watchfloor.oncall.escalation import escalate_now
from watchfloor.tenancy.models import Client, Site, User

__all__ = ["key_for", "session_client"]

KPIS, SITES, FEED = f"{V1}/overview/kpis", f"{V1}/overview/sites", f"{V1}/overview/feed"
EXTRA_ROW_KEYS = {
    "client_code",
    "client_name",
    "site_code",
    "site_name",
    "city",
    "state",
    "assignee_name",
}
NO_SEVERITY = {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "INFO": 0}


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def alert(site: Site | None = None, type_: str = "DEVICE_OFFLINE", **kw) -> Alert:
    """The alert a trigger event at `site` created."""
    query = Alert.objects.filter(type=type_, entity_id=kw.get("entity_id", ""))
    return query.get(site=site) if site is not None else query.get(site__isnull=True)


@pytest.fixture(autouse=True)
def _answers_not_shared(settings):
    """Most tests change alerts behind the services' back: every request computes its answer.
    The sharing itself is tested at the end, with it on."""
    settings.OVERVIEW_CACHE_SECONDS = 0


@pytest.fixture
def seeded(estate, key_for):
    """acme: per site one HIGH device alert and one LOW geofence alert; site 0 also has a
    CRITICAL one; plus a client-level MEDIUM alert of client 0 (no site)."""
    events = []
    for site in estate.sites:
        events.append(trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH))
        events.append(trigger("GEOFENCE_BREACH", site=site.code, severity=Severity.LOW))
    events.append(trigger("SLA_BREACH", site=estate.sites[0].code, severity=Severity.CRITICAL))
    events.append(trigger("SYNC_DEGRADED", client=estate.clients[0].code, severity="MEDIUM"))
    ingest(events, key=key_for(estate))
    assert Alert.objects.count() == 10
    return estate


# --- KPI tiles ---------------------------------------------------------------------------------


def test_kpis_shape_and_open_counts(seeded, api):
    body = ok(api(seeded.user("supervisor")).get(KPIS))
    assert set(body) == {
        "open",
        "unacknowledged_overdue",
        "suppressed_maintenance",
        "sites_with_critical",
        "mtta_today_seconds",
        "mttr_today_seconds",
        "acknowledged_today",
        "resolved_today",
        "generated_at",
    }
    assert body["open"] == {
        "total": 10,
        "by_severity": {"CRITICAL": 1, "HIGH": 4, "MEDIUM": 1, "LOW": 4, "INFO": 0},
    }
    assert body["sites_with_critical"] == 1
    assert body["unacknowledged_overdue"] == 0 and body["suppressed_maintenance"] == 0
    assert body["acknowledged_today"] == 0 and body["resolved_today"] == 0
    assert body["mtta_today_seconds"] is None and body["mttr_today_seconds"] is None
    generated = datetime.fromisoformat(body["generated_at"])
    assert abs(generated - timezone.now()) < timedelta(minutes=1)


def test_suppressed_and_resolved_are_not_open(seeded, api):
    Alert.objects.filter(type="GEOFENCE_BREACH", site=seeded.sites[1]).update(
        status=Status.SUPPRESSED, suppression_reason="maintenance"
    )
    Alert.objects.filter(type="GEOFENCE_BREACH", site=seeded.sites[2]).update(
        status=Status.SUPPRESSED, suppression_reason="backpressure"
    )
    Alert.objects.filter(type="SLA_BREACH").update(status=Status.RESOLVED)
    body = ok(api(seeded.user("supervisor")).get(KPIS))
    assert body["open"]["total"] == 7
    assert body["open"]["by_severity"]["LOW"] == 2 and body["open"]["by_severity"]["CRITICAL"] == 0
    assert body["suppressed_maintenance"] == 1
    assert body["sites_with_critical"] == 0


def test_sites_with_critical_counts_distinct_sites(seeded, api, key_for):
    ingest(
        [
            trigger("SECURITY_ANOMALY", site=seeded.sites[0].code, severity=Severity.CRITICAL),
            trigger("DEVICE_SPOOF", site=seeded.sites[3].code, severity=Severity.CRITICAL),
        ],
        key=key_for(seeded),
    )
    assert ok(api(seeded.user("supervisor")).get(KPIS))["sites_with_critical"] == 2


def test_unacknowledged_overdue_uses_the_delay_of_each_severity(seeded, api, key_for):
    now = timezone.now()

    def age(query, minutes):
        query.update(first_seen_at=now - timedelta(minutes=minutes))

    age(Alert.objects.filter(severity="CRITICAL"), 16)  # past 15: overdue
    age(Alert.objects.filter(severity="HIGH", site=seeded.sites[0]), 29)  # within 30: not
    age(Alert.objects.filter(severity="HIGH", site=seeded.sites[1]), 31)  # overdue
    age(Alert.objects.filter(severity="MEDIUM"), 61)  # overdue
    age(Alert.objects.filter(severity="LOW", site=seeded.sites[0]), 121)  # overdue
    age(Alert.objects.filter(severity="LOW", site=seeded.sites[2]), 121)
    Alert.objects.filter(severity="LOW", site=seeded.sites[2]).update(
        status=Status.ACKNOWLEDGED  # acknowledged: never overdue
    )
    age(Alert.objects.filter(severity="LOW", site=seeded.sites[3]), 500)
    Alert.objects.filter(severity="LOW", site=seeded.sites[3]).update(
        status=Status.SUPPRESSED, suppression_reason="maintenance"
    )
    ingest([trigger("INFO_NOISE", site=seeded.sites[1].code, severity="INFO")], key=key_for(seeded))
    age(Alert.objects.filter(severity="INFO"), 10_000)  # INFO never escalates
    body = ok(api(seeded.user("supervisor")).get(KPIS))
    assert body["unacknowledged_overdue"] == 4


def test_escalation_delays_come_from_settings(seeded, api, settings):
    settings.ALERT_ESCALATION_DELAYS = {"HIGH": 5}
    Alert.objects.update(first_seen_at=timezone.now() - timedelta(minutes=6))
    assert ok(api(seeded.user("supervisor")).get(KPIS))["unacknowledged_overdue"] == 4


def test_mtta_and_mttr_today(seeded, api):
    now = timezone.now()
    midnight = start_of_day(now)
    devices = list(Alert.objects.filter(type="DEVICE_OFFLINE").order_by("id"))
    # acknowledged today after 60 s and 180 s; one acknowledged yesterday does not count
    for a, ack_at, seconds in (
        (devices[0], max(midnight, now - timedelta(minutes=5)), 60),
        (devices[1], now, 180),
        (devices[2], midnight - timedelta(seconds=1), 999),
    ):
        Alert.objects.filter(pk=a.pk).update(
            status=Status.ACKNOWLEDGED,
            acknowledged_at=ack_at,
            time_to_acknowledge=timedelta(seconds=seconds),
        )
    # resolved today after 600 s (and acknowledged today after 120 s)
    Alert.objects.filter(pk=devices[3].pk).update(
        status=Status.RESOLVED,
        acknowledged_at=now,
        time_to_acknowledge=timedelta(seconds=120),
        resolved_at=now,
        time_to_resolve=timedelta(seconds=600),
    )
    body = ok(api(seeded.user("supervisor")).get(KPIS))
    assert body["acknowledged_today"] == 3
    assert body["mtta_today_seconds"] == pytest.approx(120.0)
    assert body["resolved_today"] == 1
    assert body["mttr_today_seconds"] == pytest.approx(600.0)
    assert body["open"]["total"] == 9


def test_start_of_day_is_midnight_utc():
    moment = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    assert start_of_day(moment) == datetime(2026, 3, 4, tzinfo=UTC)


def test_kpis_are_scoped_per_user(seeded, api, other_estate, key_for):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    assert ok(api(seeded.user("supervisor")).get(KPIS))["open"]["total"] == 10
    # operator: client 0 (its two sites and its client-level alert)
    assert ok(api(seeded.user("operator")).get(KPIS))["open"]["total"] == 6
    # viewer: one site of client 1
    viewer = ok(api(seeded.user("viewer")).get(KPIS))
    assert viewer["open"]["total"] == 2 and viewer["sites_with_critical"] == 0
    assert ok(api(other_estate.user("admin")).get(KPIS))["open"]["total"] == 1


# --- filters --------------------------------------------------------------------------------------


def open_total(api_client, **params) -> int:
    return ok(api_client.get(KPIS, **params))["open"]["total"]


def test_filters_by_client_city_state_officer_site(seeded, api):
    sup = api(seeded.user("supervisor"))
    c0, c1 = (c.code for c in seeded.clients)
    assert open_total(sup, client=c0) == 6  # two sites and the client-level alert
    assert open_total(sup, client=[c0, c1]) == 10  # repeatable
    assert open_total(sup, client=f"{c0},{c1}") == 10  # or comma-separated
    assert open_total(sup, city="austin") == 5  # sites 0 and 2 (case-insensitive)
    assert open_total(sup, state="co") == 4
    assert open_total(sup, city="Austin", client=c1) == 2
    assert open_total(sup, site=seeded.sites[0].code) == 3
    site = seeded.sites[3]
    site.officer_in_charge = seeded.user("operator")
    site.save(update_fields=["officer_in_charge"])
    assert open_total(sup, officer=seeded.user("operator").id) == 2
    assert open_total(sup, officer="") == 10  # an empty parameter is no filter
    assert open_total(sup, city="Nowhere") == 0


def test_unknown_and_out_of_scope_client_codes_answer_alike(seeded, api, other_estate):
    operator = api(seeded.user("operator"))
    theirs = seeded.clients[1].code  # exists, outside the operator's scope
    for endpoint in (KPIS, SITES, FEED):
        unknown = ok(operator.get(endpoint, **{"client": "no-such-client"}))
        outside = ok(operator.get(endpoint, **{"client": theirs}))
        other_tenant = ok(operator.get(endpoint, **{"client": other_estate.clients[0].code}))
        unknown.pop("generated_at", None)
        outside.pop("generated_at", None)
        other_tenant.pop("generated_at", None)
        assert unknown == outside == other_tenant
    nothing = ok(operator.get(SITES, **{"client": theirs}))
    assert (nothing["sites"], nothing["clients"]) == ([], [])
    mine = seeded.clients[0].code
    assert open_total(operator, client=[mine, theirs]) == open_total(operator, client=mine) == 6


def test_range_bounds_alerts_by_last_seen(seeded, api):
    now = timezone.now()
    Alert.objects.filter(type="GEOFENCE_BREACH").update(last_seen_at=now - timedelta(hours=3))
    Alert.objects.filter(type="SLA_BREACH").update(last_seen_at=now - timedelta(days=2))
    sup = api(seeded.user("supervisor"))
    assert open_total(sup, range="1h") == 5
    assert open_total(sup, range="6h") == 9
    assert open_total(sup, range="24h") == 9
    assert open_total(sup, range="7d") == 10
    assert open_total(sup, range="") == 10
    feed_ids = {a["id"] for a in ok(sup.get(FEED, **{"range": "1h"}))["alerts"]}
    assert feed_ids == set(
        Alert.objects.exclude(type__in=["GEOFENCE_BREACH", "SLA_BREACH"]).values_list(
            "id", flat=True
        )
    )
    sites = ok(sup.get(SITES, **{"range": "1h"}))["sites"]
    assert sum(s["open"] for s in sites) == 4 and len(sites) == 4


@pytest.mark.parametrize("endpoint", [KPIS, SITES, FEED])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "2h"}, "range"),
        ({"range": "forever"}, "range"),
        ({"officer": "bob"}, "officer"),
        ({"city": "x" * 101}, "city"),
    ],
)
def test_bad_filters_are_422_naming_the_field(seeded, api, endpoint, params, field):
    response = api(seeded.user("supervisor")).get(endpoint, **params)
    assert response.status_code == 422, response.content
    assert error_code(response) == "validation_error"
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"status": "OPENISH"}, "status"),
        ({"sort": "title"}, "sort"),
        ({"sort": "-severity"}, "sort"),
    ],
)
def test_bad_feed_parameters_are_422(seeded, api, params, field):
    response = api(seeded.user("supervisor")).get(FEED, **params)
    assert response.status_code == 422 and field in error_fields(response)


@pytest.mark.parametrize("endpoint", [KPIS, SITES, FEED])
def test_needs_authentication_and_noc_view(seeded, api, endpoint):
    assert api().get(endpoint).status_code == 401
    nobody = User.objects.create_user(username="nocaps", password="x", tenant=seeded.tenant)
    response = api(nobody).get(endpoint)
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_the_browser_session_works(seeded, session_client):
    browser = session_client(seeded.user("supervisor"))
    for endpoint in (KPIS, SITES, FEED):
        assert browser.get(endpoint).status_code == 200


# --- sites of the map ----------------------------------------------------------------------------


def test_sites_lists_every_site_in_scope_with_its_worst_open_alert(seeded, api):
    seeded.sites[0].officer_in_charge = seeded.user("operator")  # "Operator Person"
    seeded.sites[0].save(update_fields=["officer_in_charge"])
    body = ok(api(seeded.user("supervisor")).get(SITES))
    assert set(body) == {"sites", "clients", "generated_at"}
    sites = body["sites"]
    assert [s["code"] for s in sites] == [s.code for s in seeded.sites]  # client, then site code
    first = sites[0]
    assert set(first) >= {
        "id",
        "code",
        "name",
        "client_code",
        "client_name",
        "city",
        "state",
        "lat",
        "lon",
        "officer",
        "worst",
        "open",
        "critical",
    }
    site0 = seeded.sites[0]
    assert first["id"] == site0.id and first["client_code"] == seeded.clients[0].code
    assert first["client_name"] == "Client 1" and first["city"] == "Austin"
    assert (first["lat"], first["lon"]) == (site0.latitude, site0.longitude)
    assert first["officer"] == "Operator Person"  # the supervisor sees PII
    assert (first["worst"], first["open"], first["critical"]) == ("CRITICAL", 3, 1)
    assert [(s["worst"], s["open"], s["critical"]) for s in sites[1:]] == [("HIGH", 2, 0)] * 3
    assert sites[1]["officer"] is None
    # a healthy site is still on the map
    Alert.objects.filter(site=seeded.sites[3]).update(status=Status.RESOLVED)
    healthy = ok(api(seeded.user("supervisor")).get(SITES))["sites"][3]
    assert (healthy["worst"], healthy["open"], healthy["critical"]) == (None, 0, 0)


def test_sites_clients_totals_include_client_level_alerts(seeded, api):
    clients = ok(api(seeded.user("supervisor")).get(SITES))["clients"]
    assert [c["code"] for c in clients] == [c.code for c in seeded.clients]
    c0, c1 = clients
    assert c0 == {
        "code": seeded.clients[0].code,
        "name": "Client 1",
        "sites": 2,
        "open": 6,
        "worst": "CRITICAL",
        "by_severity": {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1, "LOW": 2, "INFO": 0},
    }
    assert (c1["sites"], c1["open"], c1["worst"]) == (2, 4, "HIGH")
    # a site-level filter leaves out client-level alerts and clients without matching sites
    denver = ok(api(seeded.user("supervisor")).get(SITES, **{"city": "denver"}))
    assert [s["city"] for s in denver["sites"]] == ["Denver", "Denver"]
    assert [(c["sites"], c["open"]) for c in denver["clients"]] == [(1, 2), (1, 2)]
    one = ok(api(seeded.user("supervisor")).get(SITES, **{"site": seeded.sites[2].code}))
    assert [c["code"] for c in one["clients"]] == [seeded.clients[1].code]
    assert [s["code"] for s in one["sites"]] == [seeded.sites[2].code]


def test_sites_mask_the_officer_without_view_pii(seeded, api):
    site = seeded.sites[0]
    site.officer_in_charge = seeded.user("supervisor")  # "Supervisor Person"
    site.save(update_fields=["officer_in_charge"])
    operator = ok(api(seeded.user("operator")).get(SITES))
    assert operator["sites"][0]["officer"] == "Su***r Pe***n"
    nameless = User.objects.create_user(
        username="oscar@example.com", password="x", tenant=seeded.tenant
    )
    site.officer_in_charge = nameless
    site.save(update_fields=["officer_in_charge"])
    assert ok(api(seeded.user("operator")).get(SITES))["sites"][0]["officer"] == "o***@example.com"
    assert ok(api(seeded.user("admin")).get(SITES))["sites"][0]["officer"] == "oscar@example.com"


def test_sites_are_scoped(seeded, api, other_estate):
    operator = ok(api(seeded.user("operator")).get(SITES))
    assert [s["code"] for s in operator["sites"]] == [s.code for s in seeded.sites[:2]]
    assert [c["code"] for c in operator["clients"]] == [seeded.clients[0].code]
    viewer = ok(api(seeded.user("viewer")).get(SITES))
    assert [s["code"] for s in viewer["sites"]] == [seeded.sites[2].code]
    assert [(c["code"], c["sites"]) for c in viewer["clients"]] == [(seeded.clients[1].code, 1)]
    theirs = ok(api(other_estate.user("admin")).get(SITES))
    assert {s["code"] for s in theirs["sites"]} == {s.code for s in other_estate.sites}


# --- the live feed -----------------------------------------------------------------------------


def test_feed_rows_are_the_broadcast_payload_plus_names(seeded, api):
    operator_user = seeded.user("operator")
    target = alert(seeded.sites[0], "SLA_BREACH")
    acknowledge_alert(target, actor=seeded.user("supervisor"))
    assign_alert(
        Alert.objects.get(pk=target.pk), actor=seeded.user("supervisor"), assignee=operator_user
    )
    rows = ok(api(seeded.user("supervisor")).get(FEED))["alerts"]
    row = next(r for r in rows if r["id"] == target.id)
    expected = alert_payload(Alert.objects.get(pk=target.pk))
    assert set(row) == set(expected) | EXTRA_ROW_KEYS
    assert {k: row[k] for k in expected} == expected
    site = seeded.sites[0]
    assert {k: row[k] for k in EXTRA_ROW_KEYS} == {
        "client_code": site.client.code,
        "client_name": site.client.name,
        "site_code": site.code,
        "site_name": site.name,
        "city": "Austin",
        "state": "TX",
        "assignee_name": "Operator Person",
    }
    client_level = next(r for r in rows if r["type"] == "SYNC_DEGRADED")
    assert client_level["client_code"] == seeded.clients[0].code
    assert client_level["site_code"] is None and client_level["city"] is None
    assert client_level["assignee_name"] is None


def test_feed_by_latest_activity_is_last_seen_then_id(seeded, api):
    now = timezone.now()
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    # every alert last seen at one of two moments: ties are broken by id, newest first
    for i, pk in enumerate(ids):
        Alert.objects.filter(pk=pk).update(last_seen_at=now - timedelta(minutes=i % 2))
    sup = api(seeded.user("supervisor"))
    rows = ok(sup.get(FEED, sort="-last_seen"))["alerts"]
    expected = [pk for pk in reversed(ids) if ids.index(pk) % 2 == 0] + [
        pk for pk in reversed(ids) if ids.index(pk) % 2 == 1
    ]
    assert [r["id"] for r in rows] == expected
    first_three = ok(sup.get(FEED, **{"limit": 3, "sort": "-last_seen"}))["alerts"]
    assert [r["id"] for r in first_three] == expected[:3]


def test_feed_by_first_seen_is_newest_first(seeded, api):
    now = timezone.now()
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    for i, pk in enumerate(ids):
        Alert.objects.filter(pk=pk).update(first_seen_at=now - timedelta(minutes=i))
    rows = ok(api(seeded.user("supervisor")).get(FEED, sort="-first_seen"))["alerts"]
    assert [r["id"] for r in rows] == ids


def test_feed_default_order_is_most_severe_then_longest_open(seeded, api):
    now = timezone.now()
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    for i, pk in enumerate(ids):  # the newest id was first seen earliest
        Alert.objects.filter(pk=pk).update(first_seen_at=now - timedelta(minutes=len(ids) - i))
    rank = {s.value: s.rank for s in Severity}
    expected = sorted(
        Alert.objects.values_list("id", "severity", "first_seen_at"),
        key=lambda a: (rank[a[1]], a[2], a[0]),
    )
    rows = ok(api(seeded.user("supervisor")).get(FEED))["alerts"]
    assert [r["id"] for r in rows] == [pk for pk, _, _ in expected]
    assert [r["severity"] for r in rows[:4]] == ["CRITICAL", "HIGH", "HIGH", "HIGH"]


def test_old_critical_alerts_are_never_cut_off_by_newer_lesser_ones(seeded, api, key_for):
    """#10 bug 6: the feed showed the newest 200 open alerts; eight unacknowledged CRITICAL
    alerts three hours old were on no part of the overview. By default the most severe come
    first, and the answer says how many match in all."""
    Alert.objects.filter(severity=Severity.CRITICAL).update(status=Status.RESOLVED)
    site = seeded.sites[0].code
    ingest(
        [
            trigger("CAMERA_DOWN", site=site, severity="CRITICAL", entity_id=f"c{i}")
            for i in range(8)
        ],
        key=key_for(seeded),
    )
    old = timezone.now() - timedelta(hours=3)
    Alert.objects.filter(type="CAMERA_DOWN").update(first_seen_at=old, last_seen_at=old)
    critical = set(Alert.objects.filter(type="CAMERA_DOWN").values_list("id", flat=True))
    ingest(
        [trigger("DOOR_AJAR", site=site, severity="LOW", entity_id=f"d{i}") for i in range(30)],
        key=key_for(seeded),
    )
    open_count = Alert.objects.filter(status=Status.NEW).count()
    assert open_count == 9 + 8 + 30
    answer = ok(api(seeded.user("supervisor")).get(FEED, limit=20))
    assert critical <= {r["id"] for r in answer["alerts"]}
    assert [r["severity"] for r in answer["alerts"][:8]] == ["CRITICAL"] * 8
    assert len(answer["alerts"]) == 20 and answer["total"] == open_count
    # the newest-first order the operator may still choose is the one that hid them
    newest = ok(api(seeded.user("supervisor")).get(FEED, limit=20, sort="-last_seen"))
    assert not critical & {r["id"] for r in newest["alerts"]}
    assert newest["total"] == open_count


def test_feed_total_follows_filters_and_statuses(seeded, api):
    sup = api(seeded.user("supervisor"))
    assert ok(sup.get(FEED))["total"] == 10
    assert ok(sup.get(FEED, limit=2))["total"] == 10
    client = seeded.clients[0]
    in_client = Alert.objects.filter(client=client).count()
    assert ok(sup.get(FEED, client=client.code, limit=1))["total"] == in_client
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.SUPPRESSED)
    assert ok(sup.get(FEED, limit=1))["total"] == 6
    assert ok(sup.get(FEED, status="SUPPRESSED", limit=1))["total"] == 4


def test_feed_statuses(seeded, api):
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.SUPPRESSED)
    Alert.objects.filter(type="SLA_BREACH").update(status=Status.RESOLVED)
    sup = api(seeded.user("supervisor"))
    default = ok(sup.get(FEED))["alerts"]
    assert {r["status"] for r in default} == {"NEW"} and len(default) == 5
    suppressed = ok(sup.get(FEED, **{"status": "suppressed"}))["alerts"]
    assert {r["type"] for r in suppressed} == {"GEOFENCE_BREACH"} and len(suppressed) == 4
    both = ok(sup.get(FEED, **{"status": ["RESOLVED", "NEW"]}))["alerts"]
    assert len(both) == 6 and {r["status"] for r in both} == {"NEW", "RESOLVED"}


def test_feed_masks_titles_and_assignee_without_view_pii(seeded, api, key_for):
    ingest(
        [
            trigger(
                "GUARD_CALL",
                site=seeded.sites[0].code,
                title="Call guard at +1-555-123-4567 or jane.doe@example.com",
            )
        ],
        key=key_for(seeded),
    )
    target = Alert.objects.get(type="GUARD_CALL")
    assign_alert(target, actor=seeded.user("supervisor"), assignee=seeded.user("operator"))
    masked = next(
        r for r in ok(api(seeded.user("operator")).get(FEED))["alerts"] if r["id"] == target.id
    )
    assert "555-123" not in masked["title"] and "jane.doe" not in masked["title"]
    assert "j***@example.com" in masked["title"]
    assert masked["assignee_name"] == "Op***r Pe***n"
    clear = next(
        r for r in ok(api(seeded.user("supervisor")).get(FEED))["alerts"] if r["id"] == target.id
    )
    assert clear["title"] == target.title and clear["assignee_name"] == "Operator Person"


def test_feed_is_scoped(seeded, api, other_estate, key_for):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    sup = {r["id"] for r in ok(api(seeded.user("supervisor")).get(FEED))["alerts"]}
    assert sup == set(Alert.objects.filter(tenant=seeded.tenant).values_list("id", flat=True))
    operator = {r["id"] for r in ok(api(seeded.user("operator")).get(FEED))["alerts"]}
    assert operator == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )
    viewer = {r["id"] for r in ok(api(seeded.user("viewer")).get(FEED))["alerts"]}
    assert viewer == set(Alert.objects.filter(site=seeded.sites[2]).values_list("id", flat=True))


# --- a fixed number of queries --------------------------------------------------------------------


def grow(estate, key_for, *, clients: int, sites_per_client: int, alerts_per_site: int):
    """More clients, sites (with officers) and alerts (some acknowledged, assigned, resolved
    and suppressed today), so that any per-row query would show in the count."""
    officer = estate.user("operator")
    for c in range(clients):
        client = Client.objects.create(tenant=estate.tenant, code=f"grow-{c}", name=f"Grow {c}")
        Site.objects.bulk_create(
            Site(
                tenant=estate.tenant,
                client=client,
                code=f"grow-{c}-{s}",
                name=f"Grown site {s}",
                city="Austin" if s % 2 else "Denver",
                state="TX" if s % 2 else "CO",
                latitude=30.0,
                longitude=-97.0,
                officer_in_charge=officer,
            )
            for s in range(sites_per_client)
        )
    sites = list(Site.objects.filter(tenant=estate.tenant))
    severities = list(Severity)
    ingest(
        [
            trigger(
                "DEVICE_OFFLINE",
                site=site.code,
                entity_id=f"dev-{i}",
                severity=severities[i % len(severities)],
            )
            for site in sites
            for i in range(alerts_per_site)
        ],
        key=key_for(estate),
    )
    now = timezone.now()
    ids = list(Alert.objects.filter(tenant=estate.tenant).values_list("id", flat=True))
    Alert.objects.filter(pk__in=ids[::2]).update(
        status=Status.ASSIGNED,
        assignee=officer,
        acknowledged_at=now,
        time_to_acknowledge=timedelta(seconds=30),
    )
    Alert.objects.filter(pk__in=ids[1::5]).update(
        status=Status.RESOLVED, resolved_at=now, time_to_resolve=timedelta(seconds=300)
    )
    Alert.objects.filter(pk__in=ids[3::7]).update(
        status=Status.SUPPRESSED, suppression_reason="maintenance"
    )


@pytest.mark.parametrize("role", ["supervisor", "operator", "viewer"])
def test_queries_do_not_grow_with_the_estate(
    seeded, api, key_for, role, django_assert_max_num_queries
):
    """All clients, assigned clients and assigned sites: the same count, small or grown."""
    user = seeded.user(role)
    caller = api(user)
    requests = [(KPIS, {}), (SITES, {}), (FEED, {"limit": 500}), (SITES, {"city": "austin"})]
    counts = {}
    for path, params in requests:
        ok(caller.get(path, **params))  # warm the token path
        with django_assert_max_num_queries(8) as small:
            ok(caller.get(path, **params))
        counts[path, str(params)] = len(small.captured_queries)
    grow(seeded, key_for, clients=4, sites_per_client=6, alerts_per_site=5)
    if role == "operator":
        assign_scope(user, clients=list(Client.objects.filter(tenant=seeded.tenant)))
    elif role == "viewer":
        assign_scope(user, sites=list(Site.objects.filter(tenant=seeded.tenant)))
    for path, params in requests:
        with django_assert_max_num_queries(counts[path, str(params)]):
            body = ok(caller.get(path, **params))
        if path == SITES and not params:
            assert len(body["sites"]) == 28
            assert sum(s["officer"] is not None for s in body["sites"]) == 24
            assert sum(s["open"] for s in body["sites"]) > 50
        if path == FEED:
            assert len(body["alerts"]) > 50
            assert any(r["assignee_name"] for r in body["alerts"])


@pytest.mark.parametrize("role", ["supervisor", "operator", "viewer", "executive"])
def test_the_tenant_summary_answers_as_the_sql_does(seeded, key_for, role):
    """Tiles and map from the tenant's summary (every filter but a time range) give the same
    figures as the grouped SQL over the user's scope, for each kind of scope and filter."""
    from watchfloor.alerts.overview_queries import OverviewFilters, kpis, site_health

    grow(seeded, key_for, clients=3, sites_per_client=4, alerts_per_site=4)
    user = User.objects.get(pk=seeded.user(role).pk)
    site = Site.objects.filter(tenant=seeded.tenant).order_by("code").first()
    cases = [
        OverviewFilters(),
        OverviewFilters(clients=(seeded.clients[0].code,)),
        OverviewFilters(clients=("grow-1", "grow-2")),
        OverviewFilters(clients=("nobody",)),
        OverviewFilters(city="austin"),
        OverviewFilters(state="CO", clients=("grow-0",)),
        OverviewFilters(officer=seeded.user("operator").pk),
        OverviewFilters(site=site.code),
        # time ranges: the summary's buckets of last_seen_at
        OverviewFilters(range="1h"),
        OverviewFilters(range="6h", city="austin"),
        OverviewFilters(range="24h", clients=("grow-1",)),
        OverviewFilters(range="7d"),
        OverviewFilters(range="30d", site=site.code),
    ]
    now = timezone.now()
    # last seen at every distance from now (and acknowledged/resolved today, some of them)
    ids = list(
        Alert.objects.filter(tenant=seeded.tenant).order_by("id").values_list("id", flat=True)
    )
    ages = [timedelta(minutes=5), timedelta(hours=2), timedelta(hours=12), timedelta(days=3)]
    ages += [timedelta(days=20), timedelta(days=90)]
    for n, age in enumerate(ages):
        Alert.objects.filter(pk__in=ids[n :: len(ages)]).update(last_seen_at=now - age)
    if role == "supervisor":  # every client: the ranges do leave alerts out
        within_hour = kpis(user, OverviewFilters(range="1h"), now=now)["open"]["total"]
        assert 0 < within_hour < kpis(user, OverviewFilters(), now=now)["open"]["total"]
    for f in cases:
        assert kpis(user, f, now=now) == kpis(user, f, now=now, summary=False), f
        assert site_health(user, f, now=now) == site_health(user, f, now=now, summary=False), f


# --- answers shared between callers --------------------------------------------------------------


@pytest.fixture
def shared(settings):
    settings.OVERVIEW_CACHE_SECONDS = 60


def test_tiles_and_map_are_shared_until_something_is_created_acknowledged_or_resolved(
    seeded, api, shared, key_for
):
    sup = api(seeded.user("supervisor"))
    first = ok(sup.get(KPIS))
    # a change behind the services' back is not seen while the answer is shared…
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.RESOLVED)
    again = ok(sup.get(KPIS))
    assert again == first
    # …by another user of the same scope too (the admin also sees every client)
    assert ok(api(seeded.user("admin")).get(KPIS)) == first
    # a new alert renews it at once
    ingest([trigger("DEVICE_SPOOF", site=seeded.sites[1].code)], key=key_for(seeded))
    renewed = ok(sup.get(KPIS))
    assert renewed["open"]["total"] == 7 and renewed["generated_at"] != first["generated_at"]
    # so do an acknowledgement and a resolution through the services
    sites_before = ok(sup.get(SITES))
    target = Alert.objects.get(type="DEVICE_SPOOF")
    acknowledge_alert(target, actor=seeded.user("supervisor"))
    assert ok(sup.get(KPIS))["acknowledged_today"] == 1
    resolve_alert(Alert.objects.get(pk=target.pk), actor=seeded.user("supervisor"), note="ok")
    assert ok(sup.get(KPIS))["resolved_today"] == 1
    sites_after = ok(sup.get(SITES))
    assert sites_after["generated_at"] != sites_before["generated_at"]
    assert sum(s["open"] for s in sites_after["sites"]) == 5  # the client-wide one has no site


def test_shared_answers_expire(seeded, api, shared, monkeypatch, settings):
    from watchfloor.alerts import overview_queries

    sup = api(seeded.user("supervisor"))
    first = ok(sup.get(KPIS))
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.RESOLVED)
    later = overview_queries.time.time() + settings.OVERVIEW_CACHE_SECONDS + 1
    monkeypatch.setattr(overview_queries.time, "time", lambda: later)
    # the tiles come from the tenant summary: the request that finds it grown old is answered
    # from it and renews it once answered; the next one gets the answer computed from the old
    # summary (no step since) and renews that once answered; the one after shows the change
    assert ok(sup.get(KPIS))["open"]["total"] == first["open"]["total"]
    assert ok(sup.get(KPIS))["open"]["total"] == first["open"]["total"]
    assert ok(sup.get(KPIS))["open"]["total"] == first["open"]["total"] - 4


def test_shared_answers_keep_scope_and_masking_apart(seeded, api, shared):
    seeded.sites[0].officer_in_charge = seeded.user("operator")
    seeded.sites[0].save(update_fields=["officer_in_charge"])
    assert ok(api(seeded.user("supervisor")).get(KPIS))["open"]["total"] == 10
    assert ok(api(seeded.user("operator")).get(KPIS))["open"]["total"] == 6
    assert ok(api(seeded.user("viewer")).get(KPIS))["open"]["total"] == 2
    # all clients, with and without noc:view_pii
    assert ok(api(seeded.user("supervisor")).get(SITES))["sites"][0]["officer"] == (
        "Operator Person"
    )
    assert ok(api(seeded.user("executive")).get(SITES))["sites"][0]["officer"] == "Op***r Pe***n"
    # other filters, other answers
    assert ok(api(seeded.user("supervisor")).get(KPIS, city="Denver"))["open"]["total"] == 4


def test_a_shared_answer_costs_one_query_besides_authentication(
    seeded, api, shared, django_assert_max_num_queries
):
    sup = api(seeded.user("supervisor"))
    for path in (KPIS, SITES, FEED):
        ok(sup.get(path))
        # the token, its user and capabilities are cached per process (access.scope): the
        # watermark is the one query left
        with django_assert_max_num_queries(1) as hit:
            ok(sup.get(path))
        on_alerts = [q["sql"] for q in hit if "alerts_alert" in q["sql"]]
        assert len(on_alerts) == 1 and "MAX(" in on_alerts[0]  # the watermark, nothing else


def test_the_tenant_summary_is_renewed_once_and_kept_while_another_request_renews_it(
    seeded, shared, monkeypatch
):
    from watchfloor.alerts import overview_queries as q

    tenant, now = seeded.tenant.pk, timezone.now()
    loads = []
    real = q._load_summary
    monkeypatch.setattr(q, "_load_summary", lambda *a: loads.append(1) or real(*a))
    first = q.tenant_summary(tenant, now)
    assert q.tenant_summary(tenant, now) is first and len(loads) == 1  # held
    # grown old while another request of this process renews it: the held one answers
    later = q.time.time() + q.settings.OVERVIEW_CACHE_SECONDS + 1
    monkeypatch.setattr(q.time, "time", lambda: later)
    lock = q._renewing[tenant]
    assert lock.acquire(blocking=False)
    try:
        assert q.tenant_summary(tenant, now) is first and len(loads) == 1
    finally:
        lock.release()
    renewed = q.tenant_summary(tenant, now)  # nobody renewing: this request does
    assert renewed is not first and len(loads) == 2
    # a step (the watermark moves) is never answered from the old summary
    alert = Alert.objects.filter(tenant=seeded.tenant, status=Status.NEW).first()
    acknowledge_alert(alert, actor=seeded.user("supervisor"))
    assert q.tenant_summary(tenant, now) is not renewed and len(loads) == 3


def test_the_tenant_summary_outlives_short_answers(seeded, settings, monkeypatch):
    from watchfloor.alerts import overview_queries as q

    settings.OVERVIEW_CACHE_SECONDS, settings.OVERVIEW_SUMMARY_SECONDS = 1, 5
    tenant, now = seeded.tenant.pk, timezone.now()
    first = q.tenant_summary(tenant, now)
    start = q.time.time()
    monkeypatch.setattr(q.time, "time", lambda: start + 3)
    assert q.tenant_summary(tenant, now) is first  # older than an answer, younger than 5 s
    monkeypatch.setattr(q.time, "time", lambda: start + 6)
    assert q.tenant_summary(tenant, now) is not first


def test_a_caller_waits_for_the_answer_another_is_computing(seeded, shared, monkeypatch):
    from django.core.cache import cache

    from watchfloor.alerts import overview_queries

    user, f = seeded.user("supervisor"), overview_queries.OverviewFilters()
    key = overview_queries._answer_key("kpis", user, f)
    assert cache.add(f"{key}:computing", 1)  # another request is computing

    def other_request_finishes(seconds):
        cache.set(key, b"theirs")
        cache.set(
            f"{key}:stamp",
            (overview_queries.watermark(user.tenant_id), overview_queries.time.time()),
        )

    monkeypatch.setattr(overview_queries.time, "sleep", other_request_finishes)

    def must_not_run():
        raise AssertionError("computed twice")

    assert overview_queries.shared_answer("kpis", user, f, must_not_run) == b"theirs"
    # nobody finishing within the wait: the caller computes its own
    cache.delete_many([key, f"{key}:stamp"])
    monkeypatch.setattr(overview_queries.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(overview_queries, "SHARED_WAIT_SECONDS", 0)
    assert overview_queries.shared_answer("kpis", user, f, lambda: b"mine") == b"mine"


def test_an_answer_that_only_expired_is_served_while_another_caller_renews_it(
    seeded, shared, monkeypatch, settings
):
    from django.core.cache import cache

    from watchfloor.alerts import overview_queries

    user, f = seeded.user("supervisor"), overview_queries.OverviewFilters()
    key = overview_queries._answer_key("kpis", user, f)
    mark = overview_queries.watermark(user.tenant_id)
    expired = overview_queries.time.time() - settings.OVERVIEW_CACHE_SECONDS - 1
    cache.set(key, b"previous")
    cache.set(f"{key}:stamp", (mark, expired))
    assert cache.add(f"{key}:computing", 1)  # another request is renewing it

    def must_not_wait(seconds):
        raise AssertionError("waited")

    monkeypatch.setattr(overview_queries.time, "sleep", must_not_wait)
    assert overview_queries.shared_answer("kpis", user, f, lambda: b"new") == b"previous"
    # but after a step (the watermark moved) nobody gets the old answer: it waits
    cache.set(f"{key}:stamp", ((0, *mark[1:]), expired))
    with pytest.raises(AssertionError, match="waited"):
        overview_queries.shared_answer("kpis", user, f, lambda: b"new")


def test_the_feed_is_shared_and_renewed_by_every_step_of_an_alert(seeded, api, shared, key_for):
    """The feed is the page's resync after a reconnect: whatever a lost WebSocket event could
    have said (created, acknowledged, assigned, escalated, resolved) renews it at once."""
    sup = api(seeded.user("supervisor"))

    def feed():
        return {r["id"]: r for r in ok(sup.get(FEED))["alerts"]}

    first = feed()
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.RESOLVED)
    assert feed() == first  # behind the services' back: shared until it expires
    ingest([trigger("DEVICE_SPOOF", site=seeded.sites[1].code)], key=key_for(seeded))
    new = Alert.objects.get(type="DEVICE_SPOOF")
    rows = feed()
    assert new.id in rows and len(rows) == len(first) - 4 + 1
    steps = [
        (lambda a: acknowledge_alert(a, actor=seeded.user("supervisor")), "ACKNOWLEDGED"),
        (
            lambda a: assign_alert(
                a, actor=seeded.user("supervisor"), assignee=seeded.user("operator")
            ),
            "ASSIGNED",
        ),
        (lambda a: escalate_now(a, actor=seeded.user("supervisor")), "ESCALATED"),
    ]
    for step, status in steps:
        step(Alert.objects.get(pk=new.pk))
        assert feed()[new.id]["status"] == status
    resolve_alert(Alert.objects.get(pk=new.pk), actor=seeded.user("supervisor"), note="done")
    assert new.id not in feed()


def test_feed_answers_differ_by_status_and_limit(seeded, api, shared):
    sup = api(seeded.user("supervisor"))
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.SUPPRESSED)
    Alert.objects.filter(type="SLA_BREACH").update(status=Status.RESOLVED)
    assert len(ok(sup.get(FEED))["alerts"]) == 5
    assert len(ok(sup.get(FEED, limit=2))["alerts"]) == 2
    assert {r["status"] for r in ok(sup.get(FEED, status="SUPPRESSED"))["alerts"]} == {"SUPPRESSED"}
    both = ok(sup.get(FEED, status=["RESOLVED", "NEW"]))["alerts"]
    assert len(both) == 6
    assert ok(sup.get(FEED, status=["NEW", "RESOLVED"]))["alerts"] == both


def test_an_unchanged_answer_is_a_304_to_its_etag(seeded, api, client, token_for):
    """Each answer carries a weak ETag over what it says (not when it was computed); asked
    again with it, an answer that says the same is an empty 304, a changed one a 200."""
    auth = {"HTTP_AUTHORIZATION": token_for(seeded.user("supervisor"))}
    for path in (KPIS, SITES, FEED):
        first = client.get(path, **auth)
        etag = first["ETag"]
        assert first.status_code == 200 and etag.startswith('W/"')
        assert first["Cache-Control"] == "private, no-cache"
        again = client.get(path, HTTP_IF_NONE_MATCH=etag, **auth)
        assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
        # the strong form and a list of tags match too; another tag does not
        assert client.get(path, HTTP_IF_NONE_MATCH=f'"x", {etag[2:]}', **auth).status_code == 304
        assert client.get(path, HTTP_IF_NONE_MATCH='W/"other"', **auth).status_code == 200
    etags = {path: client.get(path, **auth)["ETag"] for path in (KPIS, SITES, FEED)}
    Alert.objects.filter(type="GEOFENCE_BREACH").update(status=Status.RESOLVED)
    for path, etag in etags.items():
        changed = client.get(path, HTTP_IF_NONE_MATCH=etag, **auth)
        assert changed.status_code == 200 and changed["ETag"] != etag, path
    # a caller of another scope does not get a 304 for an answer that is not its own
    other = {"HTTP_AUTHORIZATION": token_for(seeded.user("viewer"))}
    viewer = client.get(KPIS, HTTP_IF_NONE_MATCH=etags[KPIS], **other)
    assert viewer.status_code == 200


def test_a_summary_another_process_renewed_is_taken_from_the_cache(seeded, shared, monkeypatch):
    """Processes share the tenant summary through the cache: a process whose own copy is
    missing (a new worker) or old takes the one another process stored, without computing."""
    from watchfloor.alerts import overview_queries as q

    tenant, now = seeded.tenant.pk, timezone.now()
    first = q.tenant_summary(tenant, now)  # computed, held here and put in the cache
    q.SUMMARIES.invalidate()  # another process: nothing held

    def must_not_compute(*args):
        raise AssertionError("computed again")

    monkeypatch.setattr(q, "_load_summary", must_not_compute)
    taken = q.tenant_summary(tenant, now)
    assert taken == first and taken is not first  # a copy from the cache
    # the cache down: this process computes its own (degrade), and answers
    monkeypatch.undo()
    q.SUMMARIES.invalidate()
    from watchfloor import degrade

    def cache_down(*args):
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(q, "_shared_summary", cache_down)
    try:
        assert q.tenant_summary(tenant, now) == first
        assert degrade.is_down("cache")
    finally:
        degrade.reset()


def test_the_feed_in_severity_order_reads_by_severity_and_matches_the_sql_order(seeded, key_for):
    """The default order (most severe first, then longest open) from the per-severity union
    is the order one CASE sort gives, cut at any limit."""
    from watchfloor.alerts.overview_queries import FEED_ORDERS, OverviewFilters, feed

    grow(seeded, key_for, clients=2, sites_per_client=3, alerts_per_site=5)
    user = User.objects.get(pk=seeded.user("supervisor").pk)
    open_alerts = Alert.objects.filter(tenant=seeded.tenant, status__in=OPEN_STATUSES)
    expected = list(open_alerts.order_by(*FEED_ORDERS["severity"]).values_list("id", flat=True))
    assert len(expected) > 20
    for limit in (1, 7, 20, 500):
        rows = feed(user, OverviewFilters(), limit=limit)
        assert [r["id"] for r in rows] == expected[:limit], limit
    city = feed(user, OverviewFilters(city="austin"), limit=500)
    assert city and all(r["city"].lower() == "austin" for r in city)


def test_a_summary_that_only_grew_old_is_renewed_after_the_response(
    seeded, api, shared, monkeypatch
):
    """The request that finds the tenant summary old (same watermark, not long ago) is answered
    from it, and the summary is renewed once that response is sent (close), not before."""
    from watchfloor.alerts import overview_queries as q

    tenant = seeded.tenant.pk
    sup = api(seeded.user("supervisor"))
    first = ok(sup.get(KPIS))
    held_at, summary = q.held_summary(tenant, timezone.now())
    loads = []
    real = q._load_summary
    monkeypatch.setattr(q, "_load_summary", lambda *a: loads.append(1) or real(*a))
    later = q.time.time() + q.settings.OVERVIEW_CACHE_SECONDS + 1
    monkeypatch.setattr(q.time, "time", lambda: later)
    # inside a request: the old one answers, its renewal waits
    with q.renewals_after_response() as renewals:
        assert q.held_summary(tenant, timezone.now()) == (held_at, summary)
    assert not loads and list(renewals) == [tenant]
    # through the API: answered, then renewed when the test client closes the response
    assert ok(sup.get(KPIS))["open"] == first["open"] and loads == [1]
    assert q.held_summary(tenant, timezone.now())[0] == later
    # a step (the watermark moved) is never answered from the old summary, inside a request too
    acknowledge_alert(Alert.objects.filter(status=Status.NEW).first(), actor=seeded.user("admin"))
    with q.renewals_after_response() as renewals:
        renewed = q.held_summary(tenant, timezone.now())[1]
    assert loads == [1, 1] and not renewals
    assert sum(n for n, _, _ in renewed.acknowledged[""].values()) == 1
    # long grown old (past STALE_RENEWALS periods): renewed on the request
    monkeypatch.setattr(q.time, "time", lambda: later + 10 * q.settings.OVERVIEW_CACHE_SECONDS)
    with q.renewals_after_response() as renewals:
        q.held_summary(tenant, timezone.now())
    assert loads == [1, 1, 1] and not renewals


@pytest.mark.parametrize("role", ["supervisor", "operator", "viewer", "executive"])
def test_the_feed_from_the_tenant_summary_answers_as_the_sql_does(seeded, key_for, role):
    """The feed's open alerts chosen from the summary's ordered list (scope and filters in
    memory) are the rows, in the same order, and the total the SQL gives, for each kind of
    scope, filter, order, status set and limit."""
    from watchfloor.alerts.overview_queries import OverviewFilters, feed_with_total

    grow(seeded, key_for, clients=3, sites_per_client=4, alerts_per_site=4)
    user = User.objects.get(pk=seeded.user(role).pk)
    site = Site.objects.filter(tenant=seeded.tenant).order_by("code").first()
    now = timezone.now()
    ids = list(
        Alert.objects.filter(tenant=seeded.tenant).order_by("id").values_list("id", flat=True)
    )
    ages = [timedelta(minutes=5), timedelta(hours=2), timedelta(hours=12), timedelta(days=3)]
    for n, age in enumerate(ages):  # last seen and first seen at several distances, with ties
        Alert.objects.filter(pk__in=ids[n :: len(ages)]).update(
            last_seen_at=now - age, first_seen_at=now - age - timedelta(minutes=n % 2)
        )
    Alert.objects.filter(pk__in=ids[5::9]).update(severity="DISASTER")  # outside Severity
    cases = [
        OverviewFilters(),
        OverviewFilters(clients=(seeded.clients[0].code,)),
        OverviewFilters(clients=("grow-1", "grow-2")),
        OverviewFilters(clients=("nobody",)),
        OverviewFilters(city="austin"),
        OverviewFilters(state="CO", clients=("grow-0",)),
        OverviewFilters(officer=seeded.user("operator").pk),
        OverviewFilters(site=site.code),
        OverviewFilters(range="1h"),
        OverviewFilters(range="6h", city="austin"),
        OverviewFilters(range="24h", clients=("grow-1",)),
    ]
    shown = 0
    for f in cases:
        for order in ("severity", "-last_seen", "-first_seen"):
            for statuses in ((), ("ASSIGNED",), ("NEW", "ACKNOWLEDGED")):
                for limit in (3, 500):
                    kw = {"statuses": statuses, "order": order, "limit": limit, "now": now}
                    by_summary = feed_with_total(user, f, **kw)
                    assert by_summary == feed_with_total(user, f, summary=False, **kw), (f, kw)
                    shown += len(by_summary[0])
    assert shown > 100


def test_the_feed_from_the_summary_reads_its_rows_through_the_scope(
    seeded, api, key_for, monkeypatch
):
    """The summary's list holds every open alert of the tenant; the rows it picks for a scoped
    user are read through `alerts_for`: even a wrong scope decision in memory shows nothing
    outside the user's scope."""
    from watchfloor.alerts import overview_queries as q

    monkeypatch.setattr(q, "_admits", lambda user, clients, sites: lambda c, s: True)
    operator = {r["id"] for r in ok(api(seeded.user("operator")).get(FEED))["alerts"]}
    assert operator == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )


def test_the_feed_answer_from_rows_encoded_once_is_the_feeds_encoding(seeded, api, shared):
    """The feed's body, put together from rows encoded once per summary, is byte for byte
    FeedOut's encoding of the rows and total the feed computes, for a full and a cut answer."""
    from watchfloor.alerts.overview_queries import OverviewFilters, feed_with_total
    from watchfloor.alerts.overview_schemas import FeedOut
    from watchfloor.dashboard.api import _encode

    user = User.objects.get(pk=seeded.user("supervisor").pk)
    for limit in (3, 100):
        body = api(user).get(FEED, limit=limit).content
        rows, total = feed_with_total(user, OverviewFilters(), limit=limit)
        assert body == _encode(FeedOut, {"alerts": rows, "total": total}), limit
        assert len(rows) == min(limit, 10) and total == 10


def test_feed_rows_encoded_once_are_shown_only_within_each_callers_scope(
    seeded, api, shared, monkeypatch
):
    """Rows encoded for one caller are kept for every caller with the same PII view, whatever
    their scope: each caller's ids are checked through `alerts_for` before a held row is used,
    even when the scope decision in memory admits everything."""
    from watchfloor.alerts import overview_queries as q

    everything = ok(api(seeded.user("executive")).get(FEED))["alerts"]  # all clients, no PII
    assert len(everything) == 10
    monkeypatch.setattr(q, "_admits", lambda user, clients, sites: lambda c, s: True)
    operator = {r["id"] for r in ok(api(seeded.user("operator")).get(FEED, limit=99))["alerts"]}
    assert operator == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )
    viewer = {r["id"] for r in ok(api(seeded.user("viewer")).get(FEED, limit=98))["alerts"]}
    assert viewer == set(Alert.objects.filter(site=seeded.sites[2]).values_list("id", flat=True))


def test_renewals_run_one_at_a_time_per_process():
    """A request that finds renewals under way in its process hands its own to the one running
    them and returns; each renewal runs once (one per key), after those before it, and a failed
    one does not stop the others."""
    from watchfloor.alerts import overview_queries as q

    ran = []

    def first():
        ran.append("first started")
        # another request's renewals while this one runs: handed over, not run here
        q._run_renewals({"second": lambda: ran.append("second"), "third": lambda: ran.append("x")})
        ran.append("first done")

    def failing():
        raise RuntimeError("renewal failed")

    q._run_renewals({"first": first, "failing": failing, "third": lambda: ran.append("third")})
    assert ran == ["first started", "first done", "third", "second"]
    assert not q._pending and not q._draining


def test_under_gevent_renewals_run_in_a_greenlet_of_their_own(monkeypatch):
    """In `serve`'s gevent workers the renewals run in a thread (a greenlet there) of their
    own, not on the connection whose response collected them, which then closes its database
    connections (back to the pool)."""
    import threading

    from watchfloor.alerts import overview_queries as q

    monkeypatch.setattr(q, "_under_gevent", lambda: True)
    closed = threading.Event()
    monkeypatch.setattr(q.connections, "close_all", closed.set)
    release, ran = threading.Event(), []

    def renew():
        ran.append(threading.get_ident())
        release.wait(30)

    q._run_renewals({"one": renew})  # returns while the renewal waits
    release.set()
    assert closed.wait(30)
    assert ran and ran[0] != threading.get_ident()
    assert not q._pending and not q._draining
