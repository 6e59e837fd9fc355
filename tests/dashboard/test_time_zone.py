"""A time zone per person for displayed times (#10 section 4): the setting, its validation, and
the pages that render times in it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from support_alerts import key_for, trigger
from watchfloor.alerts.models import Alert
from watchfloor.alerts.pipeline import ingest
from watchfloor.dashboard.preferences import preferences_for, update_preferences

__all__ = ["key_for"]

URL = "/api/v1/me/dashboard-settings"
T0 = datetime(2026, 7, 1, 12, 30, 5, tzinfo=UTC)


def test_a_known_zone_is_saved_and_audited_by_field_name(estate):
    user = estate.user("operator")
    saved = update_preferences(user, actor=user, time_zone="Asia/Kolkata")
    assert saved.time_zone == "Asia/Kolkata" == preferences_for(user).time_zone
    saved = update_preferences(user, actor=user, time_zone="")
    assert saved.time_zone == ""


@pytest.mark.parametrize("bad", ["Mars/Olympus", "utc ", "../../etc/passwd", "x" * 64, 5, None])
def test_an_unknown_zone_is_refused_naming_the_field(estate, bad):
    user = estate.user("operator")
    with pytest.raises(ValidationError) as caught:
        update_preferences(user, actor=user, time_zone=bad)
    assert "time_zone" in caught.value.message_dict
    assert preferences_for(user).time_zone == ""


@pytest.mark.parametrize(
    ("value", "status"),
    [("Europe/Paris", 200), ("Nowhere/City", 422), ("y" * 65, 422), (3, 422), (None, 422)],
)
def test_the_api_validates_the_zone(estate, api, value, status):
    response = api(estate.user("viewer")).patch(URL, {"time_zone": value})
    assert response.status_code == status, response.content
    if status == 422:
        assert "time_zone" in response.json()["error"]["fields"]
    else:
        assert response.json()["time_zone"] == value


def test_the_settings_page_refuses_an_unknown_zone_in_the_field(client, estate):
    user = estate.user("operator")
    client.force_login(user)
    response = client.post(
        "/settings/", {"refresh_seconds": "30", "theme": "system", "time_zone": "Nowhere/City"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="tz-error"' in body and 'aria-invalid="true"' in body
    assert preferences_for(user).time_zone == ""


def test_the_body_carries_the_zone_for_the_scripts(client, estate):
    user = estate.user("operator")
    client.force_login(user)
    assert 'data-time-zone=""' in client.get("/settings/").content.decode()
    update_preferences(user, actor=user, time_zone="America/New_York")
    assert 'data-time-zone="America/New_York"' in client.get("/settings/").content.decode()


@pytest.fixture
def alert(estate, key_for):
    site = estate.sites[0]
    site.timezone = "America/Chicago"
    site.save(update_fields=["timezone"])
    with time_machine.travel(T0, tick=False):
        ingest([trigger(site=site.code)], key=key_for(estate), now=T0)
    return Alert.objects.get()


def first_seen(body: str) -> str:
    found = re.search(r"<dt>First seen</dt><dd>(.*?)</dd>", body)
    assert found, body[:500]
    return found.group(1)


def test_the_alert_page_shows_times_in_the_persons_zone(client, estate, alert):
    user = estate.user("operator")
    client.force_login(user)
    shown = first_seen(client.get(f"/alerts/{alert.id}/").content.decode())
    assert ">2026-07-01 12:30:05 UTC</time>" in shown
    assert "07:30:05 CDT (site)" in shown  # the site's zone differs: shown beside

    update_preferences(user, actor=user, time_zone="Asia/Kolkata")
    body = client.get(f"/alerts/{alert.id}/").content.decode()
    shown = first_seen(body)
    assert ">2026-07-01 18:00:05 IST</time>" in shown
    assert 'title="2026-07-01 12:30:05 UTC"' in shown
    assert "times in Asia/Kolkata" in body

    update_preferences(user, actor=user, time_zone="America/Chicago")
    shown = first_seen(client.get(f"/alerts/{alert.id}/").content.decode())
    assert ">2026-07-01 07:30:05 CDT</time>" in shown
    assert "(site)" not in shown  # the same zone as the site: said once


def test_the_api_keeps_speaking_utc(estate, api, alert):
    user = estate.user("operator")
    update_preferences(user, actor=user, time_zone="Asia/Kolkata")
    body = api(user).get(f"/api/v1/alerts/{alert.id}").json()
    assert body["first_seen_at"].startswith("2026-07-01T12:30:05")


def test_the_escalation_policy_page_shows_its_versions_in_the_persons_zone(client, estate):
    from watchfloor.oncall.policy_services import ensure_default_policy

    with time_machine.travel(T0, tick=False):
        policy = ensure_default_policy(estate.tenant.id)
    admin = estate.user("admin")
    client.force_login(admin)
    body = client.get(f"/escalation/{policy.id}/").content.decode()
    assert "2026-07-01 12:30:05 UTC" in body and "Saved (UTC)" not in body
    update_preferences(admin, actor=admin, time_zone="Australia/Sydney")
    body = client.get(f"/escalation/{policy.id}/").content.decode()
    assert ">2026-07-01 22:30:05 AEST</time>" in body
    assert 'title="2026-07-01 12:30:05 UTC"' in body


def test_the_jobs_page_shows_times_in_the_persons_zone(client, db):
    from watchfloor.tenancy.models import User

    staff = User.objects.create_superuser("platform", "platform@example.com", "pw")
    update_preferences(staff, actor=staff, time_zone="Asia/Tokyo")
    client.force_login(staff)
    with time_machine.travel(T0, tick=False):
        body = client.get("/jobs/").content.decode()
    assert "Now: 2026-07-01 21:30:05 JST." in body
