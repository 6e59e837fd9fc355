"""Paging end to end, in Chromium: a CRITICAL alert nobody acknowledges pages the person on
call by email, the one-click link in that email acknowledges it, and an open overview shows the
acknowledgement live.

Everything runs as in production: the person's email address is verified with the code the real
SMTP server received; the schedule and the policy are made through the API; the escalation sweep
and the email delivery run in the server's embedded scheduler on SQLite, and in a real Celery
worker and beat on PostgreSQL + Redis (tests/browser/conftest.py). Nothing is called in-process.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from .support import alert_event, incident_rules_off, screenshot, wait_until_rendered

PAGE_TIMEOUT = 120.0  # seconds: the sweep runs every 20 s; a loaded 2-core machine is slow
ACK_LINK = re.compile(r"https?://[^\s]+/ack/[^\s]+/")


def wait_for_mail(mailbox, address: str, needle: str, timeout: float = PAGE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in mailbox.to(address):
            if needle in mail.subject or needle in mail.body:
                return mail
        time.sleep(0.5)
    seen = [(m.rcpt_to, m.subject) for m in mailbox.messages]
    raise AssertionError(f"no mail to {address} about {needle!r} in {timeout:.0f}s; got {seen}")


def verified_email(server, username: str, address: str) -> int:
    """The person adds an email contact method and verifies it with the code they received."""
    made = server.api(
        username,
        "POST",
        "/api/v1/me/contact-methods",
        {
            "medium": "email",
            "label": "Work email",
            "address": address,
        },
    )
    assert made.status == 201, made.body
    method = made.body["id"]  # adding it sent the code
    mail = wait_for_mail(server.mailbox, address, "", timeout=60)
    code = re.search(r"\b(\d{6})\b", mail.body).group(1)
    done = server.api(
        username, "POST", f"/api/v1/me/contact-methods/{method}/verify", {"code": code}
    )
    assert done.status == 200, done.body
    assert done.body["verified"] is True, done.body
    return method


def test_an_unacknowledged_critical_alert_pages_on_call_and_the_link_acknowledges_it(
    server, tabs, browser, unique
):
    own = server.data["own_client"]
    site = server.data["sites"][own][0]
    me = server.api("supervisor", "GET", "/api/v1/me").body
    address = f"pager-{int(time.time())}@browser.example.com"
    verified_email(server, "supervisor", address)

    # on call: the supervisor, through an override of a schedule of their own
    schedule = server.api("admin", "POST", "/api/v1/schedules", {"name": unique("Pager")})
    assert schedule.status == 201, schedule.body
    now = datetime.now(UTC)
    override = server.api(
        "admin",
        "POST",
        f"/api/v1/schedules/{schedule.body['id']}/overrides",
        {
            "user_id": me["id"],
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "reason": "browser test",
        },
    )
    assert override.status == 201, override.body
    oncall = server.api("admin", "GET", f"/api/v1/schedules/{schedule.body['id']}/oncall")
    assert [p["id"] for p in oncall.body["people"]] == [me["id"]], oncall.body

    # the client's policy pages whoever is on call at once
    clients = server.api("admin", "GET", "/api/v1/clients?limit=500").body["items"]
    client_id = next(c["id"] for c in clients if c["code"] == own)
    existing = server.api("admin", "GET", "/api/v1/escalation-policies").body["items"]
    mine = next((p for p in existing if p["client"] and p["client"]["id"] == client_id), None)
    steps = [{"delay_minutes": 0, "targets": [{"kind": "schedule", "id": schedule.body["id"]}]}]
    if mine is None:
        policy = server.api(
            "admin",
            "POST",
            "/api/v1/escalation-policies",
            {
                "name": unique("Browser paging"),
                "client_id": client_id,
                "steps": steps,
            },
        )
        assert policy.status == 201, policy.body
    else:
        policy = server.api(
            "admin", "PATCH", f"/api/v1/escalation-policies/{mine['id']}", {"steps": steps}
        )
        assert policy.status == 200, policy.body

    # the alert's own chain: with the default incident policy a CRITICAL alert opens an
    # incident (or joins an open one of its site), which pages instead of its alerts
    # (tests/incidents/test_paging.py); this test is about an alert paging by itself
    with incident_rules_off(server):
        _page_and_acknowledge(server, tabs, browser, unique, site, address, me)


def _page_and_acknowledge(server, tabs, browser, unique, site, address, me):
    overview = tabs.open("admin")
    wait_until_rendered(overview.page)

    title = unique("Intrusion alarm, north gate")
    alert_id = server.post_alerts([alert_event(title, site=site, severity="CRITICAL")])[title]
    row = overview.page.locator(f'#feed .alert-row[data-alert-id="{alert_id}"]')
    # the row shows up live; the policy's first step has no delay, so the sweep (every 20 s)
    # may already have escalated it by the time the feed paints it on a loaded machine
    expect(row).to_have_attribute("data-status", re.compile(r"^(NEW|ESCALATED)$"))

    # nobody acknowledges: the sweep pages the person on call, and the feed shows the step
    mail = wait_for_mail(server.mailbox, address, title)
    assert "CRITICAL" in mail.subject + mail.body
    expect(row).to_have_attribute("data-status", "ESCALATED", timeout=30_000)
    link = ACK_LINK.search(mail.body).group(0)
    assert link.startswith(server.url), link

    # the link, opened without being signed in (it is the credential), acknowledges it
    outside = browser.new_context()
    try:
        page = outside.new_page()
        page.goto(link)
        expect(page.get_by_role("heading", name="Acknowledge this alert?")).to_be_visible()
        page.locator("[data-ack-confirm]").click()
        expect(page.locator("[data-ack-done]")).to_be_visible()
        # single use: the same link again is refused
        page.goto(link)
        expect(page.locator("[data-ack-refused]")).to_be_visible()
    finally:
        outside.close()

    # the open overview updates live, without a reload
    expect(row).to_have_attribute("data-status", "ACKNOWLEDGED")
    detail = server.api("admin", "GET", f"/api/v1/alerts/{alert_id}").body
    assert detail["status"] == "ACKNOWLEDGED"
    assert detail["acknowledged_by"]["id"] == me["id"]
    deliveries = server.api("admin", "GET", f"/api/v1/deliveries?alert={alert_id}").body["items"]
    assert [d["status"] for d in deliveries] == ["sent"], deliveries
    assert overview.failures == []

    # what an admin reads afterwards: the alert's timeline, the deliveries, who is on call
    pages = tabs.open("admin", f"/alerts/{alert_id}/")
    expect(pages.page.get_by_text("Escalation", exact=True).first).to_be_visible()
    screenshot(pages.page, "alert-escalated", docs=True, full_page=True)
    for path, name in (("/deliveries/", "deliveries"), ("/oncall/", "oncall")):
        pages.page.goto(server.url + path)
        screenshot(pages.page, name, docs=True)
    assert pages.failures == []
