"""The overview's field tiles in Chromium: figures from the newest KPI snapshot (the same as
`GET /api/v1/overview/field`), an inline SVG trend per tile, the client drill-down, the
'no snapshot' state for a filter that matches none, dark mode and a phone layout; and the
reports page's attendance and device availability (chart, tables, CSV) from the same snapshots."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import screenshot, wait_until_rendered

TILES = ("tickets", "sla", "attendance", "work_orders", "devices")


def _field_ready(page):
    expect(page.locator("#field-tiles")).to_have_attribute("aria-busy", "false")


def test_field_tiles_show_the_snapshot_and_drill_down(server, tabs):
    data = server.data
    own = data["own_client"]
    server.data_script("snapshot", own)
    api = server.api("admin", "GET", "/api/v1/overview/field").body
    assert api["figures"] is not None, api
    fig = api["figures"]
    tab = tabs.open("admin")
    page = tab.page
    wait_until_rendered(page)
    _field_ready(page)
    section = page.locator("#field-tiles")
    expect(section).to_have_attribute("data-state", "ready")
    value = lambda name: section.locator(f'[data-field="{name}"] .tile__value')  # noqa: E731
    expect(value("tickets")).to_have_text(str(fig["tickets"]["open"]))
    expect(value("sla")).to_have_text(str(fig["sla"]["breaches"]))
    att = fig["attendance"]
    expect(value("attendance")).to_have_text(f"{att['present']} / {att['expected']}")
    expect(value("work_orders")).to_have_text(str(fig["work_orders"]["open"]))
    dev = fig["devices"]
    expect(value("devices")).to_have_text(f"{dev['offline']} / {dev['total']}")
    assert fig["sla"]["breaches"] >= 2 and dev["offline"] >= 2
    # every tile draws its trend: the newest point at least (a dot or a line)
    for name in TILES:
        spark = section.locator(f'[data-field="{name}"] svg.spark__svg')
        expect(spark).to_have_count(1)
        assert spark.locator("polyline, circle").count() >= 1, name
    # each tile links to the alerts its rules raise, with the overview's filter
    expect(section.locator('[data-field="sla"]')).to_have_attribute(
        "href", re.compile(r"type=SLA_BREACH")
    )
    screenshot(page, "overview-field-tiles", full_page=False)

    # drill down to the client: the figures follow the filter like the alert tiles
    form = page.locator("#filters")
    form.locator("select[name=client]").select_option([own])
    form.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"client={re.escape(own)}"))
    mine = server.api("admin", "GET", f"/api/v1/overview/field?client={own}").body["figures"]
    # the tiles repaint when the filtered answer arrives: wait for the link, not a figure
    # that may read the same before and after the filter
    sla_tile = section.locator('[data-field="sla"]')
    expect(sla_tile).to_have_attribute("href", re.compile(r"[?&]client=\w"))
    expect(sla_tile).to_have_attribute("href", re.compile(r"type=SLA_BREACH"))
    expect(value("tickets")).to_have_text(str(mine["tickets"]["open"]))

    # a 7-day range draws the hourly trend
    form.locator("select[name=range]").select_option("7d")
    form.get_by_role("button", name="Apply").click()
    expect(page.locator("#field-when")).to_contain_text("7 days")
    assert tab.failures == []


def test_no_snapshot_is_said_not_zero_and_dark_phone_layout(server, tabs):
    # a client code that matches nothing has no snapshot: the tiles say so
    tab = tabs.open(
        "admin",
        "/?client=no-such-client",
        viewport={"width": 390, "height": 844},
        color_scheme="dark",
    )
    page = tab.page
    _field_ready(page)
    section = page.locator("#field-tiles")
    expect(section).to_have_attribute("data-state", "empty")
    expect(page.locator("#field-when")).to_contain_text("No KPI snapshot")
    for name in TILES:
        tile = section.locator(f'[data-field="{name}"]')
        expect(tile.locator(".tile__value")).to_have_text("–")
        expect(tile).to_contain_text("no snapshot yet")
    # the phone layout: two tiles a row, inside the viewport
    box = section.locator('[data-field="tickets"]').bounding_box()
    assert box is not None and box["width"] < 390 / 2 + 10, box
    screenshot(page, "overview-field-tiles-phone-dark", full_page=False)
    assert tab.failures == []


def test_reports_page_draws_attendance_and_device_availability(server, tabs):
    own = server.data["own_client"]
    server.data_script("snapshot", own)
    api = server.api("supervisor", "GET", "/api/v1/reports/devices?range=24h").body
    online = api["overall"]["online_percent"]
    assert online is not None and online < 100, api
    tab = tabs.open("supervisor", "/reports/?range=24h", color_scheme="dark")
    page = tab.page
    expect(page.locator('[data-report-chart="availability"] canvas')).to_have_count(1)
    expect(page.locator('[data-availability="online"]')).to_have_text(f"{online} %")
    table = page.locator('[data-report-table="availability-clients"]')
    expect(table).to_contain_text(own)
    expect(page.locator('[data-report-table="device-sites"] tbody tr').first).to_be_visible()
    assert "not in this report yet" not in page.content()
    screenshot(page, "reports-availability-dark", full_page=True)
    with page.expect_download() as download:
        page.locator("[data-export]").click()
    text = download.value.path().read_text(encoding="utf-8")
    assert "devices,overall,," in text and f"attendance,client,{own}," in text
    assert tab.failures == []
