"""Regressions of issue 10, section 1, bugs 1–4: suppression that ends, the suppression metric,
a lost insert race on PostgreSQL, storm regrouping."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from support_alerts import key_for, publisher, resolve, trigger
from watchfloor.alerts import correlation, pipeline
from watchfloor.alerts.models import Alert, CorrelationReason, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.maintenance.models import MaintenanceWindow

__all__ = ["key_for", "publisher"]


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def _outcome(result, fingerprint: str) -> str:
    [outcome] = [o for fp, _id, o in result.outcomes if fp == fingerprint]
    return outcome


def _suppressed_metric(reason: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"source": "native", "reason": reason}
    return REGISTRY.get_sample_value("watchfloor_alerts_suppressed_total", labels) or 0.0


def _under_pressure(estate, key, settings, n: int = 3) -> None:
    """n open NEW alerts (fingerprints p0…) with the back-pressure threshold at n."""
    settings.ALERT_BACKPRESSURE_THRESHOLD = n
    ingest([trigger(site=estate.sites[0].code, fingerprint=f"p{i}") for i in range(n)], key=key)


def _info(estate, **kw):
    """An INFO trigger at a site of client 1 (the pressure is at client 0's)."""
    return trigger(site=estate.sites[2].code, fingerprint="info", severity=Severity.INFO, **kw)


# --- bug 1: back-pressure ends -----------------------------------------------------------------


def test_a_backpressure_suppressed_alert_reopens_once_the_pressure_drops(
    estate, key, settings, publisher, django_capture_on_commit_callbacks
):
    _under_pressure(estate, key, settings)
    assert _outcome(ingest([_info(estate)], key=key), "info") == "suppressed"

    # still under pressure: the repeat is hidden and counted as suppressed
    again = ingest([_info(estate), _info(estate)], key=key)
    assert (again.suppressed, again.deduplicated, _outcome(again, "info")) == (2, 0, "suppressed")
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.status, alert.suppression_reason) == (Status.SUPPRESSED, "backpressure")
    assert (alert.occurrence_count, alert.suppressed_count) == (3, 3)

    # the pressure drops: the next repeat opens it
    ingest([resolve("p0")], key=key)
    with django_capture_on_commit_callbacks(execute=True):
        reopened = ingest([_info(estate)], key=key)
    assert (reopened.deduplicated, reopened.suppressed, _outcome(reopened, "info")) == (
        1,
        0,
        "deduplicated",
    )
    alert.refresh_from_db()
    assert (alert.status, alert.suppression_reason) == (Status.NEW, "")
    assert (alert.occurrence_count, alert.suppressed_count) == (4, 3)
    [event] = publisher.of_type("alert.updated")
    assert event["alert"]["status"] == Status.NEW and event["alert"]["id"] == alert.id


def test_a_suppressed_info_alert_that_turns_high_opens_under_pressure(estate, key, settings):
    _under_pressure(estate, key, settings)
    ingest([_info(estate)], key=key)
    ingest(
        [trigger(site=estate.sites[2].code, fingerprint="info", severity=Severity.HIGH)], key=key
    )
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.status, alert.severity, alert.suppressed_count) == (Status.NEW, "HIGH", 1)


def test_an_open_info_alert_is_not_hidden_by_pressure_that_came_after_it(estate, key, settings):
    settings.ALERT_BACKPRESSURE_THRESHOLD = 3
    ingest([_info(estate)], key=key)
    _under_pressure(estate, key, settings)
    result = ingest([_info(estate)], key=key)
    assert _outcome(result, "info") == "deduplicated"
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.status, alert.suppressed_count) == (Status.NEW, 0)


def test_a_window_that_ends_under_pressure_leaves_an_info_alert_hidden_by_pressure(
    estate, key, settings
):
    window = _window(estate, client=1)
    ingest([_info(estate)], key=key)
    assert Alert.objects.get(fingerprint="info").suppression_reason == "maintenance"
    _under_pressure(estate, key, settings)
    MaintenanceWindow.objects.filter(id=window.id).update(ends_at=timezone.now())
    _flush_window_cache()
    result = ingest([_info(estate)], key=key)
    assert _outcome(result, "info") == "suppressed"
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.status, alert.suppression_reason) == (Status.SUPPRESSED, "backpressure")
    assert alert.suppressed_count == 2


# --- bug 2: the metric's reason is the current one ---------------------------------------------


def _window(estate, *, client=0):
    now = timezone.now()
    return MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=estate.clients[client],
        title="Planned work",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
    )


def _flush_window_cache():
    from watchfloor.maintenance.matcher import WINDOW_CACHE

    WINDOW_CACHE.invalidate()


