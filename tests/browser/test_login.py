"""Sign in through the real form in Chromium, land on the overview, visit the sites page, sign out.

Saves login.png and estate.png in test-artifacts/ (and in docs/screenshots/ with
WATCHFLOOR_SCREENSHOTS=docs), plus dark and mobile captures of both pages in test-artifacts/.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .support import screenshot, wait_until_rendered


def test_sign_in_lands_on_the_overview(server, tabs):
    tab = tabs.open(None, "/")
    page = tab.page

    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "login", docs=True)

    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    tab.failures.clear()  # the wrong password answered 200 with the form: nothing failed

    page.get_by_label("Password").fill(server.data["accounts"]["admin"]["password"])
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{server.url}/")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    wait_until_rendered(page)

    # the estate table moved to its own page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sites").click()
    expect(page).to_have_url(f"{server.url}/estate/")
    expect(page.get_by_role("heading", name="Estate", exact=True)).to_be_visible()
    first_client = next(iter(server.data["clients"].values()))
    expect(page.get_by_role("heading", name=first_client)).to_be_visible()
    expect(page.locator(".tile__value").nth(1)).to_have_text(str(server.data["site_count"]))
    screenshot(page, "estate", docs=True)

    page.get_by_label("Client", exact=True).select_option(server.data["own_client"])
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"/estate/\?client={server.data['own_client']}\b"))
    expect(page.locator("section.client")).to_have_count(1)

    _dark_and_mobile_views(tabs, tab.context, server.url)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/login/")
    page.goto(f"{server.url}/")  # signed out: the overview asks to sign in again
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    assert tab.failures == []


def _dark_and_mobile_views(tabs, signed_in, base_url: str) -> None:
    """Extra captures for reviewing dark mode and small screens (test-artifacts/, not docs)."""
    cookies = {"cookies": signed_in.storage_state()["cookies"], "origins": []}
    for name, options in {
        "dark": {"viewport": {"width": 1440, "height": 900}, "color_scheme": "dark"},
        "mobile": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
    }.items():
        tab = tabs.open(None, "/", storage_state=cookies, **options)
        wait_until_rendered(tab.page)  # and live: leave only once the WebSocket is open
        screenshot(tab.page, f"overview-{name}", full_page=True)
        tab.page.goto(f"{base_url}/estate/")
        screenshot(tab.page, f"estate-{name}")
        tab.context.clear_cookies()
        tab.page.goto(f"{base_url}/login/")
        screenshot(tab.page, f"login-{name}")
        assert tab.failures == [], name
