"""Client status updates (#11 §5): the service (capability, masking before storing, timeline,
audit, closed incidents refused) and the API (post, list, 404 across tenants, 422 naming the
field)."""

from __future__ import annotations

import pytest

from support_alerts import trigger
from watchfloor.access.scope import CapabilityDenied
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import services
from watchfloor.incidents.models import EventKind, IncidentEvent, IncidentStatusUpdate
from watchfloor.incidents.status_updates import post_status_update

PII = "Guard jane.doe@example.com on +1 555 867 5309 is on it"


def make_incident(estate, key, site_index=0, title="Power cut"):
    site = estate.sites[site_index]
    ingest([trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH)], key=key)
    alert = Alert.objects.filter(site=site).latest("id")
    incident = services.open_incident(
        [alert], actor=estate.user("admin"), origin="manual", title=title, tenant=estate.tenant
    )
    return incident


def test_post_masks_stores_audits_and_timelines(estate, key):
    incident = make_incident(estate, key)
    update = post_status_update(
        incident, actor=estate.user("operator"), phase="investigating", body=PII
    )
    stored = IncidentStatusUpdate.objects.get(pk=update.pk)
    assert "jane.doe@example.com" not in stored.body and "867 5309" not in stored.body
    assert "is on it" in stored.body
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.STATUS_UPDATE)
    assert event.details == {"update_id": update.id, "phase": "investigating"}
    assert "jane.doe" not in event.body
    entry = AuditLog.objects.get(action="incident.status_update")
    assert entry.details["update_id"] == update.id and "jane" not in str(entry.details)


def test_post_needs_assign_incidents(estate, key):
    incident = make_incident(estate, key)
    with pytest.raises(CapabilityDenied):
        post_status_update(incident, actor=estate.user("executive"), phase="identified", body="x")
    assert not IncidentStatusUpdate.objects.exists()


def test_closed_incident_refuses_updates_and_bad_phase_is_named(estate, key):
    incident = make_incident(estate, key)
    with pytest.raises(services.IncidentError) as exc:
        post_status_update(incident, actor=estate.user("admin"), phase="fixed", body="x")
    assert exc.value.field == "phase"
    services.resolve_incident(incident, actor=estate.user("admin"), note="done")
    post_status_update(incident, actor=estate.user("admin"), phase="resolved", body="All clear")
    services.close_incident(incident, actor=estate.user("admin"))
    with pytest.raises(services.IllegalTransition):
        post_status_update(incident, actor=estate.user("admin"), phase="resolved", body="again")


def test_api_post_and_list(estate, key, api):
    incident = make_incident(estate, key)
    operator = api(estate.user("operator"))
    response = operator.post(
        f"/api/v1/incidents/{incident.id}/status-updates",
        {"phase": "identified", "body": "A feeder is down."},
    )
    assert response.status_code == 201, response.content
    listed = operator.get(f"/api/v1/incidents/{incident.id}/status-updates").json()
    assert [(u["phase"], u["body"]) for u in listed] == [("identified", "A feeder is down.")]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phase": "fixed", "body": "x"}, "phase"),
        ({"phase": "identified", "body": ""}, "body"),
        ({"phase": "identified", "body": "x" * 2001}, "body"),
        ({"phase": "identified", "body": "a\x00b"}, "body"),
    ],
)
def test_api_bad_input_is_a_422(estate, key, api, payload, field):
    from support_api import error_fields

    incident = make_incident(estate, key)
    response = api(estate.user("admin")).post(
        f"/api/v1/incidents/{incident.id}/status-updates", payload
    )
    assert response.status_code == 422
    assert any(field in k for k in error_fields(response)), error_fields(response)
    assert not IncidentStatusUpdate.objects.exists()


def test_api_other_tenant_and_out_of_scope_are_404(estate, other_estate, key, key_for, api):
    theirs = make_incident(other_estate, key_for(other_estate))
    client2 = make_incident(estate, key, site_index=2)
    admin = api(estate.user("admin"))
    body = {"phase": "identified", "body": "x"}
    assert admin.post(f"/api/v1/incidents/{theirs.id}/status-updates", body).status_code == 404
    assert admin.get(f"/api/v1/incidents/{theirs.id}/status-updates").status_code == 404
    operator = api(estate.user("operator"))  # sees client 1 only
    assert operator.post(f"/api/v1/incidents/{client2.id}/status-updates", body).status_code == 404
    assert not IncidentStatusUpdate.objects.exists()


def test_api_post_needs_the_capability(estate, key, api):
    incident = make_incident(estate, key)
    response = api(estate.user("executive")).post(
        f"/api/v1/incidents/{incident.id}/status-updates", {"phase": "identified", "body": "x"}
    )
    assert response.status_code == 403


def test_the_incident_page_posts_an_update(client, estate, key):
    incident = make_incident(estate, key)
    client.force_login(estate.user("operator"))
    page = client.get(f"/incidents/{incident.id}/").content.decode()
    assert "Post a client status update" in page
    response = client.post(
        f"/incidents/{incident.id}/status_update/", {"phase": "monitoring", "body": PII}
    )
    assert response.status_code == 302
    update = IncidentStatusUpdate.objects.get(incident=incident)
    assert update.phase == "monitoring" and "jane.doe@example.com" not in update.body
    client.force_login(estate.user("executive"))
    assert (
        "Post a client status update"
        not in client.get(f"/incidents/{incident.id}/").content.decode()
    )
    denied = client.post(
        f"/incidents/{incident.id}/status_update/", {"phase": "monitoring", "body": "x"}
    )
    assert denied.status_code == 403
