"""The maintenance form's silences: label matchers, the preview, "Silence…" from an alert,
times in the person's zone with "now + duration", and weekly recurrence."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.alerts.models import Alert, Status
from watchfloor.maintenance.models import MaintenanceWindow

NEW = "/maintenance/new/"


def html(response) -> str:
    return response.content.decode()


def signed_in(client, user):
    client.force_login(user)
    return client


def grant(user, capability: Capability):
    user.user_permissions.add(Permission.objects.get(codename=capability.codename))
    return type(user).objects.get(pk=user.pk)  # fresh: no cached capabilities


def _alert(site, n=1, *, labels, type_="HighCPU", title="CPU high on db-1"):
    now = timezone.now()
    return Alert.objects.create(
        tenant=site.tenant,
        client=site.client,
        site=site,
        source="alertmanager",
        type=type_,
        severity="HIGH",
        status=Status.NEW,
        title=title,
        fingerprint=f"fp-{site.id}-{n}",
        content_hash="h",
        labels=labels,
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )


def _body(estate, **values):
    return {
        "title": "Silence",
        "kind": "EMERGENCY",
        "scope": f"site:{estate.sites[0].id}",
        "length": "custom",
        "zone": "UTC",
        "starts_at": "2099-01-01T10:00",
        "ends_at": "2099-01-01T12:00",
        **values,
    }


def test_silence_link_on_the_alert_page_only_for_managers(client, estate):
    alert = _alert(estate.sites[0], labels={"alertname": "HighCPU"})
    page = html(signed_in(client, estate.user("supervisor")).get(f"/alerts/{alert.id}/"))
    assert f'href="/maintenance/new/?alert={alert.id}#new-window"' in page
    page = html(signed_in(client, estate.user("executive")).get(f"/alerts/{alert.id}/"))
    assert "Silence…" not in page


def test_silence_prefills_site_type_and_labels(client, estate):
    site = estate.sites[0]
    alert = _alert(site, labels={"alertname": "HighCPU", "instance": 'db-1:9100 "x"'})
    page = html(signed_in(client, estate.user("supervisor")).get(f"{NEW}?alert={alert.id}"))
    assert '<details class="card create-window" open' in page
    assert f'<option value="site:{site.id}" selected>' in page
    assert 'value="HighCPU"' in page  # other types (not a built-in type)
    assert (
        "{alertname=&quot;HighCPU&quot;, instance=&quot;db-1:9100 \\&quot;x\\&quot;&quot;}" in page
    )
    assert re.search(r'name="length" value="2h"[^>]*checked', page)


def test_silence_leaves_out_labels_the_user_may_not_see(client, estate):
    site = estate.sites[0]
    alert = _alert(site, labels={"job": "db", "owner": "jane.doe@example.com"})
    user = grant(
        estate.user("operator"),
        __import__(
            "watchfloor.access.capabilities"
        ).access.capabilities.Capability.MANAGE_MAINTENANCE,
    )
    page = html(signed_in(client, user).get(f"{NEW}?alert={alert.id}"))
    assert "jane.doe@example.com" not in page
    assert "{job=&quot;db&quot;}" in page


def test_silence_of_another_tenants_alert_is_404(client, estate, other_estate):
    alert = _alert(other_estate.sites[0], labels={})
    response = signed_in(client, estate.user("supervisor")).get(f"{NEW}?alert={alert.id}")
    assert response.status_code == 404


def test_preview_lists_matches_and_saves_nothing(client, estate):
    site = estate.sites[0]
    hit = _alert(site, 1, labels={"job": "db"}, title="Call +1-555-123-4567")
    _alert(site, 2, labels={"job": "web"})
    body = _body(estate, matchers='job="db"', preview="1")
    response = signed_in(client, estate.user("supervisor")).post(NEW, body)
    assert response.status_code == 200
    page = html(response)
    assert "Open alerts this window would match now: 1" in page
    assert f'href="/alerts/{hit.id}/"' in page
    assert MaintenanceWindow.objects.count() == 0


def test_preview_is_masked_for_a_manager_without_view_pii(client, estate):
    site = estate.sites[0]
    _alert(
        site, 1, labels={"job": "db", "owner": "jane.doe@example.com"}, title="Call +1-555-123-4567"
    )
    user = grant(estate.user("operator"), Capability.MANAGE_MAINTENANCE)
    body = _body(estate, scope=f"client:{site.client_id}", matchers='job="db"', preview="1")
    page = html(signed_in(client, user).post(NEW, body))
    assert "would match now: 1" in page
    assert "jane.doe@example.com" not in page and "555-123-4567" not in page


def test_create_with_matchers_in_the_persons_zone(client, estate):
    body = _body(
        estate,
        matchers="job=db, env!~dev|test",
        zone="America/New_York",
        starts_at="2099-07-01T10:00",
        ends_at="2099-07-01T12:30",
    )
    response = signed_in(client, estate.user("supervisor")).post(NEW, body)
    assert response.status_code == 302, html(response)
    window = MaintenanceWindow.objects.get()
    assert window.matchers == '{job="db", env!~"dev|test"}'
    assert window.starts_at == datetime(2099, 7, 1, 14, 0, tzinfo=UTC)  # EDT is UTC-4
    assert window.ends_at == datetime(2099, 7, 1, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize("length", ["15m", "1h", "2h", "4h"])
def test_now_plus_a_duration_ignores_the_typed_times(client, estate, length):
    body = _body(estate, length=length, starts_at="", ends_at="")
    before = timezone.now()
    response = signed_in(client, estate.user("supervisor")).post(NEW, body)
    assert response.status_code == 302, html(response)
    window = MaintenanceWindow.objects.get()
    minutes = {"15m": 15, "1h": 60, "2h": 120, "4h": 240}[length]
    assert window.ends_at - window.starts_at == timedelta(minutes=minutes)
    assert before - timedelta(minutes=1) <= window.starts_at <= timezone.now()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"matchers": 'job=~"(a+)+"'}, "matchers", "nested unbounded repetition"),
        ({"matchers": "job"}, "matchers", "Bad matcher"),
        ({"zone": "Mars/Base"}, "zone", "Not a known time zone"),
        ({"starts_at": ""}, "starts_at", "choose now + a duration"),
        (
            {"starts_at": "9999-12-31T23:59", "zone": "America/New_York"},  # past year 9999 in UTC
            "starts_at",
            "Must be between 1970-01-01",  # the one storable range (api/schemas bounds)
        ),
        ({"length": "forever"}, "length", "Select a valid choice"),
        ({"repeat_days": ["sun"]}, "repeat_start", "needs a local start time"),
        ({"repeat_start": "02:00"}, "repeat_days", "Tick the weekdays"),
        (
            {"repeat_days": ["sun"], "repeat_start": "02:00", "repeat_minutes": "0"},
            "repeat_minutes",
            "greater than or equal to 1",
        ),
        (
            {
                "repeat_days": ["sun"],
                "repeat_start": "02:00",
                "repeat_minutes": "60",
                "repeat_zone": "X/Y",
            },
            "repeat_zone",
            "Not a known",
        ),
        ({"title": "a\x00b"}, "title", "Null characters are not allowed"),
    ],
)
def test_bad_input_is_422_next_to_the_field(client, estate, values, field, message):
    response = signed_in(client, estate.user("supervisor")).post(NEW, _body(estate, **values))
    assert response.status_code == 422
    page = html(response)
    error = re.search(rf'<span class="field__error" id="id_{field}-error">([^<]*)</span>', page)
    assert error, page
    assert message in error.group(1)
    assert MaintenanceWindow.objects.count() == 0


def test_create_a_weekly_window_in_the_sites_zone(client, estate):
    site = estate.sites[0]
    site.timezone = "Europe/Berlin"
    site.save(update_fields=["timezone"])
    body = _body(
        estate,
        starts_at="2099-01-01T00:00",
        ends_at="2099-06-01T00:00",
        repeat_days=["sat", "sun"],
        repeat_start="02:00",
        repeat_minutes="120",
    )
    response = signed_in(client, estate.user("supervisor")).post(NEW, body)
    assert response.status_code == 302, html(response)
    window = MaintenanceWindow.objects.get()
    assert window.recurrence_days == ["sat", "sun"]
    assert window.recurrence_start == time(2, 0)
    assert window.recurrence_duration == timedelta(hours=2)
    assert window.timezone == "Europe/Berlin"
    page = html(signed_in(client, estate.user("supervisor")).get(f"/maintenance/{window.id}/"))
    assert "Sat, Sun 02:00 for 2 h, Europe/Berlin" in page
    # in the list (upcoming: the series starts in 2099), with its first occurrence:
    # Saturday 3 January 2099, 02:00 in Berlin (CET) is 01:00 UTC
    page = html(signed_in(client, estate.user("supervisor")).get("/maintenance/?state=upcoming"))
    assert "Sat, Sun 02:00 for 2 h, Europe/Berlin · next" in page
    assert "2099-01-03 01:00 UTC</time>" in page


def test_the_persons_zone_fills_the_form_and_the_list(client, estate):
    from watchfloor.dashboard.preferences import update_preferences

    user = estate.user("supervisor")
    update_preferences(user, actor=user, time_zone="America/Chicago")
    body = _body(
        estate, zone="America/Chicago", starts_at="2099-01-10T08:00", ends_at="2099-01-10T09:00"
    )
    response = signed_in(client, user).post(NEW, body)
    assert response.status_code == 302, html(response)
    assert MaintenanceWindow.objects.get().starts_at == datetime(2099, 1, 10, 14, 0, tzinfo=UTC)
    page = html(signed_in(client, user).get("/maintenance/?state=upcoming"))
    assert 'name="zone" value="America/Chicago"' in page
    assert "Times are in America/Chicago" in page
    assert "2099-01-10 08:00 CST" in page
