"""Runbooks (#11 §3): lookup (the client's wins, in one query for many alerts), Markdown rendered
inert (no raw HTML, no javascript:/data: links, no images), the API (CRUD, capabilities, audit,
tenant and client isolation, masking), the alert page's panel, the runbooks pages and the
notification's link."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.utils import timezone

from support_alerts import key_for, trigger
from watchfloor.alerts import runbook_services as services
from watchfloor.alerts.models import Alert, Runbook
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.runbooks import render_markdown, runbook_for, runbooks_for
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall.messages import page_message

__all__ = ["key_for"]

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    "[click](vbscript:msgbox(1))",
    "![x](https://tracker.example.com/pixel.png)",
    '<a href="javascript:alert(1)">x</a>',
    "<javascript:alert(1)>",
    '[x](https://ok.example.com/" onmouseover="alert(1))',
]
PII = "Call jane.doe@example.com or +1 555 867 5309"


def rb(estate, alert_type="DEVICE_OFFLINE", *, client=None, body="Restart it.", **kw) -> Runbook:
    kw.setdefault("title", f"{alert_type} runbook")
    return services.create_runbook(
        actor=estate.user("admin"), alert_type=alert_type, client=client, body=body, **kw
    )


def raise_alert(estate, key_for, site_index=0, type_="DEVICE_OFFLINE") -> Alert:
    site = estate.sites[site_index]
    ingest([trigger(type_, site=site.code)], key=key_for(estate))
    return Alert.objects.filter(site=site, type=type_).latest("id")


# --- rendering ---------------------------------------------------------------------------------
class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("attack", XSS)
def test_markdown_attacks_render_inert(attack):
    """Whatever was typed, the browser builds only harmless elements: no script, image or
    frame, no event-handler attribute, and links only to http(s), mailto or relative ones."""
    for tag, attrs in elements(render_markdown(f"Before\n\n{attack}\n\nafter")):
        assert tag in {"p", "a", "em", "strong", "code"}, tag
        assert not [a for a in attrs if a.startswith("on")], attrs
        if tag == "a":
            href = attrs["href"]
            assert href.startswith(("https://", "http://", "mailto:", "/", "#")), href
            assert attrs["rel"] == "noopener noreferrer nofollow"


def test_markdown_keeps_what_a_runbook_needs():
    html = render_markdown(
        "# Steps\n\n1. Check [the map](https://map.example.com/x) or [alerts](/alerts/)\n"
        "2. Mail [us](mailto:noc@example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h1>Steps</h1>" in html and "<ol>" in html and "<table>" in html
    assert '<a href="https://map.example.com/x" rel="noopener noreferrer nofollow">' in html
    assert '<a href="/alerts/"' in html and 'href="mailto:noc@example.com"' in html


# --- lookup ------------------------------------------------------------------------------------
def test_the_clients_runbook_wins_over_the_general_one(estate, key_for):
    general = rb(estate)
    special = rb(estate, client=estate.clients[1], title="Client 2's way")
    first = raise_alert(estate, key_for, 0)
    second = raise_alert(estate, key_for, 2)
    other_type = raise_alert(estate, key_for, 0, type_="SYNC_DEGRADED")
    assert runbook_for(first) == general
    assert runbook_for(second) == special
    assert runbook_for(other_type) is None


def test_runbooks_for_many_alerts_is_one_query(estate, key_for, django_assert_num_queries):
    general = rb(estate)
    client1 = rb(estate, "SYNC_DEGRADED", client=estate.clients[0])
    alerts = [
        raise_alert(estate, key_for, site, type_)
        for site in range(4)
        for type_ in ("DEVICE_OFFLINE", "SYNC_DEGRADED")
    ]
    with django_assert_num_queries(1):
        found = runbooks_for(alerts)
    expected = {
        a.id: general if a.type == "DEVICE_OFFLINE" else client1
        for a in alerts
        if a.type == "DEVICE_OFFLINE" or a.client_id == estate.clients[0].id
    }
    assert found == expected and len(expected) == 6


def test_another_tenants_runbook_never_answers(estate, other_estate, key_for):
    rb(other_estate)
    assert runbook_for(raise_alert(estate, key_for)) is None


# --- services ----------------------------------------------------------------------------------
def test_writes_need_configure_and_are_audited(estate):
    from watchfloor.access.scope import CapabilityDenied

    with pytest.raises(CapabilityDenied):
        services.create_runbook(
            actor=estate.user("supervisor"), alert_type="X", title="t", body="b"
        )
    runbook = rb(estate, body=PII)
    services.update_runbook(runbook, actor=estate.user("admin"), title="New")
    entries = AuditLog.objects.filter(
        action=Action.CONFIG_CHANGE, entity_type="alerts.runbook", entity_id=str(runbook.id)
    )
    assert [e.details["change"] for e in entries.order_by("id")] == [
        "runbook.create",
        "runbook.update",
    ]
    assert all("jane" not in str(e.details) for e in entries)
    services.delete_runbook(runbook, actor=estate.user("admin"))
    assert not Runbook.objects.filter(pk=runbook.pk).exists()


def test_one_runbook_per_type_and_client(estate):
    from django.core.exceptions import ValidationError

    rb(estate)
    with pytest.raises(ValidationError) as exc:
        rb(estate)
    assert "alert_type" in exc.value.message_dict
    rb(estate, client=estate.clients[0])  # a client's own is another one


# --- API ---------------------------------------------------------------------------------------
def test_api_crud(estate, api):
    admin = api(estate.user("admin"))
    created = admin.post(
        "/api/v1/runbooks",
        {"alert_type": "DEVICE_OFFLINE", "title": "Offline", "body": "# Do\n\n<b>x</b>"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["client"] is None and "<h1>Do</h1>" in body["html"]
    assert "&lt;b&gt;" in body["html"]
    rid = body["id"]
    assert admin.get(f"/api/v1/runbooks/{rid}").json()["title"] == "Offline"
    patched = admin.patch(f"/api/v1/runbooks/{rid}", {"url": "https://wiki.example.com/x"})
    assert patched.status_code == 200 and patched.json()["url"] == "https://wiki.example.com/x"
    listed = admin.get("/api/v1/runbooks", alert_type="DEVICE_OFFLINE").json()
    assert [r["id"] for r in listed["items"]] == [rid]
    assert admin.delete(f"/api/v1/runbooks/{rid}").status_code == 204
    assert admin.get(f"/api/v1/runbooks/{rid}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"alert_type": "X", "title": "t", "url": "javascript:alert(1)"}, "url"),
        ({"alert_type": "X", "title": "t"}, "body"),
        ({"alert_type": "", "title": "t", "body": "b"}, "alert_type"),
        ({"alert_type": "X" * 101, "title": "t", "body": "b"}, "alert_type"),
        ({"alert_type": "X", "title": "t", "body": "a\x00b"}, "body"),
        ({"alert_type": "X", "title": "t", "body": "b", "client_id": 0}, "client_id"),
    ],
)
def test_api_bad_input_is_a_422_naming_the_field(estate, api, payload, field):
    from support_api import error_fields

    response = api(estate.user("admin")).post("/api/v1/runbooks", payload)
    assert response.status_code == 422, response.content
    assert any(field in k for k in error_fields(response)), error_fields(response)
    assert not Runbook.objects.exists()


def test_api_writes_need_configure(estate, api):
    response = api(estate.user("supervisor")).post(
        "/api/v1/runbooks", {"alert_type": "X", "title": "t", "body": "b"}
    )
    assert response.status_code == 403
    runbook = rb(estate)
    assert (
        api(estate.user("supervisor")).delete(f"/api/v1/runbooks/{runbook.id}").status_code == 403
    )
    assert Runbook.objects.filter(pk=runbook.pk).exists()


def test_api_isolation_between_tenants_and_clients(estate, other_estate, api):
    theirs = rb(other_estate)
    client2 = rb(estate, client=estate.clients[1])
    general = rb(estate)
    admin = api(estate.user("admin"))
    for method in ("get", "delete"):
        assert getattr(admin, method)(f"/api/v1/runbooks/{theirs.id}").status_code == 404
    assert admin.patch(f"/api/v1/runbooks/{theirs.id}", {"title": "x"}).status_code == 404
    # the operator sees client 1 only: client 2's runbook is a 404, the general one is there
    operator = api(estate.user("operator"))
    assert operator.get(f"/api/v1/runbooks/{client2.id}").status_code == 404
    ids = [r["id"] for r in operator.get("/api/v1/runbooks").json()["items"]]
    assert ids == [general.id]
    # nor may an admin file a runbook under another tenant's client
    response = admin.post(
        "/api/v1/runbooks",
        {"alert_type": "X", "title": "t", "body": "b", "client_id": other_estate.clients[0].id},
    )
    assert response.status_code == 422


def test_api_masks_pii_for_readers_without_view_pii(estate, api):
    runbook = rb(estate, body=PII, title=f"Ring {PII}")
    masked = api(estate.user("executive")).get(f"/api/v1/runbooks/{runbook.id}").json()
    for key in ("title", "body", "html"):
        assert "jane.doe@example.com" not in masked[key] and "867 5309" not in masked[key]
    plain = api(estate.user("supervisor")).get(f"/api/v1/runbooks/{runbook.id}").json()
    assert "jane.doe@example.com" in plain["body"]


def test_api_the_runbook_of_an_alert(estate, key_for, api):
    alert = raise_alert(estate, key_for)
    admin = api(estate.user("admin"))
    assert admin.get(f"/api/v1/alerts/{alert.id}/runbook").status_code == 204
    runbook = rb(estate)
    assert admin.get(f"/api/v1/alerts/{alert.id}/runbook").json()["id"] == runbook.id


def test_api_list_query_count_is_fixed(estate, api, django_assert_max_num_queries):
    admin = api(estate.user("admin"))
    for i in range(3):
        rb(estate, f"T{i}", client=estate.clients[i % 2])
    admin.get("/api/v1/runbooks")  # warm the token and permission caches
    with django_assert_max_num_queries(12) as few:
        admin.get("/api/v1/runbooks")
    for i in range(3, 12):
        rb(estate, f"T{i}", client=estate.clients[i % 2])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin.get("/api/v1/runbooks").json()["items"]) == 12


# --- pages -------------------------------------------------------------------------------------
def test_the_alert_page_shows_the_runbook_rendered_safely(client, estate, key_for):
    alert = raise_alert(estate, key_for)
    rb(estate, body="## Restart\n\n<script>alert(1)</script> [bad](javascript:alert(1))")
    client.force_login(estate.user("admin"))
    html = client.get(f"/alerts/{alert.id}/").content.decode()
    assert "<h2>Restart</h2>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_the_alert_page_without_a_runbook_offers_to_write_one(client, estate, key_for):
    alert = raise_alert(estate, key_for)
    client.force_login(estate.user("admin"))
    html = client.get(f"/alerts/{alert.id}/").content.decode()
    assert "No runbook for DEVICE_OFFLINE alerts yet." in html
    assert "/runbooks/new/?alert_type=DEVICE_OFFLINE" in html


def test_runbooks_pages_read_and_write(client, estate):
    client.force_login(estate.user("admin"))
    assert client.get("/runbooks/new/").status_code == 200
    response = client.post(
        "/runbooks/new/",
        {"alert_type": "DEVICE_OFFLINE", "client": "", "title": "Offline", "body": "Do *it*"},
    )
    assert response.status_code == 302
    runbook = Runbook.objects.get()
    assert "<em>it</em>" in client.get(f"/runbooks/{runbook.id}/").content.decode()
    assert "Offline" in client.get("/runbooks/").content.decode()
    response = client.post(
        f"/runbooks/{runbook.id}/edit/",
        {"alert_type": "DEVICE_OFFLINE", "title": "Offline 2", "body": "", "url": "ftp://x"},
    )
    assert response.status_code == 422 and "http://" in response.content.decode()
    assert client.post(f"/runbooks/{runbook.id}/delete/").status_code == 302
    assert not Runbook.objects.exists()


def test_runbooks_pages_writes_denied_without_configure(client, estate):
    runbook = rb(estate)
    client.force_login(estate.user("supervisor"))
    assert client.get(f"/runbooks/{runbook.id}/").status_code == 200
    assert client.get("/runbooks/new/").status_code == 403
    assert client.post(f"/runbooks/{runbook.id}/delete/").status_code == 403
    assert Runbook.objects.filter(pk=runbook.pk).exists()
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).count() == 2


def test_runbooks_page_another_clients_runbook_is_a_404(client, estate, other_estate):
    mine = rb(estate, client=estate.clients[1])
    theirs = rb(other_estate)
    client.force_login(estate.user("operator"))
    assert client.get(f"/runbooks/{mine.id}/").status_code == 404
    assert client.get(f"/runbooks/{theirs.id}/").status_code == 404


# --- notifications -----------------------------------------------------------------------------
def test_the_page_links_to_the_runbook(estate, key_for, settings):
    alert = raise_alert(estate, key_for)
    runbook = rb(estate, body=PII)
    message = page_message(
        alert, recipient=None, step=0, now=timezone.now(), ack_link=None, runbook=runbook
    )
    assert f"{settings.PUBLIC_URL}/runbooks/{runbook.id}/" in message.text
    assert "jane.doe" not in message.text  # a link, not the text
