"""Maintenance windows through the API: create, read, change, cancel, list; scope and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_api import V1, error_code, error_fields
from watchfloor.audit.models import Action, AuditLog
from watchfloor.maintenance.models import MaintenanceWindow

URL = f"{V1}/maintenance-windows"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _body(estate, **values):
    starts_at = timezone.now() + timedelta(hours=1)
    return {
        "client_id": estate.clients[0].id,
        "title": "Firewall replacement",
        "starts_at": _iso(starts_at),
        "ends_at": _iso(starts_at + timedelta(hours=3)),
        **values,
    }


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [w["id"] for w in response.json()["items"]]


def test_create_read_and_list(estate, api, publisher, django_capture_on_commit_callbacks):
    caller = api(estate.user("supervisor"))
    site = estate.sites[1]
    with django_capture_on_commit_callbacks(execute=True):
        response = caller.post(
            URL,
            _body(
                estate,
                site_id=site.id,
                title="  Firewall replacement ",
                reason="Vendor swap",
                kind="EMERGENCY",
                alert_types=["DEVICE_OFFLINE", "HighLatency"],
            ),
        )
    assert response.status_code == 201, response.content
    body = response.json()
    window = MaintenanceWindow.objects.get()
    assert body["id"] == window.id
    assert body["title"] == "Firewall replacement"
    assert body["client"] == {
        "id": estate.clients[0].id,
        "code": estate.clients[0].code,
        "name": estate.clients[0].name,
    }
    assert body["site"] == {"id": site.id, "code": site.code, "name": site.name}
    assert (body["kind"], body["state"]) == ("EMERGENCY", "upcoming")
    assert body["alert_types"] == ["DEVICE_OFFLINE", "HighLatency"]
    assert body["created_by"]["username"] == estate.user("supervisor").username
    assert body["cancelled_at"] is None and body["cancelled_by"] is None
    assert body["suppressed_alerts_url"] == f"/api/v1/alerts?maintenance_window={window.id}"
    assert "suppressed_count" not in body

    assert caller.get(f"{URL}/{window.id}").json() == body
    assert caller.get(URL).json() == {"items": [body], "next_cursor": None}
    assert [e["type"] for e in publisher.events] == ["maintenance.created"]
    assert AuditLog.objects.filter(action=Action.MAINTENANCE_CREATE).count() == 1


def test_a_datetime_without_offset_is_utc(estate, api):
    starts_at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    body = _body(
        estate,
        starts_at=starts_at.astimezone(UTC).replace(tzinfo=None).isoformat(),
        ends_at=_iso(starts_at + timedelta(hours=1)),
    )
    response = api(estate.user("admin")).post(URL, body)
    assert response.status_code == 201, response.content
    assert MaintenanceWindow.objects.get().starts_at == starts_at


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"client_id": None}, "client_id"),
        ({"kind": "MAYBE"}, "kind"),
        ({"alert_types": ["DEVICE_OFFLINE", ""]}, "alert_types.1"),
        ({"alert_types": "DEVICE_OFFLINE"}, "alert_types"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_refuses_malformed_bodies_naming_the_field(estate, api, change, field):
    response = api(estate.user("supervisor")).post(URL, _body(estate, **change))
    assert response.status_code == 422, response.content
    assert field in error_fields(response)
    assert not MaintenanceWindow.objects.exists()


def test_create_refuses_rule_breaks_naming_the_field(estate, other_estate, api):
    caller = api(estate.user("supervisor"))
    now = timezone.now()
    cases = [
        ({"ends_at": _iso(now + timedelta(minutes=30))}, "ends_at"),  # before starts_at
        ({"starts_at": _iso(now - timedelta(hours=3)), "ends_at": _iso(now)}, "ends_at"),
        ({"ends_at": _iso(now + timedelta(days=40))}, "ends_at"),
        ({"site_id": estate.sites[2].id}, "site_id"),  # a site of the other client
        ({"site_id": 999_999}, "site_id"),
        ({"client_id": other_estate.clients[0].id}, "client_id"),
        ({"client_id": 999_999}, "client_id"),
    ]
    for change, field in cases:
        response = caller.post(URL, _body(estate, **change))
        assert response.status_code == 422, (change, response.content)
        assert set(error_fields(response)) == {field}, change
    response = caller.post(URL, _body(estate, **cases[0][0]))
    assert error_fields(response)["ends_at"] == "Must be after starts_at."
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "operator", "executive"])
def test_writing_needs_manage_maintenance(estate, api, make_window, role):
    window = make_window(estate, site=estate.sites[2])  # the viewer's site
    caller = api(estate.user(role))
    response = caller.post(URL, _body(estate))
    assert response.status_code == 403, response.content
    assert "noc:manage_maintenance" in response.json()["error"]["message"]
    for method, path, payload in [
        ("patch", f"{URL}/{window.id}", {"title": "x"}),
        ("post", f"{URL}/{window.id}/cancel", None),
    ]:
        response = getattr(caller, method)(path, payload)
        # the operator does not see client 2: a 404 before any capability is checked
        expected = 404 if role == "operator" else 403
        assert response.status_code == expected, (role, method, response.content)
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).exists()
    assert MaintenanceWindow.objects.get().cancelled_at is None
    assert not MaintenanceWindow.objects.exclude(pk=window.pk).exists()


def test_reading_needs_view(estate, api, make_window):
    from watchfloor.tenancy.models import User

    window = make_window(estate)
    nobody = User.objects.create_user("no-role", tenant=estate.tenant)
    caller = api(nobody)
    assert caller.get(URL).status_code == 403
    assert caller.get(f"{URL}/{window.id}").status_code == 403
    assert api().get(URL).status_code == 401


def test_another_tenants_window_is_a_404_everywhere(estate, other_estate, api, make_window):
    theirs = make_window(other_estate)
    caller = api(estate.user("admin"))
    for response in [
        caller.get(f"{URL}/{theirs.id}"),
        caller.patch(f"{URL}/{theirs.id}", {"title": "mine now"}),
        caller.post(f"{URL}/{theirs.id}/cancel"),
        caller.get(f"{URL}/{theirs.id + 1000}"),
    ]:
        assert response.status_code == 404, response.content
        assert error_code(response) == "not_found"
    assert _ids(caller.get(URL)) == []
    theirs.refresh_from_db()
    assert theirs.title == "Window" and theirs.cancelled_at is None


def test_out_of_scope_windows_are_a_404_even_for_a_manager(
    estate, api, make_window, scoped_manager
):
    operator = scoped_manager("operator")  # client 1 only, can manage maintenance
    outside = make_window(estate, client=estate.clients[1])
    inside = make_window(estate, client=estate.clients[0])
    caller = api(operator)
    assert caller.get(f"{URL}/{outside.id}").status_code == 404
    assert caller.patch(f"{URL}/{outside.id}", {"title": "x"}).status_code == 404
    assert caller.post(f"{URL}/{outside.id}/cancel").status_code == 404
    assert _ids(caller.get(URL)) == [inside.id]
    # ids outside the scope in a body are a 422 on that field
    response = caller.post(URL, _body(estate, client_id=estate.clients[1].id))
    assert set(error_fields(response)) == {"client_id"}
    response = caller.patch(f"{URL}/{inside.id}", {"client_id": estate.clients[1].id})
    assert set(error_fields(response)) == {"client_id"}
    response = caller.patch(f"{URL}/{inside.id}", {"site_id": estate.sites[2].id})
    assert set(error_fields(response)) == {"site_id"}
    # inside the scope it works
    assert caller.post(URL, _body(estate)).status_code == 201
    assert caller.post(f"{URL}/{inside.id}/cancel").status_code == 200


def test_site_scoped_users_see_their_sites_and_their_clients_wide_windows(estate, api, make_window):
    viewer = estate.user("viewer")  # sees site 3 (the first site of client 2)
    own_site = make_window(estate, site=estate.sites[2])
    client_wide = make_window(estate, client=estate.clients[1])
    make_window(estate, site=estate.sites[3])  # client 2's other site: not theirs
    make_window(estate, client=estate.clients[0])
    caller = api(viewer)
    assert sorted(_ids(caller.get(URL))) == sorted([own_site.id, client_wide.id])
    assert caller.get(f"{URL}/{client_wide.id}").status_code == 200


def test_site_scoped_managers_write_only_windows_on_their_sites(
    estate, api, make_window, scoped_manager
):
    caller = api(scoped_manager("viewer"))
    client_wide = make_window(estate, client=estate.clients[1])
    own = make_window(estate, site=estate.sites[2])

    response = caller.post(URL, _body(estate, client_id=estate.clients[1].id))
    assert set(error_fields(response)) == {"site_id"}  # a client-wide window reaches other sites
    response = caller.post(
        URL, _body(estate, client_id=estate.clients[1].id, site_id=estate.sites[3].id)
    )
    assert set(error_fields(response)) == {"site_id"}
    response = caller.post(
        URL, _body(estate, client_id=estate.clients[1].id, site_id=estate.sites[2].id)
    )
    assert response.status_code == 201, response.content

    response = caller.post(f"{URL}/{client_wide.id}/cancel")
    assert response.status_code == 403 and error_code(response) == "forbidden"
    response = caller.patch(f"{URL}/{own.id}", {"site_id": None})
    assert set(error_fields(response)) == {"site_id"}
    assert caller.post(f"{URL}/{own.id}/cancel").status_code == 200


def test_patch_changes_only_sent_fields(estate, api, make_window, publisher):
    window = make_window(estate, site=estate.sites[0], offset=1, alert_types=["A"])
    caller = api(estate.user("supervisor"))
    ends_at = window.ends_at + timedelta(hours=2)
    response = caller.patch(f"{URL}/{window.id}", {"title": "Extended", "ends_at": _iso(ends_at)})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["alert_types"], body["site"]["id"]) == (
        "Extended",
        ["A"],
        estate.sites[0].id,
    )
    window.refresh_from_db()
    assert (window.title, window.ends_at) == ("Extended", ends_at)

    response = caller.patch(f"{URL}/{window.id}", {"site_id": None, "alert_types": []})
    assert response.status_code == 200, response.content
    assert (response.json()["site"], response.json()["alert_types"]) == (None, [])

    response = caller.patch(f"{URL}/{window.id}", {"client_id": estate.clients[1].id})
    assert response.status_code == 200 and response.json()["client"]["id"] == estate.clients[1].id
    rows = AuditLog.objects.filter(action=Action.MAINTENANCE_UPDATE).order_by("id")
    assert [r.details["fields"] for r in rows] == [
        ["ends_at", "title"],
        ["alert_types", "site"],
        ["client"],
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"ends_at": None}, "ends_at"),
        ({"kind": "LATER"}, "kind"),
        ({"tenant_id": 1}, "tenant_id"),
        ({"ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
    ],
)
def test_patch_refuses_bad_values(estate, api, make_window, change, field):
    window = make_window(estate)
    response = api(estate.user("admin")).patch(f"{URL}/{window.id}", change)
    assert response.status_code == 422, response.content
    assert set(error_fields(response)) == {field}


def test_patch_moving_a_site_window_to_another_client_names_site_id(estate, api, make_window):
    window = make_window(estate, site=estate.sites[0])
    response = api(estate.user("admin")).patch(
        f"{URL}/{window.id}", {"client_id": estate.clients[1].id}
    )
    assert set(error_fields(response)) == {"site_id"}


def test_cancel_then_cancel_again_is_a_409(
    estate, api, make_window, publisher, django_capture_on_commit_callbacks
):
    window = make_window(estate)
    caller = api(estate.user("supervisor"))
    with django_capture_on_commit_callbacks(execute=True):
        response = caller.post(f"{URL}/{window.id}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "cancelled" and body["cancelled_at"] is not None
    assert body["cancelled_by"]["id"] == estate.user("supervisor").id

    again = caller.post(f"{URL}/{window.id}/cancel")
    assert again.status_code == 409
    assert error_code(again) == "conflict"
    assert "cancelled" in again.json()["error"]["message"]
    edit = caller.patch(f"{URL}/{window.id}", {"title": "x"})
    assert edit.status_code == 409
    assert [e["type"] for e in publisher.events] == ["maintenance.cancelled"]
    assert AuditLog.objects.filter(action=Action.MAINTENANCE_DELETE).count() == 1


def test_an_ended_window_cannot_change(estate, api, make_window):
    window = make_window(estate, offset=-5)
    caller = api(estate.user("admin"))
    for response in [
        caller.patch(f"{URL}/{window.id}", {"ends_at": _iso(timezone.now() + timedelta(hours=1))}),
        caller.post(f"{URL}/{window.id}/cancel"),
    ]:
        assert response.status_code == 409
        assert "ended" in response.json()["error"]["message"]


def test_list_filters(estate, api, make_window):
    active = make_window(estate, site=estate.sites[0])
    upcoming = make_window(estate, client=estate.clients[1], offset=2)
    ended = make_window(estate, site=estate.sites[3], offset=-5)
    cancelled = make_window(estate, cancelled=True)
    caller = api(estate.user("admin"))

    assert _ids(caller.get(URL, status="active")) == [active.id]
    assert _ids(caller.get(URL, status="upcoming")) == [upcoming.id]
    assert _ids(caller.get(URL, status="ended")) == [ended.id]
    assert _ids(caller.get(URL, status="cancelled")) == [cancelled.id]
    assert _ids(caller.get(URL, client=estate.clients[1].id)) == [ended.id, upcoming.id]
    assert _ids(caller.get(URL, client=estate.clients[1].code)) == [ended.id, upcoming.id]
    # a site's windows: its own and its client's client-wide ones
    assert _ids(caller.get(URL, site=estate.sites[3].id)) == [ended.id, upcoming.id]
    assert _ids(caller.get(URL, site=estate.sites[2].code)) == [upcoming.id]
    assert _ids(caller.get(URL, site=estate.sites[0].id)) == [cancelled.id, active.id]
    assert _ids(caller.get(URL, site=estate.sites[0].id, status="active")) == [active.id]
    assert _ids(caller.get(URL, client="nope")) == []

    response = caller.get(URL, status="finished")
    assert response.status_code == 422 and "status" in error_fields(response)


def test_list_is_newest_first_and_paginated(estate, api, make_window):
    windows = [make_window(estate, title=f"W{i}") for i in range(5)]
    caller = api(estate.user("admin"))
    first = caller.get(URL, limit=2).json()
    assert [w["id"] for w in first["items"]] == [windows[4].id, windows[3].id]
    second = caller.get(URL, limit=2, cursor=first["next_cursor"]).json()
    assert [w["id"] for w in second["items"]] == [windows[2].id, windows[1].id]
    third = caller.get(URL, limit=2, cursor=second["next_cursor"]).json()
    assert [w["id"] for w in third["items"]] == [windows[0].id]
    assert third["next_cursor"] is None
    assert set(error_fields(caller.get(URL, limit=0))) == {"limit"}
    assert set(error_fields(caller.get(URL, cursor="!!"))) == {"cursor"}


def test_people_are_masked_without_view_pii(estate, api, make_window):
    window = make_window(estate)
    window.created_by = estate.user("supervisor")
    window.save(update_fields=["created_by"])
    masked = api(estate.user("operator")).get(f"{URL}/{window.id}").json()["created_by"]
    assert masked["full_name"] == "Su***r Pe***n"
    assert masked["username"] != estate.user("supervisor").username
    plain = api(estate.user("supervisor")).get(f"{URL}/{window.id}").json()["created_by"]
    assert plain["full_name"] == "Supervisor Person"


def _grow(estate, make_window, n: int) -> None:
    from watchfloor.tenancy.models import User

    start = User.objects.count()
    for i in range(start, start + n):
        author = User.objects.create_user(f"author-{i}", tenant=estate.tenant)
        window = make_window(estate, site=estate.sites[i % 4], cancelled=i % 2 == 0)
        MaintenanceWindow.objects.filter(pk=window.pk).update(
            created_by=author, cancelled_by=author if i % 2 == 0 else None
        )


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_list_query_count_does_not_grow_with_rows(
    estate, api, make_window, django_assert_max_num_queries, role
):
    caller = api(estate.user(role))
    _grow(estate, make_window, 2)
    caller.get(URL)  # warm up: the token's last_used_at is written once

    with CaptureQueriesContext(connection) as few:
        response = caller.get(URL, limit=500)
    few_items = len(response.json()["items"])
    _grow(estate, make_window, 20)
    with django_assert_max_num_queries(len(few)):
        response = caller.get(URL, limit=500)
    assert response.status_code == 200
    assert len(response.json()["items"]) > few_items
    with django_assert_max_num_queries(8):
        caller.get(URL, limit=500, status="cancelled", site=estate.sites[2].id)
