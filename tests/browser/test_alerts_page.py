"""The alerts page in Chromium: filter by the form (the URL keeps it), select the page and
acknowledge with one confirmation in a dialog (#10 section 2).

Saves alerts-page-*.png in test-artifacts/ (1440 and 390 px wide, light and dark).
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from .support import alert_event, screenshot


@pytest.fixture
def batch(server):
    """Three CRITICAL and two LOW alerts, titled with one fresh word, on a site `bt-scoped`
    (an operator) may see."""
    site = server.data["sites"][server.data["own_client"]][0]
    word = f"pump{uuid.uuid4().hex[:6]}"
    events = [
        alert_event(f"{word} pressure {n}", site=site, severity=severity)
        for n, severity in enumerate(["CRITICAL"] * 3 + ["LOW"] * 2)
    ]
    return word, server.post_alerts(events)


def test_filter_then_acknowledge_the_page_with_one_confirmation(server, tabs, batch):
    word, ids = batch
    critical = sorted(i for title, i in ids.items() if int(title.rsplit(" ", 1)[1]) < 3)
    tab = tabs.open("bt-scoped", f"/alerts/?q={word}")
    page = tab.page
    rows = page.locator(".alerts-table tbody tr")
    expect(rows).to_have_count(5)

    # filter with the form: the URL keeps it, the table narrows
    page.get_by_label("Critical").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"severity=CRITICAL"))
    expect(rows).to_have_count(3)

    # select the page, then one confirmation in a dialog
    page.get_by_label("Select every alert on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.get_by_role("button", name="Acknowledge…").click()
    dialog = page.locator("dialog[data-confirm]")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Acknowledge 3 alerts?")
    dialog.get_by_role("button", name="Acknowledge 3").click()

    expect(page.locator(".flash")).to_contain_text("Acknowledged 3 alert(s).")
    expect(page).to_have_url(re.compile(r"severity=CRITICAL"))
    expect(page.locator(".alerts-table .status--acknowledged")).to_have_count(3)
    for alert_id in critical:
        answer = server.api("admin", "GET", f"/api/v1/alerts/{alert_id}")
        assert answer.body["status"] == "ACKNOWLEDGED", answer.body
    low = [i for i in ids.values() if i not in critical]
    assert {server.api("admin", "GET", f"/api/v1/alerts/{i}").body["status"] for i in low} == {
        "NEW"
    }
    assert tab.failures == []


def test_cancel_leaves_every_alert_alone(server, tabs, batch):
    word, ids = batch
    tab = tabs.open("bt-scoped", f"/alerts/?q={word}")
    page = tab.page
    page.get_by_label("Select every alert on this page").check()
    page.get_by_role("button", name="Resolve…").click()
    dialog = page.locator("dialog[data-confirm]")
    expect(dialog.get_by_label("How were they resolved?")).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    statuses = {
        server.api("admin", "GET", f"/api/v1/alerts/{i}").body["status"] for i in ids.values()
    }
    assert statuses == {"NEW"}
    assert tab.failures == []


@pytest.mark.parametrize(
    ("width", "scheme"), [(1440, "light"), (1440, "dark"), (390, "light"), (390, "dark")]
)
def test_alerts_page_screenshots(server, tabs, batch, width, scheme):
    word, _ids = batch
    tab = tabs.open(
        "bt-scoped",
        f"/alerts/?q={word}",
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
    )
    page = tab.page
    expect(page.locator(".alerts-table tbody tr")).to_have_count(5)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, overflow
    docs = (width, scheme) == (1440, "light")
    screenshot(page, f"alerts-page-{width}-{scheme}", docs=docs, full_page=True)
    assert tab.failures == []
