"""The reports API (/api/v1/reports/*): figures, scope and isolation, capability, validation,
query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_incidents import make_alert
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.incidents.services import policy_for
from watchfloor.tenancy.models import User

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def place(alert: Alert, *, first_seen: datetime, ack: timedelta | None = None, res=None, **kw):
    """First seen at `first_seen`, acknowledged / resolved `ack` / `res` after it."""
    alert.first_seen_at = alert.last_seen_at = alert.created_at = first_seen
    if ack is not None:
        alert.acknowledged_at, alert.time_to_acknowledge = first_seen + ack, ack
        alert.status = Status.ACKNOWLEDGED
    if res is not None:
        alert.resolved_at, alert.time_to_resolve = first_seen + res, res
        alert.status = Status.RESOLVED
    for k, v in kw.items():
        setattr(alert, k, v)
    alert.save()
    return alert


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


@pytest.fixture
def seeded(estate, frozen):
    """acme, within the last 7 days: client 0 (sites 0, 1) and client 1 (site 2)."""
    s0, s1, s2 = estate.sites[0], estate.sites[1], estate.sites[2]
    day = NOW - timedelta(days=2)
    n = iter(range(1000))
    # CRITICAL, target ack 15 / resolve 240 min
    place(
        make_alert(estate, next(n), site=s0, severity=Severity.CRITICAL, type="SLA_BREACH"),
        first_seen=day,
        ack=timedelta(minutes=10),
        res=timedelta(minutes=100),
    )  # met, met
    place(
        make_alert(estate, next(n), site=s0, severity=Severity.CRITICAL, type="SLA_BREACH"),
        first_seen=day,
        ack=timedelta(minutes=20),
        res=timedelta(minutes=300),
    )  # late, late
    place(
        make_alert(estate, next(n), site=s0, severity=Severity.CRITICAL, type="DEVICE_OFFLINE"),
        first_seen=NOW - timedelta(minutes=5),
    )  # pending, pending
    place(
        make_alert(estate, next(n), site=s1, severity=Severity.CRITICAL, type="DEVICE_OFFLINE"),
        first_seen=NOW - timedelta(hours=1),
    )  # unanswered past 15 min: late; resolve pending
    # HIGH at client 1, resolved without an acknowledgement in 20 min (target ack 30): met
    place(
        make_alert(estate, next(n), site=s2, severity=Severity.HIGH, type="DEVICE_OFFLINE"),
        first_seen=NOW - timedelta(days=1),
        res=timedelta(minutes=20),
    )
    # suppressed at site 0: counted as noise, not in SLA
    place(
        make_alert(
            estate,
            next(n),
            site=s0,
            severity=Severity.LOW,
            type="GEOFENCE_BREACH",
            status=Status.SUPPRESSED,
            suppressed_count=4,
            occurrence_count=1,
        ),
        first_seen=day,
    )
    # outside the range (20 days ago)
    place(
        make_alert(estate, next(n), site=s2, severity=Severity.HIGH, type="SLA_BREACH"),
        first_seen=NOW - timedelta(days=20),
        ack=timedelta(minutes=1),
        res=timedelta(minutes=2),
    )
    return estate


def by(rows, key, value):
    return next(r for r in rows if r[key] == value)


def test_response_times_overall_by_severity_and_by_client(seeded, api):
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/response-times"))
    assert body["range"]["preset"] == "7d"
    mtta, mttr = body["mtta"], body["mttr"]
    assert mtta["overall"] == {"count": 2, "mean_seconds": 15 * 60.0}  # 10 and 20 min
    assert by(mtta["by_severity"], "severity", "CRITICAL")["count"] == 2
    assert by(mtta["by_severity"], "severity", "HIGH") == {
        "severity": "HIGH",
        "count": 0,
        "mean_seconds": None,
    }
    # resolved: 100 and 300 min at client 0, 20 min at client 1
    assert mttr["overall"]["count"] == 3
    assert mttr["overall"]["mean_seconds"] == pytest.approx((100 + 300 + 20) * 60 / 3, abs=0.1)
    c0, c1 = seeded.clients[0].code, seeded.clients[1].code
    assert by(mttr["by_client"], "client", c0) == {
        "client": c0,
        "count": 2,
        "mean_seconds": 12000.0,
    }
    assert by(mttr["by_client"], "client", c1) == {"client": c1, "count": 1, "mean_seconds": 1200.0}


def test_frequency_by_type_and_daily_trend(seeded, api):
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/frequency", range="7d"))
    counts = {row["type"]: row["alerts"] for row in body["by_type"]}
    assert counts == {"SLA_BREACH": 2, "DEVICE_OFFLINE": 3, "GEOFENCE_BREACH": 1}
    assert body["by_type"][0]["type"] == "DEVICE_OFFLINE"  # most frequent first
    trend = body["trend"]
    assert len(trend["days"]) == 8  # 7 days from noon touch 8 UTC dates
    assert trend["days"][-1] == "2026-11-20"
    assert sum(trend["total"]) == 6
    day = trend["days"].index("2026-11-18")
    assert trend["total"][day] == 3
    sla = by(trend["series"], "type", "SLA_BREACH")["counts"]
    assert sla[day] == 2 and sum(sla) == 2


def test_sla_compliance_against_the_incident_policy(seeded, api):
    body = ok(api(seeded.user("admin")).get("/api/v1/reports/sla"))
    crit = by(body["by_severity"], "severity", "CRITICAL")
    assert crit["ack_target_minutes"] == 15 and crit["resolve_target_minutes"] == 240
    assert (crit["total"], crit["ack_met"], crit["ack_breached"], crit["ack_pending"]) == (
        4,
        1,
        2,
        1,
    )
    assert (crit["resolve_met"], crit["resolve_breached"], crit["resolve_pending"]) == (1, 1, 2)
    assert crit["ack_compliance_percent"] == pytest.approx(33.3)
    high = by(body["by_severity"], "severity", "HIGH")
    assert (high["total"], high["ack_met"], high["resolve_met"]) == (1, 1, 1)
    assert body["overall"]["total"] == 5  # the suppressed alert is nobody's work
    assert "incident policy" in body["targets_source"]


def test_sla_targets_follow_the_tenants_policy(seeded, api):
    policy = policy_for(seeded.tenant)
    policy.sla_minutes = {**policy.sla_minutes, "CRITICAL": {"acknowledge": 30, "resolve": 240}}
    policy.save()
    crit = by(
        ok(api(seeded.user("admin")).get("/api/v1/reports/sla"))["by_severity"],
        "severity",
        "CRITICAL",
    )
    assert crit["ack_target_minutes"] == 30
    assert (crit["ack_met"], crit["ack_breached"]) == (2, 1)


def test_noisy_sites_count_suppressed_and_mask_the_officer(seeded, api):
    site = seeded.sites[0]
    site.officer_in_charge = seeded.user("operator")
    site.save()
    sites = ok(api(seeded.user("admin")).get("/api/v1/reports/noisy-sites"))["sites"]
    top = sites[0]
    assert (top["site"], top["alerts"], top["suppressed_alerts"], top["suppressed_repeats"]) == (
        site.code,
        4,
        1,
        4,
    )
    assert top["suppressed"] == 5
    assert top["officer"] == "Operator Person"  # admin holds noc:view_pii
    masked = ok(api(seeded.user("executive")).get("/api/v1/reports/noisy-sites"))["sites"][0]
    assert masked["officer"] != "Operator Person" and "*" in masked["officer"]


def test_scope_and_filters(seeded, api, other_estate):
    # the operator sees client 0 only; the viewer site 2 only
    op = ok(api(seeded.user("operator")).get("/api/v1/reports/frequency"))
    assert sum(r["alerts"] for r in op["by_type"]) == 5
    viewer = ok(api(seeded.user("viewer")).get("/api/v1/reports/noisy-sites"))["sites"]
    assert [s["site"] for s in viewer] == [seeded.sites[2].code]
    # filters as on the overview
    admin = api(seeded.user("admin"))
    one = ok(admin.get("/api/v1/reports/frequency", client=seeded.clients[1].code))
    assert sum(r["alerts"] for r in one["by_type"]) == 1
    denver = ok(admin.get("/api/v1/reports/noisy-sites", city="denver"))["sites"]
    assert {s["site"] for s in denver} == {seeded.sites[1].code}


def test_another_tenants_data_and_codes_give_nothing(seeded, other_estate, api):
    # globex's own alert in the range; acme's admin never counts it, and globex's client code
    # in acme's filter matches nothing (as on the overview)
    place(make_alert(other_estate, 1), first_seen=NOW - timedelta(hours=2))
    admin = api(seeded.user("admin"))
    foreign = other_estate.clients[0].code
    body = ok(admin.get("/api/v1/reports/frequency", client=foreign))
    assert body["by_type"] == [] and sum(body["trend"]["total"]) == 0
    assert ok(admin.get("/api/v1/reports/noisy-sites", client=foreign))["sites"] == []
    theirs = ok(api(other_estate.user("admin")).get("/api/v1/reports/frequency"))
    assert theirs["by_type"] == [{"type": "DEVICE_OFFLINE", "alerts": 1, "occurrences": 1}]


def test_noc_view_is_required(seeded, api):
    nobody = User.objects.create_user(username="acme-nobody", password="x", tenant=seeded.tenant)
    for path in ("response-times", "frequency", "sla", "noisy-sites"):
        assert api(nobody).get(f"/api/v1/reports/{path}").status_code == 403
        assert api().get(f"/api/v1/reports/{path}").status_code == 401


@pytest.mark.parametrize(
    "params, field",
    [
        ({"since": "2026-11-10T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"since": "2026-11-10T00:00:00Z", "until": "2026-11-10T00:00:00Z"}, "until"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2025-06-01T00:00:00Z"}, "until"),
        ({"until": "2026-11-01T00:00:00Z"}, "since"),
        ({"since": "9999-01-01T00:00:00Z"}, "since"),
        ({"since": "1900-01-01T00:00:00Z", "until": "1900-02-01T00:00:00Z"}, "since"),
        ({"range": "5y"}, "range"),
        ({"city": "a\x00b"}, "city"),
        ({"officer": "99999999999999999999999"}, "officer"),
    ],
)
def test_invalid_ranges_and_filters_are_a_422_naming_the_field(seeded, api, params, field):
    response = api(seeded.user("admin")).get("/api/v1/reports/sla", **params)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["fields"]


def test_a_custom_range(seeded, api):
    body = ok(
        api(seeded.user("admin")).get(
            "/api/v1/reports/frequency",
            since="2026-10-25T00:00:00Z",
            until="2026-11-05T00:00:00Z",
        )
    )
    assert body["range"]["preset"] == ""
    assert body["by_type"] == [{"type": "SLA_BREACH", "alerts": 1, "occurrences": 1}]
    assert len(body["trend"]["days"]) == 11


@pytest.mark.parametrize("path", ["response-times", "frequency", "sla", "noisy-sites"])
def test_query_count_does_not_grow_with_the_data(seeded, api, path):
    admin = api(seeded.user("admin"))
    url = f"/api/v1/reports/{path}"
    admin.get(url)  # warm the token and session caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            ok(admin.get(url, client=seeded.clients[0].code, city="Austin"))
        return len(ctx.captured_queries)

    before = count()
    for i in range(30):
        site = seeded.sites[i % 4]
        place(
            make_alert(
                seeded, 100 + i, site=site, type=f"T{i % 12}", severity=list(Severity)[i % 5]
            ),
            first_seen=NOW - timedelta(hours=i),
            ack=timedelta(minutes=i),
            res=timedelta(hours=1),
        )
    assert count() == before
