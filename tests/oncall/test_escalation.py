"""The escalation engine: frozen chains, due steps, what stops a chain, the Escalate action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from support_alerts import trigger
from watchfloor.alerts.escalation import overdue_condition
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.services import IllegalTransition, acknowledge_alert, resolve_alert
from watchfloor.audit.models import AuditLog
from watchfloor.maintenance.services import create_window
from watchfloor.oncall import escalation
from watchfloor.oncall.models import (
    AlertEscalation,
    Delivery,
    EscalationPolicy,
    EscalationState,
    Layer,
    LayerMember,
    Schedule,
)
from watchfloor.oncall.policy_services import (
    create_policy,
    ensure_default_policy,
    update_policy,
)
from watchfloor.ttl import clear_all

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def officer(estate):
    """The supervisor is the officer in charge of every site of the estate."""
    person = estate.user("supervisor")
    for site in estate.sites:
        site.officer_in_charge = person
        site.save(update_fields=["officer_in_charge"])
    return person


def open_alert(estate, key, *, severity=Severity.CRITICAL, site=0, at=T0, **kw) -> Alert:
    with time_machine.travel(at, tick=False):
        ingest(
            [trigger(severity=severity, site=estate.sites[site].code, **kw)],
            key=key,
            now=at,
        )
    return Alert.objects.filter(tenant=estate.tenant).order_by("-id").first()


def sweep_at(at):
    with time_machine.travel(at, tick=False):
        return escalation.sweep(at)


def steps_of(alert):
    return AuditLog.objects.filter(
        action="escalation.step", entity_type="alerts.alert", entity_id=str(alert.id)
    ).order_by("id")


def test_shipped_default_reproduces_the_per_severity_delays(
    estate, key_for, officer, publisher, django_capture_on_commit_callbacks
):
    key = key_for(estate)
    critical = open_alert(estate, key, severity=Severity.CRITICAL, site=0)
    high = open_alert(estate, key, severity=Severity.HIGH, site=1, type_="POWER")

    sweep_at(T0 + timedelta(minutes=14, seconds=59))
    assert EscalationPolicy.objects.get(tenant=estate.tenant, is_default=True)
    critical.refresh_from_db()
    assert critical.status == Status.NEW and critical.escalation_level == 0
    assert not Delivery.objects.filter(alert=critical).exists()

    with django_capture_on_commit_callbacks(execute=True):
        result = sweep_at(T0 + timedelta(minutes=15))
    assert result["steps"] == 1
    critical.refresh_from_db()
    assert critical.status == Status.ESCALATED and critical.escalation_level == 1
    assert Delivery.objects.filter(alert=critical, recipient=officer).exists()
    assert not Delivery.objects.filter(alert=high).exists()
    (entry,) = steps_of(critical)
    assert entry.details["step"] == 1
    assert entry.details["targets"] == [{"kind": "officer", "user_ids": [officer.id]}]
    assert [e["alert"]["id"] for e in publisher.of_type("alert.updated")] == [critical.id]
    # still unacknowledged: the overview keeps counting it as overdue
    overdue = Alert.objects.filter(overdue_condition(T0 + timedelta(minutes=16)))
    assert list(overdue.values_list("id", flat=True)) == [critical.id]

    sweep_at(T0 + timedelta(minutes=30))
    high.refresh_from_db()
    assert high.escalation_level == 1
    # the critical alert's second step (client owner) came 15 minutes after its first
    critical.refresh_from_db()
    assert critical.escalation_level == 2


def test_info_alerts_never_escalate(estate, key_for, officer):
    key = key_for(estate)
    info = open_alert(estate, key, severity=Severity.INFO)
    sweep_at(T0 + timedelta(days=2))
    row = AlertEscalation.objects.get(alert=info)
    assert row.state == EscalationState.DONE
    info.refresh_from_db()
    assert info.escalation_level == 0


def test_a_chain_is_frozen_when_the_alert_opens(estate, key_for, officer):
    key = key_for(estate)
    admin = estate.user("admin")
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        policy = create_policy(
            estate.tenant,
            actor=admin,
            name="Client one",
            client=estate.clients[0],
            steps=[{"delay_minutes": 5, "targets": [{"kind": "officer"}]}],
        )
    before = open_alert(estate, key, site=0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        update_policy(
            policy,
            actor=admin,
            steps=[{"delay_minutes": 60, "targets": [{"kind": "user", "id": admin.id}]}],
        )
    after = open_alert(estate, key, site=1, at=T0 + timedelta(minutes=2), type_="DOOR")

    sweep_at(T0 + timedelta(minutes=5))
    before.refresh_from_db()
    after.refresh_from_db()
    assert before.escalation_level == 1  # the old version: officer after 5 minutes
    assert Delivery.objects.filter(alert=before, recipient=officer).exists()
    assert after.escalation_level == 0
    assert AlertEscalation.objects.get(alert=after).policy_version.number == 2

    sweep_at(T0 + timedelta(minutes=62))
    after.refresh_from_db()
    assert after.escalation_level == 1
    assert Delivery.objects.filter(alert=after, recipient=admin).exists()
    assert not Delivery.objects.filter(alert=after, recipient=officer).exists()


def test_the_client_policy_wins_over_the_default(estate, key_for, officer):
    key = key_for(estate)
    admin = estate.user("admin")
    create_policy(
        estate.tenant,
        actor=admin,
        name="Second client",
        client=estate.clients[1],
        steps=[{"delay_minutes": 1, "targets": [{"kind": "user", "id": admin.id}]}],
    )
    theirs = open_alert(estate, key, site=2)
    default = open_alert(estate, key, site=0, type_="OTHER")
    sweep_at(T0 + timedelta(minutes=1))
    assert Delivery.objects.filter(alert=theirs, recipient=admin).exists()
    assert not Delivery.objects.filter(alert=default).exists()


@pytest.mark.parametrize("how", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_stops_the_chain(estate, key_for, officer, how):
    key = key_for(estate)
    alert = open_alert(estate, key)
    sweep_at(T0 + timedelta(minutes=1))
    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        if how == "acknowledge":
            acknowledge_alert(alert, actor=estate.user("operator"))
        else:
            resolve_alert(alert, actor=estate.user("operator"), note="fixed")
    sweep_at(T0 + timedelta(minutes=20))
    row = AlertEscalation.objects.get(alert=alert)
    assert row.state == EscalationState.STOPPED
    assert row.stop_reason == ("acknowledged" if how == "acknowledge" else "resolved")
    assert not Delivery.objects.filter(alert=alert).exists()


def test_an_alert_resolved_before_notify_after_pages_nobody(estate, key_for, officer):
    key = key_for(estate)
    admin = estate.user("admin")
    create_policy(
        estate.tenant,
        actor=admin,
        name="Flappy",
        client=estate.clients[0],
        steps=[{"delay_minutes": 0, "targets": [{"kind": "officer"}]}],
        notify_after_minutes=5,
    )
    flapping = open_alert(estate, key, site=0)
    lasting = open_alert(estate, key, site=1, type_="DOOR")
    sweep_at(T0 + timedelta(minutes=1))
    assert not Delivery.objects.exists()
    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        resolve_alert(flapping, actor=admin, note="came back by itself")
    sweep_at(T0 + timedelta(minutes=5))
    assert not Delivery.objects.filter(alert=flapping).exists()
    assert Delivery.objects.filter(alert=lasting, recipient=officer).exists()


def test_a_maintenance_window_stops_the_chain(
    estate, key_for, officer, django_capture_on_commit_callbacks
):
    key = key_for(estate)
    alert = open_alert(estate, key, site=0)
    sweep_at(T0 + timedelta(minutes=1))
    # the window's commit renews the suppression matcher's cache
    with (
        time_machine.travel(T0 + timedelta(minutes=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        create_window(
            estate.tenant,
            actor=estate.user("admin"),
            client=estate.clients[0],
            site=estate.sites[0],
            title="Works",
            starts_at=T0 + timedelta(minutes=6),
            ends_at=T0 + timedelta(hours=2),
        )
    sweep_at(T0 + timedelta(minutes=15))
    row = AlertEscalation.objects.get(alert=alert)
    assert row.state == EscalationState.STOPPED
    assert row.stop_reason.startswith("maintenance window")
    assert not Delivery.objects.filter(alert=alert).exists()


def test_steps_limited_to_severities_and_repeats(estate, key_for, officer):
    key = key_for(estate)
    admin = estate.user("admin")
    create_policy(
        estate.tenant,
        actor=admin,
        name="Repeat",
        client=estate.clients[0],
        steps=[
            {"delay_minutes": 1, "severities": ["CRITICAL"], "targets": [{"kind": "officer"}]},
            {"delay_minutes": 2, "targets": [{"kind": "user", "id": admin.id}]},
        ],
        repeat=1,
    )
    critical = open_alert(estate, key, site=0)
    high = open_alert(estate, key, site=1, severity=Severity.HIGH, type_="DOOR")
    for minute in range(0, 20):
        sweep_at(T0 + timedelta(minutes=minute))
    critical.refresh_from_db()
    high.refresh_from_db()
    assert critical.escalation_level == 4  # officer, admin, officer, admin
    assert high.escalation_level == 2  # admin, admin
    assert [e.details["round"] for e in steps_of(critical)] == [1, 1, 2, 2]
    assert AlertEscalation.objects.get(alert=critical).state == EscalationState.DONE


def test_a_schedule_target_pages_whoever_is_on_call(estate, key_for):
    key = key_for(estate)
    admin, operator = estate.user("admin"), estate.user("operator")
    schedule = Schedule.objects.create(tenant=estate.tenant, name="NOC", time_zone="UTC")
    layer = Layer.objects.create(
        tenant=estate.tenant,
        schedule=schedule,
        name="Days",
        rotation_start=T0 - timedelta(days=10, hours=9),
        shift_length="daily",
    )
    LayerMember.objects.create(layer=layer, user=operator, position=0)
    create_policy(
        estate.tenant,
        actor=admin,
        name="On call",
        client=estate.clients[0],
        steps=[{"delay_minutes": 1, "targets": [{"kind": "schedule", "id": schedule.id}]}],
    )
    alert = open_alert(estate, key, site=0)
    sweep_at(T0 + timedelta(minutes=1))
    assert Delivery.objects.filter(alert=alert, recipient=operator).exists()
    (entry,) = steps_of(alert)
    assert entry.details["targets"][0]["user_ids"] == [operator.id]


def test_a_stale_task_does_nothing(estate, key_for, officer):
    key = key_for(estate)
    alert = open_alert(estate, key)
    sweep_at(T0)
    row = AlertEscalation.objects.get(alert=alert)
    stale = row.token
    with time_machine.travel(T0 + timedelta(minutes=15), tick=False):
        assert escalation.take_step_if_current(alert.id, stale) is True
        assert escalation.take_step_if_current(alert.id, stale) is False
    assert Delivery.objects.filter(alert=alert).count() == 1


def test_the_escalate_action_takes_the_next_step_now(
    estate, key_for, officer, publisher, django_capture_on_commit_callbacks
):
    key = key_for(estate)
    alert = open_alert(estate, key)
    supervisor = estate.user("supervisor")
    with (
        time_machine.travel(T0 + timedelta(minutes=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        escalation.escalate_now(alert, actor=supervisor, note="site not answering")
    assert [e["alert"]["id"] for e in publisher.of_type("alert.updated")] == [alert.id]
    alert.refresh_from_db()
    assert alert.status == Status.ESCALATED and alert.escalation_level == 1
    assert alert.escalated_by == supervisor
    assert Delivery.objects.filter(alert=alert, recipient=officer).exists()
    row = AlertEscalation.objects.get(alert=alert)
    assert row.next_step == 1
    assert row.next_at == T0 + timedelta(minutes=17)  # the owner step, 15 minutes later
    entry = AuditLog.objects.get(action="escalate", entity_id=str(alert.id))
    assert entry.details["step"] == 1
    # the sweep at the old first-step time takes nothing more
    sweep_at(T0 + timedelta(minutes=15))
    alert.refresh_from_db()
    assert alert.escalation_level == 1


def test_the_escalate_action_checks_capability_and_status(estate, key_for, officer):
    from watchfloor.access.scope import CapabilityDenied

    key = key_for(estate)
    alert = open_alert(estate, key)
    with pytest.raises(CapabilityDenied):
        escalation.escalate_now(alert, actor=estate.user("operator"))
    resolve_alert(alert, actor=estate.user("admin"), note="done")
    with pytest.raises(IllegalTransition):
        escalation.escalate_now(alert, actor=estate.user("supervisor"))


def test_escalate_over_the_api(estate, other_estate, key_for, officer, api):
    key = key_for(estate)
    alert = open_alert(estate, key)
    url = f"/api/v1/alerts/{alert.id}/escalate"
    assert api(estate.user("operator")).post(url, {}).status_code == 403
    assert api(other_estate.user("admin")).post(url, {}).status_code == 404
    response = api(estate.user("supervisor")).post(url, {"note": "call them"})
    assert response.status_code == 200, response.content
    assert response.json()["escalation_level"] == 1
    answer = api(estate.user("viewer")).get(f"/api/v1/alerts/{alert.id}/escalation")
    assert answer.status_code == 404  # the viewer's scope is another client's site
    answer = api(estate.user("supervisor")).get(f"/api/v1/alerts/{alert.id}/escalation")
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == "active" and body["next_step"] == 1
    assert body["steps"][0]["taken"] is True
    assert body["steps"][1]["targets"][0]["label"] == "The client's owner"


def test_the_sweep_reads_a_constant_number_of_queries(estate, key_for, officer):
    key = key_for(estate)
    ensure_default_policy(estate.tenant.id)  # the first sweep of a tenant creates it

    def run(count, start):
        for i in range(count):
            open_alert(estate, key, site=i % 4, type_=f"T{start + i}", at=T0)
        clear_all()  # both sweeps cold: capabilities are cached per process (access.scope)
        with CaptureQueriesContext(connection) as ctx:
            sweep_at(T0 + timedelta(minutes=15, seconds=start))
        return len(ctx.captured_queries)

    small = run(2, 0)
    large = run(20, 100)
    assert large == small, (small, large)


def test_a_step_reads_in_words_on_the_alert_page(estate, key_for, officer, client):
    key = key_for(estate)
    alert = open_alert(estate, key)
    sweep_at(T0 + timedelta(minutes=15, seconds=42))
    client.force_login(estate.user("admin"))
    page = client.get(f"/alerts/{alert.id}/").content.decode()
    assert "officer in charge: Supervisor Person" in page
    assert "42 s after it fell due" in page
    assert "user_ids" not in page  # no raw details
    client.force_login(estate.user("executive"))  # no noc:view_pii
    page = client.get(f"/alerts/{alert.id}/").content.decode()
    assert "officer in charge: " in page
    assert "Supervisor Person" not in page


def test_nobody_is_paged_about_a_place_outside_their_scope(estate, key_for, officer):
    key = key_for(estate)
    admin, viewer = estate.user("admin"), estate.user("viewer")  # viewer: a site of client 2
    create_policy(
        estate.tenant,
        actor=admin,
        name="Mixed",
        client=estate.clients[0],
        steps=[
            {
                "delay_minutes": 1,
                "targets": [{"kind": "user", "id": viewer.id}, {"kind": "officer"}],
            }
        ],
    )
    alert = open_alert(estate, key, site=0)
    sweep_at(T0 + timedelta(minutes=1))
    assert not Delivery.objects.filter(alert=alert, recipient=viewer).exists()
    assert Delivery.objects.filter(alert=alert, recipient=officer).exists()
    (entry,) = steps_of(alert)
    assert entry.details["targets"][0] == {
        "kind": "user",
        "id": viewer.id,
        "user_ids": [],
        "out_of_scope": [viewer.id],
    }


def test_a_site_scoped_person_is_not_paged_about_an_alert_without_a_site(estate, key_for):
    """The escalation's scope check is `alerts_for`'s rule (access.scope.Reach): an alert raised
    for a client without a site is not on the viewer's site, so the viewer (who cannot see it
    in any list) is not paged about it. It had its own copy of the rule, which paged them."""
    key = key_for(estate)
    admin, viewer = estate.user("admin"), estate.user("viewer")  # viewer: a site of client 2
    operator = estate.user("operator")  # client 1 as a whole
    for client, person in ((estate.clients[1], viewer), (estate.clients[0], operator)):
        create_policy(
            estate.tenant,
            actor=admin,
            name=f"Whole client {client.code}",
            client=client,
            steps=[{"delay_minutes": 1, "targets": [{"kind": "user", "id": person.id}]}],
        )
    with time_machine.travel(T0, tick=False):
        ingest(
            [
                trigger("SYNC_DEGRADED", severity=Severity.CRITICAL, client=estate.clients[1].code),
                trigger("SYNC_LOST", severity=Severity.CRITICAL, client=estate.clients[0].code),
            ],
            key=key,
            now=T0,
        )
    theirs, ours = (Alert.objects.get(client=c, site__isnull=True) for c in estate.clients[1::-1])
    sweep_at(T0 + timedelta(minutes=1))
    assert not Delivery.objects.filter(alert=theirs, recipient=viewer).exists()
    assert steps_of(theirs)[0].details["targets"][0]["out_of_scope"] == [viewer.id]
    # a person assigned the whole client sees (and is paged about) its alerts without a site
    assert Delivery.objects.filter(alert=ours, recipient=operator).exists()


def test_each_step_is_queued_once_and_its_task_takes_every_due_step(
    estate, key_for, officer, task_queue, django_capture_on_commit_callbacks
):
    key = key_for(estate)
    first = open_alert(estate, key, site=0)
    second = open_alert(estate, key, site=1, type_="DOOR")
    for seconds in (0, 20, 40):  # three sweeps see the steps coming (due at T0 + 15 min)
        with django_capture_on_commit_callbacks(execute=True):
            sweep_at(T0 + timedelta(minutes=14, seconds=seconds))
    queued = [c for c in task_queue.calls if c[0] == escalation.TAKE_STEP_TASK]
    # both steps fall due in one slot: one timed task, queued once, at their time
    assert len(queued) == 1 and queued[0][2] == T0 + timedelta(minutes=15)
    assert AlertEscalation.objects.filter(queued_token=F("token")).count() == 2
    with (
        time_machine.travel(T0 + timedelta(minutes=15), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        # the task takes both steps; run again, it finds nothing due
        assert escalation.take_step_if_current(*queued[0][1]) is True
        assert escalation.take_step_if_current(*queued[0][1]) is False
    assert Delivery.objects.filter(alert__in=[first, second], recipient=officer).count() == 2
