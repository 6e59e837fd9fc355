"""The SLA job: each passed target recorded once, with its timeline event, audit and event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from support_alerts import trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import services, sla
from watchfloor.incidents.models import EventKind, Incident, Origin

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def open_critical(estate, key, capture, *, site=0):
    with time_machine.travel(T0, tick=False), capture(execute=True):
        ingest([trigger(site=estate.sites[site].code, severity=Severity.CRITICAL)], key=key, now=T0)
    return Incident.objects.get(site=estate.sites[site])


def record_at(at, capture):
    with time_machine.travel(at, tick=False), capture(execute=True):
        return sla.record_breaches(at)


def test_the_acknowledge_target_is_recorded_once_when_it_passes(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    incident = open_critical(estate, key, django_capture_on_commit_callbacks)
    assert incident.ack_due_at == T0 + timedelta(minutes=15)  # the default CRITICAL target
    capture = django_capture_on_commit_callbacks
    assert record_at(T0 + timedelta(minutes=14), capture) == {"acknowledge": 0, "resolve": 0}
    publisher.clear()
    late = T0 + timedelta(minutes=16)
    assert record_at(late, capture) == {"acknowledge": 1, "resolve": 0}
    incident.refresh_from_db()
    assert incident.ack_breached_at == late and incident.resolve_breached_at is None
    [event] = incident.events.filter(kind=EventKind.SLA_BREACH)
    assert event.details["target"] == "acknowledge"
    assert event.details["due_at"] == (T0 + timedelta(minutes=15)).isoformat()
    assert AuditLog.objects.filter(action=sla.AUDIT_ACTION, entity_id=str(incident.id)).count() == 1
    assert [e["incident"]["id"] for e in publisher.of_type("incident.updated")] == [incident.id]
    # once per breach: later runs record nothing more
    assert record_at(late + timedelta(minutes=1), capture) == {"acknowledge": 0, "resolve": 0}
    assert incident.events.filter(kind=EventKind.SLA_BREACH).count() == 1


def test_an_acknowledged_incident_never_breaches_its_acknowledge_target(
    estate, key, django_capture_on_commit_callbacks
):
    incident = open_critical(estate, key, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.acknowledge_incident(incident, actor=estate.user("admin"))
    counts = record_at(T0 + timedelta(hours=1), django_capture_on_commit_callbacks)
    assert counts["acknowledge"] == 0
    incident.refresh_from_db()
    assert incident.ack_breached_at is None


def test_the_resolve_target_and_a_resolved_incident(
    estate, key, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    late = open_critical(estate, key, capture, site=0)
    early = open_critical(estate, key, capture, site=1)
    with capture(execute=True):
        services.resolve_incident(early, actor=estate.user("admin"), note="fixed")
    counts = record_at(T0 + timedelta(hours=5), capture)  # CRITICAL: resolve within 4 h
    assert counts == {"acknowledge": 1, "resolve": 1}
    late.refresh_from_db()
    early.refresh_from_db()
    assert late.resolve_breached_at is not None and late.ack_breached_at is not None
    assert early.resolve_breached_at is None and early.ack_breached_at is None


def test_breaches_of_many_incidents_cost_a_bounded_number_of_queries(
    estate, key, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    capture = django_capture_on_commit_callbacks
    for site in range(4):
        open_critical(estate, key, capture, site=site)
    assert Incident.objects.count() == 4 and Alert.objects.count() == 4
    assert Incident.objects.filter(origin=Origin.CRITICAL_ALERT).count() == 4
    with django_assert_max_num_queries(40):
        record_at(T0 + timedelta(minutes=20), capture)
    assert Incident.objects.filter(ack_breached_at__isnull=False).count() == 4
