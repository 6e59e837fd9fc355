"""The feed upserts: whole-batch validation, idempotency, stale records, defaults, devices'
previous position, isolation between tenants, the key's source, audit and the change hook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from support_api import error_fields
from watchfloor.audit.models import Action, AuditLog
from watchfloor.operations.models import (
    AttendanceRecord,
    Device,
    GeofenceEvent,
    OperationsPolicy,
    Ticket,
    WorkOrder,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


def ticket(n: int, **extra) -> dict:
    return {
        "external_id": f"T-{n}",
        "client": "acme-c1",
        "site": "acme-c1-s1",
        "title": f"Gate {n} jammed",
        "priority": "P2",
        "status": "OPEN",
        "opened_at": iso(T0),
        **extra,
    }


def device(n: int, **extra) -> dict:
    return {
        "external_id": f"D-{n}",
        "site": "acme-c1-s1",
        "name": f"Camera {n}",
        "device_type": "camera",
        "status": "ONLINE",
        "last_seen_at": iso(T0),
        **extra,
    }


@pytest.fixture
def acme_feed(estate, feed, feed_key):
    return feed(feed_key(estate))


def test_tickets_are_created_then_the_same_batch_again_changes_nothing(estate, acme_feed):
    batch = [ticket(i) for i in range(3)]
    first = acme_feed.post("tickets", batch)
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0, "stale": 0, "duplicates": 0}
    rows = {t.external_id: t for t in Ticket.objects.all()}
    again = acme_feed.post("tickets", batch)
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 3, "stale": 0, "duplicates": 0}
    after = {t.external_id: t for t in Ticket.objects.all()}
    assert {e: (t.id, t.received_at) for e, t in rows.items()} == {
        e: (t.id, t.received_at) for e, t in after.items()
    }
    t = after["T-1"]
    assert t.tenant_id == estate.tenant.id
    assert (t.client_id, t.site_id) == (estate.clients[0].id, estate.sites[0].id)


def test_an_update_changes_fields_and_keeps_created_at(acme_feed):
    acme_feed.post("tickets", [ticket(1)])
    before = Ticket.objects.get()
    response = acme_feed.post(
        "tickets", [ticket(1, status="RESOLVED", resolved_at=iso(T0 + timedelta(hours=1)))]
    )
    assert response.json()["updated"] == 1
    after = Ticket.objects.get()
    assert (after.id, after.created_at) == (before.id, before.created_at)
    assert after.status == "RESOLVED"
    assert after.resolved_at == T0 + timedelta(hours=1)


def test_sla_due_defaults_from_the_tenant_policy_by_priority(estate, acme_feed):
    OperationsPolicy.objects.create(tenant=estate.tenant, sla_hours_p1=2)
    given = T0 + timedelta(hours=30)
    acme_feed.post(
        "tickets",
        [ticket(1, priority="P1"), ticket(2, priority="P4"), ticket(3, sla_due_at=iso(given))],
    )
    due = dict(Ticket.objects.values_list("external_id", "sla_due_at"))
    assert due == {"T-1": T0 + timedelta(hours=2), "T-2": T0 + timedelta(hours=72), "T-3": given}


def test_a_record_older_than_the_stored_one_is_ignored(acme_feed):
    newer, older = T0 + timedelta(minutes=10), T0
    acme_feed.post("tickets", [ticket(1, status="IN_PROGRESS", source_updated_at=iso(newer))])
    response = acme_feed.post("tickets", [ticket(1, status="OPEN", source_updated_at=iso(older))])
    assert response.json()["stale"] == 1
    assert Ticket.objects.get().status == "IN_PROGRESS"
    same_time = acme_feed.post(
        "tickets", [ticket(1, status="ON_HOLD", source_updated_at=iso(newer))]
    )
    assert same_time.json()["updated"] == 1
    assert Ticket.objects.get().status == "ON_HOLD"


def test_repeats_in_one_batch_fold_and_the_last_wins(acme_feed):
    response = acme_feed.post(
        "tickets", [ticket(1, status="OPEN"), ticket(2), ticket(1, status="ON_HOLD")]
    )
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "duplicates": 1,
    }
    assert Ticket.objects.get(external_id="T-1").status == "ON_HOLD"


def test_one_bad_record_refuses_the_whole_batch_naming_index_and_field(acme_feed):
    batch = [ticket(i) for i in range(40)]
    batch[37]["sla_due_at"] = "9999-12-31T23:59:59Z"
    response = acme_feed.post("tickets", batch)
    assert response.status_code == 422
    assert "records.37.sla_due_at" in error_fields(response)
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client": "nope"}, "records.1.client"),
        ({"site": "acme-c2-s1"}, "records.1.site"),  # another client's site
        ({"site": "globex-c1-s1"}, "records.1.site"),  # another tenant's site
        ({"priority": "P9"}, "records.1.priority"),
        ({"title": "a\x00b"}, "records.1.title"),
        ({"title": "a\ud800b"}, "records.1.title"),
        ({"escalation_level": 10**23}, "records.1.escalation_level"),
        ({"opened_at": "yesterday"}, "records.1.opened_at"),
        ({"resolved_at": iso(T0 - timedelta(hours=1))}, "records.1.resolved_at"),
        ({"unknown": 1}, "records.1.unknown"),
        ({"external_id": ""}, "records.1.external_id"),
        ({"external_id": "x" * 101}, "records.1.external_id"),
    ],
)
def test_bad_values_are_422_naming_the_field_and_nothing_is_stored(
    acme_feed, other_estate, change, field
):
    batch = [ticket(0), {**ticket(1), **change}]
    response = acme_feed.post("tickets", batch)
    assert response.status_code == 422, response.content
    assert field in error_fields(response)
    assert Ticket.objects.count() == 0


def test_batch_size_and_shape_are_bounded(acme_feed, settings):
    assert acme_feed.post("tickets", []).status_code == 422
    too_many = [ticket(i) for i in range(1001)]
    response = acme_feed.post("tickets", too_many)
    assert response.status_code == 422
    assert "records" in error_fields(response)
    assert acme_feed.post("tickets", raw="[" * 10_000 + "]" * 10_000).status_code == 400
    assert acme_feed.post("tickets", raw="{not json").status_code == 400
    assert Ticket.objects.count() == 0


def test_a_full_batch_of_1000_is_stored(acme_feed):
    response = acme_feed.post("tickets", [ticket(i) for i in range(1000)])
    assert response.json()["created"] == 1000
    assert Ticket.objects.count() == 1000


def test_the_key_default_client_and_site_place_records_without_codes(estate, feed, feed_key):
    plain = feed_key(estate, default_site=estate.sites[3])
    record = {k: v for k, v in ticket(1).items() if k not in ("client", "site")}
    assert feed(plain).post("tickets", [record]).status_code == 200
    t = Ticket.objects.get()
    assert (t.client_id, t.site_id) == (estate.clients[1].id, estate.sites[3].id)


def test_without_codes_or_a_default_client_the_client_is_required(acme_feed):
    record = {k: v for k, v in ticket(1).items() if k not in ("client", "site")}
    response = acme_feed.post("tickets", [record])
    assert response.status_code == 422
    assert "records.0.client" in error_fields(response)


def test_keys_of_other_sources_and_no_key_are_refused_and_audited(estate, feed, feed_key, client):
    native = feed_key(estate, source="native")
    response = feed(native).post("tickets", [ticket(1)])
    assert response.status_code == 401
    assert feed("wfi_not-a-key").post("tickets", [ticket(1)]).status_code == 401
    assert (
        client.post(
            "/api/v1/operations/tickets", data="{}", content_type="application/json"
        ).status_code
        == 401
    )
    assert Ticket.objects.count() == 0
    assert AuditLog.objects.filter(action=Action.AUTH_FAILED).count() >= 2


def test_a_user_token_cannot_upsert(estate, api):
    response = api(estate.user("admin")).post(
        "/api/v1/operations/tickets", {"records": [ticket(1)]}
    )
    assert response.status_code == 401
    assert Ticket.objects.count() == 0


def test_each_tenant_upserts_its_own_records_under_the_same_external_id(
    estate, other_estate, feed, feed_key
):
    feed(feed_key(estate)).post("tickets", [ticket(1)])
    other = {**ticket(1), "client": "globex-c1", "site": "globex-c1-s1", "title": "theirs"}
    response = feed(feed_key(other_estate)).post("tickets", [other])
    assert response.json()["created"] == 1
    titles = dict(Ticket.objects.values_list("tenant__slug", "title"))
    assert titles == {"acme": "Gate 1 jammed", "globex": "theirs"}


def test_a_batch_is_audited_once_with_its_counts(acme_feed):
    acme_feed.post("tickets", [ticket(1), ticket(2)])
    entry = AuditLog.objects.get(action=Action.FEED_UPSERT)
    assert entry.details["kind"] == "tickets"
    assert entry.details["created"] == 2
    assert "Gate" not in str(entry.details)


def test_a_device_that_moves_keeps_its_previous_position(acme_feed):
    first = device(1, latitude=30.0, longitude=-97.0, located_at=iso(T0))
    acme_feed.post("devices", [first])
    d = Device.objects.get()
    assert d.previous_latitude is None
    later = T0 + timedelta(minutes=5)
    acme_feed.post("devices", [device(1, latitude=31.0, longitude=-96.0, located_at=iso(later))])
    d.refresh_from_db()
    assert (d.latitude, d.longitude, d.located_at) == (31.0, -96.0, later)
    assert (d.previous_latitude, d.previous_longitude, d.previously_located_at) == (30.0, -97.0, T0)
    # a report without a move (same position, later sighting) keeps the previous one
    acme_feed.post(
        "devices",
        [device(1, latitude=31.0, longitude=-96.0, located_at=iso(later), last_seen_at=iso(later))],
    )
    d.refresh_from_db()
    assert (d.previous_latitude, d.previous_longitude) == (30.0, -97.0)


def test_device_coordinates_come_in_pairs_and_in_range(acme_feed):
    unpaired = acme_feed.post("devices", [device(1), device(2, latitude=30.0)])
    assert "records.1.longitude" in error_fields(unpaired)
    out_of_range = acme_feed.post("devices", [device(1, latitude=30.0, longitude=200)])
    assert "records.0.longitude" in error_fields(out_of_range)
    assert Device.objects.count() == 0


def test_work_orders_attendance_and_geofence_events(estate, acme_feed):
    wo = {
        "external_id": "WO-1",
        "client": "acme-c2",
        "title": "Replace lock",
        "status": "PENDING",
        "deadline_at": iso(T0),
        "assignee_name": "Maria Lopez",
    }
    assert acme_feed.post("work-orders", [wo]).json()["created"] == 1
    assert WorkOrder.objects.get().site_id is None
    shift = {
        "external_id": "A-1",
        "site": "acme-c1-s2",
        "person_ref": "G-7",
        "person_name": "John Guard",
        "shift_start": iso(T0),
        "shift_end": iso(T0 + timedelta(hours=8)),
        "status": "MISSING",
    }
    assert acme_feed.post("attendance", [shift]).json()["created"] == 1
    backwards = {**shift, "external_id": "A-2", "shift_end": iso(T0 - timedelta(hours=1))}
    assert "records.0.shift_end" in error_fields(acme_feed.post("attendance", [backwards]))
    acme_feed.post("devices", [device(9)])
    event = {
        "external_id": "G-1",
        "site": "acme-c1-s2",
        "person_ref": "G-7",
        "attendance": "A-1",
        "device": "D-9",
        "kind": "BREACH",
        "occurred_at": iso(T0 + timedelta(hours=1)),
        "latitude": 30.1,
        "longitude": -97.1,
        "distance_m": 250,
    }
    assert acme_feed.post("geofence-events", [event]).json()["created"] == 1
    g = GeofenceEvent.objects.get()
    assert g.attendance_id == AttendanceRecord.objects.get().id
    assert g.device_id == Device.objects.get().id
    unknown = {**event, "external_id": "G-2", "device": "D-404"}
    response = acme_feed.post("geofence-events", [unknown])
    assert "records.0.device" in error_fields(response)
    assert GeofenceEvent.objects.count() == 1


def test_geofence_references_stay_inside_the_tenant(estate, other_estate, feed, feed_key):
    other = {**device(1), "site": "globex-c1-s1"}
    feed(feed_key(other_estate)).post("devices", [other])
    event = {
        "external_id": "G-1",
        "site": "acme-c1-s1",
        "device": "D-1",
        "kind": "BREACH",
        "occurred_at": iso(T0),
    }
    response = feed(feed_key(estate)).post("geofence-events", [event])
    assert "records.0.device" in error_fields(response)


def test_the_change_hook_gets_the_created_and_changed_ids_after_commit(
    acme_feed, settings, django_capture_on_commit_callbacks
):
    calls = []
    settings.OPERATIONS_CHANGE_HOOKS = ["tests_operations_hook.remember"]
    import sys
    import types

    module = types.ModuleType("tests_operations_hook")
    module.remember = lambda kind, tenant_id, ids: calls.append((kind, tenant_id, ids))  # type: ignore[attr-defined]
    sys.modules["tests_operations_hook"] = module
    try:
        with django_capture_on_commit_callbacks(execute=True):
            acme_feed.post("tickets", [ticket(1), ticket(2)])
        with django_capture_on_commit_callbacks(execute=True):
            acme_feed.post("tickets", [ticket(1), ticket(2, status="ON_HOLD")])
    finally:
        del sys.modules["tests_operations_hook"]
    ids = dict(Ticket.objects.values_list("external_id", "id"))
    assert [c[0] for c in calls] == ["ticket", "ticket"]
    assert sorted(calls[0][2]) == sorted(ids.values())
    assert calls[1][2] == (ids["T-2"],)


def test_a_failing_hook_never_fails_the_upsert(
    acme_feed, settings, django_capture_on_commit_callbacks
):
    settings.OPERATIONS_CHANGE_HOOKS = ["watchfloor.operations.no_such_module.hook"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert acme_feed.post("tickets", [ticket(1)]).status_code == 200
    assert len(callbacks) == 1
    assert Ticket.objects.count() == 1


def test_a_ticket_past_its_sla_raises_sla_breach_through_the_rules_hook(
    acme_feed, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from watchfloor.alerts.models import Alert

    opened = timezone.now() - timedelta(hours=30)
    late = ticket(1, priority="P3", opened_at=iso(opened))  # P3: 24 h by default
    with django_capture_on_commit_callbacks(execute=True):
        assert acme_feed.post("tickets", [late]).status_code == 200
    assert Alert.objects.filter(type="SLA_BREACH").count() == 1
