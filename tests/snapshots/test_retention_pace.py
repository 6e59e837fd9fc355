"""How the retention job deletes: set-based, dependents first, at a duty-cycle pace, giving up a
batch (never the run) when it would wait on a lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.db.models.signals import pre_delete
from django.utils import timezone

from support_incidents import make_alert
from watchfloor.alerts.models import Alert, AlertComment, Status
from watchfloor.incidents.models import Incident, IncidentAlert, IncidentStatus
from watchfloor.oncall.models import (
    AckLinkUse,
    AlertEscalation,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from watchfloor.snapshots import retention
from watchfloor.snapshots.models import RetentionPolicy

NOW = timezone.now()


def days_ago(n: float):
    return NOW - timedelta(days=n)


def old_alert(estate, n, **kw):
    return make_alert(estate, n, status=Status.RESOLVED, resolved_at=days_ago(30), **kw)


class FakeClock:
    """Every reading is `step` seconds after the previous one: each batch 'takes' one step."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def paced(duty: float, step: float = 0.2, **kw) -> tuple[retention.Pace, list[float]]:
    slept: list[float] = []
    return retention.Pace(duty=duty, clock=FakeClock(step), sleep=slept.append, **kw), slept


@pytest.mark.django_db
def test_the_duty_cycle_pauses_after_each_batch_in_proportion_to_its_time(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    for n in range(7):
        old_alert(estate, n)
    pace, slept = paced(0.25)

    out = retention.delete_in_batches(
        retention.resolved_alerts(estate.tenant.id, days_ago(7)),
        batch=2,
        pace=pace,
        order="resolved_at",
    )

    assert out.deleted == 7 and out.batches == 4 and not out.more
    # a batch of 0.2 s at a duty of 25 % is followed by 0.6 s of rest (none after the last)
    assert slept == pytest.approx([0.6, 0.6, 0.6])
    assert pace.busy == pytest.approx(0.8) and pace.paused == pytest.approx(1.8)
    assert Alert.objects.count() == 0


def test_a_duty_of_one_never_pauses_and_a_pause_is_capped():
    assert retention.Pace(duty=1.0).pause_for(5.0) == 0
    assert retention.Pace(duty=0.5).pause_for(0.3) == pytest.approx(0.3)
    assert retention.Pace(duty=0.01, max_pause=30).pause_for(10.0) == 30


@pytest.mark.django_db
def test_the_job_runs_at_the_settings_pace(estate, settings, monkeypatch):
    settings.RETENTION_DUTY = 0.5
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    for n in range(3):
        old_alert(estate, n)
    slept: list[float] = []
    from_settings = retention.Pace.from_settings

    def fake_time(cls):
        pace = from_settings()
        pace.clock, pace.sleep = FakeClock(0.1), slept.append
        return pace

    monkeypatch.setattr(retention.Pace, "from_settings", classmethod(fake_time))

    out = retention.enforce(now=NOW, batch=1)

    assert out["resolved_alerts"] == 3 and out["skipped"] == 0
    # duty 0.5: each 0.1 s batch is followed by 0.1 s of rest, before the 2nd, 3rd and the
    # last (empty) one
    assert slept == pytest.approx([0.1, 0.1, 0.1])


@pytest.mark.django_db
def test_dependents_go_first_in_the_same_batch_and_references_are_cleared(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    old = old_alert(estate, 1)
    child = make_alert(estate, 2, status=Status.NEW, parent=old)  # an active alert under it
    AlertComment.objects.create(tenant=estate.tenant, alert=old, body="x", created_at=NOW)
    AlertEscalation.objects.create(
        tenant=estate.tenant, alert=old, state="stopped", created_at=NOW, updated_at=NOW
    )
    page = Delivery.objects.create(
        tenant=estate.tenant,
        kind=DeliveryKind.PAGE,
        alert=old,
        status=DeliveryStatus.SENT,
        due_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    AckLinkUse.objects.create(nonce="n1", delivery=page, used_at=NOW)
    closed = Incident.objects.create(
        tenant=estate.tenant,
        title="Gone",
        severity="HIGH",
        status=IncidentStatus.IN_PROGRESS,
        origin="manual",
        opened_at=NOW,
        updated_at=NOW,
    )
    # a membership it left: no longer keeps the alert, goes with it
    IncidentAlert.objects.create(
        tenant=estate.tenant, incident=closed, alert=old, open=True, joined_at=NOW, left_at=NOW
    )

    counts = retention.enforce(now=NOW)

    assert counts["resolved_alerts"] == 1
    assert not Alert.objects.filter(pk=old.pk).exists()
    for model, column in (
        (AlertComment, "alert_id"),
        (AlertEscalation, "alert_id"),
        (Delivery, "alert_id"),
        (IncidentAlert, "alert_id"),
    ):
        assert not model.objects.filter(**{column: old.pk}).exists(), model
    assert not AckLinkUse.objects.filter(nonce="n1").exists()
    child.refresh_from_db()
    assert child.parent_id is None and child.status == Status.NEW


@pytest.mark.django_db
def test_alerts_resolved_at_the_same_moment_are_all_walked_batch_after_batch(estate):
    """The keyset walks `resolved_at` with the primary key as tie-breaker: rows sharing a
    moment across a batch boundary are neither skipped nor taken twice."""
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    at = days_ago(30)
    for n in range(5):
        make_alert(estate, n, status=Status.RESOLVED, resolved_at=at)
    for n in range(5, 8):
        make_alert(estate, n, status=Status.RESOLVED, resolved_at=at - timedelta(days=1))
    kept = make_alert(estate, 9, status=Status.RESOLVED, resolved_at=days_ago(1))

    out = retention.delete_in_batches(
        retention.resolved_alerts(estate.tenant.id, days_ago(7)),
        batch=3,
        order="resolved_at",
    )

    assert (out.deleted, out.batches) == (8, 3)
    assert list(Alert.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_a_model_with_a_delete_signal_goes_through_the_orm(estate):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    old = old_alert(estate, 1)
    comment = AlertComment.objects.create(tenant=estate.tenant, alert=old, body="x", created_at=NOW)
    seen = []

    def receiver(sender, instance, **kw):
        seen.append(instance.pk)

    pre_delete.connect(receiver, sender=AlertComment)
    retention.sql_plan.cache_clear()
    try:
        assert retention.sql_plan(AlertComment) is None
        assert retention.sql_plan(Alert) is None  # a dependent needs the collector
        assert retention.enforce(now=NOW)["resolved_alerts"] == 1
    finally:
        pre_delete.disconnect(receiver, sender=AlertComment)
        retention.sql_plan.cache_clear()
    assert seen == [comment.pk]
    assert not Alert.objects.filter(pk=old.pk).exists()
    assert retention.sql_plan(Alert) is not None


@pytest.mark.django_db
def test_a_batch_that_gives_up_is_left_for_the_next_run_without_error(estate, monkeypatch):
    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    alerts = [old_alert(estate, n) for n in range(3)]
    real = retention.delete_rows

    def lock_timeout(model, ids):
        if model is Alert:
            raise OperationalError("canceling statement due to lock timeout")
        return real(model, ids)

    monkeypatch.setattr(retention, "delete_rows", lock_timeout)
    first = retention.enforce(now=NOW)
    assert first["resolved_alerts"] == 0 and first["skipped"] == 1 and first["unfinished"] >= 1
    assert Alert.objects.filter(pk__in=[a.pk for a in alerts]).count() == 3
    # the rest of the run went on: other kinds are not held up by the one that gave up
    monkeypatch.setattr(retention, "delete_rows", real)
    second = retention.enforce(now=NOW)
    assert second["resolved_alerts"] == 3 and second["skipped"] == 0
    assert not Alert.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_locked_by_another_transaction_times_out_the_batch_and_the_next_run_takes_it(
    estate,
):
    """A real lock on PostgreSQL: another session holds an old alert's row (as a fold would);
    the batch's SET LOCAL lock_timeout gives up instead of waiting, and no error escapes."""
    import psycopg

    RetentionPolicy.objects.create(tenant=estate.tenant, resolved_alerts_days=7)
    held = old_alert(estate, 1)
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(key, None)
    other = psycopg.connect(**params)
    try:
        other.execute("SELECT 1 FROM alerts_alert WHERE id = %s FOR UPDATE", [held.pk])
        pace = retention.Pace(duty=1.0, lock_timeout_ms=100, statement_timeout_ms=5000)
        out = retention.enforce(now=NOW, pace=pace)
        assert out["resolved_alerts"] == 0 and out["skipped"] == 1
        assert Alert.objects.filter(pk=held.pk).exists()
    finally:
        other.rollback()
        other.close()
    out = retention.enforce(now=NOW, pace=retention.Pace(duty=1.0, lock_timeout_ms=100))
    assert out["resolved_alerts"] == 1 and out["skipped"] == 0
    assert not Alert.objects.filter(pk=held.pk).exists()
