"""The ingestion pipeline: fingerprints, de-duplication, resolve/acknowledge events, validation."""

from __future__ import annotations

import pytest

from support_alerts import acknowledge, key_for, publisher, resolve, trigger
from watchfloor.alerts.events import BatchInvalid
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest

__all__ = ["key_for", "publisher"]


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def _ingest(events, key, capture):
    with capture(execute=True):
        return ingest(events, key=key)


def test_a_new_event_opens_an_alert_at_its_site(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    site = estate.sites[1]
    result = _ingest(
        [trigger(site=site.code, entity_type="device", entity_id="cam-1")],
        key,
        django_capture_on_commit_callbacks,
    )
    assert (result.accepted, result.created) == (1, 1)
    alert = Alert.objects.get()
    assert (alert.site_id, alert.client_id, alert.status) == (site.id, site.client_id, Status.NEW)
    assert alert.fingerprint.startswith("wf:")
    assert alert.occurrence_count == 1 and alert.first_seen_at == alert.last_seen_at
    assert [e["type"] for e in publisher.events] == ["alert.created"]
    assert publisher.events[0]["alert"]["id"] == alert.id
    assert publisher.events[0]["tenant_id"] == estate.tenant.id


def test_repeats_fold_into_the_active_alert(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    event = lambda: trigger(site=site, entity_id="cam-1")  # noqa: E731
    first = _ingest([event(), event(), event()], key, django_capture_on_commit_callbacks)
    assert (first.created, first.deduplicated) == (1, 2)
    second = _ingest([event()], key, django_capture_on_commit_callbacks)
    assert (second.created, second.deduplicated) == (0, 1)
    alert = Alert.objects.get()
    assert alert.occurrence_count == 4
    assert alert.last_seen_at >= alert.first_seen_at
    assert [e["type"] for e in publisher.events] == ["alert.created", "alert.updated"]


def test_changed_content_is_recorded_on_the_same_alert(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    _ingest(
        [trigger(site=site, fingerprint="fp-1", severity=Severity.LOW)],
        key,
        django_capture_on_commit_callbacks,
    )
    _ingest(
        [trigger(site=site, fingerprint="fp-1", severity=Severity.CRITICAL, title="worse")],
        key,
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    assert (alert.severity, alert.title, alert.occurrence_count) == ("CRITICAL", "worse", 2)


def test_resolve_closes_the_active_alert_and_a_new_trigger_opens_another(
    estate, key, publisher, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    _ingest([trigger(site=site, fingerprint="fp-1")], key, django_capture_on_commit_callbacks)
    result = _ingest([resolve("fp-1")], key, django_capture_on_commit_callbacks)
    assert result.resolved == 1
    closed = Alert.objects.get()
    assert closed.status == Status.RESOLVED and closed.resolved_at is not None
    assert closed.time_to_resolve is not None
    _ingest([trigger(site=site, fingerprint="fp-1")], key, django_capture_on_commit_callbacks)
    assert Alert.objects.filter(fingerprint="fp-1").count() == 2
    assert Alert.objects.active().get().id != closed.id
    assert [e["type"] for e in publisher.events] == [
        "alert.created",
        "alert.resolved",
        "alert.created",
    ]


def test_trigger_then_resolve_in_one_batch_keeps_the_order(
    estate, key, django_capture_on_commit_callbacks
):
    site = estate.sites[0].code
    result = _ingest(
        [trigger(site=site, fingerprint="a"), resolve("a"), trigger(site=site, fingerprint="a")],
        key,
        django_capture_on_commit_callbacks,
    )
    assert (result.created, result.resolved) == (2, 1)
    assert sorted(Alert.objects.values_list("status", flat=True)) == ["NEW", "RESOLVED"]


def test_resolve_of_an_unknown_fingerprint_changes_nothing(
    estate, key, django_capture_on_commit_callbacks
):
    result = _ingest([resolve("never-seen")], key, django_capture_on_commit_callbacks)
    assert result.resolved == 0 and result.outcomes == [("never-seen", None, "unknown")]
    assert not Alert.objects.exists()


def test_acknowledge_event_acknowledges_a_new_alert(
    estate, key, django_capture_on_commit_callbacks
):
    _ingest(
        [trigger(site=estate.sites[0].code, fingerprint="x")],
        key,
        django_capture_on_commit_callbacks,
    )
    assert _ingest([acknowledge("x")], key, django_capture_on_commit_callbacks).acknowledged == 1
    alert = Alert.objects.get()
    assert alert.status == Status.ACKNOWLEDGED and alert.time_to_acknowledge is not None
    assert (
        _ingest([acknowledge("x")], key, django_capture_on_commit_callbacks).outcomes[0][2]
        == "unchanged"
    )


def test_unknown_codes_fail_the_whole_batch_naming_index_and_field(estate, key, publisher):
    good = trigger(site=estate.sites[0].code)
    with pytest.raises(BatchInvalid) as caught:
        ingest([good, trigger(site="nope"), trigger(client="nobody")], key=key)
    assert caught.value.fields == {
        "1.site": "No site with code 'nope'.",
        "2.client": "No client with code 'nobody'.",
    }
    assert not Alert.objects.exists()
    assert publisher.events == []


def test_site_of_another_client_is_refused(estate, key):
    with pytest.raises(BatchInvalid) as caught:
        ingest([trigger(client=estate.clients[0].code, site=estate.sites[3].code)], key=key)
    assert set(caught.value.fields) == {"0.site"}


def test_lenient_codes_fall_back_to_the_key_defaults(estate, key_for):
    key = key_for(estate, source="alertmanager", default_site=estate.sites[2])
    ingest([trigger(site="unknown-site")], key=key, strict_codes=False)
    alert = Alert.objects.get()
    assert (alert.site_id, alert.client_id) == (estate.sites[2].id, estate.clients[1].id)


def test_other_tenants_codes_are_unknown(estate, other_estate, key):
    with pytest.raises(BatchInvalid):
        ingest([trigger(site=other_estate.sites[0].code)], key=key)


def test_same_fingerprint_in_two_tenants_are_two_alerts(estate, other_estate, key_for):
    ingest([trigger(site=estate.sites[0].code, fingerprint="shared")], key=key_for(estate))
    ingest(
        [trigger(site=other_estate.sites[0].code, fingerprint="shared")], key=key_for(other_estate)
    )
    ingest([resolve("shared")], key=key_for(estate))
    assert sorted(Alert.objects.values_list("tenant__slug", "status")) == [
        ("acme", "RESOLVED"),
        ("globex", "NEW"),
    ]


def test_a_batch_writes_in_a_bounded_number_of_queries(estate, key, django_assert_max_num_queries):
    sites = [s.code for s in estate.sites]
    events = [trigger(site=sites[i % 4], entity_id=f"dev-{i}") for i in range(100)]
    with django_assert_max_num_queries(14):
        ingest(events, key=key)
    with django_assert_max_num_queries(8):
        ingest(events, key=key)
    assert Alert.objects.count() == 100
    assert set(Alert.objects.values_list("occurrence_count", flat=True)) == {2}


def test_metrics_count_per_source_only_committed_batches(estate, key_for):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    key = key_for(estate, source="alertmanager")
    site = estate.sites[0].code
    before = {
        "ingested": value("watchfloor_alerts_ingested_total", source="alertmanager"),
        "created": value("watchfloor_alerts_created_total", source="alertmanager"),
        "dedup": value("watchfloor_alerts_deduplicated_total", source="alertmanager"),
        "resolved": value("watchfloor_alerts_resolved_total", source="alertmanager"),
        "native": value("watchfloor_alerts_ingested_total", source="native"),
    }
    ingest([trigger(site=site, fingerprint="m"), trigger(site=site, fingerprint="m")], key=key)
    ingest([resolve("m")], key=key)
    with pytest.raises(BatchInvalid):
        ingest([trigger(site="nope")], key=key)
    assert (
        value("watchfloor_alerts_ingested_total", source="alertmanager") == before["ingested"] + 3
    )
    assert value("watchfloor_alerts_created_total", source="alertmanager") == before["created"] + 1
    assert (
        value("watchfloor_alerts_deduplicated_total", source="alertmanager") == before["dedup"] + 1
    )
    assert (
        value("watchfloor_alerts_resolved_total", source="alertmanager") == before["resolved"] + 1
    )
    assert value("watchfloor_alerts_ingested_total", source="native") == before["native"]


def _locate_queries(events, key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from watchfloor.alerts.pipeline import prepare

    with CaptureQueriesContext(connection) as queries:
        prepared = prepare(events, key=key)
    return [p.where for p in prepared], len(queries)


def test_codes_are_read_once_per_tenant_not_once_per_code(estate, key):
    # the first batch reads the tenant's site and client directories (one query each); a
    # batch naming its other sites and clients then reads nothing
    first, second = estate.sites[0], estate.sites[3]
    _, queries = _locate_queries([trigger(site=first.code, client=estate.clients[0].code)], key)
    assert queries == 2
    where, queries = _locate_queries(
        [trigger(site=second.code), trigger(client=estate.clients[1].code)], key
    )
    assert queries == 0
    assert (where[0].site_id, where[0].client_id) == (second.id, second.client_id)
    assert (where[1].site_id, where[1].client_id) == (None, estate.clients[1].id)


def test_a_site_created_after_the_directory_was_read_is_found_at_once(estate, key):
    from watchfloor.tenancy.models import Site

    _locate_queries([trigger(site=estate.sites[0].code)], key)  # the directory is read
    new = Site.objects.create(tenant=estate.tenant, client=estate.clients[0], code="late")
    where, queries = _locate_queries([trigger(site="late")], key)
    assert (where[0].site_id, queries) == (new.id, 1)
    assert _locate_queries([trigger(site="late")], key)[1] == 0  # remembered
    with pytest.raises(BatchInvalid) as caught:  # a code that does not exist is not remembered
        _locate_queries([trigger(site="nowhere")], key)
    assert caught.value.fields == {"0.site": "No site with code 'nowhere'."}


def test_a_tenants_directory_never_locates_another_tenants_codes(
    estate, other_estate, key, key_for
):
    from watchfloor.tenancy.models import Site

    theirs = key_for(other_estate)
    _locate_queries([trigger(site=estate.sites[0].code)], key)
    _locate_queries([trigger(site=other_estate.sites[0].code)], theirs)
    # the same code in both tenants: each locates its own
    mine = Site.objects.create(tenant=estate.tenant, client=estate.clients[0], code="shared")
    other = Site.objects.create(
        tenant=other_estate.tenant, client=other_estate.clients[0], code="shared"
    )
    assert _locate_queries([trigger(site="shared")], key)[0][0].site_id == mine.id
    assert _locate_queries([trigger(site="shared")], theirs)[0][0].site_id == other.id
    with pytest.raises(BatchInvalid):
        _locate_queries([trigger(site=other_estate.sites[1].code)], key)