def test_a_repeat_hidden_by_a_window_is_counted_as_maintenance_whatever_hid_it_before(
    estate, key, settings
):
    _under_pressure(estate, key, settings)
    ingest([_info(estate)], key=key)  # hidden by back-pressure
    window = _window(estate, client=1)
    _flush_window_cache()
    maintenance, backpressure = (
        _suppressed_metric("maintenance"),
        _suppressed_metric("backpressure"),
    )
    result = ingest([_info(estate)], key=key)
    assert _outcome(result, "info") == "suppressed"
    assert _suppressed_metric("maintenance") == maintenance + 1
    assert _suppressed_metric("backpressure") == backpressure
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.suppression_reason, alert.maintenance_window_id) == ("maintenance", window.id)


def test_an_open_alert_repeating_in_a_window_is_counted_as_maintenance(estate, key):
    ingest([_info(estate)], key=key)
    _window(estate, client=1)
    _flush_window_cache()
    maintenance = _suppressed_metric("maintenance")
    result = ingest([_info(estate)], key=key)
    assert (_outcome(result, "info"), _suppressed_metric("maintenance")) == (
        "suppressed",
        maintenance + 1,
    )
    alert = Alert.objects.get(fingerprint="info")
    assert (alert.status, alert.suppression_reason, alert.suppressed_count) == (Status.NEW, "", 1)


# --- bug 3: a lost insert race on PostgreSQL ----------------------------------------------------


def _in_another_connection(work) -> None:
    """Run `work` in a thread on its own database connection (committed when it returns)."""
    errors: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_that_loses_the_insert_race_reports_and_keeps_the_stored_row(
    estate, key_for, publisher, monkeypatch
):
    """Another writer opens the fingerprint between this batch's read (no active alert) and its
    INSERT: ON CONFLICT merges into that row; the event carries the stored row, the batch's
    changed content is recorded, and a new alert of the batch that would have been grouped
    under the lost one joins the stored row's group."""
    key = key_for(estate)
    site = estate.sites[0].code
    earlier = timezone.now() - timedelta(seconds=30)
    real_insert = pipeline.insert_new_alerts

    def competitor_first(candidates):
        monkeypatch.setattr(pipeline, "insert_new_alerts", real_insert)  # once
        _in_another_connection(
            lambda: ingest(
                [trigger("A", site=site, fingerprint="f", title="v1")], key=key, now=earlier
            )
        )
        return real_insert(candidates)

    monkeypatch.setattr(pipeline, "insert_new_alerts", competitor_first)
    result = ingest(
        [
            trigger("A", site=site, fingerprint="f", title="v2", labels={"k": "v"}),
            trigger("B", site=site, fingerprint="g"),
        ],
        key=key,
    )
    assert (result.created, result.deduplicated) == (1, 1)
    assert (_outcome(result, "f"), _outcome(result, "g")) == ("deduplicated", "created")

    stored = Alert.objects.get(fingerprint="f")
    assert stored.first_seen_at == earlier
    assert (stored.occurrence_count, stored.title, stored.labels) == (2, "v2", {"k": "v"})
    [event] = [e for e in publisher.of_type("alert.updated") if e["alert"]["fingerprint"] == "f"]
    sent = event["alert"]
    assert sent["id"] == stored.id
    assert sent["first_seen_at"] == stored.first_seen_at.isoformat()
    assert sent["correlation_id"] == str(stored.correlation_id)
    assert (sent["title"], sent["occurrence_count"]) == ("v2", 2)

    child = Alert.objects.get(fingerprint="g")
    assert child.correlation_id == stored.correlation_id
    assert child.parent_id == stored.id


# --- bug 4: storm regrouping --------------------------------------------------------------------


def _storm(estate, key, capture):
    """DEVICE_OFFLINE at site 0, then at site 1: the second batch forms a storm (2 sites)."""
    ingest([trigger("DEVICE_OFFLINE", site=estate.sites[0].code)], key=key)
    earlier = Alert.objects.get()
    earlier.updated_at = timezone.now() - timedelta(minutes=1)
    earlier.save(update_fields=["updated_at"])
    with capture(execute=True):
        ingest([trigger("DEVICE_OFFLINE", site=estate.sites[1].code)], key=key)
    return earlier


