"""The fold's set-based repeat path (issue 14): plain repeats are counted by one UPDATE without
model instances, and everything else still takes the locked path with its full semantics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from support_alerts import acknowledge, key_for, publisher, resolve, trigger
from watchfloor.alerts import pipeline, writes
from watchfloor.alerts.broadcast import alert_event
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest

__all__ = ["key_for", "publisher"]


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def _event(estate, n: int, **kw):
    return trigger(site=estate.sites[n % 2].code, fingerprint=f"fp-{n}", **kw)


def test_plain_repeats_publish_the_same_feed_row_as_the_stored_alert(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    """The live event built from the UPDATE's RETURNING row (no model) is the event the model
    path would send for the row as stored: ids, counts, times, correlation, names."""
    ingest([_event(estate, n) for n in range(3)], key=key)
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest([_event(estate, 0), _event(estate, 1), _event(estate, 1)], key=key)
    assert (result.created, result.deduplicated) == (0, 3)
    sent = {e["alert"]["fingerprint"]: e for e in publisher.of_type("alert.updated")}
    assert set(sent) == {"fp-0", "fp-1"}
    for fp, count in (("fp-0", 2), ("fp-1", 3)):
        stored = Alert.objects.get(fingerprint=fp)
        assert stored.occurrence_count == count
        expected = alert_event("alert.updated", stored)
        assert sent[fp]["alert"] == expected["alert"]
        assert sent[fp]["tenant_id"] == estate.tenant.id
    assert Alert.objects.get(fingerprint="fp-2").occurrence_count == 1


def test_new_alerts_publish_the_same_feed_row_as_the_stored_alert(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    """A new alert's live event, built when sent from the unsaved alert's attribute dict, is the
    event the model path sends for the row as stored: ids, counts, times, correlation, names,
    a suppressed one's reason, and an alert with no site."""
    _window_over(estate, estate.sites[1])
    events = [_event(estate, n) for n in range(4)] + [trigger(fingerprint="fp-nosite")]
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(events, key=key)
    assert result.created + result.suppressed == 5
    sent = {e["alert"]["fingerprint"]: e for e in publisher.of_type("alert.created")}
    assert set(sent) == {"fp-0", "fp-1", "fp-2", "fp-3", "fp-nosite"}
    for stored in Alert.objects.all():
        expected = alert_event("alert.created", stored)
        assert sent[stored.fingerprint]["alert"] == expected["alert"]
        assert sent[stored.fingerprint]["tenant_id"] == estate.tenant.id
    assert {e["alert"]["status"] for e in sent.values()} == {Status.NEW, Status.SUPPRESSED}
    assert sent["fp-nosite"]["alert"]["site_id"] is None


def test_only_plain_repeats_are_bumped(estate, key):
    """Open, same content: bumped. Changed content, a suppressed alert, an unknown fingerprint:
    not returned (the locked path takes them)."""
    now = timezone.now()
    ingest([_event(estate, n) for n in range(3)], key=key)
    Alert.objects.filter(fingerprint="fp-2").update(
        status=Status.SUPPRESSED, suppression_reason="backpressure"
    )
    same = Alert.objects.get(fingerprint="fp-0").content_hash
    rows = writes.bump_repeats(
        estate.tenant.id,
        [("fp-0", same, 4), ("fp-1", "0" * 64, 1), ("fp-2", same, 1), ("nope", same, 1)],
        now,
    )
    assert [(r["fingerprint"], r["occurrence_count"]) for r in rows] == [("fp-0", 5)]
    assert rows[0]["last_seen_at"] == now and isinstance(rows[0]["id"], int)
    assert Alert.objects.get(fingerprint="fp-1").occurrence_count == 1


def test_repeats_of_acknowledged_alerts_stay_acknowledged_and_counted(estate, key):
    ingest([_event(estate, 0)], key=key)
    ingest([acknowledge("fp-0")], key=key)
    result = ingest([_event(estate, 0), _event(estate, 0)], key=key)
    assert result.deduplicated == 2
    alert = Alert.objects.get()
    assert (alert.status, alert.occurrence_count) == (Status.ACKNOWLEDGED, 3)


def test_trigger_resolve_trigger_in_one_batch_keeps_order_and_counts(estate, key):
    """Round 1 bumps the open alert, round 2 resolves it, round 3 opens a new one."""
    ingest([_event(estate, 0)], key=key)
    result = ingest(
        [_event(estate, 0), _event(estate, 0), resolve("fp-0"), _event(estate, 0)], key=key
    )
    assert (result.deduplicated, result.resolved, result.created) == (2, 1, 1)
    old, new = Alert.objects.filter(fingerprint="fp-0").order_by("id")
    assert (old.status, old.occurrence_count) == (Status.RESOLVED, 3)
    assert (new.status, new.occurrence_count) == (Status.NEW, 1)


