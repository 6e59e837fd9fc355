"""Maintenance windows in the Django admin: writes go through the services (rules, audit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from watchfloor.audit.models import Action, AuditLog
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.tenancy.models import User

ADMIN = "/admin/maintenance/maintenancewindow"


@pytest.fixture
def staff(estate, client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return user


def _form(estate, **values):
    starts_at = timezone.localtime() + timedelta(hours=1)
    data = {
        "tenant": estate.tenant.pk,
        "client": estate.clients[0].pk,
        "site": "",
        "title": "Generator test",
        "reason": "",
        "kind": "PLANNED",
        "alert_types": '["DEVICE_OFFLINE"]',
        "starts_at_0": starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": starts_at.strftime("%H:%M:%S"),
        "ends_at_0": (starts_at + timedelta(hours=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (starts_at + timedelta(hours=2)).strftime("%H:%M:%S"),
    }
    data.update(values)
    return data


@pytest.mark.parametrize(
    "path", ["/", "/add/", "/?state=active", "/?state=cancelled", "/?q=acme-c1"]
)
def test_admin_pages_render(staff, client, estate, make_window, path):
    make_window(estate)
    assert client.get(ADMIN + path).status_code == 200


def test_add_goes_through_the_service(staff, client, estate):
    response = client.post(f"{ADMIN}/add/", _form(estate))
    assert response.status_code == 302, response.content.decode()[:3000]
    window = MaintenanceWindow.objects.get()
    assert (window.created_by, window.alert_types) == (staff, ["DEVICE_OFFLINE"])
    row = AuditLog.objects.get(action=Action.MAINTENANCE_CREATE)
    assert (row.actor, row.entity_id) == (staff, str(window.pk))


def test_add_refuses_a_site_of_another_client_and_a_past_end(staff, client, estate):
    response = client.post(f"{ADMIN}/add/", _form(estate, site=estate.sites[2].pk))
    assert response.status_code == 200
    assert b"Must be a site of the window" in response.content
    past = timezone.localtime() - timedelta(hours=1)
    response = client.post(
        f"{ADMIN}/add/",
        _form(
            estate,
            starts_at_0=(past - timedelta(hours=1)).strftime("%Y-%m-%d"),
            starts_at_1=(past - timedelta(hours=1)).strftime("%H:%M:%S"),
            ends_at_0=past.strftime("%Y-%m-%d"),
            ends_at_1=past.strftime("%H:%M:%S"),
        ),
    )
    assert response.status_code == 200 and b"Must be in the future" in response.content
    assert not MaintenanceWindow.objects.exists()


def test_change_goes_through_the_service(staff, client, estate, make_window):
    window = make_window(estate, offset=1)
    data = _form(estate, title="Renamed")
    del data["tenant"]  # read only on change
    local_start = timezone.localtime(window.starts_at)
    local_end = timezone.localtime(window.ends_at)
    data |= {
        "starts_at_0": local_start.strftime("%Y-%m-%d"),
        "starts_at_1": local_start.strftime("%H:%M:%S"),
        "ends_at_0": local_end.strftime("%Y-%m-%d"),
        "ends_at_1": local_end.strftime("%H:%M:%S"),
        "alert_types": "[]",
    }
    response = client.post(f"{ADMIN}/{window.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    window.refresh_from_db()
    assert window.title == "Renamed"
    row = AuditLog.objects.get(action=Action.MAINTENANCE_UPDATE)
    assert "title" in row.details["fields"]


def test_closed_windows_are_read_only_and_nothing_is_deleted(staff, client, estate, make_window):
    cancelled = make_window(estate, cancelled=True)
    page = client.get(f"{ADMIN}/{cancelled.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"{ADMIN}/{cancelled.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MaintenanceWindow.objects.filter(pk=cancelled.pk).exists()


def test_cancel_action_uses_the_service(staff, client, estate, make_window):
    active = make_window(estate)
    ended = make_window(estate, offset=-5)
    response = client.post(
        f"{ADMIN}/",
        {"action": "cancel_selected", "_selected_action": [active.pk, ended.pk]},
    )
    assert response.status_code == 302
    active.refresh_from_db()
    ended.refresh_from_db()
    assert active.cancelled_by == staff and ended.cancelled_at is None
    assert AuditLog.objects.filter(action=Action.MAINTENANCE_DELETE).count() == 1


def test_staff_without_the_capability_cannot_write(client, estate, make_window):
    from django.contrib.auth.models import Permission

    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)  # platform staff
    clerk.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="maintenance",
            codename__in=[
                "view_maintenancewindow",
                "add_maintenancewindow",
                "change_maintenancewindow",
            ],
        )
    )
    client.force_login(clerk)
    window = make_window(estate)
    assert client.get(f"{ADMIN}/").status_code == 200
    assert client.get(f"{ADMIN}/add/").status_code == 403
    page = client.get(f"{ADMIN}/{window.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
