"""Sign in through the real form in Chromium, land on the estate page, sign out.

Saves login.png and estate.png in test-artifacts/ (docs/screenshots/ with
WATCHFLOOR_SCREENSHOTS=docs). Skipped when Debian's chromium is missing,
unless WATCHFLOOR_REQUIRE_BROWSER=1 (then it fails, so CI cannot pass by skipping it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from watchfloor import demo_data

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# docs/screenshots is refreshed on request only (WATCHFLOOR_SCREENSHOTS=docs), so a test run
# leaves the tracked files alone.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("WATCHFLOOR_SCREENSHOTS") == "docs"
    else ARTIFACTS
)


@pytest.fixture
def chromium(monkeypatch):
    if not CHROMIUM.exists():
        reason = f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("WATCHFLOOR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"WATCHFLOOR_REQUIRE_BROWSER=1 but the test {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo_accounts(settings):
    # the live server speaks plain http, as `watchfloor demo` does
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    result = demo_data.load_demo()
    return {a.username: a.password for a in result.accounts}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_sign_in_lands_on_the_estate(live_server, demo_accounts, chromium):
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    failures: list[str] = []
    page.on("response", lambda r: r.status >= 400 and failures.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and failures.append(m.text))

    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "login.png"))

    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    failures.clear()  # the wrong password answered 200 with the form: nothing failed

    page.get_by_label("Password").fill(demo_accounts["admin"])
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Estate", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Acme Logistics")).to_be_visible()
    expect(page.locator(".tile__value").nth(1)).to_have_text("200")
    page.screenshot(path=str(SCREENSHOTS / "estate.png"))

    page.get_by_label("Client", exact=True).select_option("ACME")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"client=ACME"))
    expect(page.locator("section.client")).to_have_count(1)

    _dark_and_mobile_views(chromium, context, live_server.url)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    assert failures == []
    context.close()


def _dark_and_mobile_views(browser, signed_in, base_url: str) -> None:
    """Extra captures for reviewing dark mode and small screens (test-artifacts/, not docs)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for name, options in {
        "estate-dark": {"viewport": {"width": 1440, "height": 900}, "color_scheme": "dark"},
        "estate-mobile": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
    }.items():
        context = browser.new_context(storage_state=signed_in.storage_state(), **options)
        page = context.new_page()
        page.goto(f"{base_url}/")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        context.clear_cookies()
        page.goto(f"{base_url}/login/")
        page.screenshot(path=str(ARTIFACTS / f"{name.replace('estate', 'login')}.png"))
        context.close()
