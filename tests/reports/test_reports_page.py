"""The reports page (/reports/) and its CSV export (/reports/export.csv)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse

from support_incidents import make_alert
from watchfloor.alerts.models import Severity, Status
from watchfloor.audit.models import Action, AuditLog

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def seeded(estate, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    site = estate.sites[0]
    site.officer_in_charge = estate.user("operator")
    site.save()
    for n, (type_, ack) in enumerate(
        [("DEVICE_OFFLINE", 5), ("DEVICE_OFFLINE", 50), ('=HYPERLINK("x")', None)]
    ):
        alert = make_alert(estate, n, site=site, type=type_, severity=Severity.CRITICAL)
        alert.first_seen_at = alert.last_seen_at = NOW - timedelta(hours=3)
        if ack is not None:
            alert.time_to_acknowledge = timedelta(minutes=ack)
            alert.acknowledged_at = alert.first_seen_at + alert.time_to_acknowledge
            alert.status = Status.ACKNOWLEDGED
        alert.save()
    return estate


def rows_of(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_page_shows_tables_and_chart_data(seeded, client):
    client.force_login(seeded.user("supervisor"))
    response = client.get("/reports/", {"range": "24h"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-report-table="frequency"' in html and "DEVICE_OFFLINE" in html
    assert 'id="report-data"' in html and "vendor/uplot/uPlot.iife.min.js" in html
    assert "27 min" in html  # MTTA of 5 and 50 minutes
    assert "Operator Person" in html  # the supervisor holds noc:view_pii
    assert 'data-export href="/reports/export.csv?range=24h"' in html


def test_a_viewer_without_noc_export_sees_no_export_and_cannot_export(seeded, client):
    viewer = seeded.user("viewer")
    client.force_login(viewer)
    page = client.get("/reports/")
    assert page.status_code == 200 and "data-export" not in page.content.decode()
    assert client.get("/reports/export.csv").status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=viewer).exists()
    assert not AuditLog.objects.filter(action=Action.EXPORT).exists()


def test_export_is_streamed_masked_guarded_and_audited(seeded, client):
    executive = seeded.user("executive")  # noc:export, no noc:view_pii
    client.force_login(executive)
    response = client.get("/reports/export.csv", {"range": "7d", "city": "Austin"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = rows_of(response)
    sections = {row[0] for row in rows if row}
    assert {"response_times", "frequency", "daily_trend", "sla", "noisy_sites"} <= sections
    freq = {row[1]: row[2] for row in rows if row and row[0] == "frequency"}
    assert freq["DEVICE_OFFLINE"] == "2"
    # a cell a spreadsheet would run as a formula starts with a quote
    assert '\'=HYPERLINK("x")' in freq and '=HYPERLINK("x")' not in freq
    noisy = next(row for row in rows if row and row[0] == "noisy_sites")
    assert noisy[1] == seeded.sites[0].code and "Operator Person" not in noisy[6]
    assert "*" in noisy[6]
    entry = AuditLog.objects.get(action=Action.EXPORT, actor=executive)
    assert entry.details["what"] == "reports" and entry.details["preset"] == "7d"
    assert entry.details["filters"] == {"city": "Austin"}
    # free text typed into a filter is masked before it reaches the audit log
    client.get("/reports/export.csv", {"state": "jane.doe@example.com"})
    latest = AuditLog.objects.filter(action=Action.EXPORT).order_by("-id").first()
    assert "jane.doe@example.com" not in str(latest.details)


def test_an_invalid_range_is_a_400_naming_the_field(seeded, client):
    client.force_login(seeded.user("supervisor"))
    response = client.get(
        "/reports/", {"range": "custom", "since": "2026-11-10T00:00", "until": "2026-11-01T00:00"}
    )
    assert response.status_code == 400
    assert "until" in response.context["errors"]
    bad = client.get("/reports/export.csv", {"range": "custom", "since": "9999-01-01T00:00"})
    assert bad.status_code == 400 and "since" in bad.context["errors"]
    assert not AuditLog.objects.filter(action=Action.EXPORT).exists()


def test_a_custom_range_from_the_form(seeded, client):
    client.force_login(seeded.user("supervisor"))
    response = client.get(
        "/reports/", {"range": "custom", "since": "2026-11-20T06:00", "until": "2026-11-20T10:00"}
    )
    assert response.status_code == 200
    assert response.context["range"].preset == ""
    assert [r["type"] for r in response.context["report"]["frequency"]["by_type"]]


def test_another_tenants_client_in_the_filter_shows_nothing(seeded, other_estate, client):
    client.force_login(seeded.user("supervisor"))
    response = client.get("/reports/", {"client": other_estate.clients[0].code})
    assert response.status_code == 200
    assert response.context["report"]["frequency"]["by_type"] == []
    assert response.context["report"]["noisy_sites"] == []


def test_noc_view_is_required(seeded, client):
    from watchfloor.tenancy.models import User

    nobody = User.objects.create_user(username="acme-nobody", password="x", tenant=seeded.tenant)
    client.force_login(nobody)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/export.csv").status_code == 403
