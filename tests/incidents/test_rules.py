"""The incident rules in the ingestion path: open, join, reopen, exclude, never absorb after
resolve, auto-resolve whichever way the alerts were resolved, the sweep that catches up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from support_alerts import resolve, trigger
from watchfloor.alerts import services as alert_services
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.incidents import rules
from watchfloor.incidents import services as incident_services
from watchfloor.incidents.models import (
    EventKind,
    Incident,
    IncidentAlert,
    IncidentStatus,
    Origin,
    ReopenRule,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def send(key, events, capture, at=None):
    at = at or T0
    with time_machine.travel(at, tick=False), capture(execute=True):
        return ingest(events, key=key, now=at)


def members(incident) -> set[int]:
    return set(
        IncidentAlert.objects.filter(incident=incident, left_at__isnull=True).values_list(
            "alert_id", flat=True
        )
    )


def test_a_critical_alert_opens_an_incident(estate, key, django_capture_on_commit_callbacks):
    send(
        key,
        [trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)],
        django_capture_on_commit_callbacks,
    )
    incident = Incident.objects.get()
    alert = Alert.objects.get()
    assert incident.origin == Origin.CRITICAL_ALERT
    assert incident.severity == Severity.CRITICAL and incident.status == IncidentStatus.NEW
    assert incident.correlation_id == alert.correlation_id
    assert members(incident) == {alert.id}
    assert incident.tenant_id == estate.tenant.id and incident.site_id == estate.sites[0].id


def test_the_ingestion_only_queues_the_rules_with_the_batch_ids(
    estate, key, task_queue, django_capture_on_commit_callbacks
):
    task_queue.rules_inline = False
    site = estate.sites[0].code
    send(
        key,
        [trigger(site=site, severity=Severity.CRITICAL, entity_id="a"),
         trigger(site=site, entity_id="b")],
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert not Incident.objects.exists()  # nothing ran in the request
    [(path, args, eta)] = task_queue.calls
    a, b = (Alert.objects.get(entity_id=e).id for e in "ab")
    assert path == rules.RULES_TASK and eta is None
    assert args[:3] == (estate.tenant.id, 2, 0) and sorted(args[3:]) == sorted([a, b])
    with django_capture_on_commit_callbacks(execute=True):
        assert task_queue.run_all() == 1
    assert members(Incident.objects.get()) == {a, b}


def test_below_the_threshold_nothing_opens(estate, key, django_capture_on_commit_callbacks):
    site = estate.sites[0].code
    send(
        key,
        [trigger(site=site, entity_id="a"), trigger("POWER", site=site)],
        django_capture_on_commit_callbacks,
    )
    assert Alert.objects.count() == 2 and not Incident.objects.exists()


def test_a_storm_opens_one_incident_holding_it_and_later_alerts_join(
    estate, key, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_STORM_SITES = 2  # the estate's clients have two sites each
    c1 = [s.code for s in estate.sites[:2]]
    send(
        key,
        [trigger("CAMERA_LOST", site=c1[0], entity_id="a"),
         trigger("CAMERA_LOST", site=c1[1], entity_id="b"),
         trigger("CAMERA_LOST", site=c1[1], entity_id="c")],
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    incident = Incident.objects.get()
    assert incident.origin == Origin.ALERT_GROUP
    assert members(incident) == set(Alert.objects.values_list("id", flat=True))
    assert len({a.correlation_id for a in Alert.objects.all()}) == 1
    # a later alert of the storm joins the open incident; no second incident
    send(
        key,
        [trigger("CAMERA_LOST", site=c1[0], entity_id="d")],
        django_capture_on_commit_callbacks,
        at=T0 + timedelta(minutes=1),
    )
    assert Incident.objects.count() == 1
    assert len(members(incident)) == 4
    # a timeline line per rules call, naming every alert that joined in it
    joined = incident.events.filter(kind=EventKind.ALERT_JOINED).order_by("id")
    assert [len(e.details["alert_ids"]) for e in joined] == [3, 1]


def test_excluded_types_are_never_grouped(estate, key, policy, django_capture_on_commit_callbacks):
    policy.excluded_types = ["NOISY"]
    policy.save(update_fields=["excluded_types"])
    site = estate.sites[0].code
    send(
        key,
        [trigger("NOISY", site=site, severity=Severity.CRITICAL, entity_id=str(i))
         for i in range(4)],
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert not Incident.objects.exists()
    # the group's other alerts still open one, without the excluded ones
    send(
        key,
        [trigger("POWER", site=site, severity=Severity.CRITICAL)],
        django_capture_on_commit_callbacks,
    )
    incident = Incident.objects.get()
    assert members(incident) == {Alert.objects.get(type="POWER").id}


def test_an_alert_in_an_open_incident_is_not_added_again(
    estate, key, django_capture_on_commit_callbacks
):
    send(
        key,
        [trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)],
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    report = rules.apply_rules(estate.tenant.id, candidates=[alert.id], changed=[alert.id])
    assert (report.opened, report.joined) == (0, 0)
    assert IncidentAlert.objects.count() == 1


def test_an_alert_a_person_moved_out_is_never_put_back_by_a_rule(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    send(key, [trigger(site=site, severity=Severity.CRITICAL)], django_capture_on_commit_callbacks)
    incident = Incident.objects.get()
    alert = Alert.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.remove_alert(incident, alert, actor=estate.user("admin"))
    rules.sweep()
    assert not IncidentAlert.objects.filter(alert=alert, left_at__isnull=True, open=True).exists()


def test_a_resolved_incident_never_absorbs_alerts(estate, key, django_capture_on_commit_callbacks):
    site = estate.sites[0].code
    send(key, [trigger(site=site, severity=Severity.CRITICAL)], django_capture_on_commit_callbacks)
    incident = Incident.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.resolve_incident(incident, actor=estate.user("admin"), note="done")
    # a new alert of the same group, below the threshold, after the incident was resolved
    send(
        key,
        [trigger("POWER", site=site)],
        django_capture_on_commit_callbacks,
        at=T0 + timedelta(minutes=1),
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert len(members(incident)) == 1
    assert Incident.objects.count() == 1
    rules.sweep(T0 + timedelta(minutes=2))
    assert Incident.objects.count() == 1 and len(members(incident)) == 1


def _resolve_by_source_and_refire(estate, key, capture, *, refire_after):
    site = estate.sites[0].code
    send(key, [trigger(site=site, severity=Severity.CRITICAL)], capture)
    first = Alert.objects.get()
    send(key, [resolve(first.fingerprint)], capture, at=T0 + timedelta(minutes=1))
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.RESOLVED  # every alert resolved: auto-resolve
    send(
        key,
        [trigger(site=site, severity=Severity.CRITICAL)],
        capture,
        at=T0 + timedelta(minutes=1) + refire_after,
    )
    again = Alert.objects.exclude(pk=first.pk).get()
    assert again.fingerprint == first.fingerprint
    return incident, again


def test_reopen_within_n_minutes_reopens_the_resolved_incident(
    estate, key, policy, django_capture_on_commit_callbacks
):
    policy.reopen_rule = ReopenRule.WITHIN
    policy.reopen_within_minutes = 30
    policy.save(update_fields=["reopen_rule", "reopen_within_minutes"])
    incident, again = _resolve_by_source_and_refire(
        estate, key, django_capture_on_commit_callbacks, refire_after=timedelta(minutes=29)
    )
    incident.refresh_from_db()
    assert Incident.objects.count() == 1
    assert incident.is_open and incident.reopen_count == 1
    assert again.id in members(incident)


def test_past_the_reopen_window_a_new_incident_opens(
    estate, key, policy, django_capture_on_commit_callbacks
):
    policy.reopen_rule = ReopenRule.WITHIN
    policy.reopen_within_minutes = 30
    policy.save(update_fields=["reopen_rule", "reopen_within_minutes"])
    incident, again = _resolve_by_source_and_refire(
        estate, key, django_capture_on_commit_callbacks, refire_after=timedelta(minutes=31)
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    fresh = Incident.objects.exclude(pk=incident.pk).get()
    assert members(fresh) == {again.id}


def test_reopen_rule_never_opens_a_new_incident(estate, key, django_capture_on_commit_callbacks):
    incident, again = _resolve_by_source_and_refire(
        estate, key, django_capture_on_commit_callbacks, refire_after=timedelta(minutes=1)
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    fresh = Incident.objects.exclude(pk=incident.pk).get()
    assert fresh.is_open and members(fresh) == {again.id}


# --- auto-resolve: whichever way the alerts are resolved ------------------------------------------


@pytest.fixture
def two_alert_incident(estate, key, django_capture_on_commit_callbacks):
    site = estate.sites[0].code
    send(
        key,
        [trigger(site=site, severity=Severity.CRITICAL, entity_id="a"),
         trigger("POWER", site=site, entity_id="b")],
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    incident = Incident.objects.get()
    assert len(members(incident)) == 2
    return incident


def _resolved_because_all_alerts(incident):
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_by_id is None
    assert incident.events.filter(body__contains=rules.AUTO_RESOLVE_NOTE).exists() or (
        incident.resolution_note == rules.AUTO_RESOLVE_NOTE
    )


def test_auto_resolve_when_the_source_resolves_every_alert(
    estate, key, two_alert_incident, django_capture_on_commit_callbacks
):
    a, b = Alert.objects.order_by("id")
    send(key, [resolve(a.fingerprint)], django_capture_on_commit_callbacks)
    two_alert_incident.refresh_from_db()
    assert two_alert_incident.is_open  # one alert still open
    send(key, [resolve(b.fingerprint)], django_capture_on_commit_callbacks)
    _resolved_because_all_alerts(two_alert_incident)


def test_auto_resolve_when_a_person_resolves_the_alerts(
    estate, two_alert_incident, django_capture_on_commit_callbacks
):
    admin = estate.user("admin")
    for alert in Alert.objects.order_by("id"):
        with django_capture_on_commit_callbacks(execute=True):
            alert_services.resolve_alert(alert, actor=admin, note="fixed")
    _resolved_because_all_alerts(two_alert_incident)


def test_auto_resolve_when_the_alerts_are_resolved_in_bulk(
    estate, two_alert_incident, django_capture_on_commit_callbacks
):
    ids = list(Alert.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        alert_services.bulk_resolve(ids, actor=estate.user("admin"), note="fixed")
    _resolved_because_all_alerts(two_alert_incident)


def test_auto_resolve_by_the_sweep_when_the_hook_did_not_run(
    estate, two_alert_incident, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_CHANGE_HOOKS = []  # e.g. the rules call failed after the commit
    Alert.objects.update(status=Status.RESOLVED)  # resolved some other way
    two_alert_incident.refresh_from_db()
    assert two_alert_incident.is_open
    with django_capture_on_commit_callbacks(execute=True):
        assert rules.sweep()["resolved"] == 1
    _resolved_because_all_alerts(two_alert_incident)
    assert rules.sweep()["resolved"] == 0


def test_an_incident_a_person_reopened_is_not_auto_resolved_again(
    estate, two_alert_incident, django_capture_on_commit_callbacks
):
    admin = estate.user("admin")
    ids = list(Alert.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        alert_services.bulk_resolve(ids, actor=admin, note="fixed")
    _resolved_because_all_alerts(two_alert_incident)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.reopen_incident(two_alert_incident, actor=admin, reason="not fixed")
    with django_capture_on_commit_callbacks(execute=True):
        assert rules.sweep()["resolved"] == 0
    two_alert_incident.refresh_from_db()
    assert two_alert_incident.is_open


def test_the_sweep_groups_what_a_failed_rules_call_left(
    estate, key, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_CHANGE_HOOKS = ["watchfloor.incidents.rules.no_such_function"]
    now = datetime.now(UTC)
    send(
        key,
        [trigger(site=estate.sites[0].code, severity=Severity.CRITICAL)],
        django_capture_on_commit_callbacks,
        at=now,
    )
    assert not Incident.objects.exists()  # the ingestion answered; the rules did not run
    with django_capture_on_commit_callbacks(execute=True):
        report = rules.sweep(now + timedelta(seconds=30))
    assert report["opened"] == 1
    assert Incident.objects.get().origin == Origin.CRITICAL_ALERT


def test_a_severity_change_moves_the_incident_severity(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    send(
        key,
        [trigger(site=site, entity_id=str(i), severity=Severity.LOW) for i in range(3)],
        django_capture_on_commit_callbacks,
    )
    incident = Incident.objects.get()
    assert incident.severity == Severity.LOW
    send(
        key,
        [trigger(site=site, entity_id="1", severity=Severity.HIGH)],
        django_capture_on_commit_callbacks,
    )
    incident.refresh_from_db()
    assert incident.severity == Severity.HIGH


def test_rules_cost_a_constant_number_of_queries_per_batch(
    estate, key, settings, django_assert_max_num_queries
):
    settings.ALERT_CHANGE_HOOKS = []
    site = estate.sites[0].code
    ingest([trigger(site=site, entity_id=str(i), severity=Severity.LOW) for i in range(2)], key=key)
    ingest([trigger("T2", site=estate.sites[2].code, entity_id=str(i)) for i in range(2)], key=key)
    ids = list(Alert.objects.values_list("id", flat=True))
    rules.apply_rules(estate.tenant.id, candidates=ids)  # the policy row is made once
    # four alerts in two groups, none qualifying: the alerts, the policy, the groups' incidents
    # and their ungrouped alerts
    with django_assert_max_num_queries(4):
        rules.apply_rules(estate.tenant.id, candidates=ids)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_batches_never_open_two_incidents_for_one_group(estate, key, settings):
    settings.ALERT_CHANGE_HOOKS = []
    site = estate.sites[0].code
    ingest([trigger(site=site, entity_id=str(i)) for i in range(4)], key=key)
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    assert len({a.correlation_id for a in Alert.objects.all()}) == 1
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(part):
        try:
            barrier.wait()
            rules.apply_rules(estate.tenant.id, candidates=part)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(p,)) for p in (ids[:2], ids[2:])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    incident = Incident.objects.get()
    assert members(incident) == set(ids)


def test_on_a_drainer_thread_without_a_scheduler_the_rules_run_after_the_fold(
    estate, key, task_queue, settings, django_capture_on_commit_callbacks
):
    """Embedded jobs under a forking server: the drainers run in gunicorn's workers, where no
    scheduler takes a queued task; the rules run on the drainer after its commit instead of
    being dropped (left to the 30 s sweep). Elsewhere they are queued."""
    from watchfloor.alerts import staging
    from watchfloor.jobs.runtime import set_task_sink

    settings.JOBS_BACKEND = "embedded"
    set_task_sink(None)  # this process has no scheduler, no Celery, no sink
    site = estate.sites[0].code
    with staging.drainer_thread():
        send(
            key,
            [trigger(site=site, severity=Severity.CRITICAL, entity_id="a")],
            django_capture_on_commit_callbacks,
        )
    alert = Alert.objects.get()
    assert members(Incident.objects.get()) == {alert.id}
    set_task_sink(task_queue)
    task_queue.rules_inline = False
    with staging.drainer_thread():
        send(
            key,
            [trigger(site=site, severity=Severity.CRITICAL, entity_id="b")],
            django_capture_on_commit_callbacks,
        )
    assert [call[0] for call in task_queue.calls] == [rules.RULES_TASK]  # queued: a sink takes it
    assert not staging.draining_here()


def test_the_rules_cache_the_policy_and_a_change_applies_at_once(estate, key, settings):
    """The rules read the policy through a short cache (one read per call was a twentieth of
    their time under a storm); saving the policy empties this process's entry."""
    from watchfloor.incidents import services as incident_services

    settings.ALERT_CHANGE_HOOKS = []
    site = estate.sites[0].code
    first = rules._policy(estate.tenant.id)
    assert rules._policy(estate.tenant.id) is first  # cached
    incident_services.update_policy(
        estate.tenant.id, actor=estate.user("admin"), open_on_critical=False
    )
    assert rules._policy(estate.tenant.id).open_on_critical is False
    ingest([trigger(site=site, severity=Severity.CRITICAL, entity_id="x")], key=key)
    report = rules.apply_rules(estate.tenant.id, candidates=_all_ids())
    assert report.opened == 0 and not Incident.objects.exists()


