"""A time zone per person in Chromium: chosen on the settings page from the browser's own zone,
then used by the pages the server renders and by js/time.js (#10 section 4).

Saves settings-time-zone-*.png in test-artifacts/ (1440 and 390 px wide, light and dark).
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from .support import alert_event, screenshot

USER = "bt-viewer"


@pytest.fixture
def reset_zone(server):
    yield
    answer = server.api(USER, "PATCH", "/api/v1/me/dashboard-settings", {"time_zone": ""})
    assert answer.status == 200, answer.body


def test_choose_the_browsers_zone_and_see_times_in_it(server, tabs, reset_zone):
    site = server.data["sites"][server.data["own_client"]][0]
    title = f"Door forced {uuid.uuid4().hex[:8]}"
    alert_id = server.post_alerts([alert_event(title, site=site)])[title]

    tab = tabs.open(USER, "/settings/", timezone_id="Europe/Paris")
    page = tab.page
    use = page.get_by_role("button", name="Use this browser's zone (Europe/Paris)")
    expect(use).to_be_visible()
    use.click()
    expect(page.get_by_label("Show times in")).to_have_value("Europe/Paris")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Your dashboard settings are saved.")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-time-zone", "Europe/Paris")

    page.goto(f"{server.url}/alerts/{alert_id}/")
    first_seen = page.locator("dt:text-is('First seen') + dd time")
    expect(first_seen).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T$"))
    assert first_seen.get_attribute("title").endswith(" UTC")
    expect(page.locator("#timeline-h + .muted")).to_contain_text("times in Europe/Paris")

    # the scripts' one formatter reads the same zone from <body>
    shown = page.evaluate(
        """async () => {
            const { formatTime } = await import('/static/watchfloor/js/time.js');
            return formatTime(new Date('2026-07-01T12:30:05Z'));
        }"""
    )
    # Intl names the zone its own way ("GMT+2" where the server says "CEST"): the time matters
    assert re.fullmatch(r"2026-07-01 14:30:05 \S+", shown), shown
    assert tab.failures == []


def test_without_a_choice_scripts_use_the_browsers_zone(server, tabs):
    tab = tabs.open(USER, "/settings/", timezone_id="America/Chicago")
    page = tab.page
    expect(page.locator("body")).to_have_attribute("data-time-zone", "")
    shown = page.evaluate(
        """async () => {
            const { formatTime } = await import('/static/watchfloor/js/time.js');
            return [formatTime('2026-07-01T12:30:05Z', { seconds: false }), formatTime('nope')];
        }"""
    )
    assert shown == ["2026-07-01 07:30 CDT", ""]
    assert tab.failures == []


@pytest.mark.parametrize(
    ("width", "scheme"), [(1440, "light"), (1440, "dark"), (390, "light"), (390, "dark")]
)
def test_settings_page_screenshots(server, tabs, width, scheme):
    tab = tabs.open(
        USER, "/settings/", viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page = tab.page
    zone = page.get_by_label("Show times in")
    expect(zone).to_be_visible()
    zone.scroll_into_view_if_needed()
    box = zone.bounding_box()
    assert box["x"] + box["width"] <= width, box  # the long list fits a phone
    screenshot(page, f"settings-time-zone-{width}-{scheme}")
    assert tab.failures == []
