"""Maintenance suppression, back-pressure and correlation in the pipeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from support_alerts import key_for, resolve, trigger
from watchfloor.alerts.models import Alert, CorrelationReason, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.maintenance.services import cancel_window

__all__ = ["key_for"]


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def _window(estate, *, client=0, site=None, types=(), starts=-5, ends=60, cancelled=False):
    now = timezone.now()
    return MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=estate.clients[client],
        site=estate.sites[site] if site is not None else None,
        title="Planned work",
        alert_types=list(types),
        starts_at=now + timedelta(minutes=starts),
        ends_at=now + timedelta(minutes=ends),
        cancelled_at=now if cancelled else None,
    )


# --- maintenance ----------------------------------------------------------------------------


def test_client_window_suppresses_every_site_of_the_client(estate, key):
    window = _window(estate, client=0)
    result = ingest(
        [trigger(site=estate.sites[0].code), trigger(site=estate.sites[1].code)], key=key
    )
    assert result.suppressed == 2 and result.created == 0
    rows = list(Alert.objects.all())
    assert {a.status for a in rows} == {Status.SUPPRESSED}
    assert {a.maintenance_window_id for a in rows} == {window.id}
    assert {a.suppressed_count for a in rows} == {1}


def test_site_window_suppresses_only_that_site(estate, key):
    _window(estate, client=0, site=0)
    ingest([trigger(site=estate.sites[0].code), trigger(site=estate.sites[1].code)], key=key)
    by_site = dict(Alert.objects.values_list("site_id", "status"))
    assert by_site == {estate.sites[0].id: Status.SUPPRESSED, estate.sites[1].id: Status.NEW}


def test_window_with_listed_types_suppresses_only_those(estate, key):
    _window(estate, types=["DEVICE_OFFLINE"])
    site = estate.sites[0].code
    ingest([trigger("DEVICE_OFFLINE", site=site), trigger("GEOFENCE_BREACH", site=site)], key=key)
    assert dict(Alert.objects.values_list("type", "status")) == {
        "DEVICE_OFFLINE": Status.SUPPRESSED,
        "GEOFENCE_BREACH": Status.NEW,
    }


@pytest.mark.parametrize(
    "window",
    [{"starts": 10, "ends": 60}, {"starts": -60, "ends": -1}, {"cancelled": True}, {"client": 1}],
)
def test_upcoming_ended_cancelled_or_other_client_windows_do_not_suppress(estate, key, window):
    _window(estate, **window)
    ingest([trigger(site=estate.sites[0].code)], key=key)
    assert Alert.objects.get().status == Status.NEW


def test_another_tenants_window_does_not_suppress(estate, other_estate, key):
    _window(other_estate)
    ingest([trigger(site=estate.sites[0].code)], key=key)
    assert Alert.objects.get().status == Status.NEW


def test_repeats_during_a_window_are_counted_and_reopen_after_it(
    estate, key, django_capture_on_commit_callbacks
):
    window = _window(estate)
    site = estate.sites[0].code
    ingest([trigger(site=site, fingerprint="f")], key=key)
    ingest([trigger(site=site, fingerprint="f"), trigger(site=site, fingerprint="f")], key=key)
    alert = Alert.objects.get()
    assert (alert.status, alert.occurrence_count, alert.suppressed_count) == ("SUPPRESSED", 3, 3)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_window(window, actor=estate.user("supervisor"))  # it refreshes the window cache
    ingest([trigger(site=site, fingerprint="f")], key=key)
    alert.refresh_from_db()
    assert (alert.status, alert.occurrence_count, alert.suppressed_count) == ("NEW", 4, 3)


def test_a_suppressed_alert_can_be_resolved_by_its_source(estate, key):
    _window(estate)
    ingest([trigger(site=estate.sites[0].code, fingerprint="f")], key=key)
    assert ingest([resolve("f")], key=key).resolved == 1
    assert Alert.objects.get().status == Status.RESOLVED


# --- back-pressure --------------------------------------------------------------------------


def test_past_the_threshold_new_info_alerts_are_suppressed(estate, key, settings):
    settings.ALERT_BACKPRESSURE_THRESHOLD = 3
    site = estate.sites[0].code
    ingest([trigger(site=site, entity_id=f"d{i}") for i in range(3)], key=key)
    result = ingest(
        [
            trigger(site=site, entity_id="info", severity=Severity.INFO),
            trigger(site=site, entity_id="high", severity=Severity.HIGH),
        ],
        key=key,
    )
    assert (result.created, result.suppressed) == (1, 1)
    info = Alert.objects.get(entity_id="info")
    assert (info.status, info.suppression_reason) == ("SUPPRESSED", "backpressure")
    assert Alert.objects.get(entity_id="high").status == Status.NEW


def test_a_tenant_at_the_threshold_is_counted_again_after_the_recheck_interval(
    estate, key, settings, monkeypatch
):
    from watchfloor.alerts import pipeline

    clock = [500.0]
    monkeypatch.setattr(pipeline.time, "monotonic", lambda: clock[0])
    pipeline.forget_pressure()
    settings.ALERT_BACKPRESSURE_THRESHOLD = 3
    settings.ALERT_BACKPRESSURE_RECHECK = 1.0
    site = estate.sites[0].code
    ingest([trigger(site=site, fingerprint=f"d{i}") for i in range(3)], key=key)
    info = trigger(site=site, fingerprint="info", severity=Severity.INFO)
    assert ingest([info], key=key).suppressed == 1  # counted: 3 NEW, at the threshold
    Alert.objects.filter(fingerprint="d0").update(status=Status.ACKNOWLEDGED)  # 2 NEW now
    assert ingest([info], key=key).suppressed == 1  # within the second: not counted again
    clock[0] += 1.0
    ingest([info], key=key)  # counted again: below the threshold, the alert opens
    assert Alert.objects.get(fingerprint="info").status == Status.NEW
    pipeline.forget_pressure()


def test_below_the_threshold_info_alerts_open(estate, key, settings):
    settings.ALERT_BACKPRESSURE_THRESHOLD = 3
    ingest([trigger(site=estate.sites[0].code, severity=Severity.INFO)], key=key)
    assert Alert.objects.get().status == Status.NEW


# --- correlation ----------------------------------------------------------------------------


def test_alerts_at_one_site_within_the_window_share_a_group(estate, key):
    site = estate.sites[0].code
    ingest([trigger("DEVICE_OFFLINE", site=site)], key=key)
    ingest([trigger("GEOFENCE_BREACH", site=site), trigger("SYNC_DEGRADED", site=site)], key=key)
    root = Alert.objects.get(type="DEVICE_OFFLINE")
    others = Alert.objects.exclude(id=root.id)
    assert root.parent_id is None and root.correlation_id is not None
    assert {a.correlation_id for a in others} == {root.correlation_id}
    assert {a.parent_id for a in others} == {root.id}
    assert {a.correlation_reason for a in others} == {CorrelationReason.SITE}


def test_new_alerts_at_one_site_in_one_batch_share_a_group(estate, key):
    site = estate.sites[0].code
    ingest(
        [trigger("A", site=site), trigger("B", site=site), trigger("C", site=estate.sites[1].code)],
        key=key,
    )
    a, b, c = (Alert.objects.get(type=t) for t in "ABC")
    assert a.correlation_id == b.correlation_id != c.correlation_id
    assert b.parent_id == a.id and a.parent_id is None and c.parent_id is None


def test_alerts_outside_the_window_start_a_new_group(estate, key, settings):
    site = estate.sites[0].code
    ingest([trigger("A", site=site)], key=key)
    Alert.objects.update(
        first_seen_at=timezone.now() - timedelta(seconds=settings.ALERT_CORRELATION_WINDOW + 5)
    )
    ingest([trigger("B", site=site)], key=key)
    a, b = Alert.objects.get(type="A"), Alert.objects.get(type="B")
    assert a.correlation_id != b.correlation_id and b.parent_id is None


def test_resolved_alerts_do_not_gather_new_ones(estate, key):
    site = estate.sites[0].code
    ingest([trigger("A", site=site, fingerprint="a")], key=key)
    ingest([resolve("a")], key=key)
    ingest([trigger("B", site=site)], key=key)
    assert Alert.objects.get(type="B").parent_id is None


def test_a_storm_of_one_type_across_a_clients_sites_is_one_group(
    estate, key, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2
    s0, s1 = estate.sites[0].code, estate.sites[1].code
    ingest([trigger("GEOFENCE_BREACH", site=s0)], key=key)  # an unrelated group at s1 first:
    ingest([trigger("SYNC_DEGRADED", site=s1)], key=key)
    ingest([trigger("DEVICE_OFFLINE", site=s0)], key=key)
    # the storm forms here; the earlier DEVICE_OFFLINE joins once the batch has committed
    with django_capture_on_commit_callbacks(execute=True):
        ingest(
            [
                trigger("DEVICE_OFFLINE", site=s1, entity_id="x"),
                trigger("DEVICE_OFFLINE", site=s1, entity_id="y"),
            ],
            key=key,
        )
    storm = list(Alert.objects.filter(type="DEVICE_OFFLINE").order_by("id"))
    assert len(storm) == 3
    assert len({a.correlation_id for a in storm}) == 1
    assert {a.correlation_reason for a in storm} == {CorrelationReason.STORM}
    assert storm[0].parent_id is None and {a.parent_id for a in storm[1:]} == {storm[0].id}
    # another client's alerts of that type are not in this client's storm
    ingest([trigger("DEVICE_OFFLINE", site=estate.sites[2].code)], key=key)
    assert Alert.objects.get(site=estate.sites[2]).correlation_id != storm[0].correlation_id


def test_a_storm_inside_one_batch_is_one_group(estate, key, settings):
    settings.ALERT_STORM_SITES = 2
    ingest([trigger("DEVICE_OFFLINE", site=s.code) for s in estate.sites[:2]], key=key)
    first, second = (Alert.objects.get(site=site) for site in estate.sites[:2])
    assert first.correlation_id == second.correlation_id
    # the batch's first event heads the group
    assert second.parent_id == first.id and first.parent_id is None


def test_suppressed_events_are_counted_by_reason(estate, key, settings):
    from prometheus_client import REGISTRY

    def suppressed(reason):
        labels = {"source": "native", "reason": reason}
        return REGISTRY.get_sample_value("watchfloor_alerts_suppressed_total", labels) or 0.0

    maintenance, backpressure = suppressed("maintenance"), suppressed("backpressure")
    _window(estate, client=0)
    ingest([trigger(site=estate.sites[0].code, fingerprint="w")] * 3, key=key)
    settings.ALERT_BACKPRESSURE_THRESHOLD = 0
    ingest([trigger(site=estate.sites[2].code, severity=Severity.INFO)], key=key)
    assert suppressed("maintenance") == maintenance + 3
    assert suppressed("backpressure") == backpressure + 1


def test_a_window_written_through_the_service_applies_at_once(
    estate, key, django_capture_on_commit_callbacks
):
    from watchfloor.maintenance.services import create_window

    site = estate.sites[0].code
    ingest([trigger(site=site, entity_id="before")], key=key)  # loads the window cache
    with django_capture_on_commit_callbacks(execute=True):
        create_window(
            estate.tenant,
            actor=estate.user("supervisor"),
            client=estate.clients[0],
            title="Now",
            starts_at=timezone.now() - timedelta(minutes=1),
            ends_at=timezone.now() + timedelta(hours=1),
        )
    ingest([trigger(site=site, entity_id="after")], key=key)
    assert Alert.objects.get(entity_id="after").status == Status.SUPPRESSED


def test_a_revoked_key_is_refused_at_once(estate, key):
    from watchfloor.access.services import (
        authenticate_integration_key,
        create_integration_key,
        revoke_integration_key,
    )

    issued = create_integration_key(estate.tenant, actor=None, name="k2", source="native")
    assert authenticate_integration_key(issued.plain, source="native") is not None  # cached
    revoke_integration_key(issued.obj, actor=None)
    assert authenticate_integration_key(issued.plain, source="native") is None
