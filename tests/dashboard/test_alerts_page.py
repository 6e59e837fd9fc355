"""The alerts page (/alerts/): filters from the URL, scope and other tenants' ids, pages,
bad parameters (400 naming them), query counts, bulk acknowledge/resolve with one confirmation
(capability, CSRF, skipped alerts, audit, events after commit) and the CSV of the view
(noc:export, audited with the filter, masked)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from support_alerts import key_for, publisher, trigger
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog

__all__ = ["key_for", "publisher"]

ROW_LINK = re.compile(r'<a href="/alerts/(\d+)/">')
PII_TITLE = "Call jane.doe@example.com on +1-555-123-4567"


def html(response) -> str:
    return response.content.decode()


def listed(response) -> list[int]:
    assert response.status_code == 200, html(response)[:2000]
    return [int(i) for i in ROW_LINK.findall(html(response))]


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def seeded(estate, key_for):
    """Per site: a CRITICAL device alert and a LOW geofence alert (the first with PII)."""
    events = []
    for n, site in enumerate(estate.sites):
        title = PII_TITLE if n == 0 else f"Device offline at {site.code}"
        events.append(
            trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.CRITICAL, title=title)
        )
        events.append(trigger("GEOFENCE_BREACH", site=site.code, severity=Severity.LOW))
    ingest(events, key=key_for(estate))
    return estate


def test_lists_every_alert_in_scope_newest_first(seeded):
    # first seen, newest first (and then the id): the default sort, index-backed
    first = Alert.objects.order_by("id").first()
    Alert.objects.filter(pk=first.pk).update(first_seen_at=first.first_seen_at + timedelta(hours=1))
    ids = listed(signed_in(seeded.user("admin")).get("/alerts/"))
    assert ids == list(Alert.objects.order_by("-first_seen_at", "-id").values_list("id", flat=True))
    assert ids[0] == first.id
    operator = listed(signed_in(seeded.user("operator")).get("/alerts/"))
    assert set(operator) == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )
    viewer = listed(signed_in(seeded.user("viewer")).get("/alerts/"))
    assert set(viewer) == set(
        Alert.objects.filter(site=seeded.sites[2]).values_list("id", flat=True)
    )


def test_filters_come_from_the_url_like_the_api(seeded):
    browser = signed_in(seeded.user("admin"))
    critical_open = listed(browser.get("/alerts/?severity=CRITICAL&active=true"))
    assert set(critical_open) == set(
        Alert.objects.filter(severity=Severity.CRITICAL).values_list("id", flat=True)
    )
    # a form sends a list field once per value; the page joins them like `a,b`
    both = listed(browser.get(f"/alerts/?severity=CRITICAL&severity=LOW&site={seeded.sites[1].id}"))
    assert set(both) == set(Alert.objects.filter(site=seeded.sites[1]).values_list("id", flat=True))
    page = html(browser.get("/alerts/?severity=CRITICAL&sort=severity"))
    assert 'value="CRITICAL" checked' in page
    assert '<option value="severity" selected>' in page


def test_bad_parameters_are_a_400_naming_them(seeded):
    browser = signed_in(seeded.user("admin"))
    for query, field in (
        ("severity=URGENT", "severity"),
        ("labels=team%3D~%22(a%2B)%2B%22", "labels"),
        ("sort=title", "sort"),
        ("cursor=nonsense", "cursor"),
        ("since=yesterday", "since"),
        ("client=1%2Cx", "client"),
    ):
        response = browser.get(f"/alerts/?{query}")
        assert response.status_code == 400, query
        assert f"<strong>{field}</strong>" in html(response), query
        assert not ROW_LINK.findall(html(response))


def test_another_tenants_ids_show_nothing_of_theirs(seeded, other_estate, key_for):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    theirs = Alert.objects.get(tenant=other_estate.tenant)
    browser = signed_in(seeded.user("admin"))
    assert theirs.id not in listed(browser.get("/alerts/"))
    assert listed(browser.get(f"/alerts/?client={other_estate.clients[0].id}")) == []
    assert listed(browser.get(f"/alerts/?site={other_estate.sites[0].id}")) == []
    assert browser.get(f"/alerts/{theirs.id}/").status_code == 404
    # their alert in a bulk action is skipped as not found, and untouched
    browser.post("/alerts/bulk/", {"action": "acknowledge", "ids": [theirs.id], "confirmed": "1"})
    theirs.refresh_from_db()
    assert theirs.status == Status.NEW


def test_cursor_pages_forward_and_back(seeded):
    browser = signed_in(seeded.user("admin"))
    everything = listed(browser.get("/alerts/?sort=severity"))
    first = browser.get("/alerts/?sort=severity&limit=3")
    assert listed(first) == everything[:3]
    nxt = re.search(r'rel="next" href="\?([^"]+)"', html(first)).group(1).replace("&amp;", "&")
    second = browser.get(f"/alerts/?{nxt}")
    assert listed(second) == everything[3:6]
    prev = re.search(r'rel="prev" href="\?([^"]+)"', html(second)).group(1).replace("&amp;", "&")
    assert listed(browser.get(f"/alerts/?{prev}")) == everything[:3]


def test_the_number_of_queries_does_not_grow_with_rows(seeded, key_for):
    browser = signed_in(seeded.user("operator"))
    # someone already named on the page: the people are one query however many rows name them
    Alert.objects.filter(tenant=seeded.tenant).update(assignee=seeded.user("operator"))
    browser.get("/alerts/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        listed(browser.get("/alerts/"))
    ingest(
        [trigger("SYNC_DEGRADED", site=seeded.sites[0].code, entity_id=str(n)) for n in range(30)],
        key=key_for(seeded),
    )
    Alert.objects.filter(type="SYNC_DEGRADED").update(assignee=seeded.user("operator"))
    with CaptureQueriesContext(connection) as many:
        assert len(listed(browser.get("/alerts/"))) > 30
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
    assert len(many) <= 12


def test_titles_and_names_are_masked_without_pii(seeded):
    pii_alert = Alert.objects.get(title=PII_TITLE)
    Alert.objects.filter(pk=pii_alert.pk).update(assignee=seeded.user("operator"))
    executive = html(signed_in(seeded.user("executive")).get("/alerts/"))
    assert "jane.doe@example.com" not in executive and "555-123-4567" not in executive
    assert "Operator Person" not in executive
    admin = html(signed_in(seeded.user("admin")).get("/alerts/"))
    assert "jane.doe@example.com" in admin and "Operator Person" in admin


def test_buttons_only_with_the_capability(seeded):
    assert "Acknowledge…" in html(signed_in(seeded.user("operator")).get("/alerts/"))
    viewer = html(signed_in(seeded.user("viewer")).get("/alerts/"))
    assert "Acknowledge…" not in viewer and 'name="ids"' not in viewer
    assert "CSV of this view" not in viewer
    executive = html(signed_in(seeded.user("executive")).get("/alerts/"))
    assert "CSV of this view" in executive


def test_bulk_acknowledge_asks_once_then_acts_and_reports_skipped(
    seeded, publisher, django_capture_on_commit_callbacks
):
    operator = seeded.user("operator")
    browser = signed_in(operator)
    mine = list(Alert.objects.filter(client=seeded.clients[0]).order_by("id"))
    not_mine = Alert.objects.filter(client=seeded.clients[1]).first()
    Alert.objects.filter(pk=mine[0].pk).update(status=Status.ACKNOWLEDGED)
    ids = [a.id for a in mine] + [not_mine.id]
    asked = browser.post(
        "/alerts/bulk/", {"action": "acknowledge", "ids": ids, "next": "severity=CRITICAL"}
    )
    assert asked.status_code == 200
    assert f"Acknowledge {len(ids)} alerts?" in html(asked)
    assert Alert.objects.filter(status=Status.NEW, client=seeded.clients[0]).count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(
            "/alerts/bulk/",
            {"action": "acknowledge", "ids": ids, "confirmed": "1", "next": "severity=CRITICAL"},
            follow=True,
        )
    assert done.redirect_chain[-1][0] == "/alerts/?severity=CRITICAL"
    page = html(done)
    assert "Acknowledged 3 alert(s)." in page and "Skipped 2" in page
    assert Alert.objects.filter(client=seeded.clients[0], status=Status.ACKNOWLEDGED).count() == 4
    not_mine.refresh_from_db()
    assert not_mine.status == Status.NEW
    entries = AuditLog.objects.filter(action=Action.ACKNOWLEDGE, actor=operator)
    assert sorted(int(e.entity_id) for e in entries) == [a.id for a in mine[1:]]
    assert all(e.details["via"] == "bulk" for e in entries)
    sent = [e for e in publisher.events if e["type"] == "alert.updated"]
    assert sorted(e["alert"]["id"] for e in sent) == [a.id for a in mine[1:]]


def test_bulk_resolve_needs_a_note_and_the_capability(seeded):
    ids = list(Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True))
    browser = signed_in(seeded.user("operator"))
    missing = browser.post("/alerts/bulk/", {"action": "resolve", "ids": ids, "confirmed": "1"})
    assert missing.status_code == 422 and "Say how they were resolved." in html(missing)
    browser.post(
        "/alerts/bulk/", {"action": "resolve", "ids": ids, "confirmed": "1", "note": "Fixed"}
    )
    assert set(Alert.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.RESOLVED
    }
    viewer = signed_in(seeded.user("viewer"))
    theirs = Alert.objects.filter(site=seeded.sites[2]).first()
    denied = viewer.post(
        "/alerts/bulk/", {"action": "acknowledge", "ids": [theirs.id], "confirmed": "1"}
    )
    assert denied.status_code == 403
    theirs.refresh_from_db()
    assert theirs.status == Status.NEW
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=seeded.user("viewer"))


def test_bulk_needs_csrf_and_stays_on_the_alerts_page(seeded):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(seeded.user("operator"))
    alert = Alert.objects.filter(client=seeded.clients[0]).first()
    response = strict.post(
        "/alerts/bulk/", {"action": "acknowledge", "ids": [alert.id], "confirmed": "1"}
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.status == Status.NEW
    browser = signed_in(seeded.user("operator"))
    response = browser.post(
        "/alerts/bulk/",
        {"action": "acknowledge", "ids": [alert.id], "confirmed": "1", "next": "//evil.example/x"},
    )
    assert response["Location"] == "/alerts/"
    for bad in ({"ids": ["x"]}, {"ids": [str(10**23)]}, {"ids": []}, {"action": "delete"}):
        response = browser.post("/alerts/bulk/", {"action": "acknowledge", "confirmed": "1", **bad})
        assert response.status_code == 422, bad


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_of_the_view_is_masked_audited_and_needs_export(seeded):
    Alert.objects.filter(title=PII_TITLE).update(assignee=seeded.user("operator"))
    query = "severity=CRITICAL&q=jane.doe%40example.com&sort=severity"
    rows = _csv(signed_in(seeded.user("executive")).get(f"/alerts/export.csv?{query}"))
    assert [int(r["id"]) for r in rows] == list(
        Alert.objects.filter(title=PII_TITLE).values_list("id", flat=True)
    )
    assert "jane.doe@example.com" not in rows[0]["title"]
    assert "Operator" not in rows[0]["assignee"]
    entry = AuditLog.objects.get(action=Action.EXPORT, actor=seeded.user("executive"))
    assert entry.details["filters"]["severity"] == "CRITICAL"
    assert entry.details["sort"] == "severity"
    assert "jane.doe@example.com" not in str(entry.details)
    full = _csv(signed_in(seeded.user("admin")).get("/alerts/export.csv?severity=CRITICAL"))
    assert len(full) == 4 and any(r["title"] == PII_TITLE for r in full)
    # operators hold no noc:export: 403, audited, no file
    denied = signed_in(seeded.user("operator")).get("/alerts/export.csv")
    assert denied.status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=seeded.user("operator"))


def test_csv_rows_are_only_the_users_scope(seeded, other_estate, key_for):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    rows = _csv(signed_in(seeded.user("admin")).get("/alerts/export.csv"))
    assert {int(r["id"]) for r in rows} == set(
        Alert.objects.filter(tenant=seeded.tenant).values_list("id", flat=True)
    )


def test_a_row_escapes_what_it_shows_and_links_its_alert(seeded, key_for):
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    ingest(
        [trigger("SYNC_DEGRADED", site=seeded.sites[0].code, title=hostile)] * 3,
        key=key_for(seeded),
    )
    alert = Alert.objects.get(title=hostile)
    page = html(signed_in(seeded.user("admin")).get("/alerts/"))
    row = next(r for r in page.split("<tr>") if f'href="/alerts/{alert.id}/"' in r)
    assert "<script>" not in row and "&lt;script&gt;" in row and "&amp; &lt;b&gt;bold" in row
    assert "SYNC_DEGRADED" in row and "×3" in row  # occurrences past the first
    assert f'value="{alert.id}"' in row  # the admin may pick rows
    assert "Austin, TX" in row  # the site's city and state
    viewer = html(signed_in(seeded.user("executive")).get("/alerts/"))
    assert 'name="ids"' not in viewer  # no pick box without the capability
