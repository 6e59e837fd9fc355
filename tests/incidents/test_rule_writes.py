"""The incident rules' set-based writes (incidents.rule_writes): many groups opened and joined
in one call leave what the services leave for each group — incidents, memberships, timeline in
order, SLA dues, audit, published events, the alerts' own chains stopped — in a number of
statements that does not grow with the groups; a resolved incident or an alert a person grouped
meanwhile is never written over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from support_alerts import trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog
from watchfloor.incidents import rule_writes, rules
from watchfloor.incidents import services as incident_services
from watchfloor.incidents.models import (
    EventKind,
    Incident,
    IncidentAlert,
    IncidentStatus,
    Origin,
)
from watchfloor.oncall import escalation
from watchfloor.oncall.models import AlertEscalation, EscalationState

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def rules_by_hand(settings):
    """The hook off: each test calls the rules itself, once, over the alerts it made."""
    settings.ALERT_CHANGE_HOOKS = []


def _ingest(key, events, at=T0):
    with time_machine.travel(at, tick=False):
        ingest(events, key=key, now=at)


def _ids(**filters) -> list[int]:
    return list(Alert.objects.filter(**filters).order_by("id").values_list("id", flat=True))


def _members(incident) -> list[int]:
    return sorted(
        IncidentAlert.objects.filter(incident=incident, left_at__isnull=True).values_list(
            "alert_id", flat=True
        )
    )


def test_groups_opened_and_joined_in_one_call_leave_what_the_services_leave(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    s0, s1, s2 = (s.code for s in estate.sites[:3])
    # an incident open already at site 2, at LOW, opened through the services
    _ingest(key, [trigger("POWER", site=s2, entity_id="x", severity=Severity.LOW)])
    held = Alert.objects.get(entity_id="x")
    existing = incident_services.open_incident(
        [held],
        origin=Origin.MANUAL,
        tenant=estate.tenant.id,
        title="Power at site 2",
        correlation_id=held.correlation_id,
    )
    assert existing.severity == Severity.LOW
    low_due = existing.ack_due_at
    later = T0 + timedelta(minutes=2)
    _ingest(
        key,
        [trigger("DOOR", site=s0, entity_id=str(i), severity=Severity.LOW) for i in range(3)]
        + [trigger("FIRE", site=s1, entity_id="f", severity=Severity.CRITICAL)]
        + [trigger("POWER", site=s2, entity_id="y", severity=Severity.HIGH)],
        at=later,
    )
    publisher.clear()
    new = [a for a in _ids() if a != held.id]
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        # the escalation sweep came first: every new alert escalates on its own until it joins
        assert escalation.sweep(later)["opened"] == len(new)
        report = rules.apply_rules(estate.tenant.id, candidates=new)
    assert (report.opened, report.joined) == (2, 5)

    group = Incident.objects.get(origin=Origin.ALERT_GROUP)
    fire = Incident.objects.get(origin=Origin.CRITICAL_ALERT)
    existing.refresh_from_db()
    door_ids = _ids(type="DOOR")
    # the threshold group: its alerts, its site, the LOW SLA, the title of its first alert
    assert _members(group) == door_ids
    assert (group.severity, group.status) == (Severity.LOW, IncidentStatus.NEW)
    assert (group.client_id, group.site_id) == (estate.sites[0].client_id, estate.sites[0].id)
    assert group.title == Alert.objects.get(pk=door_ids[0]).title
    assert group.ack_due_at == later + timedelta(minutes=120)
    assert group.resolve_due_at == later + timedelta(minutes=2880)
    timeline = list(group.events.order_by("at", "id").values_list("kind", "details"))
    assert timeline[0] == (EventKind.OPENED, {"origin": Origin.ALERT_GROUP, "alerts": 3})
    # one line for the alerts that joined in this call
    assert timeline[1:] == [
        (EventKind.ALERT_JOINED, {"alert_ids": door_ids, "reason": Origin.ALERT_GROUP})
    ]
    assert (fire.severity, fire.site_id) == (Severity.CRITICAL, estate.sites[1].id)
    assert fire.ack_due_at == later + timedelta(minutes=15)
    # the open incident took its group's new alert: severity up, a timeline line, new dues
    y = Alert.objects.get(entity_id="y").id
    assert _members(existing) == [held.id, y]
    assert existing.severity == Severity.HIGH
    assert existing.ack_due_at == existing.opened_at + timedelta(minutes=30) != low_due
    assert existing.updated_at == later
    kinds = list(existing.events.filter(at=later).order_by("id").values_list("kind", "details"))
    assert kinds == [
        (EventKind.ALERT_JOINED, {"alert_ids": [y], "reason": "correlation group"}),
        (EventKind.SEVERITY, {"from": Severity.LOW, "to": Severity.HIGH}),
    ]
    # one audit entry per incident
    opened = AuditLog.objects.filter(action=Action.INCIDENT_OPEN, entity_id=str(group.pk)).get()
    assert opened.details == {
        "origin": Origin.ALERT_GROUP,
        "alert_ids": door_ids,
        "severity": Severity.LOW,
    }
    joined = AuditLog.objects.filter(action=Action.INCIDENT_ALERTS, entity_id=str(existing.pk))
    assert [e.details for e in joined] == [{"joined": [y]}]
    # one event per incident, with the alerts each holds
    created = {e["incident"]["id"]: e["incident"] for e in publisher.of_type("incident.created")}
    assert set(created) == {group.pk, fire.pk}
    assert created[group.pk]["alert_count"] == 3 and created[fire.pk]["alert_count"] == 1
    [updated] = publisher.of_type("incident.updated")
    assert updated["incident"]["id"] == existing.pk
    assert updated["incident"]["alert_count"] == 2
    assert updated["incident"]["severity"] == Severity.HIGH
    # the incidents page now: each joined alert's own active chain is stopped
    chains = dict(AlertEscalation.objects.filter(alert_id__in=new).values_list("alert_id", "state"))
    assert chains == dict.fromkeys(new, EscalationState.STOPPED)
    reason = AlertEscalation.objects.get(alert_id=y).stop_reason
    assert reason == f"in incident #{existing.pk}"


def _place(alert) -> dict:
    return {"client_id": alert.client_id, "site_id": alert.site_id}


def test_a_storm_across_sites_gets_the_client_and_no_site(estate, key, settings):
    settings.ALERT_STORM_SITES = 2
    a, b = estate.sites[:2]
    _ingest(
        key,
        [trigger("CAMERA_LOST", site=a.code, entity_id="1"),
         trigger("CAMERA_LOST", site=b.code, entity_id="2"),
         trigger("CAMERA_LOST", site=b.code, entity_id="3")],
    )  # fmt: skip
    rules.apply_rules(estate.tenant.id, candidates=_ids())
    incident = Incident.objects.get()
    assert (incident.client_id, incident.site_id) == (a.client_id, None)


def test_the_statements_do_not_grow_with_the_groups(estate, key):
    """One group or four: the same number of statements (a hundred groups in a fold were a
    dozen statements each)."""

    def statements(sites) -> int:
        Incident.objects.all().delete()
        Alert.objects.all().delete()
        _ingest(
            key,
            [trigger("FIRE", site=s.code, entity_id=f"{s.code}-{i}", severity=Severity.CRITICAL)
             for s in sites for i in range(2)],
        )  # fmt: skip
        ids = _ids()
        with CaptureQueriesContext(connection) as queries:
            report = rules.apply_rules(estate.tenant.id, candidates=ids)
        assert report.opened == len(sites) and report.joined == len(ids)
        return len(queries)

    rules._policy(estate.tenant.id)  # made and cached once, before either count
    one = statements(estate.sites[:1])
    four = statements(estate.sites[:4])
    assert four == one, (one, four)


def test_a_group_whose_incident_was_resolved_meanwhile_is_not_joined(estate, key):
    site = estate.sites[0].code
    _ingest(key, [trigger(site=site, entity_id="a", severity=Severity.CRITICAL)])
    rules.apply_rules(estate.tenant.id, candidates=_ids())
    incident = Incident.objects.get()
    _ingest(key, [trigger(site=site, entity_id="b")], at=T0 + timedelta(minutes=1))
    b = Alert.objects.get(entity_id="b")
    stale = Incident.objects.get(pk=incident.pk)  # read before a person resolves it
    incident_services.resolve_incident(incident, actor=estate.user("admin"), note="done")
    plan = rule_writes.GroupWrite(
        join={b.correlation_id: stale.pk},
        members={b.correlation_id: [{"id": b.id, "severity": b.severity, **_place(b)}]},
    )
    policy = incident_services.policy_for(estate.tenant.id)
    with transaction.atomic():
        outcome = rule_writes.write_groups(estate.tenant.id, policy, plan, T0)
    assert (outcome.opened, outcome.joined, outcome.touched) == (0, 0, set())
    assert not IncidentAlert.objects.filter(alert=b).exists()
    assert Incident.objects.get().status == IncidentStatus.RESOLVED


@pytest.mark.parametrize("returning", [True, False], ids=["insert-returning", "read-back"])
def test_an_alert_a_person_grouped_meanwhile_is_skipped_and_no_empty_incident_stays(
    estate, key, monkeypatch, returning
):
    monkeypatch.setattr(rule_writes, "_insert_returns_rows", lambda: returning)
    site = estate.sites[0].code
    _ingest(key, [trigger(site=site, entity_id="a", severity=Severity.CRITICAL)])
    a = Alert.objects.get()
    mine = incident_services.open_incident(
        [a], actor=estate.user("admin"), origin=Origin.MANUAL, tenant=estate.tenant.id
    )
    row = {"id": a.id, "severity": a.severity, "title": a.title, "type": a.type, **_place(a)}
    plan = rule_writes.GroupWrite(
        open={a.correlation_id: Origin.CRITICAL_ALERT}, members={a.correlation_id: [row]}
    )
    policy = incident_services.policy_for(estate.tenant.id)
    with transaction.atomic():
        outcome = rule_writes.write_groups(estate.tenant.id, policy, plan, T0)
    assert (outcome.opened, outcome.joined) == (0, 0)
    assert list(Incident.objects.values_list("pk", flat=True)) == [mine.pk]
    assert _members(mine) == [a.id]
    assert not AuditLog.objects.filter(action=Action.INCIDENT_OPEN, actor=None).exists()


def test_the_read_back_path_joins_like_the_returning_path(estate, key, monkeypatch):
    monkeypatch.setattr(rule_writes, "_insert_returns_rows", lambda: False)
    site = estate.sites[0].code
    _ingest(key, [trigger(site=site, entity_id=str(i)) for i in range(3)])
    rules.apply_rules(estate.tenant.id, candidates=_ids())
    incident = Incident.objects.get()
    assert _members(incident) == _ids()
    _ingest(key, [trigger(site=site, entity_id="3")], at=T0 + timedelta(minutes=1))
    rules.apply_rules(estate.tenant.id, candidates=_ids(entity_id="3"))
    assert _members(incident) == _ids()


@pytest.mark.django_db
def test_memberships_keep_their_constraints_and_lose_only_the_repeated_indexes():
    """Migration 0007 drops Django's own indexes on alert/incident/tenant (the Meta indexes
    lead with those columns) and, on PostgreSQL, their foreign keys; "one open incident per
    alert" and "once per incident" stay."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, IncidentAlert._meta.db_table)
    assert found["incident_alert_one_open_incident"]["unique"]
    assert found["incident_alert_once"]["unique"]
    assert {"incident_alert_alert", "incident_alert_incident"} <= set(found)
    indexed = sorted(
        tuple(c["columns"])
        for c in found.values()
        if c["index"] and not c["unique"] and not c["primary_key"]
    )
    assert indexed == [("alert_id",), ("incident_id", "joined_at")]
    if connection.vendor == "postgresql":
        keys = {tuple(c["columns"]) for c in found.values() if c["foreign_key"]}
        assert keys == {("joined_by_id",)}  # the person's; the rest go with alert or incident
