"""Tenancy services: validation, tenant checks and audit happen below the API as well."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy import services
from watchfloor.tenancy.models import Client, Site


def _config_rows():
    return AuditLog.objects.filter(action=Action.CONFIG_CHANGE).count()


def test_services_refuse_objects_of_another_tenant(estate, other_estate):
    admin = estate.user("admin")
    before = (Site.objects.count(), _config_rows())
    with pytest.raises(ValidationError) as exc:
        services.create_site(
            estate.tenant, actor=admin, code="x", name="x", client=other_estate.clients[0]
        )
    assert "client" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.update_client(estate.clients[0], actor=admin, owner=other_estate.user("admin"))
    assert "owner" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.update_site(
            estate.sites[0], actor=admin, officer_in_charge=other_estate.user("viewer")
        )
    assert "officer_in_charge" in exc.value.message_dict
    assert (Site.objects.count(), _config_rows()) == before


def test_duplicate_code_is_reported_on_code(estate):
    with pytest.raises(ValidationError) as exc:
        services.create_client(
            estate.tenant, actor=estate.user("admin"), code=estate.clients[0].code, name="Dup"
        )
    assert set(exc.value.message_dict) == {"code"}


def test_a_code_taken_between_check_and_save_is_still_a_422_on_code(estate, monkeypatch):
    """The unique constraint is the last word: a concurrent insert becomes a ValidationError."""
    monkeypatch.setattr(services, "_validate", lambda obj: None)  # as if the check ran earlier
    before = (Client.objects.count(), _config_rows())
    with pytest.raises(ValidationError) as exc:
        services.create_client(
            estate.tenant, actor=estate.user("admin"), code=estate.clients[0].code, name="Race"
        )
    assert set(exc.value.message_dict) == {"code"}
    with pytest.raises(ValidationError) as exc:
        services.update_site(estate.sites[0], actor=None, code=estate.sites[1].code)
    assert set(exc.value.message_dict) == {"code"}
    assert (Client.objects.count(), _config_rows()) == before


def test_unknown_fields_are_refused(estate):
    with pytest.raises(ValidationError) as exc:
        services.update_client(estate.clients[0], actor=None, tenant=None)
    assert "tenant" in exc.value.message_dict


def test_create_writes_one_audit_row_naming_the_fields(estate):
    site = services.create_site(
        estate.tenant,
        actor=estate.user("admin"),
        code="svc-1",
        name="By service",
        client=estate.clients[0],
        city="Reno",
    )
    row = AuditLog.objects.filter(action=Action.CONFIG_CHANGE).latest("id")
    assert (row.entity_type, row.entity_id) == ("tenancy.site", str(site.id))
    assert row.details == {
        "change": "site.create",
        "code": "svc-1",
        "fields": ["city", "client", "code", "name"],
    }
