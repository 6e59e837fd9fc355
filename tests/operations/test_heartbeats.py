"""Heartbeats: CRUD for noc:configure (scoped, audited, validated), the ping by integration
key, and the job: late → one alert through the pipeline → the next ping resolves it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from watchfloor.access.services import create_integration_key
from watchfloor.alerts.models import Alert, Status
from watchfloor.audit.models import AuditLog
from watchfloor.operations.heartbeats import check_heartbeats, create_heartbeat
from watchfloor.operations.models import Heartbeat, HeartbeatStatus

pytestmark = pytest.mark.django_db
URL = "/api/v1/heartbeats"


def _hb(estate, name="nightly-backup", period=60, grace=30, site=True):
    return create_heartbeat(
        actor=estate.user("admin"),
        name=name,
        client_id=estate.clients[0].id,
        site_id=estate.sites[0].id if site else None,
        period=timedelta(seconds=period),
        grace=timedelta(seconds=grace),
    )


def _key(estate, source="native"):
    return create_integration_key(
        estate.tenant, actor=estate.user("admin"), name=f"{source} key", source=source
    ).plain


def _alerts(estate):
    return list(Alert.objects.for_tenant(estate.tenant).filter(type="HEARTBEAT_MISSED"))


def test_create_list_patch_delete(estate, api):
    admin = api(estate.user("admin"))
    r = admin.post(
        URL,
        {
            "name": "watchdog",
            "client": estate.clients[0].id,
            "site": estate.sites[0].id,
            "period_seconds": 60,
            "grace_seconds": 120,
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "WAITING" and body["last_seen_at"] is None
    assert body["ping_url"] == "/api/v1/heartbeats/watchdog/ping"
    hb_id = body["id"]
    assert [h["name"] for h in admin.get(URL).json()] == ["watchdog"]
    r = admin.patch(f"{URL}/{hb_id}", {"period_seconds": 300, "paused": True})
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    assert r.json()["period_seconds"] == 300
    assert admin.delete(f"{URL}/{hb_id}").status_code == 204
    assert not Heartbeat.objects.exists()
    changes = AuditLog.objects.filter(action="config_change", details__what="heartbeat")
    assert [e.details["change"] for e in changes.order_by("id")] == [
        "created",
        "updated",
        "deleted",
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"period_seconds": 9}, "period_seconds"),
        ({"period_seconds": 7 * 86400 + 1}, "period_seconds"),
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"name": "Bad Name!"}, "name"),
        ({"name": "x\u0000"}, "name"),
        ({"client": 10**30}, "client"),
    ],
)
def test_invalid_is_a_422_naming_the_field(estate, api, payload, field):
    body = {"name": "ok", "client": estate.clients[0].id, "period_seconds": 60, **payload}
    r = api(estate.user("admin")).post(URL, body)
    assert r.status_code == 422, r.content
    assert any(field in k for k in r.json()["error"]["fields"]), r.json()
    assert not Heartbeat.objects.exists()


def test_names_are_unique_per_tenant(estate, other_estate, api):
    _hb(estate, "watchdog")
    r = api(estate.user("admin")).post(
        URL, {"name": "watchdog", "client": estate.clients[0].id, "period_seconds": 60}
    )
    assert r.status_code == 422 and "name" in r.json()["error"]["fields"]
    r = api(other_estate.user("admin")).post(
        URL, {"name": "watchdog", "client": other_estate.clients[0].id, "period_seconds": 60}
    )
    assert r.status_code == 201


def test_another_tenants_heartbeat_is_a_404_and_its_client_a_422(estate, other_estate, api):
    theirs = _hb(other_estate)
    admin = api(estate.user("admin"))
    assert admin.get(f"{URL}/{theirs.id}").status_code == 404
    assert admin.patch(f"{URL}/{theirs.id}", {"paused": True}).status_code == 404
    assert admin.delete(f"{URL}/{theirs.id}").status_code == 404
    assert admin.get(URL).json() == []
    r = admin.post(URL, {"name": "x", "client": other_estate.clients[0].id, "period_seconds": 60})
    assert r.status_code == 422 and "client" in r.json()["error"]["fields"]
    r = admin.post(
        URL,
        {
            "name": "x",
            "client": estate.clients[0].id,
            "site": estate.sites[3].id,  # the other client's site
            "period_seconds": 60,
        },
    )
    assert r.status_code == 422 and "site" in r.json()["error"]["fields"]


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "executive"])
def test_needs_configure(estate, api, role):
    hb = _hb(estate)
    user = api(estate.user(role))
    assert user.get(URL).status_code == 403
    assert user.get(f"{URL}/{hb.id}").status_code in (403, 404)
    assert user.delete(f"{URL}/{hb.id}").status_code in (403, 404)
    body = {"name": "n", "client": estate.clients[0].id, "period_seconds": 60}
    assert user.post(URL, body).status_code == 403
    assert Heartbeat.objects.count() == 1


def test_ping_needs_a_key_of_the_tenant(estate, other_estate, client):
    _hb(estate, "watchdog")
    assert client.post("/api/v1/heartbeats/watchdog/ping").status_code == 401
    bad = client.post("/api/v1/heartbeats/watchdog/ping", HTTP_AUTHORIZATION="Bearer wfi_nope")
    assert bad.status_code == 401
    theirs = _key(other_estate)
    r = client.post("/api/v1/heartbeats/watchdog/ping", HTTP_AUTHORIZATION=f"Bearer {theirs}")
    assert r.status_code == 404
    assert Heartbeat.objects.get().status == HeartbeatStatus.WAITING


@pytest.mark.parametrize("source", ["native", "alertmanager", "operations"])
def test_ping_by_header_or_path_key_of_any_source(estate, client, source):
    _hb(estate, "watchdog")
    key = _key(estate, source)
    r = client.post(
        "/api/v1/heartbeats/watchdog/ping",
        data='{"alerts": [{"labels": {"alertname": "Watchdog"}}]}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert r.status_code == 200 and r.json()["status"] == "UP"
    assert client.get(f"/api/v1/heartbeats/watchdog/ping/{key}").status_code == 200
    assert Heartbeat.objects.get().last_seen_at is not None


def test_late_heartbeat_alerts_once_and_the_ping_resolves(estate, client):
    hb = _hb(estate, "watchdog", period=60, grace=30)
    key = _key(estate)
    now = timezone.now()
    # waiting heartbeats never alert
    assert check_heartbeats(now + timedelta(hours=1))["late"] == 0
    client.post("/api/v1/heartbeats/watchdog/ping", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert check_heartbeats(timezone.now() + timedelta(seconds=60))["late"] == 0
    later = timezone.now() + timedelta(seconds=95)
    assert check_heartbeats(later)["late"] == 1
    assert check_heartbeats(later + timedelta(seconds=30))["late"] == 0
    [alert] = _alerts(estate)
    assert alert.status == Status.NEW and alert.site_id == estate.sites[0].id
    assert alert.fingerprint == f"ops:heartbeat:{estate.tenant.id}:{hb.id}:late"
    hb.refresh_from_db()
    assert hb.status == HeartbeatStatus.LATE and hb.late_since == later
    r = client.post("/api/v1/heartbeats/watchdog/ping", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.json()["status"] == "UP"
    [alert] = _alerts(estate)
    assert alert.status == Status.RESOLVED
    hb.refresh_from_db()
    assert hb.status == HeartbeatStatus.UP and hb.late_since is None


def test_pausing_a_late_heartbeat_resolves_its_alert(
    estate, api, django_capture_on_commit_callbacks
):
    hb = _hb(estate, "watchdog")
    Heartbeat.objects.filter(pk=hb.pk).update(
        status=HeartbeatStatus.UP, last_seen_at=timezone.now() - timedelta(hours=1)
    )
    check_heartbeats()
    assert _alerts(estate)[0].status == Status.NEW
    with django_capture_on_commit_callbacks(execute=True):
        r = api(estate.user("admin")).patch(f"{URL}/{hb.id}", {"paused": True})
    assert r.json()["status"] == "PAUSED"
    assert _alerts(estate)[0].status == Status.RESOLVED
    assert check_heartbeats(timezone.now() + timedelta(days=1))["late"] == 0


def test_the_job_resolves_an_alert_whose_heartbeat_is_gone(estate):
    hb = _hb(estate, "watchdog")
    Heartbeat.objects.filter(pk=hb.pk).update(
        status=HeartbeatStatus.UP, last_seen_at=timezone.now() - timedelta(hours=1)
    )
    check_heartbeats()
    Heartbeat.objects.filter(pk=hb.pk).delete()  # without the service (its resolve lost)
    assert check_heartbeats()["resolved"] == 1
    assert _alerts(estate)[0].status == Status.RESOLVED
