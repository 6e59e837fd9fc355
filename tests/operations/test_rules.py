"""The feed rules: each raises its alert once through the pipeline, never twice for one
condition, and resolves it when the condition clears; thresholds per tenant; set-based."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from support_ops import active, alerts_of, attendance, device, geofence, ticket, work_order

from watchfloor.alerts.models import Severity, Status
from watchfloor.alerts.services import resolve_alert
from watchfloor.operations import rules
from watchfloor.operations.models import (
    AttendanceStatus,
    GeofenceEventKind,
    OperationsPolicy,
    Priority,
    TicketStatus,
    WorkOrderStatus,
)

pytestmark = pytest.mark.django_db


def run(**kw):
    return rules.run_feed_rules(**kw)


def test_ticket_past_sla_raises_once_and_resolves_when_closed(estate):
    t = ticket(estate, external_id="T-100", priority=Priority.P1)
    assert run()["raised"] == 1
    [alert] = active(estate, "SLA_BREACH")
    assert alert.severity == Severity.CRITICAL
    assert alert.source == "operations"
    assert alert.site_id == estate.sites[0].id and alert.client_id == estate.sites[0].client_id
    assert alert.labels["external_id"] == "T-100"
    assert alert.fingerprint == f"ops:ticket:{estate.tenant.id}:{t.id}:sla"
    assert "T-100" in alert.title and "Jane" not in alert.title
    # the job runs again and again: still one alert, no repeat counted
    assert run()["raised"] == 0
    run()
    [again] = alerts_of(estate, "SLA_BREACH")
    assert again.id == alert.id and again.occurrence_count == 1
    t.status = TicketStatus.RESOLVED
    t.save()
    assert run()["resolved"] == 1
    [closed] = alerts_of(estate, "SLA_BREACH")
    assert closed.status == Status.RESOLVED
    assert run() == {"raised": 0, "resolved": 0}


def test_ticket_sla_from_policy_when_the_source_gives_no_due_time(estate):
    now = timezone.now()
    OperationsPolicy.objects.create(tenant=estate.tenant, sla_hours_p3=2)
    ticket(estate, priority=Priority.P3, sla_due_at=None, opened_at=now - timedelta(hours=3))
    ticket(estate, priority=Priority.P4, sla_due_at=None, opened_at=now - timedelta(hours=3))
    run()
    [alert] = active(estate, "SLA_BREACH")
    assert alert.severity == Severity.MEDIUM and "(P3)" in alert.title


def test_a_condition_a_person_resolved_is_not_raised_again(estate):
    ticket(estate)
    run()
    [alert] = active(estate, "SLA_BREACH")
    resolve_alert(alert, actor=estate.user("admin"), note="handled by phone")
    run()
    run()
    assert len(alerts_of(estate, "SLA_BREACH")) == 1
    assert active(estate, "SLA_BREACH") == []


def test_a_condition_that_cleared_and_came_back_is_a_new_alert(estate):
    d = device(estate, last_seen_at=timezone.now() - timedelta(minutes=30))
    run()
    assert len(active(estate, "DEVICE_OFFLINE")) == 1
    d.last_seen_at = timezone.now()
    d.save()
    run()
    assert active(estate, "DEVICE_OFFLINE") == []
    later = timezone.now() + timedelta(minutes=20)
    run(now=later)
    assert len(active(estate, "DEVICE_OFFLINE")) == 1
    assert len(alerts_of(estate, "DEVICE_OFFLINE")) == 2


def test_escalated_ticket_raises_at_upsert_and_resolves_when_de_escalated(
    estate, django_capture_on_commit_callbacks
):
    t = ticket(estate, sla_due_at=timezone.now() + timedelta(hours=2), escalation_level=2)
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("ticket", estate.tenant.id, [t.id])
    [alert] = active(estate, "TICKET_ESCALATED")
    assert alert.severity == Severity.HIGH
    assert active(estate, "SLA_BREACH") == []
    run()
    assert len(alerts_of(estate, "TICKET_ESCALATED")) == 1
    t.escalation_level = 0
    t.save()
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("ticket", estate.tenant.id, [t.id])
    assert active(estate, "TICKET_ESCALATED") == []


def test_on_records_changed_refuses_an_unknown_kind(estate):
    with pytest.raises(ValueError):
        rules.on_records_changed("tickets", estate.tenant.id, [1])


def test_on_records_changed_never_fails_the_caller(estate, django_capture_on_commit_callbacks):
    """A failure is logged; the job settles the records later."""
    t = ticket(estate)
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("ticket", estate.tenant.id + 999, [t.id])  # no such records
    assert active(estate) == []


def test_work_order_overdue_by_priority_and_cleared_by_completion(estate):
    w = work_order(estate, priority=Priority.P1, external_id="WO-9")
    work_order(estate, deadline_at=timezone.now() + timedelta(hours=1))  # not yet due
    work_order(estate, status=WorkOrderStatus.COMPLETED)  # done: never overdue
    run()
    [alert] = active(estate, "WORK_ORDER_OVERDUE")
    assert alert.severity == Severity.HIGH and alert.labels["external_id"] == "WO-9"
    w.status = WorkOrderStatus.COMPLETED
    w.save()
    run()
    assert active(estate, "WORK_ORDER_OVERDUE") == []


def test_device_silence_threshold_per_type_and_per_tenant(estate, other_estate):
    OperationsPolicy.objects.create(
        tenant=estate.tenant, device_silence_minutes=30, device_silence_by_type={"camera": 5}
    )
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    cam = device(estate, device_type="camera", last_seen_at=ten_minutes_ago)
    device(estate, device_type="radio", last_seen_at=ten_minutes_ago)  # 30 min for radios
    device(other_estate, device_type="camera", last_seen_at=ten_minutes_ago)  # default 15
    device(estate, device_type="camera", last_seen_at=ten_minutes_ago, status="MAINTENANCE")
    run()
    [alert] = active(estate, "DEVICE_OFFLINE")
    assert alert.fingerprint == f"ops:device:{estate.tenant.id}:{cam.id}:offline"
    assert active(other_estate) == []


def test_impossible_move_raises_spoof_and_a_plausible_one_clears_it(
    estate, django_capture_on_commit_callbacks
):
    now = timezone.now()
    d = device(
        estate,
        previous_latitude=30.0,
        previous_longitude=-97.0,
        previously_located_at=now - timedelta(minutes=5),
        latitude=40.0,  # ~1,100 km in 5 minutes
        longitude=-97.0,
        located_at=now,
    )
    slow = device(
        estate,
        previous_latitude=30.0,
        previous_longitude=-97.0,
        previously_located_at=now - timedelta(minutes=5),
        latitude=30.01,
        longitude=-97.0,
        located_at=now,
    )
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("device", estate.tenant.id, [d.id, slow.id])
    [alert] = active(estate, "DEVICE_SPOOF")
    assert alert.entity_id == d.external_id
    run()
    assert len(alerts_of(estate, "DEVICE_SPOOF")) == 1
    d.previous_latitude, d.previously_located_at = 40.0, now
    d.latitude, d.located_at = 40.001, now + timedelta(minutes=1)
    d.save()
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("device", estate.tenant.id, [d.id])
    assert active(estate, "DEVICE_SPOOF") == []


def test_spoof_speed_limit_is_per_tenant(estate):
    OperationsPolicy.objects.create(tenant=estate.tenant, max_device_speed_kmh=1000)
    now = timezone.now()
    d = device(
        estate,
        previous_latitude=30.0,
        previous_longitude=-97.0,
        previously_located_at=now - timedelta(hours=1),
        latitude=35.0,  # ~556 km in an hour: a plane, allowed here
        longitude=-97.0,
        located_at=now,
    )
    assert rules.move_speed_kmh(d) == pytest.approx(556, rel=0.01)
    rules.evaluate_records("device", estate.tenant.id, [d.id])
    assert active(estate, "DEVICE_SPOOF") == []


def test_missing_guard_after_grace_and_check_in_clears(estate):
    now = timezone.now()
    late = attendance(estate, person_ref="G-42", shift_start=now - timedelta(minutes=20))
    attendance(estate, shift_start=now - timedelta(minutes=5))  # within the 15 min grace
    attendance(estate, status=AttendanceStatus.PRESENT, checked_in_at=now)
    run()
    [alert] = active(estate, "ATTENDANCE_MISSING")
    assert "G-42" in alert.title and "John" not in alert.title
    assert "Private" not in str(alert.labels)
    late.status, late.checked_in_at = AttendanceStatus.LATE, now
    late.save()
    run()
    assert active(estate, "ATTENDANCE_MISSING") == []


def test_geofence_breach_raises_and_the_guard_back_inside_clears_it(
    estate, django_capture_on_commit_callbacks
):
    breach = geofence(estate, person_ref="G-7")
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("geofence_event", estate.tenant.id, [breach.id])
    [alert] = active(estate, "GEOFENCE_BREACH")
    assert alert.severity == Severity.HIGH and "G-7" in alert.title
    run()
    assert len(alerts_of(estate, "GEOFENCE_BREACH")) == 1
    back = geofence(
        estate, person_ref="G-7", kind=GeofenceEventKind.ENTER, occurred_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        rules.on_records_changed("geofence_event", estate.tenant.id, [back.id])
    # the ENTER is no breach; the job judges the open breach again and clears it
    run()
    assert active(estate, "GEOFENCE_BREACH") == []


def test_site_sync_health_below_threshold(estate):
    stale = timezone.now() - timedelta(hours=3)
    for _ in range(3):
        device(estate, site=1, last_sync_at=stale)
    device(estate, site=1)
    for _ in range(4):
        device(estate, site=0)
    run()
    [alert] = active(estate, "SYNC_DEGRADED")
    assert alert.site_id == estate.sites[1].id and "25%" in alert.title
    run()
    assert len(alerts_of(estate, "SYNC_DEGRADED")) == 1
    OperationsPolicy.objects.create(tenant=estate.tenant, sync_health_min_percent=20)
    run()
    assert active(estate, "SYNC_DEGRADED") == []


def test_attendance_anomaly_over_the_window(estate):
    OperationsPolicy.objects.create(
        tenant=estate.tenant, anomaly_min_shifts=4, anomaly_late_missing_percent=50
    )
    now = timezone.now()
    for i, status in enumerate(["LATE", "MISSING", "PRESENT", "LATE", "PRESENT"]):
        attendance(
            estate,
            site=2,
            status=status,
            checked_in_at=now,
            shift_start=now - timedelta(days=1, hours=i),
            shift_end=now - timedelta(hours=12),
        )
    attendance(estate, site=3, status="LATE", checked_in_at=now)  # too few shifts
    run()
    [alert] = active(estate, "ATTENDANCE_ANOMALY")
    assert alert.site_id == estate.sites[2].id and "60%" in alert.title


def test_rules_raise_in_their_own_tenant_only(estate, other_estate):
    ticket(estate)
    ticket(other_estate)
    run()
    [mine] = active(estate, "SLA_BREACH")
    [theirs] = active(other_estate, "SLA_BREACH")
    assert mine.fingerprint != theirs.fingerprint
    assert theirs.site.tenant_id == other_estate.tenant.id


def test_maintenance_window_suppresses_a_rule_alert(estate):
    from watchfloor.maintenance.services import create_window

    now = timezone.now()
    create_window(
        estate.tenant,
        actor=estate.user("admin"),
        client=estate.clients[0],
        site=estate.sites[0],
        title="Camera replacement",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        reason="Camera replacement",
    )
    ticket(estate)
    run()
    [alert] = alerts_of(estate, "SLA_BREACH")
    assert alert.status == Status.SUPPRESSED
    run()
    assert len(alerts_of(estate, "SLA_BREACH")) == 1


def _seed(estate, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        site = i % 4
        ticket(estate, site=site)
        ticket(estate, site=site, escalation_level=1)
        work_order(estate, site=site)
        device(estate, site=site, last_seen_at=now - timedelta(hours=1))
        attendance(estate, site=site)
        geofence(estate, site=site)


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.fixture
def rule_queries(monkeypatch):
    """Queries the rules make themselves (the pipeline's own are its tests' business) and the
    pipeline batches they send."""
    from watchfloor.alerts.pipeline import ingest

    batches: list[int] = []
    inside = {"queries": 0}

    def recording_ingest(events, **kw):
        batches.append(len(events))
        with CaptureQueriesContext(connection) as inner:
            result = ingest(events, **kw)
        inside["queries"] += len(inner.captured_queries)
        return result

    def measure(fn) -> tuple[int, list[int]]:
        batches.clear()
        inside["queries"] = 0
        total = _queries(fn)
        return total - inside["queries"], list(batches)

    monkeypatch.setattr(rules, "ingest", recording_ingest)
    return measure


def test_the_job_is_set_based(estate, other_estate, rule_queries):
    """Queries per run do not grow with the records (below one batch): raising 3 conditions of
    each rule costs what raising 30 does, and so does a run with nothing new; one pipeline
    batch per tenant with news."""
    _seed(estate, 2)
    run()
    _seed(other_estate, 3)
    raise_few, few_batches = rule_queries(run)
    steady_few, none = rule_queries(run)
    _seed(other_estate, 30)
    raise_many, many_batches = rule_queries(run)
    steady_many, _ = rule_queries(run)
    assert len(active(other_estate)) > len(active(estate)) > 0
    assert raise_many == raise_few
    assert steady_many == steady_few
    assert len(few_batches) == len(many_batches) == 1 and none == []
    assert many_batches[0] > few_batches[0]


def test_the_hook_is_set_based(estate, rule_queries):
    def hook(n):
        ids = [ticket(estate).id for _ in range(n)]
        return rule_queries(lambda: rules.evaluate_records("ticket", estate.tenant.id, ids))[0]

    assert hook(2) == hook(40)
