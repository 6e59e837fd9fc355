"""The preview of a window: open alerts in the caller's scope it would match now, masked,
capped with a count; scope and validation errors as 4xx naming the field."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_api import V1, error_fields
from watchfloor.alerts.models import Alert, Status
from watchfloor.ttl import clear_all

URL = f"{V1}/maintenance-windows/preview"


def _alert(site, n, *, labels, status=Status.NEW, type_="HighCPU", title="CPU high"):
    now = timezone.now()
    return Alert.objects.create(
        tenant=site.tenant,
        client=site.client,
        site=site,
        source="alertmanager",
        type=type_,
        severity="HIGH",
        status=status,
        title=title,
        fingerprint=f"fp-{site.id}-{n}",
        content_hash="h",
        labels=labels,
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )


def test_lists_what_the_matchers_select_newest_first_with_a_count(estate, api):
    site = estate.sites[0]
    db = [_alert(site, n, labels={"job": "db", "n": str(n)}) for n in range(5)]
    _alert(site, 10, labels={"job": "web"})
    _alert(site, 11, labels={"job": "db"}, status=Status.RESOLVED)
    _alert(site, 12, labels={"job": "db"}, type_="LowDisk")
    body = {
        "client_id": site.client_id,
        "site_id": site.id,
        "alert_types": ["HighCPU"],
        "matchers": 'job="db"',
        "limit": 3,
    }
    with CaptureQueriesContext(connection) as queries:
        response = api(estate.user("supervisor")).post(URL, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["count"] == 5 and answer["count_is_exact"] is True
    assert [a["id"] for a in answer["items"]] == [a.id for a in reversed(db)][:3]
    assert answer["items"][0]["site"]["id"] == site.id
    # a fixed number of queries, whatever the number of alerts
    for n in range(20, 40):
        _alert(site, n, labels={"job": "db"})
    clear_all()  # as cold as the first request: capabilities are cached per process
    with CaptureQueriesContext(connection) as more:
        again = api(estate.user("supervisor")).post(URL, body)
    assert again.json()["count"] == 25
    assert len(more) == len(queries)


def test_without_matchers_counts_in_sql(estate, api):
    site = estate.sites[0]
    for n in range(3):
        _alert(site, n, labels={})
    body = {"client_id": site.client_id, "limit": 1}
    answer = api(estate.user("supervisor")).post(URL, body).json()
    assert answer["count"] == 3 and len(answer["items"]) == 1


def test_masks_titles_and_labels_for_a_manager_without_view_pii(estate, api, scoped_manager):
    site = estate.sites[0]
    _alert(
        site,
        1,
        labels={"job": "db", "contact": "jane.doe@example.com"},
        title="Call +1-555-123-4567",
    )
    user = scoped_manager("operator")  # client-scoped, manages maintenance, no noc:view_pii
    body = {"client_id": site.client_id, "matchers": 'job="db"'}
    response = api(user).post(URL, body)
    assert response.status_code == 200, response.content
    text = response.content.decode()
    assert "jane.doe@example.com" not in text and "555-123-4567" not in text
    [item] = response.json()["items"]
    assert item["labels"]["job"] == "db"


def test_scope_another_tenants_client_and_sites_outside_scope(estate, other_estate, api):
    other_site = other_estate.sites[0]
    _alert(other_site, 1, labels={"job": "db"})
    caller = api(estate.user("supervisor"))
    response = caller.post(URL, {"client_id": other_site.client_id})
    assert response.status_code == 422
    assert "client_id" in error_fields(response)
    response = caller.post(URL, {"client_id": estate.clients[0].id, "site_id": other_site.id})
    assert response.status_code == 422
    assert "site_id" in error_fields(response)
    mismatch = {"client_id": estate.clients[0].id, "site_id": estate.sites[2].id}
    assert estate.sites[2].client_id != estate.clients[0].id
    response = caller.post(URL, mismatch)
    assert response.status_code == 422
    assert "site_id" in error_fields(response)


def test_a_site_scoped_manager_sees_only_alerts_of_their_sites(estate, api, scoped_manager):
    user = scoped_manager("viewer")  # assigned sites only
    from watchfloor.access.scope import visible_sites

    mine = list(visible_sites(user))
    assert mine, "the viewer fixture is assigned a site"
    client = mine[0].client
    others = [s for s in client.sites.all() if s not in mine] if hasattr(client, "sites") else []
    _alert(mine[0], 1, labels={"job": "db"})
    for n, site in enumerate(others):
        _alert(site, 100 + n, labels={"job": "db"})
    response = api(user).post(URL, {"client_id": client.id, "matchers": 'job="db"'})
    assert response.status_code == 200, response.content
    assert {a["site"]["id"] for a in response.json()["items"]} == {mine[0].id}
    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": 'job=~"("'}, "matchers"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**23}, "limit"),
        ({"alert_types": ["x" * 101]}, "alert_types.0"),
    ],
)
def test_bad_input_names_the_field(estate, api, body, field):
    response = api(estate.user("supervisor")).post(URL, {"client_id": estate.clients[0].id, **body})
    assert response.status_code == 422, response.content
    assert field in error_fields(response)


def test_needs_manage_maintenance(estate, api):
    response = api(estate.user("executive")).post(URL, {"client_id": estate.clients[0].id})
    assert response.status_code == 403
