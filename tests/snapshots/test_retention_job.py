"""The daily retention job: only what is past its period, per tenant, in bounded batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_incidents import make_alert
from watchfloor.alerts.models import Alert, AlertComment, Status
from watchfloor.audit.models import Action, AuditLog
from watchfloor.audit.services import record
from watchfloor.incidents.models import Incident, IncidentAlert, IncidentStatus
from watchfloor.jobs.schedule import job_named
from watchfloor.oncall.models import Delivery, DeliveryKind, DeliveryStatus
from watchfloor.operations.models import (
    AttendanceRecord,
    AttendanceStatus,
    GeofenceEvent,
    Priority,
    Ticket,
    TicketStatus,
)
from watchfloor.snapshots import retention
from watchfloor.snapshots.models import RetentionPolicy

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(n: float):
    return NOW - timedelta(days=n)


def resolved(estate, n, *, age_days, **kw):
    return make_alert(estate, n, status=Status.RESOLVED, resolved_at=days_ago(age_days), **kw)


def incident(estate, *, status=IncidentStatus.CLOSED, closed_days=None):
    ended = days_ago(closed_days) if closed_days is not None else None
    return Incident.objects.create(
        tenant=estate.tenant,
        title="Power cut",
        severity="HIGH",
        status=status,
        origin="manual",
        opened_at=days_ago(1000),
        resolved_at=ended,
        closed_at=ended,
        updated_at=ended or NOW,
    )


def join(inc, alert):
    return IncidentAlert.objects.create(
        tenant=inc.tenant, incident=inc, alert=alert, open=inc.is_open, joined_at=days_ago(999)
    )


def delivery(estate, *, status, age_days):
    at = days_ago(age_days)
    return Delivery.objects.create(
        tenant=estate.tenant,
        kind=DeliveryKind.TEST,
        status=status,
        due_at=at,
        created_at=at,
        updated_at=at,
    )


def audit_at(estate, when, monkeypatch, count=1):
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: when)
        return [
            record(Action.EXPORT, actor=estate.user("admin"), details={"n": i})
            for i in range(count)
        ]


def enforce(**kw):
    return retention.enforce(now=NOW, **kw)


def test_the_job_is_scheduled_daily():
    job = job_named("retention.enforce")
    assert job is not None and job.every == timedelta(days=1)
    assert job.target == "watchfloor.snapshots.retention_tasks.enforce_retention"


def test_only_resolved_alerts_past_the_period_go(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=30)
    old = resolved(estate, 1, age_days=31)
    AlertComment.objects.create(tenant=estate.tenant, alert=old, body="x", created_at=days_ago(40))
    young = resolved(estate, 2, age_days=29)
    active_old = make_alert(estate, 3, status=Status.NEW, started_at=days_ago(400))
    suppressed_old = make_alert(estate, 4, status=Status.SUPPRESSED, started_at=days_ago(400))
    acked_old = make_alert(estate, 5, status=Status.ACKNOWLEDGED, acknowledged_at=days_ago(400))

    counts = enforce()

    assert counts["resolved_alerts"] == 1
    assert set(Alert.objects.values_list("pk", flat=True)) == {
        young.pk,
        active_old.pk,
        suppressed_old.pk,
        acked_old.pk,
    }
    assert not AlertComment.objects.filter(alert_id=old.pk).exists()


def test_an_alert_inside_an_incident_stays_until_the_incident_goes(estate):
    RetentionPolicy.objects.create(
        tenant=estate.tenant, resolved_alerts_days=30, closed_incidents_days=100
    )
    open_inc = incident(estate, status=IncidentStatus.IN_PROGRESS)
    in_open = resolved(estate, 1, age_days=300)
    join(open_inc, in_open)
    young_closed = incident(estate, closed_days=50)
    in_young = resolved(estate, 2, age_days=300)
    join(young_closed, in_young)
    old_closed = incident(estate, closed_days=101)
    in_old = resolved(estate, 3, age_days=300)
    join(old_closed, in_old)

    counts = enforce()

    assert counts["closed_incidents"] == 1 and counts["resolved_alerts"] == 1
    assert set(Incident.objects.values_list("pk", flat=True)) == {open_inc.pk, young_closed.pk}
    assert set(Alert.objects.values_list("pk", flat=True)) == {in_open.pk, in_young.pk}
    assert IncidentAlert.objects.count() == 2


def test_another_tenants_policy_never_applies(estate, other_estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=10)
    # other_estate has no policy: the default (180 days) applies to it
    mine = resolved(estate, 1, age_days=20)
    theirs = resolved(other_estate, 1, age_days=20)
    theirs_old = resolved(other_estate, 2, age_days=181)

    enforce()

    assert not Alert.objects.filter(pk=mine.pk).exists()
    assert Alert.objects.filter(pk=theirs.pk).exists()
    assert not Alert.objects.filter(pk=theirs_old.pk).exists()


def test_bounded_batches_capped_per_run_and_the_next_run_continues(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    for n in range(7):
        resolved(estate, n, age_days=30)

    first = enforce(batch=2, max_batches=2)
    assert first["resolved_alerts"] == 4 and first["unfinished"] >= 1
    assert Alert.objects.count() == 3
    second = enforce(batch=2, max_batches=2)
    assert second["resolved_alerts"] == 3
    assert Alert.objects.count() == 0
    again = enforce(batch=2, max_batches=2)  # idempotent: nothing left, nothing more goes
    assert again["resolved_alerts"] == 0 and again["unfinished"] == 0


def test_one_batch_is_a_few_short_statements(estate):
    """The statements of a run do not grow with the rows deleted: one select of ids and one
    delete (with its cascades) per batch."""
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)

    def queries_for(count):
        Alert.objects.all().delete()
        for n in range(count):
            resolved(estate, n, age_days=30)
        with CaptureQueriesContext(connection) as ctx:
            enforce(batch=1000)
        return len(ctx.captured_queries)

    assert queries_for(3) == queries_for(30)


def test_deliveries_finished_past_the_period_only(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, deliveries_days=14)
    old_sent = delivery(estate, status=DeliveryStatus.SENT, age_days=15)
    old_pending = delivery(estate, status=DeliveryStatus.PENDING, age_days=15)
    young_failed = delivery(estate, status=DeliveryStatus.FAILED, age_days=13)

    assert enforce()["deliveries"] == 1
    assert set(Delivery.objects.values_list("pk", flat=True)) == {old_pending.pk, young_failed.pk}
    assert not Delivery.objects.filter(pk=old_sent.pk).exists()


def test_feed_records_past_the_period_only_closed_ones(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, feed_records_days=30)
    site = estate.sites[0]
    common = {"tenant": estate.tenant, "client": site.client, "site": site, "created_at": NOW}

    def ticket(ext, status, age):
        return Ticket.objects.create(
            **common,
            external_id=ext,
            received_at=days_ago(age),
            title="t",
            priority=Priority.P2,
            status=status,
            opened_at=days_ago(age + 1),
        )

    closed_old = ticket("t1", TicketStatus.CLOSED, 31)
    open_old = ticket("t2", TicketStatus.OPEN, 31)
    closed_young = ticket("t3", TicketStatus.RESOLVED, 29)
    shift = AttendanceRecord.objects.create(
        **common,
        external_id="a1",
        received_at=days_ago(40),
        person_ref="p1",
        shift_start=days_ago(40),
        shift_end=days_ago(39.5),
        status=AttendanceStatus.PRESENT,
    )
    event = GeofenceEvent.objects.create(
        **common,
        external_id="g1",
        received_at=days_ago(40),
        kind="BREACH",
        occurred_at=days_ago(40),
    )

    counts = enforce()

    assert counts["tickets"] == 1 and counts["attendance"] == 1 and counts["geofence_events"] == 1
    assert set(Ticket.objects.values_list("pk", flat=True)) == {open_old.pk, closed_young.pk}
    assert not Ticket.objects.filter(pk=closed_old.pk).exists()
    assert not AttendanceRecord.objects.filter(pk=shift.pk).exists()
    assert not GeofenceEvent.objects.filter(pk=event.pk).exists()


def test_audit_only_by_age_per_tenant_and_the_purge_is_audited(estate, other_estate, monkeypatch):
    RetentionPolicy.objects.create(tenant=estate.tenant, audit_days=400)
    old = audit_at(estate, days_ago(401), monkeypatch, count=3)
    young = audit_at(estate, days_ago(399), monkeypatch)
    theirs = audit_at(other_estate, days_ago(401), monkeypatch)  # default 730 days

    counts = enforce()

    assert counts["audit"] == 3
    assert not AuditLog.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditLog.objects.filter(pk__in=[e.pk for e in young + theirs]).count() == 2
    purge = AuditLog.objects.get(action=Action.RETENTION_PURGE, tenant=estate.tenant)
    assert purge.details["deleted"] == {"audit": 3}
    assert not AuditLog.objects.filter(
        action=Action.RETENTION_PURGE, tenant=other_estate.tenant
    ).exists()


def test_platform_rows_follow_settings(estate, settings, monkeypatch):
    settings.AUDIT_PLATFORM_RETENTION_DAYS = 100
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: days_ago(101))
        record(Action.LOGIN_FAILED, details={"n": 1})  # no tenant
    kept = record(Action.LOGIN_FAILED, details={"n": 2})
    Session.objects.create(session_key="old", session_data="x", expire_date=days_ago(1))
    Session.objects.create(session_key="new", session_data="x", expire_date=NOW + timedelta(1))

    counts = enforce()

    assert counts["platform_audit"] == 1 and counts["sessions"] == 1
    assert AuditLog.objects.filter(pk=kept.pk).exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["new"]


def test_nothing_past_its_period_is_an_idempotent_no_op(estate, other_estate):
    resolved(estate, 1, age_days=1)
    assert enforce()["resolved_alerts"] == 0
    first = Alert.objects.count()
    assert enforce()["resolved_alerts"] == 0
    assert Alert.objects.count() == first == 1
    assert not AuditLog.objects.filter(action=Action.RETENTION_PURGE).exists()


def test_kpi_snapshots_past_the_tenants_period(estate, other_estate):
    from watchfloor.snapshots.models import KpiSnapshot
    from watchfloor.snapshots.partitions import ensure_partitions

    RetentionPolicy.objects.create(tenant=estate.tenant, snapshots_days=31)
    # on PostgreSQL a month's partition must exist for its rows: early in a month, 32 days ago
    # falls before the migration's first partition (last month)
    ensure_partitions(days_ago(32), ahead=1)

    def snap(est, age):
        return KpiSnapshot.objects.create(
            tenant=est.tenant,
            client=est.clients[0],
            window_end=days_ago(age),
            computed_at=days_ago(age),
        )

    old, young = snap(estate, 32), snap(estate, 30)
    theirs = snap(other_estate, 32)  # default 90 days

    assert enforce()["kpi_snapshots"] == 1
    assert set(KpiSnapshot.objects.values_list("pk", flat=True)) == {young.pk, theirs.pk}
    assert not KpiSnapshot.objects.filter(pk=old.pk).exists()


def test_partitions_dropped_past_every_tenants_period_and_a_refusal_degrades(
    estate, other_estate, monkeypatch
):
    from django.db import DatabaseError

    RetentionPolicy.objects.create(tenant=estate.tenant, snapshots_days=40)  # other: 90
    asked = []

    def drop(cutoff):
        asked.append(cutoff)
        return ["snapshots_kpisnapshot_p2026_01"]

    monkeypatch.setattr(retention, "DROP_PARTITIONS", "tests_drop")
    monkeypatch.setattr(retention, "import_string", lambda path: drop)
    assert enforce()["partitions_dropped"] == 1
    assert asked == [days_ago(90)]  # the longest period: a partition holds every tenant's rows

    def refuse(cutoff):
        raise DatabaseError("must be owner of table")

    monkeypatch.setattr(retention, "import_string", lambda path: refuse)
    assert enforce()["partitions_dropped"] == 0


@pytest.mark.postgres
def test_enforce_drops_whole_monthly_partitions_on_postgres(estate, other_estate):
    from datetime import UTC, datetime

    from watchfloor.snapshots import partitions
    from watchfloor.snapshots.models import KpiSnapshot

    for month in (1, 3):  # 2033-01 … 2033-05 whatever the current month
        partitions.ensure_partitions(datetime(2033, month, 10, tzinfo=UTC))
    RetentionPolicy.objects.create(tenant=estate.tenant, snapshots_days=31)  # other: 90 days

    def snap(est, at):
        return KpiSnapshot.objects.create(
            tenant=est.tenant, client=est.clients[0], window_end=at, computed_at=at
        )

    old_mine = snap(estate, datetime(2033, 1, 15, tzinfo=UTC))
    old_theirs = snap(other_estate, datetime(2033, 1, 20, tzinfo=UTC))
    mid_mine = snap(estate, datetime(2033, 3, 1, tzinfo=UTC))
    mid_theirs = snap(other_estate, datetime(2033, 3, 1, tzinfo=UTC))

    # 2033-05-05 less 90 days is 2033-02-04: the January partition is past every tenant's period
    counts = retention.enforce(now=datetime(2033, 5, 5, tzinfo=UTC))

    names = {p.name for p in partitions.partitions()}
    assert "snapshots_kpisnapshot_p203301" not in names
    assert "snapshots_kpisnapshot_p203302" in names
    assert counts["partitions_dropped"] >= 1
    # March is past my 31 days (deleted by rows), within their 90 days (kept)
    assert counts["kpi_snapshots"] == 1
    left = set(KpiSnapshot.objects.values_list("pk", flat=True))
    assert left == {mid_theirs.pk}
    assert old_mine.pk not in left and old_theirs.pk not in left and mid_mine.pk not in left
