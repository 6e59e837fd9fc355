"""What the browser tests share besides fixtures: chromium's path and flags, where screenshots
go, event factories and the check that a page saw no errors."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

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
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# docs/screenshots is refreshed on request only (WATCHFLOOR_SCREENSHOTS=docs), so a test run
# leaves the tracked files alone.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("WATCHFLOOR_SCREENSHOTS") == "docs"
    else ARTIFACTS
)


def screenshot(page, name: str, *, docs: bool = False, **options) -> Path:
    """Save `<name>.png` in test-artifacts/ (docs/screenshots/ too when `docs` and
    WATCHFLOOR_SCREENSHOTS=docs)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **options)
    if docs and SCREENSHOTS != ARTIFACTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / path.name).write_bytes(path.read_bytes())
    return path


def alert_event(title: str, *, site: str, severity: str = "HIGH", type_: str = "DEVICE_OFFLINE"):
    """A native ingestion event whose dedup key is its (unique) title."""
    return {
        "type": type_,
        "severity": severity,
        "title": title,
        "site": site,
        "dedup_key": title[:128],
    }


def wait_until_rendered(page) -> None:
    """The overview has drawn its tiles, map and feed, and its WebSocket is live."""
    from playwright.sync_api import expect

    body = page.locator("body")
    for flag in ("data-tiles-ready", "data-map-ready", "data-feed-ready"):
        expect(body).to_have_attribute(flag, "1")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


RULES_OFF = {"open_on_critical": False, "group_threshold": 0}


@contextmanager
def incident_rules_off(server):
    """No incident holds an alert while the block runs: every open incident is resolved (an
    earlier test's incident would take in a new alert of its correlation group — same site,
    within the window) and the tenant's rules are off, restored afterwards. For tests of an
    alert by itself, or of an incident a person makes."""
    while True:
        page = server.api("admin", "GET", "/api/v1/incidents?open=true&limit=100").body["items"]
        if not page:
            break
        for incident in page:
            answer = server.api(
                "admin",
                "POST",
                f"/api/v1/incidents/{incident['id']}/resolve",
                {"note": "Cleared by a browser test that needs no incident open."},
            )
            assert answer.status == 200, answer.body
    before = server.api("admin", "GET", "/api/v1/incident-policy").body
    assert server.api("admin", "PUT", "/api/v1/incident-policy", RULES_OFF).status == 200
    try:
        yield
    finally:
        restore = {key: before[key] for key in RULES_OFF}
        assert server.api("admin", "PUT", "/api/v1/incident-policy", restore).status == 200
