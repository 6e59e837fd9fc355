"""The maintenance form in Chromium: "Silence…" on an alert opens it filled with the alert's
labels, the preview lists the alert, and the window is created (#10 sections 3 and 4).

Saves maintenance-form-*.png in test-artifacts/ (1440 and 390 px wide, light and dark).
"""

from __future__ import annotations

import re
import uuid

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
