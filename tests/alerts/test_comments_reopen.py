"""Comments on an alert (no status change) and reopening a resolved one (#10, section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from support_alerts import key_for, publisher, trigger
from support_api import V1, error_code, error_fields
from watchfloor.alerts.models import Alert, AlertComment, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.services import IllegalTransition, StillFiring, resolve_alert
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall import escalation
from watchfloor.oncall.models import AlertEscalation, EscalationState

__all__ = ["key_for", "publisher"]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "call jane.doe@example.com on +1 415 555 0100"


@pytest.fixture
def alert(estate, key_for) -> Alert:
    """A CRITICAL alert on the operator's first site, opened at T0."""
    with time_machine.travel(T0, tick=False):
        ingest(
            [trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)],
            key=key_for(estate),
            now=T0,
        )
    return Alert.objects.get(tenant=estate.tenant)


def audit_of(alert, action):
    return AuditLog.objects.filter(
        action=action, entity_type="alerts.alert", entity_id=str(alert.id)
    )


# --- comments -------------------------------------------------------------------------------


def test_a_comment_changes_nothing_but_is_audited_and_published(
    estate, alert, api, publisher, django_capture_on_commit_callbacks
):
    before = Alert.objects.get(pk=alert.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(estate.user("operator")).post(
            f"{V1}/alerts/{alert.id}/comments", {"body": f"  {SECRET}  "}
        )
    assert response.status_code == 201, response.content
    body = response.json()
    comment = AlertComment.objects.get(pk=body["id"])
    assert comment.body == SECRET  # stripped, stored in clear
    assert body["author"]["id"] == estate.user("operator").id
    after = Alert.objects.get(pk=alert.pk)
    assert after.status == before.status == Status.NEW
    assert after.acknowledged_at is None
    entry = audit_of(alert, Action.COMMENT).get()
    assert entry.details == {"comment_id": comment.id, "length": len(SECRET)}
    assert "jane" not in str(entry.details)
    events = [e for e in publisher.events if e["type"] == "alert.updated"]
    assert [e["alert"]["id"] for e in events] == [alert.id]


def test_comments_are_masked_for_viewers_without_view_pii(estate, alert, api):
    api(estate.user("operator")).post(f"{V1}/alerts/{alert.id}/comments", {"body": SECRET})
    shown = api(estate.user("operator")).get(f"{V1}/alerts/{alert.id}/comments").json()
    assert "jane.doe@example.com" not in shown[0]["body"]
    assert "j***@example.com" in shown[0]["body"]
    assert "0100" in shown[0]["body"] and "415" not in shown[0]["body"]
    clear = api(estate.user("supervisor")).get(f"{V1}/alerts/{alert.id}/comments").json()
    assert clear[0]["body"] == SECRET


def test_comment_needs_ack_capability_and_scope(estate, other_estate, alert, api):
    # the viewer sees only a site of the second client: this alert is a 404 for them
    viewer = api(estate.user("viewer"))
    assert viewer.post(f"{V1}/alerts/{alert.id}/comments", {"body": "x"}).status_code == 404
    executive = api(estate.user("executive"))  # sees every client, may not act
    response = executive.post(f"{V1}/alerts/{alert.id}/comments", {"body": "x"})
    assert response.status_code == 403
    assert "noc:ack_alerts" in response.json()["error"]["message"]
    theirs = api(other_estate.user("admin"))
    assert theirs.post(f"{V1}/alerts/{alert.id}/comments", {"body": "x"}).status_code == 404
    assert theirs.get(f"{V1}/alerts/{alert.id}/comments").status_code == 404
    assert not AlertComment.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 2001}, "body"),
        ({}, "body"),
    ],
)
def test_a_bad_comment_is_a_422_naming_the_field(estate, alert, api, payload, field):
    response = api(estate.user("operator")).post(f"{V1}/alerts/{alert.id}/comments", payload)
    assert response.status_code == 422, response.content
    assert field in error_fields(response)
    assert not AlertComment.objects.exists()


def test_a_resolved_alert_can_still_be_commented(estate, alert, api):
    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    response = api(estate.user("operator")).post(
        f"{V1}/alerts/{alert.id}/comments", {"body": "root cause: a tripped breaker"}
    )
    assert response.status_code == 201
    assert Alert.objects.get(pk=alert.pk).status == Status.RESOLVED


# --- reopen ---------------------------------------------------------------------------------


