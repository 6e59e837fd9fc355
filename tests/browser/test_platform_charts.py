"""The platform's Workers and Service status pages in a real browser (#12 §1): the charts of the
last hour are drawn by the vendored uPlot from the sampled series, with no request leaving the
server (closed network) and no HTTP or script error, in light and dark and on a phone.
Screenshots in test-artifacts/ (platform-status-*.png, platform-workers-*.png)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .support import screenshot

PHONE = {"width": 390, "height": 844}
SERIES = 11  # platform.sampling.SERIES
SAMPLE_WAIT = 90  # the first sample: at the server's start (embedded) or 30 s after beat's


def _wait_for_samples(tab) -> None:
    """Reload until the sample job has taken its first sample (bounded; not a timing check)."""
    page = tab.page
    deadline = time.monotonic() + SAMPLE_WAIT
    while True:
        page.wait_for_function(  # drawn, or the fetch answered (no longer "Loading")
            "() => document.querySelector('.platform-chart') || !/Loading/.test("
            "document.querySelector('[data-charts-status]')?.textContent ?? 'Loading')"
        )
        if page.locator(".platform-chart").count():
            return
        assert tab.failures == []
        status = page.locator("[data-charts-status]").inner_text()
        assert "No samples yet" in status, status
        assert time.monotonic() < deadline, "no platform sample was taken"
        page.wait_for_timeout(2000)
        page.reload()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_status_and_workers_draw_their_charts_offline(tabs, server, scheme):
    tab = tabs.open("bt-platform", "/platform/status/", color_scheme=scheme)
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
    _wait_for_samples(tab)
    expect(page.locator(".platform-chart")).to_have_count(SERIES)
    expect(page.locator(".platform-chart canvas")).to_have_count(SERIES)
    for name in ("database", "cache", "broker", "workers", "scheduler", "websocket hub"):
        expect(page.locator(f'tr[data-component="{name}"]')).to_be_visible()
    expect(page.get_by_text("0 s (nothing pending)")).to_be_visible()
    screenshot(page, f"platform-status-{scheme}", full_page=True)

    page.goto(f"{server.url}/platform/workers/")
    expect(page.locator("main h1")).to_have_text("Workers")
    expect(page.locator("code", has_text="platform.sample").first).to_be_visible()
    expect(page.locator('.platform-chart[data-series="job_failures"] canvas')).to_have_count(1)
    screenshot(page, f"platform-workers-{scheme}", full_page=True)

    page.set_viewport_size(PHONE)
    for path in ("/platform/status/", "/platform/workers/"):
        page.goto(server.url + path)
        expect(page.locator(".platform-chart canvas").first).to_be_visible()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone"
    screenshot(page, f"platform-workers-{scheme}-phone", full_page=True)
    assert refused == []
    assert tab.failures == []
