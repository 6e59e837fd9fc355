"""GET/PUT /api/v1/retention and the retention page: capability, isolation, validation, audit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from watchfloor.audit.models import Action, AuditLog
from watchfloor.snapshots.models import DEFAULTS, RetentionPolicy

pytestmark = pytest.mark.django_db

URL = "/api/v1/retention"


def test_get_shows_the_defaults_with_bounds(estate, api):
    response = api(estate.user("admin")).get(URL)
    assert response.status_code == 200
    body = response.json()
    for field, days in DEFAULTS.items():
        assert body[field] == days
    kinds = {k["field"]: k for k in body["kinds"]}
    assert kinds["audit_days"]["minimum"] == 30 and body["updated_at"] is None


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "executive"])
def test_configure_is_needed(estate, api, role):
    assert api(estate.user(role)).get(URL).status_code == 403
    assert api(estate.user(role)).put(URL, {"audit_days": 800}).status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_anonymous_is_refused(estate, api):
    assert api().get(URL).status_code == 401


def test_put_changes_only_my_tenant_and_is_audited(estate, other_estate, api):
    response = api(estate.user("admin")).put(URL, {"resolved_alerts_days": 30, "audit_days": 1000})
    assert response.status_code == 200, response.content
    assert response.json()["resolved_alerts_days"] == 30
    mine = RetentionPolicy.objects.get(tenant=estate.tenant)
    assert (mine.resolved_alerts_days, mine.audit_days) == (30, 1000)
    assert not RetentionPolicy.objects.filter(tenant=other_estate.tenant).exists()
    theirs = api(other_estate.user("admin")).get(URL).json()
    assert theirs["resolved_alerts_days"] == DEFAULTS["resolved_alerts_days"]
    entry = AuditLog.objects.get(
        action=Action.CONFIG_CHANGE, entity_type="snapshots.retentionpolicy"
    )
    assert entry.tenant_id == estate.tenant.pk
    assert entry.details["before"]["resolved_alerts_days"] == DEFAULTS["resolved_alerts_days"]
    assert entry.details["after"] == {"resolved_alerts_days": 30, "audit_days": 1000}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"deliveries_days": 1}, "deliveries_days"),
        ({"audit_days": 10**30}, "audit_days"),
        ({"snapshots_days": -5}, "snapshots_days"),
        ({"feed_records_days": "ten"}, "feed_records_days"),
        ({"resolved_alerts_days": 3000}, "audit_days"),  # longer than audit (730)
        ({"audit_days": 100}, "audit_days"),  # shorter than incidents (365)
        ({"nonsense_days": 10}, "nonsense_days"),
    ],
)
def test_invalid_periods_are_a_422_naming_the_field_and_nothing_is_stored(
    estate, api, payload, field
):
    response = api(estate.user("admin")).put(URL, payload)
    assert response.status_code == 422, response.content
    assert field in response.json()["error"]["fields"]
    assert not RetentionPolicy.objects.exists()
    assert not AuditLog.objects.filter(entity_type="snapshots.retentionpolicy").exists()


def test_page_shows_and_saves_with_csrf(estate, client):
    client.force_login(estate.user("admin"))
    page = client.get(reverse("dashboard:retention"))
    assert page.status_code == 200
    assert b'name="audit_days"' in page.content and b"csrfmiddlewaretoken" in page.content
    values = {**{k: str(v) for k, v in DEFAULTS.items()}, "deliveries_days": "20"}
    response = client.post(reverse("dashboard:retention"), values)
    assert response.status_code == 302
    assert RetentionPolicy.objects.get(tenant=estate.tenant).deliveries_days == 20
    assert AuditLog.objects.filter(
        action=Action.CONFIG_CHANGE, entity_type="snapshots.retentionpolicy"
    ).exists()


def test_page_refuses_a_post_without_csrf(estate):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(estate.user("admin"))
    values = {k: str(v) for k, v in DEFAULTS.items()}
    assert browser.post(reverse("dashboard:retention"), values).status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_page_names_the_wrong_field(estate, client):
    client.force_login(estate.user("admin"))
    values = {**{k: str(v) for k, v in DEFAULTS.items()}, "audit_days": "40"}
    response = client.post(reverse("dashboard:retention"), values)
    assert response.status_code == 422
    assert b"audit_days" in response.content
    values["audit_days"] = "x\x00"
    assert client.post(reverse("dashboard:retention"), values).status_code == 422
    assert not RetentionPolicy.objects.exists()


def test_page_needs_configure(estate, client):
    client.force_login(estate.user("operator"))
    assert client.get(reverse("dashboard:retention")).status_code == 403
    assert client.post(reverse("dashboard:retention"), {"audit_days": "800"}).status_code == 403
    assert not RetentionPolicy.objects.exists()
