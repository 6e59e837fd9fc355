"""Paging once per incident: the alerts' own chains stop as they join, the incident pages through
its escalation policy once, acknowledging it stops that, each step is on its timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from support_alerts import trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import paging, rules, services
from watchfloor.incidents.models import EventKind, Incident, IncidentEscalation
from watchfloor.oncall import escalation
from watchfloor.oncall.messages import incident_page_message
from watchfloor.oncall.models import (
    AlertEscalation,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    EscalationState,
    Medium,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def officer(estate):
    """The supervisor is the officer in charge of every site, reachable by email."""
    person = estate.user("supervisor")
    for site in estate.sites:
        site.officer_in_charge = person
        site.save(update_fields=["officer_in_charge"])
    ContactMethod.objects.create(
        tenant=estate.tenant,
        user=person,
        medium=Medium.EMAIL,
        address="officer@acme.example.com",
        label="work",
        verified_at=T0 - timedelta(days=1),
        created_at=T0 - timedelta(days=1),
    )
    return person


def at(moment, capture, call, *args):
    with time_machine.travel(moment, tick=False), capture(execute=True):
        return call(*args)


def open_incident_of_three(estate, key, capture):
    site = estate.sites[0].code
    at(
        T0,
        capture,
        lambda: ingest(
            [trigger(site=site, severity=Severity.CRITICAL, entity_id=str(i)) for i in range(3)],
            key=key,
            now=T0,
        ),
    )
    return Incident.objects.get()


def test_alerts_in_an_incident_stop_paging_and_the_incident_pages_once(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    # the alerts get no chain of their own: the escalation sweep skips what an open incident
    # holds, and the incidents' paging sweep gives each its stopped chain
    assert not AlertEscalation.objects.exists()
    soon = T0 + timedelta(seconds=10)
    assert at(soon, capture, escalation.sweep, soon)["opened"] == 0
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    chains = AlertEscalation.objects.all()
    assert chains.count() == 3
    assert {(c.state, c.stop_reason) for c in chains} == {
        (EscalationState.STOPPED, f"in incident #{incident.id}")
    }
    chain = IncidentEscalation.objects.get()
    assert chain.state == EscalationState.ACTIVE
    assert chain.next_at == T0 + timedelta(minutes=15)  # the default's CRITICAL delay
    # the alerts' own sweep pages nobody; the incident's step pages the officer once
    due = T0 + timedelta(minutes=15)
    assert at(due, capture, escalation.sweep, due)["steps"] == 0
    report = at(due, capture, paging.sweep, due)
    assert report["steps"] == 1
    [delivery] = Delivery.objects.all()
    assert delivery.recipient_id == officer.id
    assert delivery.context["incident"]["id"] == incident.id
    assert delivery.context["incident"]["alert_count"] == 3
    [note] = incident.events.filter(kind=EventKind.NOTIFICATION)
    assert note.details["step"] == 1 and note.details["deliveries"] == 1
    assert AuditLog.objects.filter(
        action="escalation.step", entity_type="incidents.incident", entity_id=str(incident.id)
    ).exists()
    assert not AuditLog.objects.filter(
        action="escalation.step", entity_type="alerts.alert"
    ).exists()


def test_acknowledging_the_incident_stops_its_paging(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    at(
        T0 + timedelta(minutes=5),
        capture,
        lambda: services.acknowledge_incident(incident, actor=estate.user("operator")),
    )
    later = T0 + timedelta(minutes=30)
    report = at(later, capture, paging.sweep, later)
    assert report["steps"] == 0 and report["stopped"] == 1
    chain = IncidentEscalation.objects.get()
    assert (chain.state, chain.stop_reason) == (EscalationState.STOPPED, "acknowledged")
    assert not Delivery.objects.exists()
    assert at(later, capture, escalation.sweep, later)["steps"] == 0


def test_pending_pages_of_an_acknowledged_incident_are_cancelled(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    due = T0 + timedelta(minutes=15)
    at(due, capture, paging.sweep, due)
    assert Delivery.objects.get().status == DeliveryStatus.PENDING  # not sent yet
    at(
        due,
        capture,
        lambda: services.acknowledge_incident(incident, actor=estate.user("operator")),
    )
    at(due + timedelta(seconds=5), capture, paging.sweep, due + timedelta(seconds=5))
    assert Delivery.objects.get().status == DeliveryStatus.CANCELLED


def test_a_reopened_incident_pages_again_from_the_first_step(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    admin = estate.user("admin")
    resolved_at = T0 + timedelta(minutes=5)
    at(resolved_at, capture, lambda: services.resolve_incident(incident, actor=admin, note="ok"))
    at(resolved_at, capture, paging.sweep, resolved_at)
    chain = IncidentEscalation.objects.get()
    assert (chain.state, chain.stop_reason) == (EscalationState.STOPPED, "resolved")
    reopened_at = T0 + timedelta(minutes=10)
    at(
        reopened_at,
        capture,
        lambda: services.reopen_incident(incident, actor=admin, reason="fired again"),
    )
    assert at(reopened_at, capture, paging.sweep, reopened_at)["restarted"] == 1
    chain.refresh_from_db()
    assert chain.state == EscalationState.ACTIVE
    assert chain.next_at == reopened_at + timedelta(minutes=15)
    due = chain.next_at
    assert at(due, capture, paging.sweep, due)["steps"] == 1
    assert Delivery.objects.filter(context__incident__id=incident.id).count() == 1


def test_an_alert_joining_later_stops_its_own_chain(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    site = estate.sites[0].code
    later = T0 + timedelta(minutes=1)
    # the rules do not run at once (a failed call: the rules' sweep catches up), and the
    # escalation sweep gives the alert its own active chain meanwhile
    settings.ALERT_CHANGE_HOOKS = []
    at(later, capture, lambda: ingest([trigger("POWER", site=site)], key=key, now=later))
    power = Alert.objects.get(type="POWER")
    assert at(later, capture, escalation.sweep, later)["opened"] == 1
    assert AlertEscalation.objects.get(alert=power).state == EscalationState.ACTIVE
    at(later, capture, lambda: rules.apply_rules(estate.tenant.id, candidates=[power.id]))
    chain = AlertEscalation.objects.get(alert=power)
    assert (chain.state, chain.stop_reason) == (
        EscalationState.STOPPED,
        f"in incident #{incident.id}",
    )


def test_an_alert_joining_before_its_chain_never_gets_an_active_one(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    site = estate.sites[0].code
    later = T0 + timedelta(minutes=1)
    at(later, capture, lambda: ingest([trigger("POWER", site=site)], key=key, now=later))
    power = Alert.objects.get(type="POWER")
    assert not AlertEscalation.objects.filter(alert=power).exists()
    assert at(later, capture, escalation.sweep, later)["opened"] == 0
    at(later, capture, paging.sweep, later)
    chain = AlertEscalation.objects.get(alert=power)
    assert (chain.state, chain.stop_reason) == (
        EscalationState.STOPPED,
        f"in incident #{incident.id}",
    )


def test_the_page_names_the_incident_its_link_and_runbook(estate, key, officer, settings):
    site = estate.sites[0]
    lead = Alert(
        tenant=estate.tenant,
        client=site.client,
        site=site,
        type="POWER",
        severity=Severity.CRITICAL,
        title="Power lost",
        first_seen_at=T0,
    )
    message = incident_page_message(
        {"id": 42, "title": "Power lost at HQ", "severity": "CRITICAL", "alert_count": 3,
         "runbook_url": "https://runbooks.example.com/power"},
        lead,
        recipient=officer,
        step=0,
        now=T0 + timedelta(minutes=15),
    )  # fmt: skip
    assert "Incident #42" in message.subject
    assert f"{settings.PUBLIC_URL}/incidents/42/" in message.text
    assert "https://runbooks.example.com/power" in message.text
    assert "Alerts: 3" in message.text and "escalation step 1" in message.text
    assert f"{settings.PUBLIC_URL}/incidents/42/" in message.short


def test_the_one_click_link_of_an_incident_page_acknowledges_the_incident(
    estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    from watchfloor.alerts.models import Status
    from watchfloor.incidents.models import IncidentStatus
    from watchfloor.oncall import ack_links

    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    due = T0 + timedelta(minutes=15)
    at(due, capture, paging.sweep, due)
    [delivery] = Delivery.objects.all()
    link = ack_links.ack_url(delivery)
    lead = delivery.alert
    message = incident_page_message(
        delivery.context["incident"], lead, recipient=officer, step=0, now=due, ack_link=link
    )
    assert "Acknowledge the incident (one click" in message.text and link in message.text
    assert f"Ack: {link}" in message.short

    token = link.rsplit("/", 2)[-2] if link.endswith("/") else link.rsplit("/", 1)[-1]
    with capture(execute=True):
        ack_links.use(token)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_by_id == officer.id
    assert set(Alert.objects.values_list("status", flat=True)) == {Status.ACKNOWLEDGED}
    with pytest.raises(ack_links.LinkRefused) as refused:
        ack_links.use(token)
    assert refused.value.reason == "used"


def test_the_ack_page_of_an_incident_page_speaks_of_the_incident(
    client, estate, key, officer, task_queue, django_capture_on_commit_callbacks
):
    from watchfloor.incidents.models import IncidentStatus
    from watchfloor.oncall import ack_links

    capture = django_capture_on_commit_callbacks
    incident = open_incident_of_three(estate, key, capture)
    at(T0 + timedelta(seconds=20), capture, paging.sweep, T0 + timedelta(seconds=20))
    due = T0 + timedelta(minutes=15)
    at(due, capture, paging.sweep, due)
    [delivery] = Delivery.objects.all()
    link = ack_links.ack_url(delivery)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    page = client.get(path).content.decode()
    assert "Acknowledge this incident?" in page and "Acknowledge this alert?" not in page
    assert f"/incidents/{incident.id}/" in page and f"#{incident.id}" in page
    with capture(execute=True):
        done = client.post(path).content.decode()
    assert "the incident is acknowledged" in done and f"/incidents/{incident.id}/" in done
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
