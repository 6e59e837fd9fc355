"""What every ingestion endpoint shares: integration-key authentication and its audit, the key in
the path kept out of logs, tenant isolation, methods, body size and the rejected-events metric."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from support_api import error_code, error_fields
from watchfloor.access.services import revoke_integration_key
from watchfloor.alerts import metrics
from watchfloor.alerts.models import Alert, Status
from watchfloor.audit.models import Action, AuditLog

NATIVE_EVENT = {"type": "DEVICE_OFFLINE", "severity": "high", "title": "Camera offline"}
V2_ALERTS = [{"labels": {"alertname": "SiteUplinkDown", "site": "x"}}]
WEBHOOK = {"version": "4", "status": "firing", "alerts": [{"status": "firing", **V2_ALERTS[0]}]}

# (url, source the key must have, body)
ENDPOINTS = [
    pytest.param("/api/v1/alerts", "native", NATIVE_EVENT, id="native"),
    pytest.param("/api/v1/integrations/native", "native", NATIVE_EVENT, id="native-integration"),
    pytest.param("/api/v1/integrations/alertmanager", "alertmanager", WEBHOOK, id="webhook"),
    pytest.param("/api/v2/alerts", "alertmanager", V2_ALERTS, id="v2"),
]
PATH_KEY_ENDPOINTS = [p for p in ENDPOINTS if p.values[0] != "/api/v1/alerts"]


def _post(client, url, body, auth=None):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def _failures():
    return list(
        AuditLog.objects.filter(action=Action.AUTH_FAILED).values_list("details", flat=True)
    )


def _assert_refused(response, source, path):
    assert response.status_code == 401, response.content
    assert error_code(response) == "unauthorized"
    assert response["WWW-Authenticate"] == 'Bearer realm="watchfloor"'
    assert _failures() == [{"path": path, "scheme": "integration_key", "source": source}]
    assert not Alert.objects.exists()


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_the_right_key_is_accepted(client, estate, plain_key, url, source, body):
    plain, _key = plain_key(estate, source)
    response = _post(client, url, body, f"Bearer {plain}")
    assert response.status_code in (200, 202), response.content
    assert Alert.objects.count() == 1
    assert not _failures()


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_an_unknown_key_is_refused_and_audited(client, db, url, source, body):
    response = _post(
        client, url, body, "Bearer wfi_0badc0de_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    )
    _assert_refused(response, source, url)


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_a_revoked_key_is_refused(client, estate, plain_key, url, source, body):
    plain, key = plain_key(estate, source)
    revoke_integration_key(key, actor=estate.user("admin"))
    _assert_refused(_post(client, url, body, f"Bearer {plain}"), source, url)


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_an_expired_key_is_refused(client, estate, plain_key, url, source, body):
    plain, key = plain_key(estate, source)
    key.expires_at = timezone.now() - timedelta(seconds=1)
    key.save(update_fields=["expires_at"])
    _assert_refused(_post(client, url, body, f"Bearer {plain}"), source, url)


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_a_key_for_another_source_is_refused(client, estate, plain_key, url, source, body):
    plain, _key = plain_key(estate, "pagerduty" if source != "pagerduty" else "native")
    _assert_refused(_post(client, url, body, f"Bearer {plain}"), source, url)


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_no_key_is_a_401_without_an_audit_entry(client, estate, plain_key, url, source, body):
    plain, _key = plain_key(estate, source)
    for auth in (None, f"Basic {plain}", "Bearer"):
        response = _post(client, url, body, auth)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
    assert not _failures()
    assert not Alert.objects.exists()


@pytest.mark.parametrize(("url", "source", "body"), PATH_KEY_ENDPOINTS)
def test_the_key_in_the_path_works_and_never_reaches_the_audit_or_the_log(
    client, estate, plain_key, caplog, url, source, body
):
    plain, key = plain_key(estate, source)
    assert _post(client, f"{url}/{plain}", body).status_code in (200, 202)
    revoke_integration_key(key, actor=estate.user("admin"))
    with caplog.at_level(logging.INFO):
        response = _post(client, f"{url}/{plain}", body)
    assert response.status_code == 401
    assert _failures() == [
        {"path": f"{url}/{{key}}", "scheme": "integration_key", "source": source}
    ]
    assert plain not in caplog.text
    assert f"{url}/{{key}}" in caplog.text
    assert Alert.objects.count() == 1


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_refusals_are_counted(client, db, url, source, body):
    counter = metrics.REJECTED.labels(source=source, reason="unauthorized")
    before = counter._value.get()
    _post(client, url, body, "Bearer wfi_0badc0de_nope")
    assert counter._value.get() == before + 1


# --- tenant isolation -----------------------------------------------------------------------------


def test_a_key_only_touches_its_own_tenants_alerts(client, estate, other_estate, plain_key, sample):
    mine, _ = plain_key(estate, "alertmanager")
    theirs, _ = plain_key(other_estate, "alertmanager")
    url = "/api/v1/integrations/alertmanager"
    _post(client, url, sample("alertmanager_webhook_firing.json"), f"Bearer {theirs}")
    # same fingerprints: HighCPU resolved, SiteUplinkDown firing — sent with the other tenant's key
    response = _post(client, url, sample("alertmanager_webhook_mixed.json"), f"Bearer {mine}")
    assert response.json()["accepted"] == 2
    their_alerts = Alert.objects.filter(tenant=other_estate.tenant)
    assert sorted(their_alerts.values_list("status", "occurrence_count")) == [
        (Status.NEW, 1),
        (Status.NEW, 1),
    ]
    [my_alert] = Alert.objects.filter(tenant=estate.tenant)
    assert (my_alert.fingerprint, my_alert.status) == ("407e289e598d096f", Status.NEW)


def test_a_pagerduty_resolve_cannot_close_another_tenants_alert(
    client, estate, other_estate, plain_key
):
    mine, _ = plain_key(estate, "pagerduty")
    theirs, _ = plain_key(other_estate, "pagerduty")
    trigger = {
        "event_action": "trigger",
        "dedup_key": "shared-key",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    _post(client, "/v2/enqueue", {**trigger, "routing_key": theirs})
    resolve = {"routing_key": mine, "event_action": "resolve", "dedup_key": "shared-key"}
    assert _post(client, "/v2/enqueue", resolve).status_code == 202
    assert Alert.objects.get(tenant=other_estate.tenant).status == Status.NEW
    assert not Alert.objects.filter(tenant=estate.tenant).exists()


# --- methods and sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "source", "body"), PATH_KEY_ENDPOINTS)
def test_only_post(client, db, url, source, body):
    response = client.get(url)
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(("url", "source", "body"), ENDPOINTS)
def test_a_body_over_the_limit_is_a_413(client, estate, plain_key, settings, url, source, body):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    plain, _key = plain_key(estate, source)
    big = {**NATIVE_EVENT, "description": "x" * 2000} if source == "native" else [V2_ALERTS[0]] * 50
    response = _post(client, url, big, f"Bearer {plain}")
    assert response.status_code == 413
    assert error_fields(response) == {"body": "At most 1000 bytes."}
    assert not Alert.objects.exists()


def test_a_pagerduty_body_over_the_limit_is_a_413(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _post(client, "/v2/enqueue", {"routing_key": "k", "x": "y" * 2000})
    assert response.status_code == 413
    assert response.json()["status"] == "invalid event"
