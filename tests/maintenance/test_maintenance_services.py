"""Maintenance services: capability, validation, audit and real-time events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from watchfloor.access.scope import CapabilityDenied
from watchfloor.audit.models import Action, AuditLog
from watchfloor.maintenance import services
from watchfloor.maintenance.matcher import SuppressionMatcher
from watchfloor.maintenance.models import MaintenanceWindow, WindowKind, WindowState


def _times(start_hours: float = -1, length_hours: float = 4):
    starts_at = timezone.now() + timedelta(hours=start_hours)
    return {"starts_at": starts_at, "ends_at": starts_at + timedelta(hours=length_hours)}


def _create(estate, actor=None, **values):
    values = {"client": estate.clients[0], "title": "Core switch upgrade", **_times(), **values}
    return services.create_window(estate.tenant, actor=actor or estate.user("supervisor"), **values)


def _audit_rows(action):
    return list(AuditLog.objects.filter(action=action).order_by("id"))


def test_create_saves_audits_and_publishes_after_commit(
    estate, publisher, django_capture_on_commit_callbacks
):
    supervisor = estate.user("supervisor")
    site = estate.sites[1]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        window = _create(
            estate,
            site=site,
            kind=WindowKind.EMERGENCY,
            alert_types=["DEVICE_OFFLINE", " SYNC_DEGRADED ", "DEVICE_OFFLINE"],
            reason="Call from Jane Doe, +1 555 123 4567",
        )
        assert publisher.events == [], "nothing is publisher before the commit"
    for callback in callbacks:
        callback()

    stored = MaintenanceWindow.objects.get()
    assert (stored.tenant_id, stored.client_id, stored.site_id) == (
        estate.tenant.id,
        estate.clients[0].id,
        site.id,
    )
    assert stored.alert_types == ["DEVICE_OFFLINE", "SYNC_DEGRADED"]  # stripped, no repeats
    assert stored.created_by == supervisor and stored.kind == "EMERGENCY"

    (row,) = _audit_rows(Action.MAINTENANCE_CREATE)
    assert (row.actor, row.tenant, row.entity_type, row.entity_id) == (
        supervisor,
        estate.tenant,
        "maintenance.maintenancewindow",
        str(window.id),
    )
    assert row.details["client"] == estate.clients[0].code
    assert row.details["site"] == site.code
    assert row.details["alert_types"] == ["DEVICE_OFFLINE", "SYNC_DEGRADED"]
    assert "Jane" not in str(row.details) and "555" not in str(row.details)  # no free text

    (event,) = publisher.events
    assert event["type"] == "maintenance.created"
    assert (event["tenant_id"], event["client_id"], event["site_id"]) == (
        estate.tenant.id,
        estate.clients[0].id,
        site.id,
    )
    assert event["window"]["id"] == window.id
    assert event["window"]["state"] == "active"
    assert event["window"]["starts_at"].endswith("Z")


def test_services_need_manage_maintenance(estate, make_window):
    window = make_window(estate)
    for role in ("viewer", "operator", "executive"):
        user = estate.user(role)
        with pytest.raises(CapabilityDenied):
            _create(estate, actor=user)
        with pytest.raises(CapabilityDenied):
            services.update_window(window, actor=user, title="x")
        with pytest.raises(CapabilityDenied):
            services.cancel_window(window, actor=user)
    with pytest.raises(CapabilityDenied):  # nobody (a script without a user) is refused too
        services.create_window(
            estate.tenant, actor=None, client=estate.clients[0], title="x", **_times()
        )
    assert MaintenanceWindow.objects.count() == 1
    window.refresh_from_db()
    assert window.cancelled_at is None and window.title == "Window"
    assert not AuditLog.objects.filter(action__startswith="maintenance.").exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"kind": "SOMETIMES"}, "kind"),
        ({"alert_types": ["DEVICE_OFFLINE", ""]}, "alert_types"),
        ({"alert_types": [" "]}, "alert_types"),
        ({"alert_types": [3]}, "alert_types"),
        ({"alert_types": "DEVICE_OFFLINE"}, "alert_types"),
        ({"alert_types": [f"T{i}" for i in range(101)]}, "alert_types"),
        (_times(start_hours=2, length_hours=-1), "ends_at"),
        (_times(start_hours=2, length_hours=0), "ends_at"),
        (_times(start_hours=-5, length_hours=2), "ends_at"),  # already over
        (_times(start_hours=1, length_hours=31 * 24), "ends_at"),  # longer than 30 days
    ],
)
def test_create_validates(estate, publisher, values, field):
    with pytest.raises(ValidationError) as exc:
        _create(estate, **values)
    assert set(exc.value.message_dict) == {field}
    assert not MaintenanceWindow.objects.exists()
    assert not _audit_rows(Action.MAINTENANCE_CREATE)
    assert publisher.events == []


def test_site_must_belong_to_the_client_and_client_to_the_tenant(estate, other_estate):
    with pytest.raises(ValidationError) as exc:
        _create(estate, client=estate.clients[0], site=estate.sites[2])
    assert set(exc.value.message_dict) == {"site"}
    with pytest.raises(ValidationError) as exc:
        _create(estate, client=other_estate.clients[0])
    assert set(exc.value.message_dict) == {"client"}
    assert not MaintenanceWindow.objects.exists()


def test_maximum_duration_is_a_setting(estate, settings):
    settings.MAINTENANCE_MAX_DAYS = 1
    with pytest.raises(ValidationError) as exc:
        _create(estate, **_times(start_hours=0, length_hours=25))
    assert "at most 1 day." in exc.value.message_dict["ends_at"][0]
    assert _create(estate, **_times(start_hours=0, length_hours=23)).pk


def test_update_changes_named_fields_audits_and_publishes(
    estate, make_window, publisher, django_capture_on_commit_callbacks
):
    window = make_window(estate, offset=1)
    ends_at = window.ends_at + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        updated = services.update_window(
            window,
            actor=estate.user("supervisor"),
            title="Longer",
            ends_at=ends_at,
            site=estate.sites[0],
            reason=window.reason,  # unchanged: not listed
        )
    stored = MaintenanceWindow.objects.get()
    assert (stored.title, stored.ends_at, stored.site_id) == ("Longer", ends_at, estate.sites[0].id)
    assert updated.title == "Longer"
    (row,) = _audit_rows(Action.MAINTENANCE_UPDATE)
    assert row.details == {
        "client": estate.clients[0].code,
        "site": estate.sites[0].code,
        "fields": ["ends_at", "site", "title"],
        "was": "upcoming",
    }
    (event,) = publisher.events
    assert event["type"] == "maintenance.updated"
    assert event["site_id"] == estate.sites[0].id
    assert event["window"]["title"] == "Longer"


def test_update_without_a_change_writes_nothing(estate, make_window, publisher):
    window = make_window(estate)
    services.update_window(window, actor=estate.user("admin"), title=window.title)
    assert not _audit_rows(Action.MAINTENANCE_UPDATE) and publisher.events == []


def test_update_refuses_unknown_fields_and_bad_values(estate, make_window):
    window = make_window(estate)
    with pytest.raises(ValidationError) as exc:
        services.update_window(window, actor=estate.user("admin"), tenant=None, created_by=None)
    assert set(exc.value.message_dict) == {"created_by", "tenant"}
    with pytest.raises(ValidationError) as exc:
        services.update_window(window, actor=estate.user("admin"), ends_at=window.starts_at)
    assert set(exc.value.message_dict) == {"ends_at"}
    assert not _audit_rows(Action.MAINTENANCE_UPDATE)


def test_moving_a_site_window_to_another_client_needs_a_site_of_that_client(estate, make_window):
    window = make_window(estate, site=estate.sites[0])
    with pytest.raises(ValidationError) as exc:
        services.update_window(window, actor=estate.user("admin"), client=estate.clients[1])
    assert set(exc.value.message_dict) == {"site"}
    services.update_window(
        window, actor=estate.user("admin"), client=estate.clients[1], site=estate.sites[3]
    )
    assert MaintenanceWindow.objects.get().site_id == estate.sites[3].id


@pytest.mark.parametrize(
    ("closed", "state"), [({"cancelled": True}, "cancelled"), ({"offset": -5}, "ended")]
)
def test_cancelled_or_ended_windows_cannot_change(estate, make_window, publisher, closed, state):
    window = make_window(estate, **closed)
    with pytest.raises(services.WindowClosed) as exc:
        services.update_window(window, actor=estate.user("admin"), title="Too late")
    assert exc.value.state == state
    assert ("cancelled" if state == "cancelled" else "ended") in str(exc.value)
    with pytest.raises(services.WindowClosed):
        services.cancel_window(window, actor=estate.user("admin"))
    assert MaintenanceWindow.objects.get().title == "Window"
    assert not AuditLog.objects.filter(action__startswith="maintenance.").exists()
    assert publisher.events == []


def test_cancel_ends_suppression_now_audits_and_publishes(
    estate, make_window, publisher, django_capture_on_commit_callbacks
):
    window = make_window(estate)
    now = timezone.now()
    assert SuppressionMatcher.for_tenant(estate.tenant.id, now).match(
        client_id=window.client_id, site_id=estate.sites[0].id, alert_type="DEVICE_OFFLINE"
    )
    supervisor = estate.user("supervisor")
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_window(window, actor=supervisor)

    stored = MaintenanceWindow.objects.get()
    assert stored.cancelled_by == supervisor and stored.cancelled_at >= now
    assert stored.state_at(timezone.now()) == WindowState.CANCELLED
    matcher = SuppressionMatcher.for_tenant(estate.tenant.id, timezone.now())
    assert not matcher
    (row,) = _audit_rows(Action.MAINTENANCE_DELETE)
    assert row.details == {
        "client": estate.clients[0].code,
        "site": None,
        "change": "cancel",
        "was": "active",
    }
    (event,) = publisher.events
    assert event["type"] == "maintenance.cancelled"
    assert event["window"]["state"] == "cancelled"
    assert event["window"]["cancelled_by_id"] == supervisor.id

    with pytest.raises(services.WindowClosed):
        services.cancel_window(stored, actor=supervisor)
    assert len(_audit_rows(Action.MAINTENANCE_DELETE)) == 1


def test_a_stale_object_cannot_cancel_twice(estate, make_window):
    """Each write re-reads the row under a lock: an old copy does not hide a cancellation."""
    window = make_window(estate)
    stale = MaintenanceWindow.objects.get(pk=window.pk)
    services.cancel_window(window, actor=estate.user("admin"))
    with pytest.raises(services.WindowClosed):
        services.cancel_window(stale, actor=estate.user("admin"))
    with pytest.raises(services.WindowClosed):
        services.update_window(
            MaintenanceWindow.objects.get(pk=window.pk),
            actor=estate.user("admin"),
            title="x",
        )


def test_a_failing_publisher_does_not_undo_the_write(
    estate, django_capture_on_commit_callbacks, caplog
):
    from watchfloor.events import Publisher, set_publisher

    class Broken(Publisher):
        def send(self, events):
            raise RuntimeError("down")

    set_publisher(Broken())
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _create(estate)
    finally:
        set_publisher(None)
    assert MaintenanceWindow.objects.count() == 1
    assert "publishing 1 real-time events failed" in caplog.text


def test_windows_that_start_or_end_are_announced_once(
    estate, publisher, django_capture_on_commit_callbacks
):
    from watchfloor.maintenance.services import announce_transitions

    now = timezone.now()
    site = estate.sites[0]
    common = {"tenant": estate.tenant, "client": site.client, "site": site, "title": "Works"}
    starting = MaintenanceWindow.objects.create(
        **common, starts_at=now - timedelta(seconds=20), ends_at=now + timedelta(hours=1)
    )
    ending = MaintenanceWindow.objects.create(
        **common, starts_at=now - timedelta(hours=2), ends_at=now - timedelta(seconds=5)
    )
    MaintenanceWindow.objects.create(  # started long ago: already announced by an earlier run
        **common, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    MaintenanceWindow.objects.create(  # cancelled: never announced
        **common,
        starts_at=now - timedelta(seconds=10),
        ends_at=now + timedelta(hours=1),
        cancelled_at=now - timedelta(minutes=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert announce_transitions(now=now) == 2
        assert announce_transitions(now=now + timedelta(seconds=1)) == 0  # another node, later
    events = {(e["type"], e["window"]["id"]) for e in publisher.events}
    assert events == {("maintenance.started", starting.id), ("maintenance.ended", ending.id)}
    started = publisher.of_type("maintenance.started")[0]
    assert started["tenant_id"] == estate.tenant.id and started["site_id"] == site.id
