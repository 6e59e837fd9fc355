"""Alertmanager webhook (v4) and the v2 alerts API shape: fingerprints, parsers and routes.

The sample payloads in samples/ were captured from Prometheus 2.42 and Alertmanager 0.25 (Debian
packages) posting to a local listener; only the host names in the URLs were changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from support_api import error_fields
from watchfloor.alerts.events import BatchInvalid, EventAction
from watchfloor.alerts.integrations.alertmanager import (
    alert_severity,
    label_set_fingerprint,
    parse_v2_alerts,
    parse_webhook,
)
from watchfloor.alerts.models import Alert, Severity, Status

WEBHOOK = "/api/v1/integrations/alertmanager"
V2 = "/api/v2/alerts"


def _post(client, url, body, plain=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plain}"} if plain else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- fingerprint ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # prometheus/common model/signature_test.go (decimal values there, hex here)
        ({}, 14695981039346656037),
        ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
        ({"first-label": "first-label-value"}, 5146282821936882169),
        (
            {"first-label": "first-label-value", "second-label": "second-label-value"},
            3195800080984914717,
        ),
        (
            {
                "first-label": "first-label-value",
                "second-label": "second-label-value",
                "third-label": "third-label-value",
            },
            13843036195897128121,
        ),
    ],
)
def test_fingerprint_matches_prometheus_common(labels, expected):
    assert label_set_fingerprint(labels) == f"{expected:016x}"


def test_fingerprint_matches_what_alertmanager_computed(sample):
    # the fingerprints in these webhooks were computed by Alertmanager 0.25 itself
    alerts = sample("alertmanager_webhook_firing.json")["alerts"]
    assert {a["fingerprint"] for a in alerts} == {"407e289e598d096f", "3cc69ee26e12f368"}
    for alert in alerts:
        assert label_set_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_fingerprint_is_over_utf8_bytes_and_ignores_label_order():
    a = label_set_fingerprint({"site": "são-paulo", "alertname": "Down"})
    b = label_set_fingerprint({"alertname": "Down", "site": "são-paulo"})
    assert a == b and len(a) == 16 and a != label_set_fingerprint({"alertname": "Down"})


def test_a_label_set_seen_before_is_not_hashed_again_and_keeps_its_fingerprint():
    from watchfloor.alerts.integrations.alertmanager import _fingerprint_of_sorted as remembered

    labels = {"alertname": "Down", "instance": "gw-1:9100", "site": "são-paulo"}
    first = label_set_fingerprint(labels)
    hits = remembered.cache_info().hits
    assert label_set_fingerprint(dict(reversed(labels.items()))) == first
    assert remembered.cache_info().hits == hits + 1
    # remembered by the pairs themselves: names and values keep their boundaries
    assert label_set_fingerprint({"ab": "c"}) != label_set_fingerprint({"a": "bc"})
    assert label_set_fingerprint({"a": "b", "c": "d"}) != label_set_fingerprint({"a": "bcd"})


# --- webhook parser -------------------------------------------------------------------------------


def test_a_firing_webhook_maps_labels_and_annotations(sample):
    high_cpu, uplink = parse_webhook(sample("alertmanager_webhook_firing.json"))
    assert uplink.action == EventAction.TRIGGER
    assert (uplink.type, uplink.severity) == ("SiteUplinkDown", Severity.CRITICAL)
    assert uplink.title == "Uplink down at gw-aus-01:9100"
    assert uplink.description.startswith("The WAN gateway gw-aus-01:9100")
    assert uplink.runbook_url == "https://runbooks.example.com/uplink-down"
    assert uplink.source_url.startswith("http://prometheus.noc-east.example.com:9090/graph?")
    assert (uplink.client_code, uplink.site_code) == ("northwind", "nw-aus-01")
    assert (uplink.entity_type, uplink.entity_id) == ("instance", "gw-aus-01:9100")
    assert uplink.fingerprint == "407e289e598d096f"
    assert uplink.labels["cluster"] == "noc-east"
    assert uplink.occurred_at == datetime(2026, 11, 26, 1, 57, 29, 743000, tzinfo=UTC)
    assert (high_cpu.severity, high_cpu.description, high_cpu.runbook_url) == (
        Severity.MEDIUM,
        "",
        "",
    )


def test_each_alerts_own_status_decides(sample):
    high_cpu, uplink = parse_webhook(sample("alertmanager_webhook_mixed.json"))
    assert high_cpu.action == EventAction.RESOLVE  # the group is still "firing"
    assert uplink.action == EventAction.TRIGGER


def test_unknown_fields_are_ignored(sample):
    payload = sample("alertmanager_webhook_mixed.json")
    payload["someFutureField"] = {"x": 1}
    payload["alerts"][0]["silencedBy"] = ["abc"]
    assert len(parse_webhook(payload)) == 2


def test_without_its_own_fingerprint_the_label_set_hash_is_used(sample):
    payload = sample("alertmanager_webhook_firing.json")
    for alert in payload["alerts"]:
        del alert["fingerprint"]
    assert [e.fingerprint for e in parse_webhook(payload)] == [
        "3cc69ee26e12f368",
        "407e289e598d096f",
    ]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("high", Severity.HIGH),
        ("warning", Severity.MEDIUM),
        ("minor", Severity.LOW),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("P1", Severity.CRITICAL),
        ("p4", Severity.LOW),
        ("bogus", Severity.MEDIUM),
        (None, Severity.MEDIUM),
    ],
)
def test_severity_label(label, expected):
    assert alert_severity(label) == expected


def test_long_texts_are_cut_and_unusable_urls_dropped(sample):
    payload = sample("alertmanager_webhook_firing.json")
    alert = payload["alerts"][1]
    alert["annotations"]["summary"] = "s" * 700
    alert["annotations"]["runbook_url"] = "see the wiki"
    alert["generatorURL"] = "http://prometheus:9090/graph?g0.expr=" + "x" * 1000
    event = parse_webhook(payload)[1]
    assert len(event.title) == 500 and event.title.endswith("…")
    assert (event.source_url, event.runbook_url) == ("", "")


def test_webhook_errors_name_the_alert():
    with pytest.raises(BatchInvalid) as caught:
        parse_webhook(
            {
                "version": "4",
                "alerts": [
                    {"status": "firing", "labels": {"alertname": "A"}},
                    {"status": "firing", "labels": ["alertname"]},
                    {"status": "firing", "labels": {"alertname": "C"}, "startsAt": "soon"},
                    {"status": "firing", "labels": {}},
                    7,
                ],
            }
        )
    assert caught.value.fields == {
        "alerts.1.labels": "Must be an object of strings.",
        "alerts.2.startsAt": "Not an ISO 8601 time.",
        "alerts.3.labels": "At least one label is required.",
        "alerts.4": "Must be an alert object.",
    }
    with pytest.raises(BatchInvalid) as caught:
        parse_webhook({"version": "4", "status": "firing"})
    assert caught.value.fields == {"alerts": "This field is required and must be a list."}


# --- v2 alerts parser -----------------------------------------------------------------------------


def test_v2_end_time_decides_firing_or_resolved(sample):
    payload = sample("prometheus_v2_alerts.json")
    # SiteUplinkDown ends 01:58:13 (Prometheus' "still firing" horizon), HighCPU ended 01:57:53
    between = datetime(2026, 11, 26, 1, 58, tzinfo=UTC)
    uplink, high_cpu = parse_v2_alerts(payload, now=between)
    assert (uplink.action, high_cpu.action) == (EventAction.TRIGGER, EventAction.RESOLVE)
    assert (uplink.fingerprint, high_cpu.fingerprint) == ("407e289e598d096f", "3cc69ee26e12f368")
    assert (uplink.site_code, uplink.severity) == ("nw-aus-01", Severity.CRITICAL)
    later = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert {e.action for e in parse_v2_alerts(payload, now=later)} == {EventAction.RESOLVE}
    at_end = datetime(2026, 11, 26, 1, 57, 53, 743000, tzinfo=UTC)
    assert parse_v2_alerts(payload, now=at_end)[1].action == EventAction.RESOLVE


def test_v2_without_end_time_is_firing():
    [event] = parse_v2_alerts([{"labels": {"alertname": "Down"}}], now=timezone.now())
    assert (event.action, event.type, event.title) == (EventAction.TRIGGER, "Down", "Down")


def test_v2_errors_name_the_index():
    with pytest.raises(BatchInvalid) as caught:
        parse_v2_alerts(
            [{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}, "endsAt": 5}],
            now=timezone.now(),
        )
    assert caught.value.fields == {"1.endsAt": "Must be an ISO 8601 time string."}
    with pytest.raises(BatchInvalid) as caught:
        parse_v2_alerts({"labels": {}}, now=timezone.now())
    assert caught.value.fields == {"body": "Expected a list of alerts."}


def _firing(**changes):
    alert = {
        "labels": {"alertname": "GatewayDown", "instance": "gw-9:9100", "severity": "critical"},
        "annotations": {"summary": "Gateway gw-9 is down", "description": "No answer."},
        "startsAt": "2026-12-07T10:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
    }
    alert.update(changes)
    return alert


def test_an_alert_sent_again_is_parsed_and_hashed_once():
    """Prometheus re-sends each firing alert with the same contents (its endsAt moves): the
    second parse is the remembered event, its content hash already known."""
    from watchfloor.alerts.fingerprints import content_hash
    from watchfloor.alerts.integrations.alertmanager import _remembered_event as remembered

    now = timezone.now()
    [first] = parse_v2_alerts([_firing()], now=now)
    hits = remembered.cache_info().hits
    [again] = parse_v2_alerts([_firing(endsAt="2099-06-01T00:00:00Z")], now=now)
    assert remembered.cache_info().hits == hits + 1
    assert again == first and again.digest == content_hash(first)
    assert (again.action, again.title, again.site_code) == (EventAction.TRIGGER, first.title, "")


@pytest.mark.parametrize(
    "changes, field, expected",
    [
        ({"annotations": {"summary": "Gateway gw-9 is back?"}}, "title", "Gateway gw-9 is back?"),
        (
            {"startsAt": "2026-12-07T10:05:00Z"},
            "occurred_at",
            datetime(2026, 12, 7, 10, 5, tzinfo=UTC),
        ),
        (
            {"generatorURL": "https://other.example/graph"},
            "source_url",
            "https://other.example/graph",
        ),
        ({"fingerprint": "own-fp-1"}, "fingerprint", "own-fp-1"),
        ({"endsAt": "2020-01-01T00:00:00Z"}, "action", EventAction.RESOLVE),
        (
            {"labels": {"alertname": "GatewayDown", "instance": "gw-9:9100", "severity": "info"}},
            "severity",
            Severity.INFO,
        ),
    ],
)
def test_an_alert_that_says_anything_else_is_not_the_remembered_one(changes, field, expected):
    now = timezone.now()
    parse_v2_alerts([_firing()], now=now)
    [changed] = parse_v2_alerts([_firing(**changes)], now=now)
    assert getattr(changed, field) == expected
    if field != "action":
        from watchfloor.alerts.fingerprints import content_hash

        assert changed.digest in (None, content_hash(changed))


def test_a_problem_is_named_each_time_even_beside_an_equal_valid_alert():
    """Only valid alerts are remembered, and a key equals only equal values: a label that is a
    number is refused although "1" was accepted before."""
    now = timezone.now()
    labels = {"alertname": "Flap", "shard": "1"}
    parse_v2_alerts([{"labels": labels}], now=now)
    for _ in range(2):
        with pytest.raises(BatchInvalid) as caught:
            parse_v2_alerts(
                [{"labels": labels}, {"labels": {"alertname": "Flap", "shard": 1}}], now=now
            )
        assert caught.value.fields == {
            "1.labels": "Must be an object of strings ('shard' is not a string)."
        }
    with pytest.raises(BatchInvalid) as caught:  # an unhashable value: parsed, and named
        parse_v2_alerts([{"labels": {"alertname": "Flap"}, "startsAt": {"at": 1}}], now=now)
    assert caught.value.fields == {"0.startsAt": "Must be an ISO 8601 time string."}


# --- routes ---------------------------------------------------------------------------------------


def test_webhook_opens_then_resolves(client, estate, northwind, plain_key, sample):
    _nw, sites = northwind
    plain, _key = plain_key(estate, "alertmanager")
    first = _post(client, WEBHOOK, sample("alertmanager_webhook_firing.json"), plain)
    assert first.status_code == 200, first.content
    # a 2xx means staged: the answer counts the events taken; the fold decides the rest
    assert first.json() == {"status": "success", "accepted": 2}
    assert sorted(Alert.objects.values_list("status", "occurrence_count")) == [
        (Status.NEW, 1),
        (Status.NEW, 1),
    ]
    second = _post(client, WEBHOOK, sample("alertmanager_webhook_mixed.json"), plain)
    assert second.json() == {"status": "success", "accepted": 2}
    high_cpu = Alert.objects.get(fingerprint="3cc69ee26e12f368")
    assert (high_cpu.status, high_cpu.site_id) == (Status.RESOLVED, sites["nw-den-01"].id)
    uplink = Alert.objects.get(fingerprint="407e289e598d096f")
    assert (uplink.status, uplink.site_id, uplink.source) == (
        Status.NEW,
        sites["nw-aus-01"].id,
        "alertmanager",
    )
    assert uplink.occurrence_count == 2


def test_webhook_key_in_the_path(client, estate, northwind, plain_key, sample):
    plain, _key = plain_key(estate, "alertmanager")
    for url in (f"{WEBHOOK}/{plain}", f"{WEBHOOK}/{plain}/"):
        response = _post(client, url, sample("alertmanager_webhook_firing.json"))
        assert response.status_code == 200, url
    assert Alert.objects.count() == 2


def test_v2_opens_and_resolves_by_end_time(client, estate, northwind, plain_key, sample):
    plain, _key = plain_key(estate, "alertmanager")
    payload = sample("prometheus_v2_alerts.json")
    now = timezone.now()
    for alert in payload:
        alert["startsAt"], alert["endsAt"] = (
            _iso(now - timedelta(minutes=1)),
            _iso(now + timedelta(minutes=4)),
        )
    response = _post(client, V2, payload, plain)
    assert (response.status_code, response.content) == (200, b"")
    assert Alert.objects.active().count() == 2
    payload[1]["endsAt"] = _iso(now - timedelta(seconds=5))
    response = _post(client, f"{V2}/{plain}", payload, None)
    assert response.status_code == 200
    assert Alert.objects.get(fingerprint="3cc69ee26e12f368").status == Status.RESOLVED
    assert Alert.objects.get(fingerprint="407e289e598d096f").status == Status.NEW


def test_prometheus_direct_and_through_alertmanager_are_one_alert(
    client, estate, northwind, plain_key, sample
):
    plain, _key = plain_key(estate, "alertmanager")
    payload = sample("prometheus_v2_alerts.json")
    now = timezone.now()
    for alert in payload:
        alert["endsAt"] = _iso(now + timedelta(minutes=4))
    _post(client, V2, payload, plain)
    _post(client, WEBHOOK, sample("alertmanager_webhook_mixed.json"), plain)
    assert Alert.objects.count() == 2
    assert Alert.objects.get(fingerprint="3cc69ee26e12f368").status == Status.RESOLVED


def test_unknown_label_codes_fall_back_to_the_keys_defaults(client, estate, plain_key, sample):
    """Alertmanager drops a refused group, so an unknown code must not refuse it."""
    site = estate.sites[3]
    plain, _key = plain_key(estate, "alertmanager", default_client=site.client, default_site=site)
    response = _post(client, WEBHOOK, sample("alertmanager_webhook_firing.json"), plain)
    assert response.status_code == 200
    assert set(Alert.objects.values_list("client_id", "site_id")) == {(site.client_id, site.id)}


def test_label_codes_place_the_alert(client, estate, northwind, plain_key, sample):
    nw, sites = northwind
    default = estate.sites[0]
    plain, _key = plain_key(
        estate, "alertmanager", default_client=default.client, default_site=default
    )
    payload = sample("alertmanager_webhook_firing.json")
    del payload["alerts"][0]["labels"]["site"]  # HighCPU: the client label only
    response = _post(client, WEBHOOK, payload, plain)
    assert response.status_code == 200
    high_cpu = Alert.objects.get(type="HighCPU")
    assert (high_cpu.client_id, high_cpu.site_id) == (nw.id, None)
    uplink = Alert.objects.get(type="SiteUplinkDown")
    assert (uplink.client_id, uplink.site_id) == (nw.id, sites["nw-aus-01"].id)


def test_a_bad_webhook_is_a_422_and_stores_nothing(client, estate, plain_key, sample):
    plain, _key = plain_key(estate, "alertmanager")
    payload = sample("alertmanager_webhook_firing.json")
    payload["alerts"][1]["startsAt"] = "not a time"
    response = _post(client, WEBHOOK, payload, plain)
    assert response.status_code == 422
    assert error_fields(response) == {"alerts.1.startsAt": "Not an ISO 8601 time."}
    assert not Alert.objects.exists()


def test_a_bad_v2_batch_is_a_422_and_stores_nothing(client, estate, plain_key):
    plain, _key = plain_key(estate, "alertmanager")
    response = _post(client, V2, [{"labels": {"alertname": "A"}}, {"labels": {}}], plain)
    assert response.status_code == 422
    assert error_fields(response) == {"1.labels": "At least one label is required."}
    assert not Alert.objects.exists()


def test_too_many_alerts_is_a_422(client, estate, plain_key, settings):
    settings.ALERT_MAX_BATCH = 1
    plain, _key = plain_key(estate, "alertmanager")
    response = _post(client, V2, [{"labels": {"alertname": "A"}}] * 2, plain)
    assert response.status_code == 422
    assert error_fields(response) == {"body": "At most 1 events per request."}
