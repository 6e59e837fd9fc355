"""Schedules API: capabilities, tenant isolation, validation naming the field, masking, audit,
who is on call and shifts."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from support_api import V1, error_code, error_fields
from support_schedules import make_schedule, override, rotation, utc
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall.models import Layer, LayerMember, Override, Schedule

pytestmark = pytest.mark.django_db

NOW = utc(2026, 6, 1, 12)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def schedule(estate):
    s = make_schedule(estate.tenant, name="Primary", time_zone="Europe/Berlin")
    rotation(
        s,
        [estate.user("operator"), estate.user("supervisor")],
        start_local=datetime(2026, 5, 1, 9),
        name="days",
    )
    return s


def test_create_schedule_layer_override_and_read_back(estate, api):
    admin = api(estate.user("admin"))
    r = admin.post(f"{V1}/schedules", {"name": "Night", "time_zone": "America/New_York"})
    assert r.status_code == 201, r.content
    sid = r.json()["id"]
    op, sup = estate.user("operator"), estate.user("supervisor")
    r = admin.post(
        f"{V1}/schedules/{sid}/layers",
        {
            "name": "weekly",
            "rotation_start": "2026-05-04T08:00",
            "shift_length": "weekly",
            "member_ids": [op.id, sup.id],
        },
    )
    assert r.status_code == 201, r.content
    layer = r.json()
    assert layer["rotation_start_local"] == "2026-05-04T08:00:00"
    assert [m["person"]["id"] for m in layer["members"]] == [op.id, sup.id]
    # 2026-06-01 is 4 weeks after 05-04: the first member again, from 08:00 New York
    r = admin.get(f"{V1}/schedules/{sid}/oncall", at="2026-06-01T12:30:00Z")
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["people"]] == [op.id]
    assert r.json()["next_handoff"].startswith("2026-06-08T12:00:00")
    r = admin.post(
        f"{V1}/schedules/{sid}/overrides",
        {"user_id": sup.id, "starts_at": "2026-06-01T12:00:00Z", "ends_at": "2026-06-01T18:00:00Z"},
    )
    assert r.status_code == 201, r.content
    r = admin.get(f"{V1}/schedules/{sid}/oncall")
    assert [p["id"] for p in r.json()["people"]] == [sup.id]
    assert r.json()["shifts"][0]["source"] == "override"
    r = admin.get(f"{V1}/oncall")
    assert [i["schedule_id"] for i in r.json()["items"]] == [sid]
    changes = list(
        AuditLog.objects.filter(action=Action.CONFIG_CHANGE)
        .order_by("id")
        .values_list("details", flat=True)
    )
    assert [c["change"] for c in changes if "." in c.get("change", "")][-3:] == [
        "schedule.create",
        "layer.create",
        "override.create",
    ]
    # ids only: no names or emails of people in the audit details
    assert "Operator" not in str(changes) and "example.com" not in str(changes)


def test_shifts_range_and_layers(estate, api, schedule):
    r = api(estate.user("viewer")).get(
        f"{V1}/schedules/{schedule.id}/shifts",
        start="2026-06-01T00:00:00Z",
        end="2026-06-04T00:00:00Z",
        layers="true",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["shifts"]) == 4  # cut at both ends: 3 handoffs at 07:00 UTC
    assert [s["starts_at"][11:16] for s in body["shifts"][1:]] == ["07:00"] * 3
    assert list(body["layers"]) == [str(schedule.layers.get().id)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-06-01T00:00:00Z", "end": "2026-09-01T00:00:00Z"}, "end"),
        ({"start": "2026-06-02T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "end"),
        ({"start": "99999-01-01"}, "start"),
        ({"start": "1200-01-01T00:00:00Z"}, "start"),
        ({"end": "not a date"}, "end"),
    ],
)
def test_shifts_refuses_bad_ranges(estate, api, schedule, params, field):
    r = api(estate.user("admin")).get(f"{V1}/schedules/{schedule.id}/shifts", **params)
    assert r.status_code == 422, r.content
    assert field in error_fields(r)


def test_oncall_refuses_absurd_at(estate, api, schedule):
    for value in ("3000-01-01T00:00:00Z", "yesterday", "2026-13-45"):
        r = api(estate.user("admin")).get(f"{V1}/oncall", at=value)
        assert r.status_code == 422 and "at" in error_fields(r), value


def test_people_are_masked_without_view_pii(estate, api, schedule):
    # 31 days after the first handoff: the second member
    r = api(estate.user("viewer")).get(f"{V1}/schedules/{schedule.id}/oncall")
    person = r.json()["people"][0]
    assert person["id"] == estate.user("supervisor").id
    assert person["full_name"] == "Su***r Pe***n"
    assert "supervisor" not in person["username"]
    r = api(estate.user("admin")).get(f"{V1}/schedules/{schedule.id}/oncall")
    assert r.json()["people"][0]["full_name"] == "Supervisor Person"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/schedules", {"name": "X"}),
        ("patch", "/schedules/{s}", {"name": "Y"}),
        ("delete", "/schedules/{s}", None),
        (
            "post",
            "/schedules/{s}/layers",
            {"name": "L", "rotation_start": "2026-06-01T09:00", "member_ids": [1]},
        ),
        ("patch", "/layers/{l}", {"name": "Z"}),
        ("delete", "/layers/{l}", None),
        (
            "post",
            "/schedules/{s}/overrides",
            {"user_id": 1, "starts_at": "2026-06-02T00:00Z", "ends_at": "2026-06-03T00:00Z"},
        ),
        ("post", "/schedules/{s}/ical-layers", {"name": "c", "url": "http://127.0.0.1:9/x.ics"}),
    ],
)
def test_writes_need_configure(estate, api, schedule, method, path, body):
    layer = schedule.layers.get()
    path = path.format(s=schedule.id, l=layer.id)
    for role in ("viewer", "operator", "supervisor"):
        client = api(estate.user(role))
        r = (
            client.delete(f"{V1}{path}")
            if body is None
            else getattr(client, method)(f"{V1}{path}", body)
        )
        assert r.status_code == 403, (role, r.content)
        assert error_code(r) == "forbidden"
    assert Schedule.objects.count() == 1 and Layer.objects.count() == 1
    assert Override.objects.count() == 0


def test_reading_needs_view(estate, api, schedule):
    from django.contrib.auth.models import Group

    from watchfloor.tenancy.models import User

    nobody = User.objects.create_user(username="nobody", password="x", tenant=estate.tenant)
    nobody.groups.add(Group.objects.create(name="no-caps"))
    client = api(nobody)
    for path in ("/schedules", f"/schedules/{schedule.id}", "/oncall", "/me/calendar-feeds"):
        assert client.get(f"{V1}{path}").status_code == 403, path


def test_other_tenants_ids_are_404(estate, other_estate, api, schedule):
    theirs = make_schedule(other_estate.tenant, name="Theirs")
    their_layer = rotation(theirs, [other_estate.user("admin")], start_local=datetime(2026, 5, 1))
    their_override = override(theirs, other_estate.user("admin"), NOW, utc(2026, 6, 2))
    admin = api(estate.user("admin"))
    for method, path, body in [
        ("get", f"/schedules/{theirs.id}", None),
        ("get", f"/schedules/{theirs.id}/oncall", None),
        ("get", f"/schedules/{theirs.id}/shifts", None),
        ("get", f"/schedules/{theirs.id}/overrides", None),
        ("patch", f"/schedules/{theirs.id}", {"name": "mine now"}),
        ("delete", f"/schedules/{theirs.id}", None),
        ("patch", f"/layers/{their_layer.id}", {"name": "x"}),
        ("delete", f"/layers/{their_layer.id}", None),
        ("post", f"/layers/{their_layer.id}/refresh", {}),
        ("delete", f"/overrides/{their_override.id}", None),
        (
            "post",
            f"/schedules/{theirs.id}/layers",
            {"name": "L", "rotation_start": "2026-06-01T09:00", "member_ids": [1]},
        ),
    ]:
        if method == "get":
            r = admin.get(f"{V1}{path}")
        elif method == "delete":
            r = admin.delete(f"{V1}{path}")
        else:
            r = getattr(admin, method)(f"{V1}{path}", body)
        assert r.status_code == 404, (method, path, r.content)
    assert [i["schedule_id"] for i in admin.get(f"{V1}/oncall").json()["items"]] == [schedule.id]
    assert [i["id"] for i in admin.get(f"{V1}/schedules").json()["items"]] == [schedule.id]
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and Layer.objects.filter(id=their_layer.id).exists()


def test_a_person_of_another_tenant_is_refused(estate, other_estate, api, schedule):
    admin = api(estate.user("admin"))
    stranger = other_estate.user("admin")
    r = admin.post(
        f"{V1}/schedules/{schedule.id}/layers",
        {"name": "L", "rotation_start": "2026-06-01T09:00", "member_ids": [stranger.id]},
    )
    assert r.status_code == 422 and "member_ids" in error_fields(r)
    r = admin.post(
        f"{V1}/schedules/{schedule.id}/overrides",
        {"user_id": stranger.id, "starts_at": "2026-06-02T00:00Z", "ends_at": "2026-06-03T00:00Z"},
    )
    assert r.status_code == 422 and "user_id" in error_fields(r)
    assert Override.objects.count() == 0 and Layer.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/schedules", {"name": "a\u0000b"}, "name"),
        ("/schedules", {"name": "\ud800"}, "name"),
        ("/schedules", {"name": "x" * 101}, "name"),
        ("/schedules", {"name": ""}, "name"),
        ("/schedules", {"name": "ok", "time_zone": "Mars/Olympus"}, "time_zone"),
        ("/schedules", {"name": "ok", "tenant_id": 2}, "tenant_id"),
        ("/schedules", {"name": "Primary"}, "name"),  # taken
        (
            "/schedules/{s}/layers",
            {"name": "L", "rotation_start": "2026-06-01T09:00", "member_ids": []},
            "member_ids",
        ),
        (
            "/schedules/{s}/layers",
            {"name": "L", "rotation_start": "2026-06-01T09:00", "member_ids": [10**30]},
            "member_ids.0",
        ),
        (
            "/schedules/{s}/layers",
            {"name": "L", "rotation_start": "9999-06-01T09:00", "member_ids": [1]},
            "rotation_start",
        ),
        (
            "/schedules/{s}/layers",
            {
                "name": "L",
                "rotation_start": "2026-06-01T09:00",
                "member_ids": ["{op}"],
                "shift_length": "custom",
            },
            "shift_hours",
        ),
        (
            "/schedules/{s}/layers",
            {
                "name": "L",
                "rotation_start": "2026-06-01T09:00",
                "member_ids": ["{op}"],
                "shift_length": "hourly",
            },
            "shift_length",
        ),
        (
            "/schedules/{s}/overrides",
            {"user_id": "{op}", "starts_at": "2026-06-03T00:00Z", "ends_at": "2026-06-02T00:00Z"},
            "ends_at",
        ),
        (
            "/schedules/{s}/overrides",
            {"user_id": "{op}", "starts_at": "2026-06-02T00:00Z", "ends_at": "2026-12-02T00:00Z"},
            "ends_at",
        ),
        (
            "/schedules/{s}/overrides",
            {"user_id": "{op}", "starts_at": "2026-05-02T00:00Z", "ends_at": "2026-05-03T00:00Z"},
            "ends_at",
        ),
        (
            "/schedules/{s}/overrides",
            {"user_id": "{op}", "starts_at": "0001-01-01T00:00Z", "ends_at": "2026-06-03T00:00Z"},
            "starts_at",
        ),
        (
            "/schedules/{s}/overrides",
            {
                "user_id": "{op}",
                "starts_at": "2026-06-02T00:00Z",
                "ends_at": "2026-06-03T00:00Z",
                "reason": "a\u0000",
            },
            "reason",
        ),
        ("/schedules/{s}/ical-layers", {"name": "c", "url": "ftp://example.com/x.ics"}, "url"),
        ("/schedules/{s}/ical-layers", {"name": "c", "url": "file:///etc/passwd"}, "url"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(estate, api, schedule, path, body, field):
    op = estate.user("operator").id
    body = {
        k: (
            [op if m == "{op}" else m for m in v]
            if isinstance(v, list)
            else (op if v == "{op}" else v)
        )
        for k, v in body.items()
    }
    before = (Schedule.objects.count(), Layer.objects.count(), Override.objects.count())
    r = api(estate.user("admin")).post(f"{V1}{path.format(s=schedule.id)}", body)
    assert r.status_code == 422, r.content
    assert field in error_fields(r), error_fields(r)
    assert (Schedule.objects.count(), Layer.objects.count(), Override.objects.count()) == before


def test_update_layer_members_and_delete(estate, api, schedule):
    admin = api(estate.user("admin"))
    layer = schedule.layers.get()
    r = admin.patch(
        f"{V1}/layers/{layer.id}", {"member_ids": [estate.user("admin").id], "position": 3}
    )
    assert r.status_code == 200, r.content
    assert r.json()["position"] == 3
    assert list(LayerMember.objects.filter(layer=layer).values_list("user_id", flat=True)) == [
        estate.user("admin").id
    ]
    r = admin.patch(f"{V1}/layers/{layer.id}", {"member_ids": None})
    assert r.status_code == 422 and "member_ids" in error_fields(r)
    assert admin.delete(f"{V1}/layers/{layer.id}").status_code == 204
    assert admin.delete(f"{V1}/schedules/{schedule.id}").status_code == 204
    assert not Schedule.objects.exists()


def test_list_query_count_does_not_grow(estate, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin = api(estate.user("admin"))
    users = [estate.user("operator"), estate.user("supervisor")]
    counts = []
    admin.get(f"{V1}/oncall")  # the token's first use writes its last-used time
    for n in (1, 8):
        for i in range(n):
            s = make_schedule(estate.tenant, name=f"n{n}-{i}")
            rotation(s, users, start_local=datetime(2026, 1, 1))
        with CaptureQueriesContext(connection) as q:
            assert admin.get(f"{V1}/oncall").status_code == 200
        counts.append(len(q))
    assert counts[0] == counts[1]


def test_openapi_documents_the_schedule_endpoints(db, client):
    paths = client.get(f"{V1}/openapi.json").json()["paths"]
    expected = {
        "/api/v1/schedules": {"get", "post"},
        "/api/v1/schedules/{schedule_id}": {"get", "patch", "delete"},
        "/api/v1/schedules/{schedule_id}/layers": {"post"},
        "/api/v1/layers/{layer_id}": {"patch", "delete"},
        "/api/v1/layers/{layer_id}/refresh": {"post"},
        "/api/v1/schedules/{schedule_id}/ical-layers": {"post"},
        "/api/v1/schedules/{schedule_id}/ical-layers/upload": {"post"},
        "/api/v1/schedules/{schedule_id}/overrides": {"get", "post"},
        "/api/v1/overrides/{override_id}": {"delete"},
        "/api/v1/schedules/{schedule_id}/oncall": {"get"},
        "/api/v1/oncall": {"get"},
        "/api/v1/schedules/{schedule_id}/shifts": {"get"},
        "/api/v1/me/calendar-feeds": {"get", "post"},
        "/api/v1/me/calendar-feeds/{feed_id}": {"delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths.get(path, {})), path
