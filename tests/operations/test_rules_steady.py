"""The feed rules' steady run: after a tenant's first run the job judges only what can have
changed since its last one (records written since, conditions that began or ended with time in
between), a changed policy or a reconciliation judges everything again, and every condition is
still raised once and resolved when it clears."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from support_ops import active, alerts_of, attendance, device, geofence, ticket, work_order

from watchfloor.alerts.models import Status
from watchfloor.operations import rules
from watchfloor.operations.models import (
    AttendanceRecord,
    AttendanceStatus,
    Device,
    FeedRulesMark,
    GeofenceEvent,
    GeofenceEventKind,
    OperationsPolicy,
    Ticket,
    TicketStatus,
    WorkOrder,
)

pytestmark = pytest.mark.django_db


def run(**kw) -> tuple[dict, dict]:
    stats: dict = {}
    return rules.run_feed_rules(stats=stats, **kw), stats


@pytest.fixture
def judged(monkeypatch):
    """The (rule type, record id) pairs the job judged in its runs since the last `.clear()`."""
    seen: list[tuple[str, int]] = []
    settle = rules._settle

    def recording(rule, records, policies, now, out):
        seen.extend((rule.type, r.pk) for r in records)
        return settle(rule, records, policies, now, out)

    monkeypatch.setattr(rules, "_settle", recording)
    return seen


def _age(model, pk: int, minutes: int) -> None:
    """The record was last written `minutes` ago (beyond the steady run's overlap)."""
    model.objects.filter(pk=pk).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def test_the_first_run_is_full_and_the_next_ones_steady(estate, other_estate):
    ticket(estate)
    counts, stats = run()
    assert counts == {"raised": 1, "resolved": 0}
    assert stats["full"] == {"first run": 2} and stats["steady"] == 0
    assert FeedRulesMark.objects.count() == 2
    counts, stats = run()
    assert counts == {"raised": 0, "resolved": 0}
    assert stats["full"] == {} and stats["steady"] == 2


def test_an_untouched_open_alert_is_not_judged_again(estate, judged):
    now = timezone.now()
    t = ticket(estate)
    d = device(estate, last_seen_at=now - timedelta(hours=2))
    w = work_order(estate)
    run()
    assert len(active(estate)) == 3
    for model, pk in ((Ticket, t.id), (Device, d.id), (WorkOrder, w.id)):
        _age(model, pk, 10)
    judged.clear()
    counts, stats = run()
    assert counts == {"raised": 0, "resolved": 0}
    assert judged == [] and stats["judged"] == 0
    assert len(active(estate)) == 3


def test_a_record_changed_between_runs_is_judged_again(estate, settings, judged):
    """Written without the upsert's hook (as if the hook's call was lost): the job settles it."""
    settings.OPERATIONS_CHANGE_HOOKS = []
    now = timezone.now()
    d = device(estate, last_seen_at=now - timedelta(hours=1))
    t = ticket(estate, sla_due_at=now + timedelta(hours=2))
    run()
    assert [a.type for a in active(estate)] == ["DEVICE_OFFLINE"]
    _age(Device, d.id, 10)
    _age(Ticket, t.id, 10)
    d.refresh_from_db()
    d.last_seen_at = timezone.now()
    d.save()
    t.refresh_from_db()
    t.escalation_level = 1
    t.save()
    judged.clear()
    counts, stats = run()
    assert counts == {"raised": 1, "resolved": 1}
    assert stats["full"] == {}
    assert [a.type for a in active(estate)] == ["TICKET_ESCALATED"]
    assert ("DEVICE_OFFLINE", d.id) in judged and ("TICKET_ESCALATED", t.id) in judged


def test_a_change_through_the_feed_api_moves_updated_at_and_the_job_settles_it(
    estate, settings, feed, feed_key
):
    settings.OPERATIONS_CHANGE_HOOKS = []
    client = feed(feed_key(estate))
    opened = (timezone.now() - timedelta(hours=10)).isoformat()
    record = {
        "external_id": "T-API",
        "site": estate.sites[0].code,
        "title": "Gate",
        "priority": "P1",
        "status": "OPEN",
        "opened_at": opened,
    }
    assert client.post("tickets", [record]).status_code == 200
    run()
    [alert] = active(estate, "SLA_BREACH")
    stored = Ticket.objects.get(external_id="T-API")
    _age(Ticket, stored.id, 10)
    before = Ticket.objects.get(pk=stored.id).updated_at
    assert client.post("tickets", [{**record, "status": "CLOSED"}]).status_code == 200
    assert Ticket.objects.get(pk=stored.id).updated_at > before
    counts, stats = run()
    assert counts == {"raised": 0, "resolved": 1} and stats["full"] == {}
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED


def test_a_write_that_committed_late_is_still_judged(estate):
    """`updated_at` is set before the writer's commit: a record stamped a little before the last
    run (within the overlap) is judged by the next one."""
    t = ticket(estate)
    run()
    mark = FeedRulesMark.objects.get(tenant=estate.tenant)
    Ticket.objects.filter(pk=t.pk).update(
        status=TicketStatus.CLOSED, updated_at=mark.checked_at - timedelta(seconds=30)
    )
    counts, _ = run()
    assert counts == {"raised": 0, "resolved": 1}


def test_an_sla_crossing_between_runs_raises_once(estate, judged):
    now = timezone.now()
    t = ticket(estate, sla_due_at=now + timedelta(minutes=30))
    ticket(estate, sla_due_at=now + timedelta(hours=5))  # not due yet at the second run
    run(now=now)
    assert active(estate) == []
    _age(Ticket, t.id, 10)
    judged.clear()
    counts, stats = run(now=now + timedelta(hours=1))
    assert counts == {"raised": 1, "resolved": 0} and stats["full"] == {}
    [alert] = active(estate, "SLA_BREACH")
    assert alert.fingerprint == f"ops:ticket:{estate.tenant.id}:{t.id}:sla"
    assert judged == [("SLA_BREACH", t.id)]
    counts, _ = run(now=now + timedelta(hours=2))
    assert counts == {"raised": 0, "resolved": 0}
    assert len(alerts_of(estate, "SLA_BREACH")) == 1


def test_a_missed_run_catches_up_every_time_based_condition(estate):
    """The job did not run for three hours: everything that began in between is raised by the
    steady run (the window is since the last run, however long ago), and a shift that ended in
    between resolves its missing guard."""
    now = timezone.now()
    OperationsPolicy.objects.create(tenant=estate.tenant, device_silence_by_type={"radio": 90})
    ticket(estate, sla_due_at=now + timedelta(minutes=10))
    work_order(estate, deadline_at=now + timedelta(minutes=20))
    synced = {"last_sync_at": now + timedelta(hours=3)}  # the site's sync health stays good
    device(estate, device_type="camera", last_seen_at=now, **synced)  # 15 min of silence
    device(estate, device_type="radio", last_seen_at=now - timedelta(minutes=60), **synced)  # 90
    device(estate, device_type="radio", last_seen_at=now + timedelta(hours=2), **synced)  # seen
    attendance(
        estate,
        shift_start=now + timedelta(minutes=5),
        shift_end=now + timedelta(hours=8),
    )
    ended = attendance(
        estate, shift_start=now - timedelta(hours=1), shift_end=now + timedelta(hours=1)
    )
    run(now=now)
    assert [a.entity_id for a in active(estate)] == [ended.external_id]
    for model in (Ticket, WorkOrder, Device, AttendanceRecord):
        model.objects.update(updated_at=now - timedelta(hours=1))
    counts, stats = run(now=now + timedelta(hours=3))
    assert stats["full"] == {} and stats["steady"] == 1
    assert counts == {"raised": 5, "resolved": 1}
    assert sorted(a.type for a in active(estate)) == [
        "ATTENDANCE_MISSING",
        "DEVICE_OFFLINE",
        "DEVICE_OFFLINE",
        "SLA_BREACH",
        "WORK_ORDER_OVERDUE",
    ]
    [cleared] = alerts_of(estate, "ATTENDANCE_MISSING")[:1]
    assert cleared.status == Status.RESOLVED and cleared.entity_id == ended.external_id


def test_a_breach_clears_when_its_shift_ends_between_runs(estate):
    now = timezone.now()
    shift = attendance(
        estate,
        status=AttendanceStatus.PRESENT,
        checked_in_at=now - timedelta(hours=1),
        shift_start=now - timedelta(hours=1),
        shift_end=now + timedelta(minutes=30),
    )
    geofence(estate, person_ref="G-9", attendance=shift)
    run(now=now)
    assert len(active(estate, "GEOFENCE_BREACH")) == 1
    for model in (AttendanceRecord, GeofenceEvent):
        model.objects.update(updated_at=now - timedelta(hours=1))
    counts, stats = run(now=now + timedelta(hours=1))
    assert counts == {"raised": 0, "resolved": 1} and stats["full"] == {}
    assert active(estate, "GEOFENCE_BREACH") == []


def test_a_guard_back_inside_clears_the_breach_in_the_steady_run(estate, settings):
    settings.OPERATIONS_CHANGE_HOOKS = []
    geofence(estate, person_ref="G-5")
    run()
    assert len(active(estate, "GEOFENCE_BREACH")) == 1
    GeofenceEvent.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    geofence(estate, person_ref="G-5", kind=GeofenceEventKind.ENTER, occurred_at=timezone.now())
    counts, stats = run()
    assert counts == {"raised": 0, "resolved": 1} and stats["full"] == {}


def test_a_policy_change_forces_a_full_pass(estate, other_estate):
    """Thresholds changed: conditions that began or ended long ago are judged again, for the
    tenant whose policy changed only."""
    now = timezone.now()
    quiet = device(estate, last_seen_at=now - timedelta(minutes=20))
    longer = device(estate, last_seen_at=now - timedelta(minutes=12))
    device(other_estate, last_seen_at=now - timedelta(minutes=20))
    run()
    assert [a.entity_id for a in active(estate)] == [quiet.external_id]
    Device.objects.update(updated_at=now - timedelta(hours=1))
    policy = OperationsPolicy.objects.create(tenant=estate.tenant, device_silence_minutes=30)
    counts, stats = run()
    assert stats["full"] == {"policy changed": 1} and stats["steady"] == 1
    assert counts == {"raised": 0, "resolved": 1}
    assert active(estate) == []
    policy.device_silence_minutes = 10
    policy.save()
    counts, stats = run()
    assert stats["full"] == {"policy changed": 1}
    assert sorted(a.entity_id for a in active(estate)) == sorted(
        [quiet.external_id, longer.external_id]
    )
    assert len(active(other_estate)) == 1
    counts, stats = run()
    assert stats["full"] == {} and counts == {"raised": 0, "resolved": 0}


def test_a_record_deleted_under_its_alert_is_resolved_by_the_reconciliation(estate, settings):
    settings.OPERATIONS_RULES_FULL_PASS_HOURS = 24
    now = timezone.now()
    t = ticket(estate)
    run(now=now)
    [alert] = active(estate, "SLA_BREACH")
    t.delete()
    counts, stats = run(now=now + timedelta(hours=1))
    assert stats["full"] == {} and counts == {"raised": 0, "resolved": 0}
    counts, stats = run(now=now + timedelta(hours=25))
    assert stats["full"] == {"reconciliation": 1}
    assert counts == {"raised": 0, "resolved": 1}
    alert.refresh_from_db()
    assert alert.status == Status.RESOLVED
    _, stats = run(now=now + timedelta(hours=26))
    assert stats["full"] == {}


def test_a_clock_behind_the_last_run_and_an_explicit_full_pass(estate):
    now = timezone.now()
    run(now=now + timedelta(hours=1))
    _, stats = run(now=now)
    assert stats["full"] == {"clock behind the last run": 1}
    _, stats = run(now=now + timedelta(minutes=1), full=True)
    assert stats["full"] == {"asked": 1}


def test_a_failed_run_does_not_move_the_marks(estate, monkeypatch):
    now = timezone.now()
    run(now=now)
    before = FeedRulesMark.objects.get(tenant=estate.tenant).checked_at
    ticket(estate)

    def broken(self, now):
        raise RuntimeError("pipeline down")

    monkeypatch.setattr(rules.Outbox, "send", broken)
    with pytest.raises(RuntimeError):
        run(now=now + timedelta(minutes=1))
    assert FeedRulesMark.objects.get(tenant=estate.tenant).checked_at == before
    monkeypatch.undo()
    counts, _ = run(now=now + timedelta(minutes=2))
    assert counts["raised"] == 1