def test_a_repeat_in_a_maintenance_window_is_not_bumped_but_suppressed(estate, key):
    ingest([_event(estate, 0)], key=key)
    _window_over(estate, estate.sites[0])
    result = ingest([_event(estate, 0)], key=key)
    assert (result.suppressed, result.deduplicated) == (1, 0)
    alert = Alert.objects.get()
    assert (alert.occurrence_count, alert.suppressed_count) == (2, 1)


def _window_over(estate, site, title="works"):
    from watchfloor.maintenance.models import MaintenanceWindow
    from watchfloor.ttl import clear_all

    window = MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client_id=site.client_id,
        site=site,
        title=title,
        starts_at=timezone.now() - timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    clear_all()
    return window


def test_hidden_repeats_of_an_alert_suppressed_by_that_window_are_bumped_set_based(
    estate, key, publisher, monkeypatch, django_capture_on_commit_callbacks
):
    """An alert a window suppressed, repeated while that window still hides it: only its
    counters move, so the set-based statement takes it (no locked read), counted as suppressed,
    with the event the model path would send for the row as stored."""
    window = _window_over(estate, estate.sites[0])
    ingest([_event(estate, 0)], key=key)
    assert Alert.objects.get().status == Status.SUPPRESSED
    locked: list[list[str]] = []
    real = pipeline.lock_active_alerts
    monkeypatch.setattr(
        pipeline, "lock_active_alerts", lambda t, fps: locked.append(list(fps)) or real(t, fps)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest([_event(estate, 0), _event(estate, 0)], key=key)
    assert (result.suppressed, result.deduplicated, locked) == (2, 0, [])
    alert = Alert.objects.get()
    assert (alert.status, alert.suppression_reason, alert.maintenance_window_id) == (
        Status.SUPPRESSED,
        "maintenance",
        window.id,
    )
    assert (alert.occurrence_count, alert.suppressed_count) == (3, 3)
    [sent] = publisher.of_type("alert.updated")
    assert sent["alert"] == alert_event("alert.updated", alert)["alert"]


def test_hidden_repeats_bumped_only_where_nothing_but_the_counters_moves(estate, key):
    """With windows: open (same content) and suppressed by that very window are bumped, with
    suppressed_count; suppressed by another window, by back-pressure, or changed content are
    not returned (the locked path moves the reason, the window or the content)."""
    ingest([_event(estate, n) for n in range(5)], key=key)
    first = _window_over(estate, estate.sites[0])
    other = _window_over(estate, estate.sites[0], title="other works")
    Alert.objects.filter(fingerprint__in=["fp-1", "fp-2"]).update(
        status=Status.SUPPRESSED, suppression_reason="maintenance", maintenance_window=first
    )
    Alert.objects.filter(fingerprint="fp-3").update(
        status=Status.SUPPRESSED, suppression_reason="backpressure"
    )
    same = {a.fingerprint: a.content_hash for a in Alert.objects.all()}
    rows = writes.bump_repeats(
        estate.tenant.id,
        [
            ("fp-0", same["fp-0"], 2),  # open
            ("fp-1", same["fp-1"], 3),  # suppressed by this window
            ("fp-2", same["fp-2"], 1),  # suppressed by the first window, hidden by the other
            ("fp-3", same["fp-3"], 1),  # back-pressure
            ("fp-4", "0" * 64, 1),  # changed content
        ],
        timezone.now(),
        window_id=[first.id, first.id, other.id, first.id, first.id],
    )
    got = {r["fingerprint"]: (r["occurrence_count"], r["suppressed_count"]) for r in rows}
    assert got == {"fp-0": (3, 2), "fp-1": (4, 3)}
    untouched = Alert.objects.filter(fingerprint__in=["fp-2", "fp-3", "fp-4"])
    assert [(a.occurrence_count, a.suppressed_count) for a in untouched] == [(1, 0)] * 3


def test_an_open_alert_a_new_window_covers_stays_open_and_counts_suppressed(estate, key):
    """An open alert whose site a window now covers: bumped (still open, no reason kept), its
    repeat counted as suppressed, as `_repeat` counts it."""
    ingest([_event(estate, 0)], key=key)
    _window_over(estate, estate.sites[0])
    result = ingest([_event(estate, 0)], key=key)
    assert (result.suppressed, result.deduplicated) == (1, 0)
    alert = Alert.objects.get()
    assert (alert.status, alert.suppression_reason) == (Status.NEW, "")
    assert (alert.occurrence_count, alert.suppressed_count) == (2, 1)


def test_repeats_back_pressure_holds_are_bumped_set_based_while_it_lasts(
    estate, key, settings, monkeypatch
):
    """An INFO alert back-pressure suppressed, repeated while the tenant is still at the
    threshold: counted suppressed without the locked read; once below, the locked path opens
    it (`_repeat` judges it again)."""
    from watchfloor.alerts.models import Severity

    pipeline.forget_pressure()
    settings.ALERT_BACKPRESSURE_THRESHOLD = 3
    ingest([_event(estate, n) for n in range(3)], key=key)
    info = _event(estate, 9, severity=Severity.INFO)
    assert ingest([info], key=key).suppressed == 1
    locked: list[list[str]] = []
    real = pipeline.lock_active_alerts
    monkeypatch.setattr(
        pipeline, "lock_active_alerts", lambda t, fps: locked.append(list(fps)) or real(t, fps)
    )
    result = ingest([info, info], key=key)
    assert (result.suppressed, result.deduplicated, locked) == (2, 0, [])
    alert = Alert.objects.get(fingerprint="fp-9")
    assert (alert.status, alert.suppression_reason) == (Status.SUPPRESSED, "backpressure")
    assert (alert.occurrence_count, alert.suppressed_count) == (3, 3)
    pipeline.forget_pressure()
    settings.ALERT_BACKPRESSURE_THRESHOLD = 10
    ingest([info], key=key)
    assert locked == [["fp-9"]]
    assert Alert.objects.get(fingerprint="fp-9").status == Status.NEW
    pipeline.forget_pressure()


def test_values_events_are_the_events_values_event_builds(estate, key):
    """The batch builder gives each row the event the one-row builder gives (site or none,
    assignee or none, correlation or none)."""
    from watchfloor.alerts.broadcast import values_event, values_events

    ingest([_event(estate, n) for n in range(2)], key=key)
    Alert.objects.filter(fingerprint="fp-1").update(site=None, assignee=estate.user("admin"))
    now = timezone.now()
    hashes = {a.fingerprint: a.content_hash for a in Alert.objects.all()}
    rows = writes.bump_repeats(estate.tenant.id, [(fp, h, 1) for fp, h in hashes.items()], now)
    assert len(rows) == 2
    assert values_events("alert.updated", rows) == [values_event("alert.updated", r) for r in rows]
    assert any(r["assignee_id"] for r in rows) and any(r["site_id"] is None for r in rows)


def test_plain_repeats_take_no_model_instances(estate, key, monkeypatch):
    """The set-based path is the one taken: a plain repeat never reaches the locked read."""
    ingest([_event(estate, n) for n in range(5)], key=key)
    locked: list[list[str]] = []
    real = pipeline.lock_active_alerts

    def spy(tenant_id, fps):
        locked.append(list(fps))
        return real(tenant_id, fps)

    monkeypatch.setattr(pipeline, "lock_active_alerts", spy)
    result = ingest([_event(estate, n) for n in range(5)], key=key)
    assert (result.deduplicated, locked) == (5, [])
    ingest([_event(estate, 0, title="changed"), _event(estate, 1)], key=key)
    assert locked == [["fp-0"]]
    assert Alert.objects.get(fingerprint="fp-0").title == "changed"


def test_a_new_alert_is_built_as_the_model_would_build_it(estate):
    from watchfloor.alerts.pipeline import _unsaved_alert

    now = timezone.now()
    values = dict(
        tenant_id=estate.tenant.id,
        client_id=estate.sites[0].client_id,
        site_id=estate.sites[0].id,
        source="native",
        type="door",
        severity="HIGH",
        status=Status.NEW,
        title="Door forced",
        fingerprint="fp-built",
        content_hash="h",
        labels={"a": "b"},
        annotations={},
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )
    built, model = _unsaved_alert(values), Alert(**values)

    def state(alert):
        return {k: v for k, v in vars(alert).items() if k != "_state"}

    assert state(built) == state(model)
    assert (built._state.adding, built._state.db) == (True, None)
    built.save()
    assert state(Alert.objects.get(pk=built.pk)) == state(built) | {"id": built.pk}
    with pytest.raises(TypeError):
        _unsaved_alert({k: v for k, v in values.items() if k != "labels"})


def test_labels_and_annotations_are_stored_as_sent(estate, key):
    """The insert hands the JSON columns over as text (orjson on PostgreSQL): non-ASCII,
    quotes, backslashes and empty maps come back equal."""
    labels = {"site": "são-paulo", "quote": 'a"b', "path": "C:\\x", "emoji": "🚨", "": "empty"}
    ingest([_event(estate, 7, labels=labels, annotations={})], key=key)
    stored = Alert.objects.get(fingerprint="fp-7")
    assert (stored.labels, stored.annotations) == (labels, {})
    assert Alert.objects.filter(labels__site="são-paulo", labels__emoji="🚨").count() == 1


def test_building_many_events_hands_the_gil_over_as_it_goes(estate, key, monkeypatch):
    """The publisher thread builds a fold's events beside the fold thread: it lets the fold
    take the GIL back every YIELD_EVERY events instead of holding it for a whole fold's."""
    from watchfloor.alerts import broadcast

    ingest([_event(estate, n) for n in range(7)], key=key)
    hashes = {a.fingerprint: a.content_hash for a in Alert.objects.all()}
    rows = writes.bump_repeats(
        estate.tenant.id, [(fp, h, 1) for fp, h in hashes.items()], timezone.now()
    )
    slept: list[float] = []
    monkeypatch.setattr(broadcast.time, "sleep", slept.append)
    monkeypatch.setattr(broadcast, "YIELD_EVERY", 3)
    assert len(broadcast.values_events("alert.updated", rows)) == 7
    assert slept == [0, 0]  # after the 3rd and the 6th
