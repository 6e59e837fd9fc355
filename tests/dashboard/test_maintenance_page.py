"""The maintenance pages: tabs by state, scope, what each window suppressed, create and cancel
with the capability (403 and an audit entry without it), CSRF, 404s, masking, query counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_alerts import key_for, trigger
from watchfloor.access.capabilities import Capability
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog
from watchfloor.dashboard.maintenance_views import ALERTS_PER_PAGE
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.tenancy.models import User

__all__ = ["key_for"]

WINDOW_LINK = re.compile(r'href="/maintenance/(\d+)/"><strong>')


def html(response) -> str:
    return response.content.decode()


def listed(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in WINDOW_LINK.findall(html(response))]


def window(estate, *, client=0, site=None, offset=-1.0, length=2.0, cancelled=False, **kw):
    now = timezone.now()
    starts = now + timedelta(hours=offset)
    return MaintenanceWindow.objects.create(
        tenant=kw.pop("tenant", estate.tenant),
        client=estate.clients[client] if site is None else estate.sites[site].client,
        site=None if site is None else estate.sites[site],
        title=kw.pop("title", "Planned work"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=length),
        cancelled_at=now if cancelled else None,
        **kw,
    )


def signed_in(client, user):
    client.force_login(user)
    return client


def grant(user, capability: Capability):
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename=capability.codename))
    return User.objects.get(pk=user.pk)


def future(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def create_body(**overrides) -> dict:
    return {
        "title": "Switch replacement",
        "kind": "PLANNED",
        "starts_at": future(1),
        "ends_at": future(3),
        "reason": "Core switch swap",
        **overrides,
    }


# --- the list ---------------------------------------------------------------------------------


def test_tabs_hold_the_windows_of_each_state(client, estate):
    active = window(estate)
    upcoming = window(estate, offset=5)
    past = window(estate, offset=-10, length=2)
    cancelled = window(estate, offset=3, cancelled=True)
    signed_in(client, estate.user("supervisor"))
    assert listed(client.get("/maintenance/")) == [active.id]
    assert listed(client.get("/maintenance/?state=active")) == [active.id]
    assert listed(client.get("/maintenance/?state=upcoming")) == [upcoming.id]
    assert listed(client.get("/maintenance/?state=past")) == [past.id]
    assert listed(client.get("/maintenance/?state=cancelled")) == [cancelled.id]
    assert listed(client.get("/maintenance/?state=bogus")) == [active.id]
    body = html(client.get("/maintenance/"))
    assert re.search(r'aria-current="page">Active <span class="count">1</span>', body)
    assert '<th scope="col">Starts</th>' in body and '<th scope="col">Ends</th>' in body
    assert "Times are in UTC" in body  # the person chose no zone
    starts = active.starts_at.astimezone(UTC)
    assert f'title="{starts:%Y-%m-%d %H:%M:%S} UTC">{starts:%Y-%m-%d %H:%M} UTC</time>' in body


def test_rows_show_scope_types_reason_and_author(client, estate):
    supervisor = estate.user("supervisor")
    window(
        estate,
        site=1,
        alert_types=["DEVICE_OFFLINE", "HostDown"],
        reason="Fibre works",
        created_by=supervisor,
    )
    window(estate, client=1, title="Whole client")
    body = html(signed_in(client, supervisor).get("/maintenance/"))
    assert estate.sites[1].code in body and "Denver, CO" in body
    assert "All sites of Client 2" in body and "All types" in body
    assert "DEVICE_OFFLINE" in body and "HostDown" in body and "Fibre works" in body
    assert "Supervisor Person" in body


def test_people_and_contacts_are_masked_for_a_viewer(client, estate):
    window(
        estate,
        site=2,
        title="Call jane.doe@example.com first",
        reason="Contact +1 555 867 5309",
        created_by=estate.user("supervisor"),
    )
    body = html(signed_in(client, estate.user("viewer")).get("/maintenance/"))
    for secret in ("jane.doe@example.com", "867 5309", "Supervisor Person"):
        assert secret not in body, secret
    assert "j***@example.com" in body and "Su***r Pe***n" in body


def test_each_user_sees_the_windows_of_their_scope(client, estate, other_estate):
    on_viewers_site = window(estate, site=2)
    viewers_client_wide = window(estate, client=1)
    other_site_same_client = window(estate, site=3)
    first_client = window(estate, client=0)
    window(other_estate, tenant=other_estate.tenant)
    assert set(listed(signed_in(client, estate.user("viewer")).get("/maintenance/"))) == {
        on_viewers_site.id,
        viewers_client_wide.id,
    }
    assert listed(signed_in(client, estate.user("operator")).get("/maintenance/")) == [
        first_client.id
    ]
    assert set(listed(signed_in(client, estate.user("admin")).get("/maintenance/"))) == {
        on_viewers_site.id,
        viewers_client_wide.id,
        other_site_same_client.id,
        first_client.id,
    }


@pytest.mark.parametrize(
    ("role", "manage"),
    [
        ("viewer", False),
        ("operator", False),
        ("supervisor", True),
        ("executive", False),
        ("admin", True),
    ],
)
def test_create_form_and_cancel_links_only_with_the_capability(client, estate, role, manage):
    window(estate, site=2)  # the viewer's site: every role sees it
    window(estate, client=0)
    body = html(signed_in(client, estate.user(role)).get("/maintenance/"))
    assert ('action="/maintenance/new/"' in body) is manage
    assert ("#cancel-h" in body) is manage
    assert "Maintenance</a>" in body  # the nav link


def test_without_noc_view_it_is_403_and_audited(client, estate):
    nobody = User.objects.create_user("nobody", tenant=estate.tenant)
    assert signed_in(client, nobody).get("/maintenance/").status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=nobody).count() == 1


def test_list_query_count_does_not_grow(client, estate, key_for):
    key = key_for(estate)
    window(estate, client=0)
    ingest([trigger(site=estate.sites[0].code)], key=key)
    signed_in(client, estate.user("supervisor"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/maintenance/").status_code == 200
        return len(captured)

    queries()  # the user's capabilities loaded (then kept a few seconds, access.scope)
    before = queries()
    for i in range(12):
        window(estate, site=i % 4, title=f"w{i}", created_by=estate.user("admin"))
    ingest([trigger(f"T{i}", site=estate.sites[i % 4].code) for i in range(20)], key=key)
    after = queries()
    assert len(listed(client.get("/maintenance/"))) == 13
    assert after == before, (before, after)


# --- what a window suppressed -----------------------------------------------------------------


def test_counts_of_what_each_window_suppressed_are_scoped(client, estate, key_for):
    key = key_for(estate)
    client_wide = window(estate, client=1)
    ingest(
        [
            trigger(site=estate.sites[2].code),
            trigger(site=estate.sites[3].code),
            trigger("GEOFENCE_BREACH", site=estate.sites[3].code),
        ],
        key=key,
    )
    ingest([trigger(site=estate.sites[2].code)] * 2, key=key)  # two suppressed repeats
    assert Alert.objects.filter(maintenance_window=client_wide).count() == 3

    def counts(user) -> tuple[int, int]:
        body = html(signed_in(client, user).get("/maintenance/"))
        alerts = re.search(r"#suppressed-h\">(\d+) alerts?</a>", body)
        repeats = re.search(r"(\d+) repeats? suppressed", body)
        return int(alerts.group(1)), int(repeats.group(1))

    assert counts(estate.user("supervisor")) == (3, 5)
    # the viewer sees site 2 only: its alert, its repeats
    assert counts(estate.user("viewer")) == (1, 3)


def test_window_page_lists_suppressed_alerts_newest_first_paginated(client, estate, key_for):
    key = key_for(estate)
    w = window(estate, client=0)
    ingest(
        [trigger(f"T{i}", site=estate.sites[i % 2].code) for i in range(ALERTS_PER_PAGE + 5)],
        key=key,
    )
    ids = list(
        Alert.objects.filter(maintenance_window=w, status=Status.SUPPRESSED)
        .order_by("-id")
        .values_list("id", flat=True)
    )
    assert len(ids) == ALERTS_PER_PAGE + 5
    signed_in(client, estate.user("operator"))
    first = html(client.get(f"/maintenance/{w.id}/"))
    shown = [int(i) for i in re.findall(r'<a href="/alerts/(\d+)/">', first)]
    assert shown == ids[:ALERTS_PER_PAGE]
    assert f"1–{ALERTS_PER_PAGE} of {len(ids)}" in first and "?page=2" in first
    second = html(client.get(f"/maintenance/{w.id}/?page=2"))
    assert [int(i) for i in re.findall(r'<a href="/alerts/(\d+)/">', second)] == ids[
        ALERTS_PER_PAGE:
    ]

    def queries(path) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    assert queries(f"/maintenance/{w.id}/") == queries(f"/maintenance/{w.id}/?page=2")


def test_window_page_is_404_for_another_tenant_or_out_of_scope(client, estate, other_estate):
    theirs = window(other_estate, tenant=other_estate.tenant)
    first_client = window(estate, client=0)
    signed_in(client, estate.user("admin"))
    assert client.get(f"/maintenance/{theirs.id}/").status_code == 404
    assert client.get(f"/maintenance/{first_client.id}/").status_code == 200
    signed_in(client, estate.user("viewer"))
    assert client.get(f"/maintenance/{first_client.id}/").status_code == 404
    assert client.get("/maintenance/999999/").status_code == 404


# --- create ---------------------------------------------------------------------------------


def test_create_with_the_capability(client, estate):
    supervisor = estate.user("supervisor")
    site = estate.sites[1]
    # built once: built again for the check, the form's minute could be the next one
    body = create_body(
        scope=f"site:{site.id}",
        alert_types=["DEVICE_OFFLINE", "SLA_BREACH"],
        other_types="HostDown, DiskFull, HostDown",
    )
    response = signed_in(client, supervisor).post("/maintenance/new/", body)
    w = MaintenanceWindow.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/maintenance/{w.id}/"
    assert (w.client, w.site, w.created_by) == (site.client, site, supervisor)
    assert w.alert_types == ["DEVICE_OFFLINE", "SLA_BREACH", "HostDown", "DiskFull"]
    # the form's times are UTC
    assert w.starts_at.tzinfo is not None
    assert w.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") == body["starts_at"]
    audit = AuditLog.objects.get(action=Action.MAINTENANCE_CREATE)
    assert audit.actor == supervisor and audit.entity_id == str(w.id)
    page = html(client.get(response["Location"]))
    assert f"Maintenance window #{w.id} created." in page


def test_create_for_a_whole_client_with_all_types(client, estate):
    response = signed_in(client, estate.user("admin")).post(
        "/maintenance/new/", create_body(scope=f"client:{estate.clients[1].id}")
    )
    assert response.status_code == 302
    w = MaintenanceWindow.objects.get()
    assert w.client == estate.clients[1] and w.site is None and w.alert_types == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"ends_at": future(0.5), "starts_at": future(2)}, "ends_at", "Must be after starts_at."),
        ({"starts_at": future(-5), "ends_at": future(-3)}, "ends_at", "Must be in the future"),
        ({"ends_at": future(24 * 40)}, "ends_at", "at most 30 days"),
        ({"starts_at": "tomorrow"}, "starts_at", "Enter a valid date/time."),
        ({"title": ""}, "title", "This field is required."),
        ({"scope": ""}, "scope", "This field is required."),
        ({"other_types": "x" * 101}, "other_types", "at most 100 characters"),
        ({"alert_types": ["NOT_A_TYPE"]}, "alert_types", "Select a valid choice."),
    ],
)
def test_create_shows_errors_next_to_the_field_and_writes_nothing(
    client, estate, change, field, message
):
    body = create_body(**{"scope": f"client:{estate.clients[0].id}", **change})
    response = signed_in(client, estate.user("supervisor")).post("/maintenance/new/", body)
    assert response.status_code == 422
    page = html(response)
    assert re.search(
        rf'<span class="field__error"( id="id_{field}-error")?>[^<]*{re.escape(message)}', page
    ), page[page.find("field__error") - 400 : page.find("field__error") + 400]
    assert '<details class="card create-window" open' in page
    assert MaintenanceWindow.objects.count() == 0
    assert not AuditLog.objects.filter(action=Action.MAINTENANCE_CREATE).exists()


def test_create_refuses_a_scope_the_user_cannot_reach(client, estate, other_estate):
    operator_manager = grant(estate.user("operator"), Capability.MANAGE_MAINTENANCE)
    viewer_manager = grant(estate.user("viewer"), Capability.MANAGE_MAINTENANCE)
    cases = [
        (operator_manager, f"client:{estate.clients[1].id}"),  # not their client
        (operator_manager, f"site:{estate.sites[2].id}"),  # a site of that client
        (operator_manager, f"client:{other_estate.clients[0].id}"),  # another tenant
        (viewer_manager, f"client:{estate.clients[1].id}"),  # site-scoped: no whole client
        (viewer_manager, "site:abc"),
    ]
    for user, scope in cases:
        response = signed_in(client, user).post("/maintenance/new/", create_body(scope=scope))
        assert response.status_code == 422, scope
        assert 'id="id_scope-error"' in html(response)
    assert MaintenanceWindow.objects.count() == 0
    # within their scope they may
    ok = signed_in(client, viewer_manager).post(
        "/maintenance/new/", create_body(scope=f"site:{estate.sites[2].id}")
    )
    assert ok.status_code == 302 and MaintenanceWindow.objects.get().site == estate.sites[2]


@pytest.mark.parametrize("role", ["viewer", "operator", "executive"])
def test_create_without_the_capability_is_403_and_audited(client, estate, role):
    user = estate.user(role)
    response = signed_in(client, user).post(
        "/maintenance/new/", create_body(scope=f"client:{estate.clients[0].id}")
    )
    assert response.status_code == 403
    assert "noc:manage_maintenance" in html(response)
    assert MaintenanceWindow.objects.count() == 0
    denied = AuditLog.objects.get(action=Action.ACCESS_DENIED)
    assert denied.actor == user
    assert denied.details == {
        "capability": "noc:manage_maintenance",
        "method": "POST",
        "path": "/maintenance/new/",
    }


def test_create_needs_a_session_and_get_shows_the_form_open(client, estate):
    assert client.post("/maintenance/new/", create_body())["Location"].startswith("/login/")
    assert client.get("/maintenance/new/")["Location"].startswith("/login/")
    response = signed_in(client, estate.user("admin")).get("/maintenance/new/")
    assert response.status_code == 200
    assert '<details class="card create-window" open' in html(response)
    assert signed_in(client, estate.user("admin")).put("/maintenance/new/").status_code == 405


def test_csrf_is_enforced_on_create_and_cancel(estate):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(estate.user("supervisor"))
    body = create_body(scope=f"client:{estate.clients[0].id}")
    assert browser.post("/maintenance/new/", body).status_code == 403
    assert MaintenanceWindow.objects.count() == 0

    page = html(browser.get("/maintenance/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post("/maintenance/new/", {**body, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    w = MaintenanceWindow.objects.get()

    assert browser.post(f"/maintenance/{w.id}/cancel/", {"confirm": "yes"}).status_code == 403
    w.refresh_from_db()
    assert w.cancelled_at is None
    response = browser.post(
        f"/maintenance/{w.id}/cancel/", {"confirm": "yes", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    w.refresh_from_db()
    assert w.cancelled_at is not None


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_needs_confirmation_then_cancels_and_audits(client, estate):
    w = window(estate, site=0)
    supervisor = estate.user("supervisor")
    signed_in(client, supervisor)
    page = html(client.get(f"/maintenance/{w.id}/"))
    assert f'action="/maintenance/{w.id}/cancel/"' in page and 'name="confirm"' in page

    unconfirmed = client.post(f"/maintenance/{w.id}/cancel/")
    assert unconfirmed.status_code == 422 and "Tick the box" in html(unconfirmed)
    w.refresh_from_db()
    assert w.cancelled_at is None

    response = client.post(f"/maintenance/{w.id}/cancel/", {"confirm": "yes"})
    assert response.status_code == 302
    w.refresh_from_db()
    assert w.cancelled_at is not None and w.cancelled_by == supervisor
    audit = AuditLog.objects.get(action=Action.MAINTENANCE_DELETE)
    assert audit.entity_id == str(w.id) and audit.details["change"] == "cancel"
    after = html(client.get(f"/maintenance/{w.id}/"))
    assert "cancelled." in after and 'name="confirm"' not in after  # no second cancel

    again = client.post(f"/maintenance/{w.id}/cancel/", {"confirm": "yes"})
    assert again.status_code == 409 and "been cancelled" in html(again)


def test_an_ended_window_offers_no_cancel_and_refuses_it(client, estate):
    ended = window(estate, offset=-5, length=1)
    signed_in(client, estate.user("admin"))
    assert 'name="confirm"' not in html(client.get(f"/maintenance/{ended.id}/"))
    response = client.post(f"/maintenance/{ended.id}/cancel/", {"confirm": "yes"})
    assert response.status_code == 409
    ended.refresh_from_db()
    assert ended.cancelled_at is None


@pytest.mark.parametrize("role", ["viewer", "executive"])
def test_cancel_without_the_capability_is_403_and_audited(client, estate, role):
    w = window(estate, site=2)
    response = signed_in(client, estate.user(role)).post(
        f"/maintenance/{w.id}/cancel/", {"confirm": "yes"}
    )
    assert response.status_code == 403
    w.refresh_from_db()
    assert w.cancelled_at is None
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=estate.user(role)).exists()
    assert not AuditLog.objects.filter(action=Action.MAINTENANCE_DELETE).exists()


def test_cancel_of_another_tenants_or_out_of_scope_window_is_404(client, estate, other_estate):
    theirs = window(other_estate, tenant=other_estate.tenant)
    second_client = window(estate, client=1)
    assert (
        signed_in(client, estate.user("admin"))
        .post(f"/maintenance/{theirs.id}/cancel/", {"confirm": "yes"})
        .status_code
        == 404
    )
    # the operator sees the first client only: 404 before any capability question
    assert (
        signed_in(client, estate.user("operator"))
        .post(f"/maintenance/{second_client.id}/cancel/", {"confirm": "yes"})
        .status_code
        == 404
    )
    theirs.refresh_from_db()
    second_client.refresh_from_db()
    assert theirs.cancelled_at is None and second_client.cancelled_at is None
    assert not AuditLog.objects.filter(action=Action.ACCESS_DENIED).exists()


def test_a_site_scoped_manager_cannot_cancel_a_client_wide_window(client, estate):
    viewer_manager = grant(estate.user("viewer"), Capability.MANAGE_MAINTENANCE)
    client_wide = window(estate, client=1)
    own_site = window(estate, site=2)
    signed_in(client, viewer_manager)
    assert 'name="confirm"' not in html(client.get(f"/maintenance/{client_wide.id}/"))
    refused = client.post(f"/maintenance/{client_wide.id}/cancel/", {"confirm": "yes"})
    assert refused.status_code == 403 and "beyond your scope" in html(refused)
    ok = client.post(f"/maintenance/{own_site.id}/cancel/", {"confirm": "yes"})
    assert ok.status_code == 302
    client_wide.refresh_from_db()
    own_site.refresh_from_db()
    assert client_wide.cancelled_at is None and own_site.cancelled_at is not None


def test_times_typed_in_the_form_are_read_as_utc_whatever_the_server_zone(client, estate, settings):
    settings.TIME_ZONE = "America/New_York"
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    response = signed_in(client, estate.user("admin")).post(
        "/maintenance/new/",
        create_body(
            scope=f"client:{estate.clients[0].id}",
            starts_at=start.strftime("%Y-%m-%dT%H:%M"),
            ends_at=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        ),
    )
    assert response.status_code == 302
    assert MaintenanceWindow.objects.get().starts_at == start


@pytest.mark.parametrize(
    ("ends_at", "zone"),
    [("9999-12-31T23:59:59-05:00", "UTC"), ("9999-12-31T23:59", "America/New_York")],
)
def test_a_time_out_of_range_is_a_form_error_not_a_500(client, estate, ends_at, zone):
    """#10 bug 13: the form's times have the API's range (converting year 9999 overflowed)."""
    response = signed_in(client, estate.user("admin")).post(
        "/maintenance/new/",
        create_body(scope=f"client:{estate.clients[0].id}", ends_at=ends_at, zone=zone),
    )
    assert response.status_code == 422
    assert "Must be between 1970-01-01T00:00:00Z and 3000-01-01T00:00:00Z" in html(response)
    assert not MaintenanceWindow.objects.exists()
