"""Live updates in Chromium, end to end: ingestion API → pipeline → publisher (Redis pub/sub on
PostgreSQL runs) → the server's hub → `/ws/dashboard/` → the open page, without a reload.

Also what the WebSocket must refuse, tried from a real page's JavaScript: a viewer's forged
acknowledge, and another client's alerts for a user scoped to one client. And the reconnect: the
server is stopped under an open page, alerts are stored meanwhile by a separate process (so they
are never broadcast), the server comes back, and the page catches up by itself.
"""

from __future__ import annotations

from playwright.sync_api import expect

from .support import alert_event, screenshot, wait_until_rendered

# Open a second WebSocket from the page (same origin, same session cookie) and send a forged
# acknowledge once the server said hello; resolves with every message seen.
FORGE_ACKNOWLEDGE = """([url, id]) => new Promise((resolve) => {
  const seen = [];
  const socket = new WebSocket(url);
  let timer;
  const done = (outcome) => { clearTimeout(timer); socket.close(); resolve({ outcome, seen }); };
  timer = setTimeout(() => done("no answer"), 15000);
  socket.onerror = () => done("socket error");
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    seen.push(message);
    if (message.type === "hello") {
      socket.send(JSON.stringify({ type: "alert.acknowledge", id, request_id: "forged" }));
    } else if (message.request_id === "forged") {
      done("answered");
    }
  };
})"""

# A listener on its own WebSocket that records every message; resolves at the server's hello.
LISTEN = """(url) => new Promise((resolve, reject) => {
  const listener = { messages: [], events: [] };
  window.__listener = listener;
  listener.socket = new WebSocket(url);
  listener.socket.onerror = () => reject(new Error("the listener's socket failed"));
  listener.socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    listener.messages.push(message);
    if (message.type === "events") listener.events.push(...message.events);
    if (message.type === "hello") resolve(message);
  };
})"""


def row(page, alert_id: int):
    return page.locator(f'#feed .alert-row[data-alert-id="{alert_id}"]')


def critical_ids(page) -> list[str]:
    """The feed's CRITICAL rows' alert ids, in the order shown, read in one go."""
    return page.eval_on_selector_all(
        '#feed .alert-row[data-severity="CRITICAL"]', "rows => rows.map(r => r.dataset.alertId)"
    )


def mark_document(page) -> None:
    """A flag that a reload or navigation would wipe out."""
    page.evaluate("window.__sameDocument = true")


def still_same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_an_ingested_alert_appears_without_reload(server, tabs, unique):
    site = server.data["sites"][server.data["own_client"]][0]
    tab = tabs.open("admin")
    page = tab.page
    wait_until_rendered(page)
    mark_document(page)

    # an older CRITICAL of our own, so that the order below is checked against at least one row
    earlier = unique("Intrusion panel tamper")
    earlier_id = server.post_alerts([alert_event(earlier, site=site, severity="CRITICAL")])[earlier]
    expect(row(page, earlier_id)).to_have_attribute("data-severity", "CRITICAL")
    older = critical_ids(page)
    assert str(earlier_id) in older
    title = unique("Camera NVR-07 offline")
    alert_id = server.post_alerts([alert_event(title, site=site, severity="CRITICAL")])[title]

    shown = row(page, alert_id)
    expect(shown).to_contain_text(title)
    expect(shown).to_contain_text(site)
    expect(shown).to_have_attribute("data-status", "NEW")
    expect(shown).to_have_attribute("data-severity", "CRITICAL")
    # most severe first, then longest open: the new CRITICAL comes after every CRITICAL that was
    # open before it. (Not "last": the shared server's field rules may open a CRITICAL meanwhile,
    # e.g. another test's ticket going past its SLA, and that one is newer.)
    order = critical_ids(page)
    still_open_older = [order.index(i) for i in older if i in order]
    assert order.index(str(alert_id)) > max(still_open_older, default=-1), (order, older)
    expect(page.locator("#feed .alert-row").first).to_have_attribute("data-severity", "CRITICAL")
    assert still_same_document(page)
    screenshot(page, "overview-live-alert")
    assert tab.failures == []


def test_acknowledging_in_one_page_updates_another(server, tabs, unique):
    site = server.data["sites"][server.data["own_client"]][1]
    acting = tabs.open("admin")
    watching = tabs.open("supervisor")
    for tab in (acting, watching):
        wait_until_rendered(tab.page)
        mark_document(tab.page)

    title = unique("Patrol left the geofence")
    alert_id = server.post_alerts([alert_event(title, site=site, severity="HIGH")])[title]
    for tab in (acting, watching):
        expect(row(tab.page, alert_id)).to_have_attribute("data-status", "NEW")

    acting_row = row(acting.page, alert_id)
    acting_row.locator('button[data-action="acknowledge"]').click()
    expect(acting_row).to_have_attribute("data-status", "ACKNOWLEDGED")
    expect(acting_row.locator('button[data-action="acknowledge"]')).to_have_count(0)
    # the other user's page learns it from the server, not from a reload
    watching_row = row(watching.page, alert_id)
    expect(watching_row).to_have_attribute("data-status", "ACKNOWLEDGED")
    expect(watching_row.locator('button[data-action="acknowledge"]')).to_have_count(0)

    stored = server.api("supervisor", "GET", f"/api/v1/alerts/{alert_id}").body
    assert stored["status"] == "ACKNOWLEDGED"
    assert stored["acknowledged_by"]["username"] == "admin"
    for tab in (acting, watching):
        assert still_same_document(tab.page)
        assert tab.failures == [], tab.username