def test_reopen_puts_a_resolved_alert_back_to_new_and_audits(
    estate, alert, api, publisher, django_capture_on_commit_callbacks
):
    operator = estate.user("operator")
    resolve_alert(alert, actor=operator, note="fixed")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(operator).post(f"{V1}/alerts/{alert.id}/reopen", {"note": "back again"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "NEW"
    assert body["resolved_at"] is None and body["acknowledged_at"] is None
    assert body["resolution_note"] == "" and body["escalation_level"] == 0
    entry = audit_of(alert, Action.REOPEN).get()
    assert entry.actor_id == operator.id
    assert entry.details["from"] == "RESOLVED" and entry.details["to"] == "NEW"
    assert entry.details["resolved_by_id"] == operator.id
    assert publisher.events[-1]["type"] == "alert.updated"
    assert publisher.events[-1]["alert"]["status"] == "NEW"


def test_only_a_resolved_alert_can_be_reopened(estate, alert, api):
    response = api(estate.user("operator")).post(f"{V1}/alerts/{alert.id}/reopen", {})
    assert response.status_code == 409
    assert error_code(response) == "illegal_transition"
    assert not audit_of(alert, Action.REOPEN).exists()


def test_reopen_is_refused_while_the_fingerprint_fires_again(estate, alert, api, key_for):
    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    ingest([trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)], key=key_for(estate))
    again = Alert.objects.exclude(pk=alert.pk).get()
    assert again.fingerprint == alert.fingerprint
    response = api(estate.user("operator")).post(f"{V1}/alerts/{alert.id}/reopen", {})
    assert response.status_code == 409
    assert error_code(response) == "fingerprint_active"
    assert f"#{again.id}" in response.json()["error"]["message"]
    assert error_fields(response)["active_alert_id"] == str(again.id)
    assert Alert.objects.get(pk=alert.pk).status == Status.RESOLVED


def test_reopen_turns_a_racing_insert_into_still_firing(estate, alert, key_for):
    """The unique index is the last word: an active twin that the check did not see (it
    committed after) makes the save fail; the service answers StillFiring, not a 500."""
    from watchfloor.alerts import services

    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    ingest([trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)], key=key_for(estate))
    real = services._fingerprint_holder
    calls = []

    def blind_first(a):
        calls.append(a.pk)
        return None if len(calls) == 1 else real(a)

    services._fingerprint_holder = blind_first
    try:
        with pytest.raises(StillFiring) as caught:
            services.reopen_alert(alert, actor=estate.user("operator"))
    finally:
        services._fingerprint_holder = real
    assert caught.value.active_id == Alert.objects.exclude(pk=alert.pk).get().id


def test_reopen_needs_ack_capability_and_scope(estate, other_estate, alert, api):
    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    assert api(estate.user("executive")).post(f"{V1}/alerts/{alert.id}/reopen").status_code == 403
    assert api(estate.user("viewer")).post(f"{V1}/alerts/{alert.id}/reopen").status_code == 404
    assert api(other_estate.user("admin")).post(f"{V1}/alerts/{alert.id}/reopen").status_code == 404
    assert Alert.objects.get(pk=alert.pk).status == Status.RESOLVED


def test_reopen_restarts_the_escalation_from_now(estate, alert):
    operator = estate.user("operator")
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        escalation.sweep(T0 + timedelta(minutes=1))
    first = AlertEscalation.objects.get(alert=alert)
    assert first.state == EscalationState.ACTIVE
    reopened_at = T0 + timedelta(hours=3)
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        resolve_alert(alert, actor=operator, note="fixed")
    stopped = AlertEscalation.objects.get(alert=alert)  # stops when its step falls due
    with time_machine.travel(reopened_at, tick=False):
        escalation.reopen(alert, actor=operator)
    row = AlertEscalation.objects.get(alert=alert)
    assert row.state == EscalationState.ACTIVE and row.next_step == 0
    assert row.token > stopped.token  # a task queued for the first life is stale
    # CRITICAL: the shipped policy's first step is 15 minutes after (re)opening, not at once
    assert row.next_at == reopened_at + timedelta(minutes=15)
    with time_machine.travel(reopened_at + timedelta(minutes=1), tick=False):
        assert escalation.sweep(reopened_at + timedelta(minutes=1))["steps"] == 0


def test_reopen_of_a_never_escalated_alert_opens_its_chain(estate, alert):
    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    assert not AlertEscalation.objects.filter(alert=alert).exists()
    escalation.reopen(alert, actor=estate.user("operator"))
    assert AlertEscalation.objects.get(alert=alert).state == EscalationState.ACTIVE


def test_reopening_twice_is_an_illegal_transition(estate, alert):
    resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    escalation.reopen(alert, actor=estate.user("operator"))
    with pytest.raises(IllegalTransition):
        escalation.reopen(alert, actor=estate.user("operator"))


@pytest.mark.parametrize("body", ["nul \x00 byte", "lone \ud800 surrogate"])
def test_unstorable_text_is_a_422_naming_body(estate, alert, api, body):
    import json

    raw = json.dumps({"body": body})  # keeps the lone surrogate as an escape
    response = api(estate.user("operator")).post(f"{V1}/alerts/{alert.id}/comments", raw=raw)
    assert response.status_code == 422, response.content
    assert "body" in error_fields(response)
    assert not AlertComment.objects.exists()


@pytest.mark.parametrize("alert_id", ["100000000000000000000000", "0", "x"])
def test_a_bad_alert_id_is_a_4xx_never_a_500(estate, api, alert_id):
    operator = api(estate.user("operator"))
    for path in ("comments", "reopen"):
        response = operator.post(f"{V1}/alerts/{alert_id}/{path}", {"body": "x"})
        assert 400 <= response.status_code < 500, (path, response.content)
    assert 400 <= operator.get(f"{V1}/alerts/{alert_id}/comments").status_code < 500
