"""List endpoints run a constant number of queries, whatever the number of rows (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_api import V1
from watchfloor.access.services import create_api_token
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.tenancy.models import Client, Site, User

# a page never needs more than this many queries (auth, capabilities, the page, a count or two)
CEILING = 8


def _grow(estate, issue_key, kind: str, n: int) -> None:
    """Add n rows of a kind, each with its own related rows (owner, officer, actor, client)."""
    admin = estate.user("admin")
    start = User.objects.count()
    for i in range(start, start + n):
        person = User.objects.create_user(
            username=f"person-{i}", tenant=estate.tenant, first_name="Per", last_name=f"Son{i}"
        )
        if kind == "/clients":
            client = Client.objects.create(
                tenant=estate.tenant, code=f"c-{i}", name=f"C {i}", owner=person
            )
            Site.objects.create(tenant=estate.tenant, client=client, code=f"s-{i}", name="S")
        elif kind == "/sites":
            client = Client.objects.create(tenant=estate.tenant, code=f"c-{i}", name=f"C {i}")
            Site.objects.create(
                tenant=estate.tenant,
                client=client,
                code=f"s-{i}",
                name=f"S {i}",
                officer_in_charge=person,
            )
        elif kind == "/audit":
            record(Action.EXPORT, actor=person, entity=estate.sites[i % 4], details={"i": i})
        elif kind == "/tokens":
            create_api_token(admin, name=f"t-{i}")
        elif kind == "/integration-keys":
            issue_key(
                estate,
                name=f"k-{i}",
                default_client=estate.clients[0],
                default_site=estate.sites[0],
            )


def _queries(caller, path, params=None) -> int:
    caller.get(V1 + path, **(params or {}))  # warm up: the token's last_used_at is written once
    with CaptureQueriesContext(connection) as ctx:
        response = caller.get(V1 + path, limit=500, **(params or {}))
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), len(response.json()["items"])


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/clients", "admin"),
        ("/clients", "operator"),
        ("/clients", "viewer"),
        ("/sites", "admin"),
        ("/sites", "operator"),
        ("/audit", "admin"),
        ("/tokens", "admin"),
        ("/integration-keys", "admin"),
    ],
)
def test_list_query_count_does_not_grow_with_rows(estate, api, issue_key, path, role):
    user = estate.user(role)
    caller = api(user)
    _grow(estate, issue_key, path, 2)
    few, few_items = _queries(caller, path)
    _grow(estate, issue_key, path, 18)
    many, many_items = _queries(caller, path)

    if role == "admin":
        assert many_items >= few_items + 18, "the new rows are listed"
    assert many == few, f"{path}: {few} queries for {few_items} rows, {many} for {many_items}"
    assert many <= CEILING


def test_site_filters_do_not_add_per_row_queries(estate, api, issue_key):
    caller = api(estate.user("admin"))
    params = {"city": "austin", "state": "TX", "active": "true", "q": "s", "client": "acme-c1"}
    _grow(estate, issue_key, "/sites", 2)
    few, _ = _queries(caller, "/sites", params)
    _grow(estate, issue_key, "/sites", 18)
    assert _queries(caller, "/sites", params)[0] == few