def test_storm_regrouping_stamps_and_announces_the_alerts_it_moves(
    estate, key, settings, publisher, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2
    earlier = _storm(estate, key, django_capture_on_commit_callbacks)
    moved = Alert.objects.get(id=earlier.id)
    assert moved.correlation_reason == CorrelationReason.STORM
    assert moved.updated_at > earlier.updated_at + timedelta(seconds=30)
    [event] = [e for e in publisher.of_type("alert.updated") if e["alert"]["id"] == earlier.id]
    assert event["alert"]["correlation_id"] == str(moved.correlation_id)
    newer = Alert.objects.exclude(id=earlier.id).get()
    assert newer.correlation_id == moved.correlation_id and newer.parent_id == earlier.id


def test_storms_formed_at_once_are_regrouped_in_one_statement(
    estate, key, settings, publisher, monkeypatch, django_capture_on_commit_callbacks
):
    """Two storms formed by one batch: each type's earlier alerts (a site group of two, and a
    lone one) join their storm under its earliest alert, and the moves are one UPDATE."""
    settings.ALERT_STORM_SITES = 2
    s0, s1 = estate.sites[0].code, estate.sites[1].code
    ingest([trigger("DEVICE_OFFLINE", site=s0, entity_id="a")], key=key)
    ingest([trigger("DEVICE_OFFLINE", site=s0, entity_id="b")], key=key)
    ingest([trigger("SYNC_DEGRADED", site=s0)], key=key)
    publisher.clear()
    moves = []
    real = correlation.update_alerts

    def spy(alerts, fields):
        if "correlation_reason" in fields:
            moves.append(sorted(a.id for a in alerts))
        real(alerts, fields)

    monkeypatch.setattr(correlation, "update_alerts", spy)
    with django_capture_on_commit_callbacks(execute=True):
        ingest([trigger("DEVICE_OFFLINE", site=s1), trigger("SYNC_DEGRADED", site=s1)], key=key)
    for kind, size in (("DEVICE_OFFLINE", 3), ("SYNC_DEGRADED", 2)):
        group = list(Alert.objects.filter(type=kind).order_by("id"))
        assert len(group) == size
        assert len({a.correlation_id for a in group}) == 1
        assert {a.correlation_reason for a in group} == {CorrelationReason.STORM}
        assert group[0].parent_id is None
        assert {a.parent_id for a in group[1:]} == {group[0].id}
    earlier = set(Alert.objects.filter(site__code=s0).values_list("id", flat=True))
    assert moves == [sorted(earlier)]
    assert {e["alert"]["id"] for e in publisher.of_type("alert.updated")} == earlier


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_storming_batch_is_published_before_its_regrouping(estate, key_for, settings, publisher):
    """Real commits (not captured callbacks): the regrouping runs after the batch's own events
    went out, so they are never held up by it (nor by its retries)."""
    settings.ALERT_STORM_SITES = 2
    key = key_for(estate)
    ingest([trigger("DEVICE_OFFLINE", site=estate.sites[0].code)], key=key)
    publisher.clear()
    ingest([trigger("DEVICE_OFFLINE", site=estate.sites[1].code)], key=key)
    assert [e["type"] for e in publisher.events] == ["alert.created", "alert.updated"]


def test_storm_regrouping_retries_lock_conflicts_with_backoff_then_logs_once(
    estate, key, settings, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2
    attempts, sleeps = [], []

    def conflict(*args):
        attempts.append(args)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(correlation, "_regroup", conflict)
    monkeypatch.setattr(correlation.time, "sleep", sleeps.append)
    with caplog.at_level("INFO", logger="watchfloor.alerts.correlation"):
        _storm(estate, key, django_capture_on_commit_callbacks)
    assert len(attempts) == correlation.STORM_ATTEMPTS
    assert len(sleeps) == correlation.STORM_ATTEMPTS - 1
    assert all(later > sooner for sooner, later in itertools.pairwise(sleeps))
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    # the batch itself is stored whatever happened to the regrouping
    assert Alert.objects.count() == 2


def test_storm_regrouping_succeeds_after_a_lock_conflict(
    estate, key, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2
    real, calls = correlation._regroup, []

    def conflict_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("could not serialize access")
        return real(*args)

    monkeypatch.setattr(correlation, "_regroup", conflict_once)
    monkeypatch.setattr(correlation.time, "sleep", lambda _s: None)
    earlier = _storm(estate, key, django_capture_on_commit_callbacks)
    assert len(calls) == 2
    assert Alert.objects.get(id=earlier.id).correlation_reason == CorrelationReason.STORM


def test_storm_regrouping_raises_what_it_does_not_expect(estate, key, monkeypatch):
    def bug(*_args):
        raise ValueError("a bug")

    monkeypatch.setattr(correlation, "_regroup", bug)
    with pytest.raises(ValueError, match="a bug"):
        correlation.absorb_storms(estate.tenant.id, timezone.now(), [])


def test_a_failing_storm_regrouping_does_not_keep_the_batch_from_being_published(
    estate, key, settings, publisher, monkeypatch, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2

    def bug(*_args):
        raise ValueError("a bug")

    monkeypatch.setattr(correlation, "_regroup", bug)
    _storm(estate, key, django_capture_on_commit_callbacks)
    assert len(publisher.of_type("alert.created")) == 1  # the storm-forming batch's alert