def test_a_viewer_cannot_acknowledge_even_with_a_forged_message(server, tabs, unique):
    site = server.data["sites"][server.data["own_client"]][2]
    tab = tabs.open("bt-viewer")
    page = tab.page
    wait_until_rendered(page)

    title = unique("Door forced open")
    alert_id = server.post_alerts([alert_event(title, site=site, severity="HIGH")])[title]
    shown = row(page, alert_id)
    expect(shown).to_have_attribute("data-status", "NEW")
    expect(shown).to_contain_text(title)
    # no button for what the viewer may not do, anywhere on the page
    expect(page.locator('#feed button[data-action="acknowledge"]')).to_have_count(0)
    expect(page.locator('#feed button[data-action="resolve"]')).to_have_count(0)

    answer = page.evaluate(FORGE_ACKNOWLEDGE, [server.ws_url, alert_id])
    assert answer["outcome"] == "answered", answer
    assert answer["seen"][0]["type"] == "hello", answer
    assert "noc:ack_alerts" not in answer["seen"][0]["capabilities"]
    refusal = answer["seen"][-1]
    assert refusal["type"] == "error", answer
    assert refusal["code"] == "forbidden", answer

    # the REST API refuses too, and the alert is untouched
    refused = server.api("bt-viewer", "POST", f"/api/v1/alerts/{alert_id}/acknowledge")
    assert refused.status == 403, refused.body
    stored = server.api("bt-viewer", "GET", f"/api/v1/alerts/{alert_id}").body
    assert stored["status"] == "NEW"
    assert stored["acknowledged_at"] is None
    expect(shown).to_have_attribute("data-status", "NEW")
    assert tab.failures == []


def test_a_user_scoped_to_one_client_never_receives_another_clients_alert(server, tabs, unique):
    data = server.data
    own, other = data["own_client"], data["other_client"]
    tab = tabs.open("bt-scoped")
    page = tab.page
    wait_until_rendered(page)
    hello = page.evaluate(LISTEN, server.ws_url)
    assert hello["clients"] == "*"  # everything in scope, which is one client

    # asking for the other client by name is refused too
    page.evaluate(
        "(code) => __listener.socket.send(JSON.stringify({type: 'subscribe', clients: [code]}))",
        other,
    )
    page.wait_for_function("__listener.messages.some(m => m.type === 'error')")
    refusal = page.evaluate("__listener.messages.find(m => m.type === 'error')")
    assert refusal["code"] == "invalid" and other in refusal["message"], refusal

    # the other client's alert first: by the time the own one arrives, it would have too
    other_title = unique("Fence sensor tripped")
    other_id = server.post_alerts(
        [alert_event(other_title, site=data["sites"][other][0], severity="CRITICAL")]
    )[other_title]
    own_title = unique("Loading dock door ajar")
    own_id = server.post_alerts(
        [alert_event(own_title, site=data["sites"][own][3], severity="MEDIUM")]
    )[own_title]

    expect(row(page, own_id)).to_contain_text(own_title)
    page.wait_for_function(
        "(id) => __listener.events.some(e => e.alert && e.alert.id === id)", arg=own_id
    )
    page.wait_for_timeout(2000)  # and a little longer, for anything late

    # alert events; the incidents the CRITICAL alert opens come as incident events
    events = page.evaluate(
        "__listener.events.filter(e => e.alert).map(e => [e.type, e.alert.id, e.alert.client_id])"
    )
    incident_clients = page.evaluate(
        "__listener.events.filter(e => e.incident).map(e => e.incident.client_id)"
    )
    own_client_id = next(client_id for _, id_, client_id in events if id_ == own_id)
    assert [e for e in events if e[1] == other_id] == []
    assert {client_id for _, _, client_id in events} == {own_client_id}, events
    assert set(incident_clients) <= {own_client_id}, incident_clients
    expect(row(page, other_id)).to_have_count(0)
    expect(page.locator("#feed")).not_to_contain_text(other_title)
    assert server.api("bt-scoped", "GET", f"/api/v1/alerts/{other_id}").status == 404
    assert tab.failures == []


def test_the_page_reconnects_and_catches_up_after_the_server_drops_it(server, tabs, unique):
    sites = server.data["sites"][server.data["other_client"]]
    tab = tabs.open("admin")
    page = tab.page
    wait_until_rendered(page)
    mark_document(page)
    connection = page.locator("#connection")
    before_outage = len(tab.failures)

    server.stop()  # uvicorn closes every WebSocket on its way out
    expect(connection).not_to_have_attribute("data-state", "live")
    # stored while the server is down, by another process: never broadcast
    titles = [unique("Generator fuel low"), unique("UPS running on battery")]
    missed = server.insert_alerts(
        [
            alert_event(titles[0], site=sites[2], severity="HIGH"),
            alert_event(titles[1], site=sites[3], severity="CRITICAL"),
        ]
    )
    server.start()

    expect(connection).to_have_attribute("data-state", "live", timeout=60_000)
    for title, alert_id in missed.items():
        expect(row(page, alert_id)).to_contain_text(title)
    assert still_same_document(page)
    # the refused reconnects and requests during the outage are expected; nothing else
    outage = tab.failures[before_outage:]
    assert all("ERR_CONNECTION_REFUSED" in f or "WebSocket" in f for f in outage), outage
    del tab.failures[before_outage:]

    # and live updates flow again through the new server process
    title = unique("Visitor badge expired")
    alert_id = server.post_alerts([alert_event(title, site=sites[4], severity="LOW")])[title]
    expect(row(page, alert_id)).to_contain_text(title)
    screenshot(page, "overview-after-reconnect")
    assert tab.failures == []
