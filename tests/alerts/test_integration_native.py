"""Native JSON ingestion: the parser, and `POST /api/v1/alerts` (whose GET is the read API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from support_api import error_fields
from watchfloor.alerts.events import BatchInvalid, EventAction
from watchfloor.alerts.integrations.native import parse_native, parse_time
from watchfloor.alerts.models import Alert, Severity, Status

URL = "/api/v1/alerts"


def _post(client, body, plain, url=URL):
    return client.post(
        url,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )


def _invalid(data) -> dict[str, str]:
    with pytest.raises(BatchInvalid) as caught:
        parse_native(data)
    return caught.value.fields


# --- parser ---------------------------------------------------------------------------------------


def test_the_sample_batch_maps_every_field(sample):
    device, geofence, sync = parse_native(sample("native_batch.json"))
    assert device.action == EventAction.TRIGGER
    assert (device.type, device.severity, device.title) == (
        "DEVICE_OFFLINE",
        Severity.HIGH,
        "Camera NVR-07 offline",
    )
    assert device.description.startswith("No heartbeat")
    assert (device.client_code, device.site_code) == ("northwind", "nw-den-01")
    assert (device.entity_type, device.entity_id) == ("device", "nvr-07")
    assert device.labels == {"vendor": "hikvision", "zone": "loading-dock"}
    assert device.occurred_at == datetime(2026, 11, 26, 1, 40, tzinfo=UTC)
    assert device.fingerprint == ""  # the pipeline derives it from type, site and entity
    assert (geofence.severity, geofence.fingerprint) == (Severity.MEDIUM, "patrol-4471/geofence")
    assert geofence.source_url == "https://guardtour.example.com/patrols/4471"
    assert geofence.runbook_url == "https://runbooks.example.com/geofence"
    assert (sync.severity, sync.annotations) == (Severity.INFO, {"lag_seconds": "420"})


def test_one_object_is_a_batch_of_one():
    [event] = parse_native({"type": "SLA_BREACH", "severity": "critical", "title": "Ticket late"})
    assert (event.type, event.severity, event.title) == (
        "SLA_BREACH",
        Severity.CRITICAL,
        "Ticket late",
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("critical", Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        ("error", Severity.HIGH),
        ("MEDIUM", Severity.MEDIUM),
        ("warning", Severity.MEDIUM),
        ("LOW", Severity.LOW),
        ("INFO", Severity.INFO),
        ("info", Severity.INFO),
    ],
)
def test_severity_names(given, expected):
    [event] = parse_native({"type": "X", "severity": given, "title": "t"})
    assert event.severity == expected


def test_resolved_status_needs_no_title_or_severity():
    [event] = parse_native({"type": "DEVICE_OFFLINE", "status": "resolved", "dedup_key": "cam-1"})
    assert (event.action, event.fingerprint) == (EventAction.RESOLVE, "cam-1")


def test_every_error_of_a_batch_is_named_by_index_and_field():
    fields = _invalid(
        [
            {"type": "OK", "severity": "high", "title": "fine"},
            {"type": "X", "severity": "urgent", "title": "t", "colour": "red"},
            {"severity": "low"},
            {"type": "X", "severity": "low", "title": "t", "occurred_at": "yesterday"},
            {"type": "X", "severity": "low", "title": "t", "labels": {"a": {"b": 1}}},
            {"type": "X", "severity": "low", "title": "t", "source_url": "ftp://x"},
            {"type": "X", "severity": "low", "title": "t", "status": "open"},
            "not an object",
        ]
    )
    assert fields == {
        "1.severity": "Unknown severity 'urgent'.",
        "1.colour": "Unknown field.",
        "2.type": "This field is required.",
        "2.title": "This field is required.",
        "3.occurred_at": "Not an ISO 8601 time.",
        "4.labels": "Must be an object of strings ('a' is not a string).",
        "5.source_url": "Must be an http(s) URL of at most 1000 characters.",
        "6.status": "Must be 'firing' or 'resolved'.",
        "7": "Must be an event object.",
    }


def test_lengths_are_checked_against_the_columns():
    fields = _invalid(
        {"type": "T" * 101, "severity": "low", "title": "t" * 501, "dedup_key": "k" * 129}
    )
    assert fields == {
        "0.type": "At most 100 characters.",
        "0.title": "At most 500 characters.",
        "0.dedup_key": "At most 128 characters.",
    }


def test_the_body_must_be_an_object_or_a_list():
    assert _invalid("hello") == {"body": "Send one event object or a list of event objects."}


def test_a_batch_is_limited(settings):
    settings.ALERT_MAX_BATCH = 2
    event = {"type": "X", "severity": "low", "title": "t"}
    assert _invalid([event] * 3) == {"body": "At most 2 events per request."}


def test_times():
    assert parse_time("2026-11-26T01:40:00") == datetime(2026, 11, 26, 1, 40, tzinfo=UTC)
    assert parse_time("2015-07-17T08:42:58.315+0000") == datetime(
        2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC
    )
    assert parse_time("2026-11-26T01:56:25.743321497Z").microsecond == 743321
    assert parse_time("0001-01-01T00:00:00Z") is None
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(1700000000)


# --- POST /api/v1/alerts ------------------------------------------------------------------------


def test_a_batch_is_stored_by_client_and_site_code(client, estate, northwind, plain_key, sample):
    nw, sites = northwind
    plain, _key = plain_key(estate, "native")
    response = _post(client, sample("native_batch.json"), plain)
    assert response.status_code == 202, response.content
    body = response.json()
    # a 202 means staged: the answer names each event's fingerprint; the fold opens the alerts
    assert body["accepted"] == 3
    assert Alert.objects.filter(status=Status.NEW, occurrence_count=1).count() == 3
    assert {a["fingerprint"] for a in body["alerts"]} == set(
        Alert.objects.values_list("fingerprint", flat=True)
    )
    device = Alert.objects.get(type="DEVICE_OFFLINE")
    assert (device.client_id, device.site_id) == (nw.id, sites["nw-den-01"].id)
    assert (device.source, device.tenant_id) == ("native", estate.tenant.id)
    geofence = Alert.objects.get(type="GEOFENCE_BREACH")
    assert (geofence.client_id, geofence.site_id) == (nw.id, sites["nw-aus-01"].id)
    assert geofence.fingerprint == "patrol-4471/geofence"
    # no codes and a key without defaults: the alert belongs to the tenant only
    sync = Alert.objects.get(type="SYNC_DEGRADED")
    assert (sync.client_id, sync.site_id) == (None, None)


def test_events_without_codes_fall_back_to_the_keys_defaults(client, estate, plain_key):
    site = estate.sites[1]
    plain, _key = plain_key(estate, "native", default_client=site.client, default_site=site)
    response = _post(client, {"type": "DEVICE_OFFLINE", "severity": "high", "title": "t"}, plain)
    assert response.status_code == 202
    alert = Alert.objects.get()
    assert (alert.client_id, alert.site_id) == (site.client_id, site.id)


def test_a_repeat_deduplicates_and_a_resolved_event_closes(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")
    event = {"type": "DEVICE_OFFLINE", "severity": "high", "title": "t", "dedup_key": "cam-9"}
    assert _post(client, event, plain).json() == {
        "accepted": 1,
        "alerts": [{"fingerprint": "cam-9"}],
    }
    assert Alert.objects.get().occurrence_count == 1
    _post(client, event, plain)
    alert = Alert.objects.get()
    assert (alert.status, alert.occurrence_count) == (Status.NEW, 2)
    closed = _post(client, {**event, "status": "resolved"}, plain).json()
    assert closed["accepted"] == 1
    alert = Alert.objects.get()
    assert (alert.status, alert.occurrence_count) == (Status.RESOLVED, 2)


def test_a_bad_batch_is_a_422_and_stores_nothing(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")
    good = {"type": "X", "severity": "low", "title": "t"}
    response = _post(client, [good, good, good, {**good, "severity": "urgent"}], plain)
    assert response.status_code == 422
    assert error_fields(response) == {"3.severity": "Unknown severity 'urgent'."}
    assert response.json()["error"]["code"] == "validation_error"
    assert not Alert.objects.exists()


def test_an_unknown_site_code_is_a_422_and_stores_nothing(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")
    good = {"type": "X", "severity": "low", "title": "t", "site": estate.sites[0].code}
    response = _post(client, [good, {**good, "site": "nowhere"}], plain)
    assert response.status_code == 422
    assert error_fields(response) == {"1.site": "No site with code 'nowhere'."}
    assert not Alert.objects.exists()


def test_another_tenants_codes_are_unknown(client, estate, other_estate, plain_key):
    plain, _key = plain_key(estate, "native")
    event = {"type": "X", "severity": "low", "title": "t", "site": other_estate.sites[0].code}
    response = _post(client, event, plain)
    assert response.status_code == 422
    assert "0.site" in error_fields(response)
    assert not Alert.objects.exists()


def test_malformed_json_is_a_400(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")
    response = client.post(
        URL, data="{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {plain}"
    )
    assert response.status_code == 400
    assert error_fields(response) == {"body": "Malformed JSON."}


def test_the_integrations_path_accepts_the_key_as_last_segment(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")
    event = {"type": "X", "severity": "low", "title": "t"}
    for url in (f"/api/v1/integrations/native/{plain}", f"/api/v1/integrations/native/{plain}/"):
        response = client.post(url, data=json.dumps(event), content_type="application/json")
        assert response.status_code == 202, url
    assert _post(client, event, plain, url="/api/v1/integrations/native").status_code == 202
    assert Alert.objects.get().occurrence_count == 3


# --- the shared path: GET is the read API -------------------------------------------------------


def test_get_reaches_the_read_api_and_post_reaches_ingestion(client, estate, plain_key, api):
    plain, _key = plain_key(estate, "native")
    _post(client, {"type": "X", "severity": "low", "title": "from ingestion"}, plain)
    listed = api(estate.user("admin")).get(URL)
    assert listed.status_code == 200, listed.content
    assert [a["title"] for a in listed.json()["items"]] == ["from ingestion"]
    # the read API's own authentication: no credential is its 401, not an ingestion answer
    anonymous = client.get(URL)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="watchfloor"'


def test_an_api_token_is_not_an_integration_key(estate, api):
    response = api(estate.user("admin")).post(URL, {"type": "X", "severity": "low", "title": "t"})
    assert response.status_code == 401
    assert not Alert.objects.exists()


def test_other_methods_get_the_read_apis_answer(estate, api):
    response = api(estate.user("admin")).delete(URL)
    assert response.status_code == 405
    assert error_fields(response) == {}
