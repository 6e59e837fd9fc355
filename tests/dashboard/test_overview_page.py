"""The overview page shell: who may open it, and what its config tells the page's script."""

from __future__ import annotations

import json
import re

import pytest


def config_of(response) -> dict:
    match = re.search(
        r'<script id="overview-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the page carries its config"
    return json.loads(match.group(1))


def test_overview_needs_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_overview_gives_the_script_the_users_choices_and_capabilities(client, estate):
    client.force_login(estate.user("operator"))
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies  # the page writes through the API
    config = config_of(response)
    assert [c["code"] for c in config["choices"]["clients"]] == [estate.clients[0].code]
    assert config["choices"]["cities"] == ["Austin", "Denver"]
    # each city with its state, so choosing a state narrows the cities (#10 bug 15)
    assert config["choices"]["places"] == [
        {"city": "Austin", "state": "TX"},
        {"city": "Denver", "state": "CO"},
    ]
    # client ids: the tiles and the feed link to the alerts page, which filters by client id
    assert config["choices"]["clients"][0]["id"] == estate.clients[0].id
    assert config["alerts_url"] == "/alerts/"
    assert "noc:ack_alerts" in config["capabilities"]
    assert config["ws_path"] == "/ws/dashboard/"
    assert config["alert_url"] == "/alerts/0/"
    assert set(config["preferences"]) >= {"default_filters", "refresh_seconds", "theme"}


def test_a_viewer_gets_no_assignees_and_no_ack_capability(client, estate):
    client.force_login(estate.user("viewer"))
    config = config_of(client.get("/"))
    assert config["choices"]["assignees"] == []
    assert "noc:ack_alerts" not in config["capabilities"]
    assert [c["code"] for c in config["choices"]["clients"]] == [estate.clients[1].code]


def test_assignee_names_are_masked_without_view_pii(client, estate):
    client.force_login(estate.user("operator"))  # may assign, lacks noc:view_pii
    config = config_of(client.get("/"))
    names = {p["name"] for p in config["choices"]["assignees"]}
    assert names and "Admin Person" not in names
    client.force_login(estate.user("admin"))
    names = {p["name"] for p in config_of(client.get("/"))["choices"]["assignees"]}
    assert "Admin Person" in names


def test_another_tenants_people_are_not_offered(client, estate, other_estate):
    client.force_login(estate.user("admin"))
    ids = {p["id"] for p in config_of(client.get("/"))["choices"]["assignees"]}
    assert ids and not ids & {u.id for u in other_estate.users.values()}


@pytest.mark.parametrize("sites", [4, 40])
def test_overview_query_count_does_not_grow(client, estate, sites, django_assert_max_num_queries):
    from watchfloor.tenancy.models import Site

    for i in range(sites - 4):
        Site.objects.create(
            tenant=estate.tenant, client=estate.clients[0], code=f"x{i}", name=f"X{i}", city=f"C{i}"
        )
    client.force_login(estate.user("admin"))
    client.get("/")
    with django_assert_max_num_queries(14):
        assert client.get("/").status_code == 200
