"""The maintenance form in Chromium: "Silence…" on an alert opens it filled with the alert's
labels, the preview lists the alert, and the window is created (#10 sections 3 and 4).

Saves maintenance-form-*.png in test-artifacts/ (1440 and 390 px wide, light and dark).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from .support import alert_event, screenshot


@pytest.fixture
def labelled_alert(server):
    site = server.data["sites"][server.data["own_client"]][0]
    title = f"Disk filling on db {uuid.uuid4().hex[:8]}"
    event = {**alert_event(title, site=site, type_="DiskFilling")}
    event["labels"] = {"job": "db", "instance": f"db-{uuid.uuid4().hex[:6]}:9100"}
    return server.post_alerts([event])[title], event["labels"]


def test_silence_from_an_alert_preview_and_create(server, tabs, labelled_alert):
    alert_id, labels = labelled_alert
    tab = tabs.open("supervisor", f"/alerts/{alert_id}/")
    page = tab.page
    page.get_by_role("link", name="Silence…").click()
    expect(page).to_have_url(re.compile(rf"/maintenance/new/\?alert={alert_id}"))
    matchers = page.get_by_label("Label matchers")
    expect(matchers).to_have_value(re.compile(re.escape(f'instance="{labels["instance"]}"')))
    # "now + 2 h" is chosen, so the typed times are off; the zone is the browser's
    expect(page.get_by_label("Now + 2 h")).to_be_checked()
    expect(page.get_by_label("Starts")).to_be_disabled()
    assert page.locator("#id_zone").input_value() != ""

    page.get_by_role("button", name="Preview matches").click()
    preview = page.locator(".preview")
    expect(preview.locator("h3")).to_contain_text("would match now: 1")
    expect(preview.locator(f'a[href="/alerts/{alert_id}/"]')).to_be_visible()

    page.get_by_role("button", name="Create window").click()
    expect(page).to_have_url(re.compile(r"/maintenance/\d+/$"))
    expect(page.locator(".facts")).to_contain_text(labels["instance"])
    assert tab.failures == []


@pytest.mark.parametrize(
    ("width", "scheme"), [(1440, "light"), (1440, "dark"), (390, "light"), (390, "dark")]
)
def test_maintenance_form_screenshots(server, tabs, labelled_alert, width, scheme):
    alert_id, _labels = labelled_alert
    tab = tabs.open(
        "supervisor",
        f"/maintenance/new/?alert={alert_id}",
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
    )
    page = tab.page
    page.locator(".repeat summary").click()
    page.get_by_role("button", name="Preview matches").click()
    expect(page.locator(".preview h3")).to_be_visible()
    screenshot(page, f"maintenance-form-{width}-{scheme}", full_page=True)
    assert tab.failures == []


@pytest.mark.parametrize(("width", "scheme"), [(1440, "light"), (390, "dark")])
def test_a_weekly_window_in_the_list_shows_its_next_occurrence(server, tabs, width, scheme):
    clients = server.api("supervisor", "GET", "/api/v1/clients").body
    client = next(c for c in clients["items"] if c["code"] == server.data["own_client"])
    now = datetime.now(UTC)
    title = f"Weekly patching {uuid.uuid4().hex[:6]}"
    answer = server.api(
        "supervisor",
        "POST",
        "/api/v1/maintenance-windows",
        {
            "client_id": client["id"],
            "title": title,
            "matchers": 'job="db"',
            "recurrence": {
                "days": ["sun"],
                "start_time": "02:00",
                "duration_minutes": 120,
                "timezone": "Europe/Berlin",
            },
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(days=90)).isoformat(),
        },
    )
    assert answer.status == 201, answer.body
    tab = tabs.open(
        "supervisor",
        "/maintenance/?state=active",
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
    )
    row = tab.page.locator("tr", has_text=title)
    expect(row).to_contain_text("Sun 02:00 for 2 h, Europe/Berlin")
    expect(row).to_contain_text(re.compile(r"next|running now"))
    expect(row.locator(".matchers")).to_have_text('{job="db"}')
    screenshot(tab.page, f"maintenance-list-weekly-{width}-{scheme}", full_page=True)
    assert tab.failures == []
