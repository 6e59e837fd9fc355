"""Clients and sites through the API: create, read, update, filter."""

from __future__ import annotations

import pytest

from support_api import V1
from watchfloor.tenancy.models import Client, Site


def test_create_and_read_client(estate, api):
    caller = api(estate.user("admin"))
    owner = estate.user("supervisor")
    response = caller.post(
        f"{V1}/clients", {"code": " acme-c9 ", "name": "Client 9", "owner_id": owner.id}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "acme-c9"  # stripped
    assert body["owner"]["id"] == owner.id
    assert body["site_count"] == 0 and body["active"] is True
    stored = Client.objects.get(pk=body["id"])
    assert (stored.tenant_id, stored.owner_id) == (estate.tenant.id, owner.id)
    assert caller.get(f"{V1}/clients/{body['id']}").json() == body


def test_patch_client_changes_only_sent_fields(estate, api):
    client = estate.clients[0]
    caller = api(estate.user("admin"))
    response = caller.patch(f"{V1}/clients/{client.id}", {"active": False})
    assert response.status_code == 200, response.content
    client.refresh_from_db()
    assert (client.active, client.name, client.code) == (False, "Client 1", "acme-c1")
    assert response.json()["site_count"] == 2
    # an owner can be set and cleared
    owner = estate.user("operator")
    assert (
        caller.patch(f"{V1}/clients/{client.id}", {"owner_id": owner.id}).json()["owner"]["id"]
        == owner.id
    )
    assert caller.patch(f"{V1}/clients/{client.id}", {"owner_id": None}).json()["owner"] is None


def test_create_and_patch_site(estate, api):
    caller = api(estate.user("admin"))
    officer = estate.user("operator")
    response = caller.post(
        f"{V1}/sites",
        {
            "code": "hq",
            "name": "Headquarters",
            "client_id": estate.clients[1].id,
            "city": "Boston",
            "state": "MA",
            "latitude": 42.36,
            "longitude": -71.06,
            "timezone": "America/New_York",
            "officer_in_charge_id": officer.id,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["client"] == {
        "id": estate.clients[1].id,
        "code": estate.clients[1].code,
        "name": estate.clients[1].name,
    }
    assert body["officer_in_charge"]["id"] == officer.id
    assert (body["latitude"], body["timezone"]) == (42.36, "America/New_York")

    moved = caller.patch(
        f"{V1}/sites/{body['id']}",
        {"client_id": estate.clients[0].id, "latitude": None, "officer_in_charge_id": None},
    )
    assert moved.status_code == 200, moved.content
    site = Site.objects.get(pk=body["id"])
    assert (site.client_id, site.latitude, site.officer_in_charge_id) == (
        estate.clients[0].id,
        None,
        None,
    )
    assert moved.json()["client"]["id"] == estate.clients[0].id


@pytest.fixture
def filtered(estate):
    officer = estate.user("supervisor")
    sites = estate.sites
    sites[0].officer_in_charge = officer
    sites[0].save(update_fields=["officer_in_charge"])
    sites[3].active = False
    sites[3].name = "Warehouse east"
    sites[3].save(update_fields=["active", "name"])
    return estate, officer


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"client": "{client0_id}"}, {0, 1}),
        ({"client": "acme-c2"}, {2, 3}),
        ({"city": "austin"}, {0, 2}),
        ({"state": "CO"}, {1, 3}),
        ({"officer": "{officer_id}"}, {0}),
        ({"active": "false"}, {3}),
        ({"active": "true"}, {0, 1, 2}),
        ({"q": "warehouse"}, {3}),
        ({"q": "c2-s1"}, {2}),
        ({"q": "denver"}, {1, 3}),
        ({"client": "acme-c2", "active": "true"}, {2}),
        ({"client": "no-such-client"}, set()),
    ],
)
def test_site_filters(filtered, api, params, expected):
    estate, officer = filtered
    values = {"client0_id": estate.clients[0].id, "officer_id": officer.id}
    query = {k: v.format(**values) for k, v in params.items()}
    items = api(estate.user("admin")).get(f"{V1}/sites", **query).json()["items"]
    assert {i["id"] for i in items} == {estate.sites[n].id for n in expected}


def test_site_filters_stay_inside_the_scope(filtered, api):
    estate, _ = filtered
    items = api(estate.user("operator")).get(f"{V1}/sites", client="acme-c2").json()["items"]
    assert items == []


def test_client_active_filter(estate, api):
    estate.clients[1].active = False
    estate.clients[1].save(update_fields=["active"])
    caller = api(estate.user("admin"))
    assert [c["id"] for c in caller.get(f"{V1}/clients", active="false").json()["items"]] == [
        estate.clients[1].id
    ]
    assert [c["id"] for c in caller.get(f"{V1}/clients", active="true").json()["items"]] == [
        estate.clients[0].id
    ]