def _all_ids():
    return list(Alert.objects.values_list("id", flat=True))


def test_a_group_with_an_open_incident_takes_the_calls_alerts_and_the_sweep_the_rest(
    estate, key, settings
):
    """A call joins its own alerts to their group's open incident without reading the group's
    other ungrouped alerts (that read grew with a storm); one a failed call left waiting joins
    when the rules' sweep passes it in."""
    settings.ALERT_CHANGE_HOOKS = []
    site = estate.sites[0].code
    ingest([trigger(site=site, severity=Severity.CRITICAL, entity_id="a")], key=key)
    rules.apply_rules(estate.tenant.id, candidates=_all_ids())
    incident = Incident.objects.get()
    ingest([trigger(site=site, entity_id="b")], key=key)  # its rules call never ran
    ingest([trigger(site=site, entity_id="c")], key=key)
    b, c = (Alert.objects.get(entity_id=e) for e in ("b", "c"))
    assert b.correlation_id == c.correlation_id == incident.correlation_id
    assert rules.apply_rules(estate.tenant.id, candidates=[c.id]).joined == 1
    assert members(incident) == {Alert.objects.get(entity_id="a").id, c.id}
    assert rules.sweep()["joined"] == 1
    assert members(incident) == {a.id for a in Alert.objects.all()}
