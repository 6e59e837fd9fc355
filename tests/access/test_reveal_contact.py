"""Revealing a site officer's contact details (`noc:reveal_contact`, #10 section 4)."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from support_api import V1
from watchfloor.access.capabilities import ROLES, Capability
from watchfloor.audit.models import Action, AuditLog

REVEAL = Capability.REVEAL_CONTACT


@pytest.fixture
def officer(estate):
    """The executive (a person with a phone) is the officer of the operator's first site."""
    person = estate.user("executive")
    person.phone = "+1 415 555 0100"
    person.save(update_fields=["phone"])
    site = estate.sites[0]
    site.officer_in_charge = person
    site.save(update_fields=["officer_in_charge"])
    return person


def reveal(api, user, site, payload=None):
    return api(user).post(f"{V1}/sites/{site.id}/officer/reveal", payload)


@pytest.mark.parametrize("role", ["operator", "supervisor", "admin"])
def test_built_in_roles_that_work_alerts_hold_the_capability(estate, role):
    assert REVEAL in ROLES[role]
    group = Group.objects.get(name=role)
    assert group.permissions.filter(codename=REVEAL.codename).exists()


@pytest.mark.parametrize("role", ["viewer", "executive"])
def test_other_built_in_roles_do_not(estate, role):
    assert REVEAL not in ROLES[role]
    assert not Group.objects.get(name=role).permissions.filter(codename=REVEAL.codename).exists()


def test_the_operator_reveals_name_phone_and_email_and_it_is_audited(estate, officer, api):
    operator = estate.user("operator")
    response = reveal(api, operator, estate.sites[0], {"via": "alert_page"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "site_id": estate.sites[0].id,
        "officer": {
            "user_id": officer.id,
            "name": "Executive Person",
            "phone": "+1 415 555 0100",
            "email": officer.email,
        },
    }
    entry = AuditLog.objects.get(action=Action.VIEW_SENSITIVE)
    assert entry.actor_id == operator.id
    assert (entry.entity_type, entry.entity_id) == ("tenancy.site", str(estate.sites[0].id))
    assert entry.details == {
        "what": "officer_contact",
        "officer_id": officer.id,
        "via": "alert_page",
    }
    text = str(entry.details)
    assert "415" not in text and "Executive" not in text and "@" not in text


def test_lists_stay_masked_for_the_operator(estate, officer, api):
    site = api(estate.user("operator")).get(f"{V1}/sites/{estate.sites[0].id}").json()
    assert site["officer_in_charge"]["full_name"] != "Executive Person"


def test_without_the_capability_it_is_a_403_and_nothing_is_revealed(estate, officer, api):
    response = reveal(api, estate.user("executive"), estate.sites[0])
    assert response.status_code == 403
    assert "noc:reveal_contact" in response.json()["error"]["message"]
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).exists()


def test_out_of_scope_and_other_tenant_sites_are_404(estate, other_estate, officer, api):
    operator = estate.user("operator")  # scoped to the first client
    assert reveal(api, operator, estate.sites[2]).status_code == 404
    assert reveal(api, operator, other_estate.sites[0]).status_code == 404
    assert reveal(api, other_estate.user("admin"), estate.sites[0]).status_code == 404
    response = api(operator).post(f"{V1}/sites/999999/officer/reveal")
    assert response.status_code == 404
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()


def test_a_site_without_an_officer_reveals_nothing_and_audits_nothing(estate, api):
    response = reveal(api, estate.user("operator"), estate.sites[1])
    assert response.status_code == 200
    assert response.json() == {"site_id": estate.sites[1].id, "officer": None}
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()


def test_get_is_not_a_reveal(estate, officer, api):
    response = api(estate.user("operator")).get(f"{V1}/sites/{estate.sites[0].id}/officer/reveal")
    assert response.status_code == 405
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()


def test_an_unknown_via_is_a_422_naming_the_field(estate, officer, api):
    response = reveal(api, estate.user("operator"), estate.sites[0], {"via": "elsewhere"})
    assert response.status_code == 422
    assert "via" in response.json()["error"]["fields"]


def test_the_role_migration_is_reversible(estate):
    migration = importlib.import_module("watchfloor.access.migrations.0003_reveal_contact")
    from django.apps import apps

    migration.remove_capability(apps, None)
    assert not Permission.objects.filter(codename=REVEAL.codename).exists()
    assert not Group.objects.get(name="operator").permissions.filter(codename=REVEAL.codename)
    migration.add_capability(apps, None)
    for role in ("operator", "supervisor", "admin"):
        assert Group.objects.get(name=role).permissions.filter(codename=REVEAL.codename).exists()


@pytest.mark.parametrize("site_id", ["100000000000000000000000", "0", "-1", "abc"])
def test_a_bad_site_id_is_a_4xx_never_a_500(estate, api, site_id):
    response = api(estate.user("operator")).post(f"{V1}/sites/{site_id}/officer/reveal")
    assert 400 <= response.status_code < 500, response.content


def test_a_nul_in_via_is_a_422(estate, officer, api):
    response = reveal(api, estate.user("operator"), estate.sites[0], {"via": "api\x00"})
    assert response.status_code == 422
