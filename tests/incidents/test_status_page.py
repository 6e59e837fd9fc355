"""A client's status page (#11 §5): only that client's incidents (open, and resolved within 7
days) and their updates; no notes, no PII, no alert details; revocable; unknown and revoked are
the same 404; the token never reaches the log; no JavaScript or outside asset; rate-limited."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from support_alerts import trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog
from watchfloor.incidents import services
from watchfloor.incidents.models import Incident, StatusPageLink
from watchfloor.incidents.status_page import create_status_link, revoke_status_link
from watchfloor.incidents.status_updates import post_status_update


def make_incident(estate, key, site_index, title):
    site = estate.sites[site_index]
    ingest(
        [trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH, title=title)], key=key
    )
    alert = Alert.objects.filter(site=site).latest("id")
    return services.open_incident(
        [alert], actor=estate.user("admin"), origin="manual", title=title, tenant=estate.tenant
    )


def link_to(estate, client_index=0) -> str:
    issued = create_status_link(estate.clients[client_index], actor=estate.user("admin"))
    return f"/status/{issued.plain}/"


def test_shows_only_this_clients_incidents_and_updates(client, estate, other_estate, key, key_for):
    admin = estate.user("admin")
    mine = make_incident(estate, key, 0, "Cameras down at gate")
    post_status_update(mine, actor=admin, phase="investigating", body="We are on it.")
    services.add_note(mine, actor=admin, body="INTERNAL: vendor is slow, blame them")
    other_client = make_incident(estate, key, 2, "Other client trouble")
    post_status_update(other_client, actor=admin, phase="identified", body="Other client update")
    other_tenant = make_incident(other_estate, key_for(other_estate), 0, "Other tenant trouble")
    html = client.get(link_to(estate)).content.decode()
    assert "Cameras down at gate" in html and "We are on it." in html
    assert estate.sites[0].name in html
    for secret in ("INTERNAL", "Other client", "Other tenant", other_tenant.title):
        assert secret not in html
    # no alert details, no people, no scripts, nothing from outside
    assert "DEVICE_OFFLINE" not in html and "Admin" not in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_pii_in_titles_is_masked(client, estate, key):
    make_incident(estate, key, 0, "Guard jane.doe@example.com unreachable at +1 555 867 5309")
    html = client.get(link_to(estate)).content.decode()
    assert "jane.doe@example.com" not in html and "867 5309" not in html
    assert "unreachable" in html


def test_recently_resolved_shown_older_not(client, estate, key):
    admin = estate.user("admin")
    recent = make_incident(estate, key, 0, "Recent one")
    services.resolve_incident(recent, actor=admin, note="fixed")
    old = make_incident(estate, key, 1, "Old one")
    services.resolve_incident(old, actor=admin, note="fixed")
    Incident.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=8))
    html = client.get(link_to(estate)).content.decode()
    assert "Recent one" in html and "Old one" not in html


def test_revoked_and_unknown_are_the_same_404_and_audited(client, estate):
    issued = create_status_link(estate.clients[0], actor=estate.user("admin"))
    url = f"/status/{issued.plain}/"
    assert client.get(url).status_code == 200
    revoke_status_link(issued.link, actor=estate.user("admin"))
    revoked = client.get(url)
    unknown = client.get("/status/wfs_nope_nothing/")
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.content == unknown.content
    changes = [
        e.details["change"]
        for e in AuditLog.objects.filter(
            action=Action.CONFIG_CHANGE, entity_type="incidents.statuspagelink"
        )
    ]
    assert sorted(changes) == ["status_page.create", "status_page.revoke"]
    assert issued.plain not in str(list(AuditLog.objects.values_list("details", flat=True)))


def test_token_stored_only_as_digest_and_never_logged(client, estate, caplog):
    issued = create_status_link(estate.clients[0], actor=estate.user("admin"))
    assert not StatusPageLink.objects.filter(token_hash=issued.plain).exists()
    revoke_status_link(issued.link, actor=estate.user("admin"))
    with caplog.at_level(logging.DEBUG):
        client.get(f"/status/{issued.plain}/")
        client.get("/status/wfs_unknown_token/")
    assert issued.plain not in caplog.text and "wfs_unknown_token" not in caplog.text


def test_rate_limited(client, estate, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "status_page": 2}
    url = link_to(estate)
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]


def test_api_links_create_list_revoke(estate, other_estate, api):
    admin = api(estate.user("admin"))
    created = admin.post("/api/v1/status-links", {"client_id": estate.clients[0].id})
    assert created.status_code == 201, created.content
    url = created.json()["url"]
    assert "/status/wfs_" in url
    listed = admin.get("/api/v1/status-links").json()
    assert [x["id"] for x in listed] == [created.json()["id"]]
    assert "url" not in listed[0] and url.split("/status/")[1].strip("/") not in str(listed)
    assert admin.delete(f"/api/v1/status-links/{created.json()['id']}").status_code == 204
    # another tenant's client or link: 422 / 404; without configure: 403
    theirs = admin.post("/api/v1/status-links", {"client_id": other_estate.clients[0].id})
    assert theirs.status_code == 422
    other = create_status_link(other_estate.clients[0], actor=other_estate.user("admin"))
    assert admin.delete(f"/api/v1/status-links/{other.link.id}").status_code == 404
    assert api(estate.user("supervisor")).get("/api/v1/status-links").status_code == 403


@pytest.mark.parametrize("path", ["/status/x/", "/status/" + "a" * 300 + "/"])
def test_garbage_tokens_are_404(client, db, path):
    assert client.get(path).status_code == 404


def test_links_page_creates_shows_once_and_revokes(client, estate, settings):
    client.force_login(estate.user("admin"))
    response = client.post("/status-links/", {"client": estate.clients[0].id, "label": "Ops"})
    assert response.status_code == 201
    url = re.search(r'value="(http[^"]+/status/[^"]+/)"', response.content.decode()).group(1)
    assert url.startswith(settings.PUBLIC_URL)
    path = url[len(settings.PUBLIC_URL) :]
    assert client.get(path).status_code == 200
    token = path.split("/")[2]
    listing = client.get("/status-links/").content.decode()
    assert token not in listing and "Ops" in listing
    link = StatusPageLink.objects.get()
    assert client.post(f"/status-links/{link.id}/revoke/").status_code == 302
    assert client.get(path).status_code == 404
    assert client.post("/status-links/", {"client": "0"}).status_code == 422


def test_links_page_needs_configure(client, estate):
    client.force_login(estate.user("supervisor"))
    assert client.get("/status-links/").status_code == 403
    assert not StatusPageLink.objects.exists()
