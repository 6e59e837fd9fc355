"""The platform pages in a real browser (#12 §1): each renders for a platform operator without
an HTTP or script error, in light and dark, on a desktop and a phone, the section's nav on every
page, and nothing wider than a phone's screen but the tables (which scroll inside their card).
Screenshots in test-artifacts/ (platform-*.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .support import screenshot

PAGES = ("system", "database", "cache", "exports")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_platform_pages_render_in_both_themes_and_on_a_phone(tabs, scheme):
    tab = tabs.open("bt-platform", "/platform/", color_scheme=scheme, viewport=DESKTOP)
    page = tab.page
    expect(page.get_by_role("navigation", name="Platform")).to_be_visible()
    for name in PAGES:
        page.goto(page.url.split("/platform/")[0] + f"/platform/{name}/")
        nav = page.get_by_role("navigation", name="Platform")
        expect(nav.locator('[aria-current="page"]')).to_have_count(1)
        expect(page.locator("main h1")).to_be_visible()
        screenshot(page, f"platform-{name}-{scheme}", full_page=True)

    page.set_viewport_size(PHONE)
    for name in PAGES:
        page.goto(page.url.split("/platform/")[0] + f"/platform/{name}/")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"/platform/{name}/ is {overflow}px wider than a phone"
        screenshot(page, f"platform-{name}-{scheme}-phone", full_page=True)
    assert tab.failures == []


def test_a_tenant_admin_gets_the_403_page(tabs):
    tab = tabs.open("admin", "/")
    response = tab.page.goto(tab.page.url.rstrip("/") + "/platform/system/")
    assert response is not None and response.status == 403
    expect(
        tab.page.get_by_role("heading", name="The platform pages are for platform operators")
    ).to_be_visible()
    expect(tab.page.locator('#main-nav a[href="/platform/"]')).to_have_count(0)
