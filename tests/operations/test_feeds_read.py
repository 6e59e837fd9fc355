"""The feeds' read API: capability, scope, another tenant's ids, masking, filters, paging and
query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from support_api import error_fields
from watchfloor.operations.models import Device, OperationsPolicy, Ticket

V1 = "/api/v1/operations"


@pytest.fixture
def seeded(estate, other_estate, feed, feed_key):
    """Tickets on every site of both tenants (one overdue per site), devices, work orders,
    attendance with names."""
    now = timezone.now()
    for est in (estate, other_estate):
        post = feed(feed_key(est)).post
        tickets, devices, shifts, orders = [], [], [], []
        for i, site in enumerate(est.sites):
            tickets += [
                {
                    "external_id": f"T-{i}-late",
                    "site": site.code,
                    "title": "Door forced",
                    "priority": "P1",
                    "status": "OPEN",
                    "opened_at": (now - timedelta(hours=10)).isoformat(),
                    "assignee_name": "Maria Lopez",
                },
                {
                    "external_id": f"T-{i}-ok",
                    "site": site.code,
                    "title": "Light out",
                    "priority": "P4",
                    "status": "IN_PROGRESS",
                    "opened_at": now.isoformat(),
                },
            ]
            devices += [
                {
                    "external_id": f"D-{i}-quiet",
                    "site": site.code,
                    "name": "Panic button",
                    "device_type": "panic_button",
                    "status": "ONLINE",
                    "last_seen_at": (now - timedelta(minutes=30)).isoformat(),
                },
                {
                    "external_id": f"D-{i}-cam",
                    "site": site.code,
                    "name": "Camera",
                    "device_type": "camera",
                    "status": "ONLINE",
                    "last_seen_at": (now - timedelta(minutes=30)).isoformat(),
                },
            ]
            shifts.append(
                {
                    "external_id": f"A-{i}",
                    "site": site.code,
                    "person_ref": f"G-{i}",
                    "person_name": "John Guard",
                    "shift_start": (now - timedelta(hours=1)).isoformat(),
                    "shift_end": (now + timedelta(hours=7)).isoformat(),
                    "status": "MISSING",
                }
            )
            orders.append(
                {
                    "external_id": f"W-{i}",
                    "site": site.code,
                    "title": "Fix fence",
                    "status": "PENDING",
                    "deadline_at": (now - timedelta(days=1)).isoformat(),
                    "assignee_name": "Maria Lopez",
                }
            )
        for path, batch in (
            ("tickets", tickets),
            ("devices", devices),
            ("attendance", shifts),
            ("work-orders", orders),
        ):
            assert post(path, batch).status_code == 200
    # cameras of acme fall silent after 60 minutes, the rest after the default 15
    OperationsPolicy.objects.create(tenant=estate.tenant, device_silence_by_type={"camera": 60})
    return estate


def test_lists_are_scoped_and_masked_for_an_operator(seeded, api):
    operator = seeded.user("operator")  # first client only, no noc:view_pii
    body = api(operator).get(f"{V1}/tickets").json()
    assert len(body["items"]) == 4
    assert {t["client"]["code"] for t in body["items"]} == {"acme-c1"}
    late = [t for t in body["items"] if t["external_id"].endswith("late")]
    assert all(t["overdue"] for t in late)
    assert all(t["assignee_name"] not in ("", "Maria Lopez") for t in late)
    people = api(operator).get(f"{V1}/attendance").json()["items"]
    assert people and all(p["person_name"] != "John Guard" for p in people)
    orders = api(operator).get(f"{V1}/work-orders").json()["items"]
    assert orders and all(o["assignee_name"] != "Maria Lopez" and o["overdue"] for o in orders)


def test_a_viewer_sees_only_their_site(seeded, api):
    viewer = seeded.user("viewer")
    items = api(viewer).get(f"{V1}/devices").json()["items"]
    assert {d["site"]["code"] for d in items} == {seeded.sites[2].code}


def test_pii_holders_see_names(seeded, api):
    body = api(seeded.user("supervisor")).get(f"{V1}/tickets", overdue="true").json()
    assert len(body["items"]) == 4
    assert {t["assignee_name"] for t in body["items"]} == {"Maria Lopez"}
    shifts = api(seeded.user("supervisor")).get(f"{V1}/attendance").json()["items"]
    assert {s["person_name"] for s in shifts} == {"John Guard"}


def test_filters(seeded, api):
    admin = api(seeded.user("admin"))
    c2 = seeded.clients[1].id
    assert len(admin.get(f"{V1}/tickets", client=c2).json()["items"]) == 4
    assert len(admin.get(f"{V1}/tickets", priority="P4").json()["items"]) == 4
    assert len(admin.get(f"{V1}/tickets", status="open,on_hold").json()["items"]) == 4
    assert len(admin.get(f"{V1}/tickets", overdue="false").json()["items"]) == 4
    site = seeded.sites[0].id
    assert len(admin.get(f"{V1}/tickets", site=site).json()["items"]) == 2
    silent = admin.get(f"{V1}/devices", silent="true").json()["items"]
    assert {d["device_type"] for d in silent} == {"panic_button"}
    assert all(d["silent"] for d in silent)
    awake = admin.get(f"{V1}/devices", silent="false").json()["items"]
    assert {d["device_type"] for d in awake} == {"camera"} and not any(d["silent"] for d in awake)
    bad = admin.get(f"{V1}/tickets", status="NOPE")
    assert bad.status_code == 422 and "status" in error_fields(bad)


def test_paging_walks_every_record_once(seeded, api):
    admin = api(seeded.user("admin"))
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = admin.get(f"{V1}/tickets", **params).json()
        seen += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, reverse=True)


def test_detail_and_another_tenants_id(seeded, other_estate, api):
    mine = Ticket.objects.filter(tenant=seeded.tenant).first()
    theirs = Ticket.objects.filter(tenant=other_estate.tenant).first()
    admin = api(seeded.user("admin"))
    assert admin.get(f"{V1}/tickets/{mine.id}").json()["external_id"] == mine.external_id
    assert admin.get(f"{V1}/tickets/{theirs.id}").status_code == 404
    # out of the operator's scope: the same 404
    outside = Ticket.objects.filter(tenant=seeded.tenant, client=seeded.clients[1]).first()
    assert api(seeded.user("operator")).get(f"{V1}/tickets/{outside.id}").status_code == 404
    theirs_device = Device.objects.filter(tenant=other_estate.tenant).first()
    assert admin.get(f"{V1}/devices/{theirs_device.id}").status_code == 404


def test_the_read_api_needs_noc_view(seeded, api, client):
    from watchfloor.tenancy.models import User

    nobody = User.objects.create_user(username="acme-nobody", password="x", tenant=seeded.tenant)
    response = api(nobody).get(f"{V1}/tickets")
    assert response.status_code == 403
    assert client.get(f"{V1}/tickets").status_code == 401


@pytest.mark.parametrize(
    ("path", "queries"),
    [("tickets", 1), ("work-orders", 1), ("attendance", 1), ("devices", 2), ("geofence-events", 1)],
)
def test_list_query_counts_do_not_grow_with_the_page(seeded, token_for, client, path, queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    header = token_for(seeded.user("supervisor"))
    client.get(f"{V1}/{path}", HTTP_AUTHORIZATION=header)  # warm the token and capability caches
    # token lookup + user + capabilities are the API's own; the list itself is `queries`
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"{V1}/{path}", {"limit": 50}, HTTP_AUTHORIZATION=header)
    assert response.status_code == 200
    list_queries = [q["sql"] for q in captured.captured_queries if '"operations_' in q["sql"]]
    assert len(list_queries) == queries, list_queries
