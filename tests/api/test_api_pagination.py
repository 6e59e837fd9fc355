"""Cursor pagination: every visible row once, in a stable order, even while rows are added."""

from __future__ import annotations

import pytest

from support_api import V1
from watchfloor.tenancy.models import Site


@pytest.fixture
def many_sites(estate):
    """Ten sites in the tenant: the fixture's four plus six more spread over both clients."""
    for i in range(6):
        Site.objects.create(
            tenant=estate.tenant,
            client=estate.clients[i % 2],
            code=f"extra-{i}",
            name=f"Extra {i}",
            city="Austin",
        )
    return estate


def _walk(caller, path, limit, *, params=None, between_pages=None):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **(params or {}), **({"cursor": cursor} if cursor else {})}
        response = caller.get(V1 + path, **query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["items"]) <= limit
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        pages += 1
        if between_pages:
            between_pages(pages)
        if cursor is None:
            return seen, pages
        assert pages < 100, "pagination does not end"


@pytest.mark.parametrize("limit", [1, 2, 3])
@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_all_pages_give_every_visible_site_once_in_order(many_sites, api, limit, role):
    from watchfloor.access.scope import visible_sites

    user = many_sites.user(role)
    expected = sorted(visible_sites(user).values_list("id", flat=True))
    seen, pages = _walk(api(user), "/sites", limit)
    assert seen == expected
    assert pages == max(1, -(-len(expected) // limit))  # no empty trailing page


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_order_is_stable_across_walks(many_sites, api, limit):
    caller = api(many_sites.user("admin"))
    assert _walk(caller, "/sites", limit)[0] == _walk(caller, "/sites", limit)[0]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_sites_created_during_iteration_cause_no_duplicates(many_sites, api, limit):
    estate = many_sites
    caller = api(estate.user("admin"))
    before = set(Site.objects.filter(tenant=estate.tenant).values_list("id", flat=True))
    created = []

    def add_site(page):
        if page <= 3:
            created.append(
                Site.objects.create(
                    tenant=estate.tenant,
                    client=estate.clients[0],
                    code=f"during-{page}",
                    name="Added while paging",
                ).id
            )

    seen, _ = _walk(caller, "/sites", limit, between_pages=add_site)
    assert len(seen) == len(set(seen)), "a site was returned twice"
    assert before <= set(seen), "a site that existed before the walk was skipped"
    assert set(seen) <= before | set(created)
    assert seen == sorted(seen)


def test_filters_and_cursor_combine(many_sites, api):
    caller = api(many_sites.user("admin"))
    expected = sorted(
        Site.objects.filter(tenant=many_sites.tenant, city="Austin").values_list("id", flat=True)
    )
    seen, _ = _walk(caller, "/sites", 2, params={"city": "austin"})
    assert seen == expected


@pytest.mark.parametrize("path", ["/clients", "/tokens", "/integration-keys"])
def test_other_lists_paginate_the_same_way(estate, api, issue_key, path):
    from watchfloor.access.models import ApiToken, IntegrationKey
    from watchfloor.access.services import create_api_token
    from watchfloor.tenancy.models import Client

    admin = estate.user("admin")
    for i in range(5):
        Client.objects.create(tenant=estate.tenant, code=f"more-{i}", name=f"More {i}")
        create_api_token(admin, name=f"t{i}")
        issue_key(estate, name=f"k{i}")
    caller = api(admin)
    expected = {
        "/clients": sorted(
            Client.objects.filter(tenant=estate.tenant).values_list("id", flat=True)
        ),
        # tokens and keys are listed newest first
        "/tokens": sorted(ApiToken.objects.filter(user=admin).values_list("id", flat=True))[::-1],
        "/integration-keys": sorted(
            IntegrationKey.objects.filter(tenant=estate.tenant).values_list("id", flat=True)
        )[::-1],
    }[path]
    for limit in (1, 2, 3):
        assert _walk(caller, path, limit)[0] == expected


def test_default_page_size_applies_without_limit(estate, api, settings):
    settings.API_PAGE_SIZE = 2
    body = api(estate.user("admin")).get(f"{V1}/sites").json()
    assert len(body["items"]) == 2 and body["next_cursor"]


def test_last_page_has_no_cursor(estate, api):
    body = api(estate.user("admin")).get(f"{V1}/sites", limit=4).json()
    assert len(body["items"]) == 4
    assert body["next_cursor"] is None
