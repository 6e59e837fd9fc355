"""Incident services: lifecycle, membership invariants, resolve cascade, close freezes, merge,
move, severity kept current, audit + timeline + events after commit, capabilities."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.http import Http404

from support_alerts import publisher
from support_incidents import make_alert
from watchfloor.access.scope import CapabilityDenied
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import services as s
from watchfloor.incidents.models import (
    EventKind,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentPolicy,
    IncidentStatus,
    Origin,
)
from watchfloor.incidents.queries import access_incident, sla_state, timeline

__all__ = ["publisher"]


def kinds(incident) -> list[str]:
    return list(IncidentEvent.objects.filter(incident=incident).values_list("kind", flat=True))


def audited(action: str, incident) -> int:
    return AuditLog.objects.filter(
        action=action, entity_type="incidents.incident", entity_id=str(incident.pk)
    ).count()


@pytest.fixture
def sup(estate):
    return estate.user("supervisor")


def opened(estate, alerts, actor=None, **kw) -> Incident:
    return s.open_incident(
        alerts, actor=actor, origin=kw.pop("origin", Origin.MANUAL), tenant=estate.tenant, **kw
    )


def test_open_takes_severity_place_and_sla_from_the_alerts_and_policy(
    estate, sup, publisher, django_capture_on_commit_callbacks
):
    a = make_alert(estate, 1, severity=Severity.MEDIUM)
    b = make_alert(estate, 2, severity=Severity.CRITICAL)
    with django_capture_on_commit_callbacks(execute=True):
        incident = opened(estate, [a, b], actor=sup, title="Two things")
    assert incident.severity == Severity.CRITICAL
    assert (incident.client_id, incident.site_id) == (estate.clients[0].id, estate.sites[0].id)
    assert incident.status == IncidentStatus.NEW
    assert incident.ack_due_at == incident.opened_at + timedelta(minutes=15)
    assert incident.resolve_due_at == incident.opened_at + timedelta(minutes=240)
    assert incident.ack_risk_at == incident.opened_at + timedelta(minutes=15 * 0.75)
    assert kinds(incident) == ["opened", "alert_joined", "alert_joined"]
    assert audited("incident.open", incident) == 1
    [event] = publisher.of_type("incident.created")
    assert event["incident"]["id"] == incident.id
    assert event["incident"]["alert_count"] == 2
    assert event["incident"]["sla"]["state"] == "ok"
    assert event["tenant_id"] == estate.tenant.id


def test_open_across_sites_or_clients_widens_the_place(estate, sup):
    a = make_alert(estate, 1, site=estate.sites[0])
    b = make_alert(estate, 2, site=estate.sites[1])
    c = make_alert(estate, 3, site=estate.sites[2])
    one_client = opened(estate, [a, b], actor=sup)
    assert (one_client.client_id, one_client.site_id) == (estate.clients[0].id, None)
    two_clients = opened(estate, [c], actor=sup)
    s.add_alerts(two_clients, [make_alert(estate, 4, site=estate.sites[0])], actor=sup)
    two_clients.refresh_from_db()
    assert (two_clients.client_id, two_clients.site_id) == (None, None)


def test_the_tenant_policy_sets_the_targets(estate, sup):
    s.update_policy(
        estate.tenant.id,
        actor=estate.user("admin"),
        sla_minutes={"HIGH": {"acknowledge": 5, "resolve": 60}},
    )
    incident = opened(estate, [make_alert(estate, 1)], actor=sup)
    assert incident.ack_due_at - incident.opened_at == timedelta(minutes=5)
    assert incident.resolve_due_at - incident.opened_at == timedelta(minutes=60)


def test_an_alert_is_in_at_most_one_open_incident(estate, sup):
    a, b = make_alert(estate, 1), make_alert(estate, 2)
    first = opened(estate, [a], actor=sup)
    second = opened(estate, [a, b], actor=sup)  # a is skipped
    assert list(second.memberships.values_list("alert_id", flat=True)) == [b.id]
    assert s.add_alerts(second, [a], actor=sup) == []
    with pytest.raises(s.IncidentError) as err:
        opened(estate, [a], actor=sup)
    assert err.value.field == "alert_ids"
    assert IncidentAlert.objects.filter(alert=a, open=True).count() == 1
    assert IncidentAlert.objects.get(alert=a).incident_id == first.id


def test_acknowledge_acknowledges_its_alerts_and_is_once(
    estate, sup, publisher, django_capture_on_commit_callbacks
):
    a, b = make_alert(estate, 1), make_alert(estate, 2)
    incident = opened(estate, [a, b], actor=sup)
    with django_capture_on_commit_callbacks(execute=True):
        incident = s.acknowledge_incident(incident, actor=sup)
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_by == sup
    assert set(Alert.objects.values_list("status", flat=True)) == {Status.ACKNOWLEDGED}
    assert audited("acknowledge", incident) == 1
    assert {e["type"] for e in publisher.events} == {"incident.updated", "alert.updated"}
    with pytest.raises(s.IllegalTransition):
        s.acknowledge_incident(incident, actor=sup)


def test_assign_sets_commander_and_responders_who_can_see_it(estate, sup, other_estate):
    incident = opened(estate, [make_alert(estate, 1)], actor=sup)
    operator = estate.user("operator")  # sees the first client
    incident = s.assign_incident(incident, actor=sup, commander=operator, responders=[sup])
    assert incident.status == IncidentStatus.ASSIGNED
    assert incident.commander == operator
    assert incident.acknowledged_at is not None
    assert list(incident.responders.all()) == [sup]
    # a viewer cannot act on alerts; another tenant's user is nobody here
    for nobody in (estate.user("viewer"), other_estate.user("admin")):
        with pytest.raises(s.IncidentError):
            s.assign_incident(incident, actor=sup, commander=nobody)
    incident = s.assign_incident(incident, actor=sup, remove_responders=[sup])
    assert list(incident.responders.all()) == []
    assert kinds(incident).count("responder") == 2
    assert "commander" in kinds(incident)


def test_start_resolve_cascades_and_close_freezes(
    estate, sup, publisher, django_capture_on_commit_callbacks
):
    a, b = make_alert(estate, 1), make_alert(estate, 2)
    incident = opened(estate, [a, b], actor=sup)
    incident = s.start_incident(incident, actor=sup)
    assert incident.status == IncidentStatus.IN_PROGRESS
    with django_capture_on_commit_callbacks(execute=True):
        incident = s.resolve_incident(incident, actor=sup, note="Replaced the switch")
    assert incident.status == IncidentStatus.RESOLVED
    for alert in Alert.objects.all():
        assert alert.status == Status.RESOLVED
        assert alert.resolution_note == "Replaced the switch"
        assert alert.resolved_by == sup
    assert not IncidentAlert.objects.filter(incident=incident, open=True).exists()
    assert len(publisher.of_type("alert.resolved")) == 2
    assert publisher.of_type("incident.updated")[-1]["incident"]["status"] == "RESOLVED"
    assert kinds(incident).count("alert_resolved") == 2
    # a resolved incident takes no alert
    with pytest.raises(s.IllegalTransition):
        s.add_alerts(incident, [make_alert(estate, 3)], actor=sup)
    incident = s.close_incident(incident, actor=sup)
    assert incident.status == IncidentStatus.CLOSED
    # frozen: nothing changes a closed incident
    for act in (
        lambda: s.add_alerts(incident, [make_alert(estate, 4)]),
        lambda: s.reopen_incident(incident, reason="again"),
        lambda: s.add_note(incident, actor=sup, body="late"),
        lambda: s.edit_incident(incident, actor=sup, title="New"),
        lambda: s.acknowledge_incident(incident, actor=sup),
        lambda: s.close_incident(incident, actor=sup),
    ):
        with pytest.raises(s.IllegalTransition):
            act()
    # the same alert may open a new incident now
    assert opened(estate, [Alert.objects.get(pk=a.pk)], actor=sup).pk != incident.pk


def test_resolve_needs_a_note_from_a_person_and_close_needs_resolved(estate, sup):
    incident = opened(estate, [make_alert(estate, 1)], actor=sup)
    with pytest.raises(s.IncidentError) as err:
        s.resolve_incident(incident, actor=sup, note="  ")
    assert err.value.field == "note"
    with pytest.raises(s.IllegalTransition):
        s.close_incident(incident, actor=sup)


def test_reopen_rejoins_alerts_not_taken_elsewhere(estate, sup):
    a, b = make_alert(estate, 1), make_alert(estate, 2)
    incident = opened(estate, [a, b], actor=sup)
    incident = s.resolve_incident(incident, actor=None, note="")  # a rule: resolves no alert
    assert Alert.objects.filter(status=Status.NEW).count() == 2
    other = opened(estate, [a], actor=sup)  # a joins another incident meanwhile
    incident = s.reopen_incident(incident, actor=None, reason="fired again")
    assert incident.status == IncidentStatus.NEW
    assert incident.reopen_count == 1
    open_members = IncidentAlert.objects.filter(open=True, left_at__isnull=True)
    assert set(open_members.values_list("incident_id", "alert_id")) == {
        (incident.id, b.id),
        (other.id, a.id),
    }
    assert audited("reopen", incident) == 1


def test_merge_moves_every_alert_and_closes_the_source(
    estate, sup, publisher, django_capture_on_commit_callbacks
):
    a = make_alert(estate, 1, severity=Severity.LOW)
    b = make_alert(estate, 2, severity=Severity.CRITICAL)
    keep = opened(estate, [a], actor=sup)
    gone = opened(estate, [b], actor=sup)
    with django_capture_on_commit_callbacks(execute=True):
        keep = s.merge_incidents(gone, into=keep, actor=sup)
    gone.refresh_from_db()
    assert gone.status == IncidentStatus.CLOSED and gone.merged_into_id == keep.id
    assert keep.severity == Severity.CRITICAL
    assert set(
        IncidentAlert.objects.filter(incident=keep, left_at__isnull=True).values_list(
            "alert_id", flat=True
        )
    ) == {a.id, b.id}
    assert "merged" in kinds(gone) and "merged" in kinds(keep) and "severity" in kinds(keep)
    assert audited("incident.merge", keep) == 1
    assert {e["incident"]["id"] for e in publisher.of_type("incident.updated")} == {
        keep.id,
        gone.id,
    }
    with pytest.raises(s.IncidentError):
        s.merge_incidents(keep, into=keep, actor=sup)
    with pytest.raises(s.IllegalTransition):
        s.merge_incidents(gone, into=keep, actor=sup)


def test_move_and_remove_keep_severity_current(estate, sup):
    low = make_alert(estate, 1, severity=Severity.LOW)
    crit = make_alert(estate, 2, severity=Severity.CRITICAL)
    source = opened(estate, [low, crit], actor=sup)
    target = opened(estate, [make_alert(estate, 3, severity=Severity.MEDIUM)], actor=sup)
    s.move_alert(crit, source=source, target=target, actor=sup)
    source.refresh_from_db()
    target.refresh_from_db()
    assert (source.severity, target.severity) == (Severity.LOW, Severity.CRITICAL)
    with pytest.raises(s.IncidentError):
        s.move_alert(crit, source=source, target=target, actor=sup)  # not in source any more
    s.remove_alert(target, crit, actor=sup)
    target.refresh_from_db()
    assert target.severity == Severity.MEDIUM
    assert audited("incident.alerts", source) == 1 and audited("incident.alerts", target) == 1
    # an alert whose severity changes: refresh_severity keeps the incident current
    Alert.objects.filter(pk=low.pk).update(severity=Severity.HIGH)
    assert s.refresh_severity(source).severity == Severity.HIGH


def test_severity_rise_tightens_the_sla_not_met(estate, sup):
    incident = opened(estate, [make_alert(estate, 1, severity=Severity.LOW)], actor=sup)
    s.add_alerts(incident, [make_alert(estate, 2, severity=Severity.CRITICAL)], actor=sup)
    incident.refresh_from_db()
    assert incident.ack_due_at - incident.opened_at == timedelta(minutes=15)


def test_notes_and_edits_are_on_the_timeline_masked_for_readers(estate, sup):
    incident = opened(estate, [make_alert(estate, 1)], actor=sup)
    s.add_note(incident, actor=sup, body="Called jane.doe@example.com on +1 415 555 0100")
    s.edit_incident(incident, actor=sup, summary="Switch down", external_ref="TCK-9")
    with pytest.raises(s.IncidentError) as err:
        s.edit_incident(incident, actor=sup, runbook_url="javascript:alert(1)")
    assert err.value.field == "runbook_url"
    lines = timeline(incident, estate.user("operator"))  # no noc:view_pii
    note = next(line for line in lines if line["kind"] == "note")
    assert "jane.doe@example.com" not in note["body"] and "0100" in note["body"]
    assert timeline(incident, sup)[-2]["body"].startswith("Called jane.doe@example.com")
    assert lines[-1]["kind"] == "edited"
    assert audited("comment", incident) == 1 and audited("incident.update", incident) == 1


def test_capabilities_are_checked(estate):
    viewer, executive = estate.user("viewer"), estate.user("executive")
    alert = make_alert(estate, 1, site=estate.sites[2])
    with pytest.raises(CapabilityDenied):
        opened(estate, [alert], actor=viewer)
    incident = opened(estate, [alert])  # a rule
    for act in (
        lambda u: s.acknowledge_incident(incident, actor=u),
        lambda u: s.assign_incident(incident, actor=u, commander=u),
        lambda u: s.start_incident(incident, actor=u),
        lambda u: s.resolve_incident(incident, actor=u, note="x"),
        lambda u: s.add_note(incident, actor=u, body="x"),
        lambda u: s.edit_incident(incident, actor=u, title="x"),
        lambda u: s.update_policy(estate.tenant.id, actor=u, group_threshold=2),
    ):
        for user in (viewer, executive):
            with pytest.raises(CapabilityDenied):
                act(user)


def test_policy_is_validated_before_anything_is_stored(estate):
    admin = estate.user("admin")
    policy = s.policy_for(estate.tenant.id)
    for bad, field in (
        ({"group_threshold": 1001}, "group_threshold"),
        ({"group_threshold": -1}, "group_threshold"),
        ({"reopen_within_minutes": 0}, "reopen_within_minutes"),
        ({"reopen_within_minutes": 525_601}, "reopen_within_minutes"),
        ({"sla_minutes": {"HIGH": {"acknowledge": 0}}}, "sla_minutes.HIGH.acknowledge"),
        ({"sla_minutes": {"NOPE": {"acknowledge": 5}}}, "sla_minutes.NOPE"),
        ({"excluded_types": ["x" * 101]}, "excluded_types.0"),
        ({"excluded_types": ["A"] * 201}, "excluded_types"),
        ({"reopen_rule": "sometimes"}, "reopen_rule"),
    ):
        with pytest.raises(s.IncidentError) as err:
            s.update_policy(estate.tenant.id, actor=admin, **{"open_on_critical": False, **bad})
        assert err.value.field == field
    policy.refresh_from_db()
    assert (policy.group_threshold, policy.open_on_critical) == (3, True)
    s.update_policy(
        estate.tenant.id, actor=admin, group_threshold=0, excluded_types=["B", "A", "A"]
    )
    policy = IncidentPolicy.objects.get(tenant=estate.tenant)
    assert (policy.group_threshold, policy.excluded_types) == (0, ["A", "B"])
    assert (
        AuditLog.objects.filter(
            action="config_change", entity_type="incidents.incidentpolicy"
        ).count()
        == 1
    )


def test_sla_state(estate, sup):
    incident = opened(estate, [make_alert(estate, 1, severity=Severity.CRITICAL)], actor=sup)
    start = incident.opened_at
    assert sla_state(incident, start)["state"] == "ok"
    assert sla_state(incident, start + timedelta(minutes=12))["acknowledge"] == "at_risk"
    assert sla_state(incident, start + timedelta(minutes=16))["acknowledge"] == "breached"
    incident.acknowledged_at = start + timedelta(minutes=5)
    assert sla_state(incident, start + timedelta(minutes=16))["acknowledge"] == "ok"
    assert sla_state(incident, start + timedelta(minutes=200))["state"] == "at_risk"


def test_record_event_for_the_other_modules(estate, publisher, django_capture_on_commit_callbacks):
    incident = opened(estate, [make_alert(estate, 1)])
    with django_capture_on_commit_callbacks(execute=True):
        event = s.record_event(
            incident, EventKind.SLA_BREACH, details={"target": "acknowledge", "due_at": "x"}
        )
    assert event.kind == "sla_breach"
    assert publisher.of_type("incident.updated")
    with pytest.raises(s.IncidentError):
        s.record_event(incident, "nonsense")


def test_access_incident_is_scoped(estate, other_estate, sup):
    incident = opened(estate, [make_alert(estate, 1, site=estate.sites[2])], actor=sup)
    assert access_incident(estate.user("viewer"), incident.id) == incident  # site 2 of c2
    for outsider in (estate.user("operator"), other_estate.user("admin")):
        with pytest.raises(Http404):
            access_incident(outsider, incident.id)


def test_events_are_published_only_after_commit(
    estate, sup, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        opened(estate, [make_alert(estate, 1)], actor=sup)
        assert publisher.events == []
    assert publisher.of_type("incident.created")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_writers_grouping_the_same_alerts_never_both_win(estate):
    """Eight writers open incidents over the same alerts at once: each alert ends in exactly one
    open incident, and no writer fails other than by finding every alert taken."""
    alerts = [make_alert(estate, n) for n in range(20)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            mine = alerts[n % 3 :] if n % 2 else list(reversed(alerts))
            try:
                s.open_incident(mine, origin=Origin.ALERT_GROUP, tenant=estate.tenant)
            except s.IncidentError as exc:
                assert exc.field == "alert_ids"
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    held = list(
        IncidentAlert.objects.filter(open=True, left_at__isnull=True).values_list(
            "alert_id", flat=True
        )
    )
    assert sorted(held) == sorted(a.id for a in alerts)
    # no incident without an alert was left behind
    assert not Incident.objects.exclude(memberships__isnull=False).exists()


def test_a_rule_groups_a_storm_larger_than_a_persons_limit(estate, sup):
    storm = [make_alert(estate, n) for n in range(s.ALERTS_MAX + 20)]
    with pytest.raises(s.IncidentError) as err:
        opened(estate, storm, actor=sup)
    assert err.value.field == "alert_ids"
    incident = opened(estate, storm[:-5], origin=Origin.ALERT_GROUP)  # a rule
    assert s.add_alerts(incident, storm) == [a.id for a in storm[-5:]]
    assert incident.memberships.count() == len(storm)
