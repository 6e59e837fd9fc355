"""The reports page in a real browser (#13 §3): the charts are drawn by the vendored uPlot with
no request leaving the server, the tables hold the figures, changing the range reloads them, an
exporter downloads the CSV, and a viewer without `noc:export` is offered no export. Light, dark
and a phone. Screenshots in test-artifacts/ (reports-*.png)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .support import alert_event, screenshot

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def alerts_of_a_fresh_type(server):
    """Three alerts of a type no other test uses, on a site of the scoped users' client."""
    site = server.data["sites"][server.data["own_client"]][0]
    type_ = f"REPORT_{uuid.uuid4().hex[:6].upper()}"
    events = [
        alert_event(f"{type_} {n}", site=site, severity="HIGH", type_=type_) for n in range(3)
    ]
    server.post_alerts(events)
    return type_


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_reports_chart_table_range_and_export(tabs, server, alerts_of_a_fresh_type, scheme):
    type_ = alerts_of_a_fresh_type
    tab = tabs.open("supervisor", "/reports/", color_scheme=scheme)
    page = tab.page
    refused: list[str] = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    tab.context.route("**/*", only_local)
    page.reload()
    expect(page.locator("main h1")).to_have_text("Reports")
    expect(page.locator('[data-report-chart="trend"] canvas')).to_have_count(1)
    expect(page.locator('[data-report-chart="severity"] canvas')).to_have_count(1)
    row = page.locator('[data-report-table="frequency"] tr', has_text=type_)
    expect(row.locator("td").first).to_have_text("3")

    # a preset submits the form at once; the custom range shows its dates
    expect(page.locator("#r-since")).to_be_hidden()
    page.select_option("#r-range", "24h")
    expect(page).to_have_url(f"{server.url}/reports/?range=24h")  # empty filters left out
    expect(page.locator('[data-report-chart="trend"] canvas')).to_have_count(1)
    expect(row.locator("td").first).to_have_text("3")
    page.select_option("#r-range", "custom")
    expect(page.locator("#r-since")).to_be_visible()
    page.fill("#r-since", "2020-01-01T00:00")
    page.fill("#r-until", "2020-01-02T00:00")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('[data-report-table="frequency"]')).to_contain_text("No alert first seen")
    page.goto(f"{server.url}/reports/?range=24h")
    screenshot(page, f"reports-{scheme}", full_page=True)

    with page.expect_download() as download:
        page.locator("[data-export]").click()
    path = download.value.path()
    text = path.read_text(encoding="utf-8")
    assert download.value.suggested_filename.startswith("reports-")
    assert f"frequency,{type_},3," in text
    assert "noisy_sites," in text

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator('[data-report-chart="trend"] canvas')).to_be_visible()
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the reports page is {overflow}px wider than a phone"
    screenshot(page, f"reports-{scheme}-phone", full_page=True)
    assert refused == []
    assert tab.failures == []


def test_a_viewer_without_noc_export_sees_no_export(tabs):
    tab = tabs.open("bt-viewer", "/reports/")
    page = tab.page
    expect(page.locator("main h1")).to_have_text("Reports")
    expect(page.locator('[data-report-chart="trend"] canvas')).to_have_count(1)
    expect(page.locator("[data-export]")).to_have_count(0)
    assert tab.failures == []
