"""The alert page in Chromium: reveal the site officer's contact, comment, resolve and reopen,
each swapped in by htmx without a reload (#10 section 4).

Saves alert-page-*.png in test-artifacts/ (1440 and 390 px wide, light and dark).
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from .support import alert_event, screenshot


@pytest.fixture
def alert_id(server):
    """A fresh alert on the first site of the client `bt-scoped` (an operator) may see."""
    site = server.data["sites"][server.data["own_client"]][0]
    title = f"Gate controller offline {uuid.uuid4().hex[:8]}"
    return server.post_alerts([alert_event(title, site=site)])[title]


def test_reveal_comment_resolve_and_reopen_without_a_reload(server, tabs, alert_id):
    tab = tabs.open("bt-scoped", f"/alerts/{alert_id}/")
    page = tab.page
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    # the officer is masked; Reveal asks the server (audited) and shows name, phone and email
    officer = page.locator(".officer dd")
    reveal = officer.get_by_role("button", name="Reveal contact")
    expect(reveal).to_be_visible()
    masked = officer.locator("[data-officer-label]").inner_text()
    assert "***" in masked
    reveal.click()
    contact = officer.locator(".revealed")
    expect(contact.locator("a[href^='tel:']")).to_have_text(re.compile(r"^\+1-\d{3}-555-01\d\d$"))
    expect(contact.locator("a[href^='mailto:']")).to_be_visible()
    assert "***" not in contact.locator("strong").inner_text()
    screenshot(page, "alert-page-revealed")

    # a comment: on the timeline at once, the status unchanged
    comment = "Called the site: the guard is checking the gate."
    page.get_by_role("textbox", name="Comment").fill(comment)
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#action-status")).to_have_text("Comment added.")
    expect(page.locator(".timeline__item--comment")).to_contain_text("checking the gate")
    expect(page.locator(".alert-head .status")).to_have_text("Status NEW")

    # resolve, then reopen: the buttons follow the status without a reload
    page.get_by_text("Resolve…").click()
    page.get_by_label("How was it resolved?").fill("Controller rebooted.")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator(".alert-head .status")).to_have_text("Status RESOLVED")
    page.get_by_text("Reopen…").click()
    page.get_by_label("Why?").fill("Offline again after ten minutes.")
    page.get_by_role("button", name="Reopen", exact=True).click()
    expect(page.locator("#action-status")).to_have_text("Reopened.")
    expect(page.locator(".alert-head .status")).to_have_text("Status NEW")
    expect(page.locator(".timeline__item--reopen")).to_contain_text("Offline again")
    assert page.evaluate("window.__sameDocument") is True

    answer = server.api("admin", "GET", f"/api/v1/alerts/{alert_id}/comments")
    assert answer.status == 200 and len(answer.body) == 1
    assert tab.failures == []


@pytest.mark.parametrize(
    ("width", "scheme"), [(1440, "light"), (1440, "dark"), (390, "light"), (390, "dark")]
)
def test_alert_page_screenshots(server, tabs, alert_id, width, scheme):
    tab = tabs.open(
        "bt-scoped",
        f"/alerts/{alert_id}/",
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
    )
    page = tab.page
    expect(page.get_by_role("button", name="Add comment")).to_be_visible()
    # nothing wider than the screen at phone width
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    screenshot(page, f"alert-page-{width}-{scheme}", full_page=True)
    assert tab.failures == []
