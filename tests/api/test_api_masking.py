"""PII in free text never comes back in clear without `noc:view_pii`, on every read endpoint
(#10 bug 11).

An email address and a phone number are planted in every free-text column the API reads (alert
title, description, labels, annotations, resolution note and comments; incident title, summary,
resolution note, external reference, timeline notes and client status updates; maintenance title,
reason and matchers; runbooks; schedules, layers, overrides, policies, escalation stop reasons,
team channels, client contacts' names and addresses, delivery errors, integration keys, audit
details), then every GET operation of the
OpenAPI spec is read by a user holding every capability but `noc:view_pii` (nothing in clear) and
by the tenant admin (in clear where the data is shown). Names of clients, sites and cities are the
tenant's own labels for places, not personal data, and are not planted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from watchfloor.api_site import api as ninja_api

EMAIL = "jane.doe@example.org"
PHONE = "+1-555-867-5309"
TEXT = f"call {PHONE} or {EMAIL}"
CLEAR = ("jane.doe", "555-867")  # what must not survive masking (the last four digits may)


def _plant(estate) -> dict[str, int]:
    """One object of every kind with PII in its free text; returns path-parameter ids."""
    from watchfloor.access.services import create_integration_key
    from watchfloor.alerts.events import Event, EventAction
    from watchfloor.alerts.models import Alert, AlertComment, Runbook
    from watchfloor.alerts.pipeline import ingest
    from watchfloor.audit.models import Action
    from watchfloor.audit.services import record
    from watchfloor.incidents.models import (
        Incident,
        IncidentAlert,
        IncidentEvent,
        IncidentStatusUpdate,
    )
    from watchfloor.maintenance.models import MaintenanceWindow
    from watchfloor.oncall.models import (
        AlertEscalation,
        Delivery,
        DeliveryKind,
        DeliveryStatus,
        EscalationPolicy,
        EscalationState,
        Layer,
        LayerMember,
        Medium,
        Override,
        PolicyVersion,
        Schedule,
        TeamChannel,
    )

    now = timezone.now()
    admin, tenant = estate.user("admin"), estate.tenant
    key = create_integration_key(tenant, actor=admin, name=f"key {TEXT}"[:100], source="native")
    ingest(
        [
            Event(
                action=EventAction.TRIGGER,
                type="DEVICE_OFFLINE",
                title=TEXT,
                description=TEXT,
                labels={"note": TEXT},
                annotations={"summary": TEXT},
                site_code=estate.sites[0].code,
            )
        ],
        key=key.obj,
    )
    alert = Alert.objects.filter(tenant=tenant).latest("id")
    Alert.objects.filter(pk=alert.pk).update(resolution_note=TEXT)
    AlertComment.objects.create(tenant=tenant, alert=alert, author=admin, body=TEXT, created_at=now)
    window = MaintenanceWindow.objects.create(
        tenant=tenant,
        client=estate.clients[0],
        title=TEXT,
        reason=TEXT,
        matchers=f'contact="{EMAIL}"',
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    schedule = Schedule.objects.create(tenant=tenant, name=TEXT, description=TEXT)
    layer = Layer.objects.create(
        tenant=tenant, schedule=schedule, name=TEXT, rotation_start=now - timedelta(days=1)
    )
    LayerMember.objects.create(layer=layer, user=admin, position=0)
    Override.objects.create(
        tenant=tenant,
        schedule=schedule,
        user=admin,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        reason=TEXT,
    )
    policy = EscalationPolicy.objects.create(tenant=tenant, name=TEXT, is_default=True)
    version = PolicyVersion.objects.create(
        tenant=tenant, policy=policy, number=1, steps=[], created_at=now
    )
    EscalationPolicy.objects.filter(pk=policy.pk).update(current=version)
    AlertEscalation.objects.create(
        tenant=tenant,
        alert=alert,
        policy_version=version,
        state=EscalationState.STOPPED,
        stop_reason=TEXT,
        created_at=now,
        updated_at=now,
    )
    channel = TeamChannel.objects.create(
        tenant=tenant, name=TEXT, medium=Medium.EMAIL, address=f"mailto://{EMAIL}"
    )
    Delivery.objects.create(
        tenant=tenant,
        kind=DeliveryKind.PAGE,
        alert=alert,
        channel=channel,
        medium=Medium.EMAIL,
        status=DeliveryStatus.FAILED,
        due_at=now,
        last_error=TEXT,
        created_at=now,
        updated_at=now,
    )
    record(Action.CONFIG_CHANGE, actor=admin, tenant=tenant, details={"note": TEXT})
    incident = Incident.objects.create(
        tenant=tenant,
        title=TEXT,
        summary=TEXT,
        resolution_note=TEXT,
        external_ref=TEXT,
        severity="HIGH",
        origin="manual",
        client=estate.clients[0],
        site=estate.sites[0],
        opened_at=now,
        updated_at=now,
    )
    IncidentAlert.objects.create(tenant=tenant, incident=incident, alert=alert, joined_at=now)
    IncidentEvent.objects.create(
        tenant=tenant, incident=incident, at=now, kind="note", body=TEXT, details={"note": TEXT}
    )
    IncidentStatusUpdate.objects.create(
        tenant=tenant, incident=incident, phase="investigating", body=TEXT, posted_at=now
    )
    runbook = Runbook.objects.create(
        tenant=tenant,
        alert_type="DEVICE_OFFLINE",
        title=TEXT,
        body=f"# Steps\n\n1. {TEXT}",
        url=f"https://wiki.example.org/runbook?contact={EMAIL}",
        created_at=now,
        updated_at=now,
    )
    from watchfloor.incidents.models import ClientContact

    client_contact = ClientContact.objects.create(
        tenant=tenant,
        client=estate.clients[0],
        name=TEXT,
        medium="email",
        address=EMAIL,
        created_at=now,
    )
    record_id, heartbeat_id = _plant_operations(estate, now)
    return {
        "record_id": record_id,
        "heartbeat_id": heartbeat_id,
        "contact_id": client_contact.id,
        "runbook_id": runbook.id,
        "client_id": estate.clients[0].id,
        "site_id": estate.sites[0].id,
        "key_id": key.obj.id,
        "window_id": window.id,
        "alert_id": alert.id,
        "policy_id": policy.id,
        "channel_id": channel.id,
        "schedule_id": schedule.id,
        "method_id": 1,
        "incident_id": incident.id,
    }


def _plant_operations(estate, now) -> tuple[int, int]:
    """One field record of each kind, all with the same id (the read paths share `record_id`),
    and a heartbeat, with PII in their free text and names."""
    from watchfloor.operations.models import (
        AttendanceRecord,
        Device,
        GeofenceEvent,
        Heartbeat,
        Ticket,
        WorkOrder,
    )

    tenant, client, site = estate.tenant, estate.clients[0], estate.sites[0]
    record_id = 900_001
    common = {
        "pk": record_id,
        "tenant": tenant,
        "client": client,
        "site": site,
        "received_at": now,
        "created_at": now,
    }
    Ticket.objects.create(
        **common,
        external_id="T-1",
        title=TEXT,
        category=TEXT[:100],
        priority="P1",
        status="OPEN",
        opened_at=now,
        assignee_name=f"Jane Doe {EMAIL}",
    )
    WorkOrder.objects.create(
        **common,
        external_id="W-1",
        title=TEXT,
        status="PENDING",
        assignee_name=f"Jane Doe {EMAIL}",
    )
    Device.objects.create(
        **common, external_id="D-1", name=TEXT, device_type="phone", status="ONLINE"
    )
    AttendanceRecord.objects.create(
        **common,
        external_id="A-1",
        person_ref="G-1",
        person_name=f"Jane Doe {EMAIL}",
        shift_start=now,
        shift_end=now + timedelta(hours=8),
        status="PRESENT",
    )
    GeofenceEvent.objects.create(
        **common, external_id="G-1", person_ref="G-1", kind="BREACH", occurred_at=now
    )
    heartbeat = Heartbeat.objects.create(
        tenant=tenant,
        name="backup-job",
        description=TEXT,
        client=client,
        period=timedelta(minutes=5),
        grace=timedelta(minutes=1),
    )
    return record_id, heartbeat.id


def _no_pii_user(estate):
    """Every capability but `noc:view_pii`: reaches every endpoint, sees everything masked."""
    from watchfloor.tenancy.models import User

    user = User.objects.create_user(username="acme-nopii", tenant=estate.tenant)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="access", codename__startswith="noc_"
        ).exclude(codename="noc_view_pii")
    )
    return user


def _read_paths(ids: dict[str, int]) -> list[str]:
    spec = ninja_api.get_openapi_schema()
    paths = []
    for path, ops in spec["paths"].items():
        if "get" in ops:
            for name, value in ids.items():
                path = path.replace("{" + name + "}", str(value))
            assert "{" not in path, f"no id planted for {path}"
            paths.append(path)
    return paths


# where the admin must see the planted PII in clear: proof that the planting reached them
SHOWN_IN_CLEAR = {
    "/api/v1/alerts",
    "/api/v1/alerts/{alert_id}",
    "/api/v1/alerts/{alert_id}/comments",
    "/api/v1/alerts/{alert_id}/escalation",
    "/api/v1/alerts/{alert_id}/runbook",
    "/api/v1/clients/{client_id}/contacts",
    "/api/v1/clients/{client_id}/contacts/{contact_id}",
    "/api/v1/audit",
    "/api/v1/deliveries",
    "/api/v1/escalation-policies",
    "/api/v1/escalation-policies/{policy_id}",
    "/api/v1/incidents",
    "/api/v1/incidents/{incident_id}",
    "/api/v1/integration-keys",
    "/api/v1/integration-keys/{key_id}",
    "/api/v1/maintenance-windows",
    "/api/v1/maintenance-windows/{window_id}",
    "/api/v1/overview/feed",
    "/api/v1/runbooks",
    "/api/v1/runbooks/{runbook_id}",
    "/api/v1/schedules",
    "/api/v1/schedules/{schedule_id}",
    "/api/v1/schedules/{schedule_id}/overrides",
    "/api/v1/schedules/{schedule_id}/oncall",
    "/api/v1/oncall",
    "/api/v1/team-channels",
    "/api/v1/team-channels/{channel_id}",
    "/api/v1/operations/tickets",
    "/api/v1/operations/tickets/{record_id}",
    "/api/v1/operations/work-orders",
    "/api/v1/operations/work-orders/{record_id}",
    "/api/v1/operations/devices/{record_id}",
    "/api/v1/operations/attendance/{record_id}",
    "/api/v1/heartbeats",
    "/api/v1/heartbeats/{heartbeat_id}",
}


@pytest.fixture
def planted(estate):
    return _plant(estate)


def _reads(api, user, ids):
    caller = api(user)
    out = {}
    for path in _read_paths(ids):
        response = caller.get(path)
        assert response.status_code < 500, (path, response.status_code)
        out[path] = (response.status_code, response.content.decode())
    return out


def _template(path: str, ids: dict[str, int]) -> str:
    parts = path.split("/")
    by_value = {str(v): k for k, v in ids.items()}
    # the id of a part following a known collection name
    names = {
        "clients": "client_id",
        "sites": "site_id",
        "integration-keys": "key_id",
        "maintenance-windows": "window_id",
        "alerts": "alert_id",
        "escalation-policies": "policy_id",
        "team-channels": "channel_id",
        "schedules": "schedule_id",
        "contact-methods": "method_id",
        "incidents": "incident_id",
        "runbooks": "runbook_id",
        "contacts": "contact_id",
        "tickets": "record_id",
        "work-orders": "record_id",
        "devices": "record_id",
        "attendance": "record_id",
        "geofence-events": "record_id",
        "heartbeats": "heartbeat_id",
    }
    for i, part in enumerate(parts):
        if i and parts[i - 1] in names and part in by_value:
            parts[i] = "{" + names[parts[i - 1]] + "}"
    return "/".join(parts)


@pytest.mark.django_db
def test_no_read_endpoint_returns_pii_in_clear_without_view_pii(api, estate, planted):
    reads = _reads(api, _no_pii_user(estate), planted)
    leaks = {
        path: [marker for marker in CLEAR if marker in body] for path, (_s, body) in reads.items()
    }
    assert {path: found for path, found in leaks.items() if found} == {}
    # the reader reached the planted data: a 403 or 404 would prove nothing
    answered = {_template(path, planted) for path, (status, _b) in reads.items() if status == 200}
    assert SHOWN_IN_CLEAR - answered == set()


@pytest.mark.django_db
def test_a_user_with_view_pii_sees_the_planted_text_in_clear(api, estate, planted):
    reads = _reads(api, estate.user("admin"), planted)
    shown = {_template(path, planted) for path, (_s, body) in reads.items() if EMAIL in body}
    assert SHOWN_IN_CLEAR - shown == set()


@pytest.mark.django_db
def test_masked_text_keeps_its_shape(api, estate, planted):
    """The viewer still learns there was an address and a number: `j***@example.org`,
    `+1-***-***-5309`."""
    status, body = _reads(api, _no_pii_user(estate), planted)[
        f"/api/v1/alerts/{planted['alert_id']}"
    ]
    assert status == 200
    assert "j***@example.org" in body
    assert "+1-***-***-5309" in body
