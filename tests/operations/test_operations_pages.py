"""The feed-rules thresholds page and the heartbeats page: noc:configure, CSRF forms, audited."""

from __future__ import annotations

import pytest

from watchfloor.audit.models import AuditLog
from watchfloor.operations.models import Heartbeat, HeartbeatStatus, OperationsPolicy

pytestmark = pytest.mark.django_db

POLICY = "/settings/operations/"
HEARTBEATS = "/heartbeats/"


def _form(**changes) -> dict:
    values = {
        "sla_hours_p1": "4",
        "sla_hours_p2": "8",
        "sla_hours_p3": "24",
        "sla_hours_p4": "72",
        "device_silence_minutes": "15",
        "attendance_grace_minutes": "15",
        "max_device_speed_kmh": "300",
        "sync_health_min_percent": "80",
        "sync_stale_minutes": "60",
        "anomaly_late_missing_percent": "30",
        "anomaly_window_days": "7",
        "anomaly_min_shifts": "10",
        "device_silence_by_type": "",
    }
    values.update(changes)
    return values


def test_policy_page_shows_and_saves(estate, client):
    client.force_login(estate.user("admin"))
    r = client.get(POLICY)
    assert r.status_code == 200 and b"SLA hours, P1" in r.content
    r = client.post(POLICY, _form(sla_hours_p1="2", device_silence_by_type="camera = 10\n"))
    assert r.status_code == 302
    policy = OperationsPolicy.objects.get(tenant=estate.tenant)
    assert policy.sla_hours_p1 == 2 and policy.device_silence_by_type == {"camera": 10}
    assert AuditLog.objects.filter(action="config_change", details__what="operations_policy")
    assert b"camera = 10" in client.get(POLICY).content


@pytest.mark.parametrize(
    "changes",
    [
        {"sla_hours_p1": "0"},
        {"max_device_speed_kmh": "abc"},
        {"device_silence_by_type": "camera: ten"},
        {"device_silence_by_type": "camera = 0"},
    ],
)
def test_policy_page_refuses_out_of_range(estate, client, changes):
    client.force_login(estate.user("admin"))
    r = client.post(POLICY, _form(**changes))
    assert r.status_code == 422
    assert not OperationsPolicy.objects.exists()


@pytest.mark.parametrize("path", [POLICY, HEARTBEATS])
def test_pages_need_configure(estate, client, path):
    client.force_login(estate.user("operator"))
    assert client.get(path).status_code == 403
    assert client.post(path, _form()).status_code == 403
    assert not OperationsPolicy.objects.exists() and not Heartbeat.objects.exists()


def test_forms_need_csrf(estate):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(estate.user("admin"))
    assert browser.post(POLICY, _form()).status_code == 403
    assert browser.post(HEARTBEATS, {"name": "x"}).status_code == 403


def test_heartbeats_page_create_pause_resume_delete(estate, other_estate, client):
    client.force_login(estate.user("admin"))
    r = client.post(
        HEARTBEATS,
        {
            "name": "nightly-backup",
            "client": str(estate.clients[0].id),
            "site": str(estate.sites[0].id),
            "period": "86400",
            "grace": "3600",
            "description": "pg_dump",
        },
    )
    assert r.status_code == 302
    hb = Heartbeat.objects.get()
    page = client.get(HEARTBEATS).content.decode()
    assert "nightly-backup" in page and "WAITING" in page and "1 d + 1 h" in page
    assert "/api/v1/heartbeats/nightly-backup/ping" in page
    action = f"/heartbeats/{hb.id}/action/"
    client.post(action, {"action": "pause"})
    hb.refresh_from_db()
    assert hb.status == HeartbeatStatus.PAUSED
    client.post(action, {"action": "resume"})
    hb.refresh_from_db()
    assert hb.status == HeartbeatStatus.WAITING
    theirs = Heartbeat.objects.create(
        tenant=other_estate.tenant,
        name="theirs",
        client=other_estate.clients[0],
        period=hb.period,
        grace=hb.grace,
    )
    assert client.post(f"/heartbeats/{theirs.id}/action/", {"action": "delete"}).status_code == 404
    assert "theirs" not in client.get(HEARTBEATS).content.decode()
    client.post(action, {"action": "delete"})
    assert list(Heartbeat.objects.values_list("name", flat=True)) == ["theirs"]


def test_heartbeats_page_refuses_a_bad_period(estate, client):
    client.force_login(estate.user("admin"))
    r = client.post(
        HEARTBEATS,
        {"name": "x", "client": str(estate.clients[0].id), "period": "5", "grace": "0"},
    )
    assert r.status_code == 422 and not Heartbeat.objects.exists()
