"""The overview's assign menu in Chromium (#10 bug 5): it offered every person of the tenant and
the first one failed with a 422; it now lists the alert's own assignees (GET
/api/v1/alerts/{id}/assignees), and the first one offered is accepted."""

from __future__ import annotations

from playwright.sync_api import expect

from .support import alert_event, screenshot, wait_until_rendered


def test_the_assign_menu_offers_the_alerts_people_and_the_first_one_works(server, tabs, unique):
    site = server.data["sites"][server.data["own_client"]][4]
    title = unique("Door forced open")
    alert_id = server.post_alerts([alert_event(title, site=site, severity="HIGH")])[title]
    listed = server.api("bt-scoped", "GET", f"/api/v1/alerts/{alert_id}/assignees")
    assert listed.status == 200, listed.body
    expected = [str(p["id"]) for p in listed.body["assignees"]]

    client = server.data["own_client"]
    tab = tabs.open("bt-scoped", f"/?client={client}&site={site}")  # an operator, no view_pii
    page = tab.page
    wait_until_rendered(page)
    row = page.locator(f'#feed .alert-row[data-alert-id="{alert_id}"]')
    row.locator('button[data-action="assign"]').click()
    select = row.locator('select[name="assignee_id"]')
    expect(select).to_be_visible()
    offered = select.locator("option").evaluate_all("os => os.map(o => o.value).filter(Boolean)")
    assert offered == expected and offered
    screenshot(page, "assign-menu-1440")

    select.select_option(offered[0])
    row.get_by_role("button", name="Confirm assign").click()
    expect(row).to_have_attribute("data-status", "ASSIGNED")
    expect(row.locator(".alert-row__error")).to_have_text("")
    assert not tab.failures, tab.failures


def test_the_assign_menu_at_phone_width_in_the_dark(server, tabs, unique):
    site = server.data["sites"][server.data["own_client"]][5]
    title = unique("Camera offline")
    alert_id = server.post_alerts([alert_event(title, site=site)])[title]
    client = server.data["own_client"]
    tab = tabs.open(
        "bt-scoped",
        f"/?client={client}&site={site}",
        viewport={"width": 390, "height": 844},
        color_scheme="dark",
    )
    page = tab.page
    wait_until_rendered(page)
    row = page.locator(f'#feed .alert-row[data-alert-id="{alert_id}"]')
    row.locator('button[data-action="assign"]').click()
    expect(row.locator('select[name="assignee_id"]')).to_be_visible()
    screenshot(page, "assign-menu-390-dark")
    assert not tab.failures, tab.failures
