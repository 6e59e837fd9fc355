"""PagerDuty Events API v2 (`POST /v2/enqueue`): the parser and the route, in PagerDuty's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from watchfloor.alerts.events import BatchInvalid, EventAction
from watchfloor.alerts.integrations.pagerduty import parse_enqueue
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.audit.models import Action, AuditLog

URL = "/v2/enqueue"


def _send(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def _invalid(data) -> dict[str, str]:
    with pytest.raises(BatchInvalid) as caught:
        parse_enqueue(data)
    return caught.value.fields


def _trigger(**payload) -> dict:
    body = {"summary": "Disk full on db-1", "source": "db-1", "severity": "error"}
    return {"routing_key": "k", "event_action": "trigger", "payload": {**body, **payload}}


# --- parser ---------------------------------------------------------------------------------------


def test_a_trigger_maps_every_field(sample):
    parsed = parse_enqueue(sample("pagerduty_trigger.json"))
    event = parsed.event
    assert parsed.dedup_key == event.fingerprint == "nw-aus-01/ups-battery"
    assert (event.action, event.type, event.severity) == (
        EventAction.TRIGGER,
        "power failure",
        Severity.CRITICAL,
    )
    assert event.title == "UPS on battery at Austin DC: 38 minutes of runtime left"
    assert (event.client_code, event.site_code) == ("northwind", "nw-aus-01")
    assert (event.entity_type, event.entity_id) == ("source", "ups-aus-01.northwind.example.com")
    assert event.labels == {
        "source": "ups-aus-01.northwind.example.com",
        "component": "ups",
        "group": "facility-power",
        "class": "power failure",
    }
    assert event.annotations["runtime_minutes"] == "38"
    assert event.annotations["on_battery"] == "true"
    assert event.annotations["monitoring_client"] == "Zabbix NOC"
    assert json.loads(event.annotations["links"])[0]["text"] == "Power dashboard"
    assert event.source_url.startswith("https://zabbix.northwind.example.com/")
    assert event.runbook_url == "https://runbooks.example.com/ups-on-battery"
    assert event.occurred_at == datetime(2026, 11, 26, 1, 42, 58, 315000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("warning", Severity.MEDIUM),
        ("info", Severity.INFO),
    ],
)
def test_severities(given, expected):
    assert parse_enqueue(_trigger(severity=given)).event.severity == expected


def test_type_is_class_then_component_then_pagerduty():
    assert parse_enqueue(_trigger(component="mysql")).event.type == "mysql"
    assert parse_enqueue(_trigger(component="mysql", **{"class": "disk"})).event.type == "disk"
    assert parse_enqueue(_trigger()).event.type == "pagerduty"


def test_a_trigger_without_dedup_key_gets_one():
    first, second = parse_enqueue(_trigger()), parse_enqueue(_trigger())
    assert len(first.dedup_key) == 32 and first.dedup_key != second.dedup_key
    assert first.event.fingerprint == first.dedup_key


def test_acknowledge_and_resolve_need_only_the_dedup_key(sample):
    ack = parse_enqueue(sample("pagerduty_acknowledge.json")).event
    done = parse_enqueue(sample("pagerduty_resolve.json")).event
    assert (ack.action, ack.fingerprint) == (EventAction.ACKNOWLEDGE, "nw-aus-01/ups-battery")
    assert (done.action, done.fingerprint) == (EventAction.RESOLVE, "nw-aus-01/ups-battery")
    assert _invalid({"routing_key": "k", "event_action": "resolve"}) == {
        "dedup_key": "This field is required to resolve."
    }


def test_a_long_dedup_key_is_hashed_and_a_too_long_one_refused():
    parsed = parse_enqueue({**_trigger(), "dedup_key": "d" * 200})
    assert parsed.dedup_key == "d" * 200
    assert parsed.event.fingerprint.startswith("sha256:") and len(parsed.event.fingerprint) == 71
    assert _invalid({**_trigger(), "dedup_key": "d" * 256}) == {
        "dedup_key": "At most 255 characters."
    }


def test_every_problem_is_listed():
    assert _invalid(
        {"routing_key": "k", "event_action": "trigger", "payload": {"severity": "sev1"}}
    ) == {
        "payload.summary": "This field is required.",
        "payload.source": "This field is required.",
        "payload.severity": "Must be one of critical, error, warning, info.",
    }
    assert _invalid({"routing_key": "k", "event_action": "page"}) == {
        "event_action": "Must be one of trigger, acknowledge, resolve."
    }
    assert _invalid({"routing_key": "k", "event_action": "trigger"}) == {
        "payload": "This field is required and must be an object."
    }
    assert _invalid(_trigger(timestamp="last tuesday", summary="s" * 1025)) == {
        "payload.timestamp": "Not an ISO 8601 time.",
        "payload.summary": "At most 1024 characters.",
    }


def test_a_long_summary_is_cut_into_the_title_and_kept_whole():
    event = parse_enqueue(_trigger(summary="s" * 800)).event
    assert len(event.title) == 500 and event.description == "s" * 800


# --- route ----------------------------------------------------------------------------------------


def test_trigger_acknowledge_resolve(client, estate, northwind, plain_key, sample):
    _nw, sites = northwind
    plain, _key = plain_key(estate, "pagerduty")
    expected = {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "nw-aus-01/ups-battery",
    }
    for name, status in (
        ("trigger", Status.NEW),
        ("acknowledge", Status.ACKNOWLEDGED),
        ("resolve", Status.RESOLVED),
    ):
        body = sample(f"pagerduty_{name}.json")
        body["routing_key"] = plain
        response = _send(client, body)
        assert (response.status_code, response.json()) == (202, expected), name
        alert = Alert.objects.get()
        assert alert.status == status, name
    assert (alert.site_id, alert.source, alert.type) == (
        sites["nw-aus-01"].id,
        "pagerduty",
        "power failure",
    )


def test_the_returned_dedup_key_resolves_the_alert(client, estate, plain_key):
    plain, _key = plain_key(estate, "pagerduty")
    created = _send(client, {**_trigger(), "routing_key": plain})
    assert created.status_code == 202
    dedup_key = created.json()["dedup_key"]
    assert Alert.objects.get().fingerprint == dedup_key
    resolved = _send(
        client, {"routing_key": plain, "event_action": "resolve", "dedup_key": dedup_key}
    )
    assert resolved.json()["dedup_key"] == dedup_key
    assert Alert.objects.get().status == Status.RESOLVED


def test_resolving_an_unknown_dedup_key_is_accepted_and_changes_nothing(client, estate, plain_key):
    plain, _key = plain_key(estate, "pagerduty")
    response = _send(client, {"routing_key": plain, "event_action": "resolve", "dedup_key": "x"})
    assert response.status_code == 202
    assert not Alert.objects.exists()


def test_an_invalid_event_is_a_400_in_pagerdutys_shape(client, estate, plain_key):
    plain, _key = plain_key(estate, "pagerduty")
    response = _send(client, {**_trigger(severity="urgent"), "routing_key": plain})
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["payload.severity: Must be one of critical, error, warning, info."],
    }
    assert not Alert.objects.exists()


def test_malformed_json_is_a_400_in_pagerdutys_shape(client, db):
    response = client.post(URL, data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"


def test_an_unknown_routing_key_is_a_401_and_audited(client, estate, plain_key):
    plain, _key = plain_key(estate, "native")  # a real key, but not for PagerDuty
    for routing_key in ("R0UT1NGK3Y0000000000000000000000", plain):
        response = _send(client, {**_trigger(), "routing_key": routing_key})
        assert response.status_code == 401
        assert response.json()["status"] == "unauthorized"
    entries = AuditLog.objects.filter(action=Action.AUTH_FAILED)
    assert [e.details for e in entries] == [
        {"path": URL, "scheme": "integration_key", "source": "pagerduty"}
    ] * 2
    assert not Alert.objects.exists()


def test_a_missing_routing_key_is_a_401(client, db):
    response = _send(client, {"event_action": "trigger"})
    assert response.status_code == 401
    assert not AuditLog.objects.filter(action=Action.AUTH_FAILED).exists()


def test_only_post(client, db):
    assert client.get(URL).status_code == 405
