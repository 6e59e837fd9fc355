"""Label matchers on maintenance windows: the suppression matcher, the ingestion pipeline and
escalation honour them (ANDed with client, site and types); the API stores them canonical."""

from __future__ import annotations

import pytest
from django.utils import timezone

from support_alerts import key_for, publisher, trigger
from support_api import V1, error_fields
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.maintenance.matcher import SuppressionMatcher
from watchfloor.maintenance.models import MaintenanceWindow

__all__ = ["key_for", "publisher"]

URL = f"{V1}/maintenance-windows"


def _with_matchers(window: MaintenanceWindow, text: str) -> MaintenanceWindow:
    window.matchers = text
    window.full_clean()
    window.save(update_fields=["matchers"])
    return window


def _match(estate, site, labels, alert_type="HighCPU"):
    matcher = SuppressionMatcher.for_tenant(estate.tenant.id, timezone.now())
    return matcher.match(
        client_id=site.client_id, site_id=site.id, alert_type=alert_type, labels=labels
    )


def test_matchers_and_scope_must_all_hold(estate, make_window):
    site = estate.sites[0]
    window = _with_matchers(
        make_window(estate, site=site, alert_types=["HighCPU"]),
        'env="prod", instance=~"db-.*"',
    )
    assert window.matchers == '{env="prod", instance=~"db-.*"}'  # stored canonical
    assert _match(estate, site, {"env": "prod", "instance": "db-1"}) == window
    assert _match(estate, site, {"env": "prod", "instance": "web-1"}) is None
    assert _match(estate, site, {"instance": "db-1"}) is None  # absent env is ""
    assert _match(estate, site, {"env": "prod", "instance": "db-1"}, "LowDisk") is None
    assert _match(estate, estate.sites[1], {"env": "prod", "instance": "db-1"}) is None
    # without labels (a caller that passes none) a window needing labels does not match
    matcher = SuppressionMatcher.for_tenant(estate.tenant.id, timezone.now())
    assert matcher.match(client_id=site.client_id, site_id=site.id, alert_type="HighCPU") is None


def test_negative_matchers_match_alerts_without_the_label(estate, make_window):
    site = estate.sites[0]
    window = _with_matchers(make_window(estate, site=site), 'env!="prod", team!~"db|core"')
    assert _match(estate, site, {}) == window
    assert _match(estate, site, {"team": "web"}) == window
    assert _match(estate, site, {"team": "core"}) is None


def test_matchers_are_compiled_once_per_loaded_window_set(estate, make_window, monkeypatch):
    from watchfloor.maintenance import models
    from watchfloor.maintenance.matcher import WINDOW_CACHE

    monkeypatch.setattr(WINDOW_CACHE, "ttl", 3600)  # a slow machine must not reload mid-test
    _with_matchers(make_window(estate), 'job=~"node|db"')
    calls = []
    real = models.parse_matchers
    monkeypatch.setattr(models, "parse_matchers", lambda t: calls.append(t) or real(t))
    site = estate.sites[0]
    for _ in range(50):
        _match(estate, site, {"job": "db"})
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_pipeline_suppresses_by_labels(estate, key_for, publisher):
    key = key_for(estate)
    site = estate.sites[0]
    window = MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=site.client,
        site=site,
        title="DB patching",
        matchers='{job="db", severity_label!~"page"}',
        starts_at=timezone.now() - timezone.timedelta(minutes=5),
        ends_at=timezone.now() + timezone.timedelta(hours=1),
    )
    result = ingest(
        [
            trigger("HighCPU", site=site.code, labels={"job": "db"}, entity_id="a"),
            trigger("HighCPU", site=site.code, labels={"job": "web"}, entity_id="b"),
            trigger(
                "HighCPU",
                site=site.code,
                labels={"job": "db", "severity_label": "page"},
                entity_id="c",
            ),
        ],
        key=key,
    )
    assert (result.created, result.suppressed) == (2, 1)
    by_entity = {a.entity_id: a for a in Alert.objects.all()}
    assert by_entity["a"].status == Status.SUPPRESSED
    assert by_entity["a"].maintenance_window_id == window.id
    assert by_entity["b"].status == Status.NEW
    assert by_entity["c"].status == Status.NEW


def test_escalation_stops_for_a_label_window(estate, make_window):
    from watchfloor.oncall.escalation import _stop_reason

    site = estate.sites[0]
    window = _with_matchers(make_window(estate, site=site), 'job="db"')
    alert = Alert(  # _stop_reason reads the row's fields only
        tenant=estate.tenant,
        client=site.client,
        site=site,
        type="HighCPU",
        status=Status.NEW,
        labels={"job": "db"},
    )
    assert _stop_reason(alert, {}, timezone.now()) == f"maintenance window {window.id}"
    alert.labels = {"job": "web"}
    assert _stop_reason(alert, {}, timezone.now()) == ""


def _body(estate, **values):
    starts_at = timezone.now() + timezone.timedelta(hours=1)
    return {
        "client_id": estate.clients[0].id,
        "title": "Silence",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timezone.timedelta(hours=2)).isoformat(),
        **values,
    }


def test_api_stores_matchers_canonical_and_reads_them_back(estate, api):
    caller = api(estate.user("supervisor"))
    response = caller.post(URL, _body(estate, matchers="alertname=HighCPU,env!~dev|test"))
    assert response.status_code == 201, response.content
    assert response.json()["matchers"] == '{alertname="HighCPU", env!~"dev|test"}'
    window_id = response.json()["id"]
    response = caller.patch(f"{URL}/{window_id}", {"matchers": ""})
    assert response.status_code == 200, response.content
    assert response.json()["matchers"] == ""
    assert MaintenanceWindow.objects.get().matchers == ""


@pytest.mark.parametrize(
    ("matchers", "fragment"),
    [
        ('{job=~"(a+)+"}', "nested unbounded repetition"),
        ('{job=~"["}', "invalid regex"),
        ("job", "Bad matcher"),
        ('job="\x00"', "NUL"),
        ("job=\ud800", "string"),  # refused by the JSON parsing itself
        ("x" * 5000, "at most"),
    ],
)
def test_api_refuses_bad_matchers_naming_the_field(estate, api, matchers, fragment):
    caller = api(estate.user("supervisor"))
    response = caller.post(URL, _body(estate, matchers=matchers))
    assert response.status_code == 422, response.content
    fields = error_fields(response)
    assert list(fields) == ["matchers"]
    assert fragment.lower() in fields["matchers"].lower()
    assert not MaintenanceWindow.objects.exists()


def test_masked_matchers_for_a_reader_without_pii(estate, api, make_window):
    window = _with_matchers(make_window(estate), 'owner="jane.doe@example.com"')
    response = api(estate.user("executive")).get(f"{URL}/{window.id}")
    assert response.status_code == 200
    assert "jane.doe@example.com" not in response.content.decode()
    assert response.json()["matchers"].startswith('{owner="j')


def test_a_stored_window_that_no_longer_parses_matches_nothing(estate, make_window):
    """Written behind the services' back (or a regex a newer Python refuses): ingestion must
    not fail on it, and alerts stay visible."""
    site = estate.sites[0]
    broken = make_window(estate, site=site)
    MaintenanceWindow.objects.filter(pk=broken.pk).update(matchers='{job=~"("}')
    weird = make_window(estate, site=estate.sites[1])
    MaintenanceWindow.objects.filter(pk=weird.pk).update(
        recurrence_days=["sun"], recurrence_start="02:00", recurrence_duration=None
    )
    assert _match(estate, site, {"job": "("}) is None
    assert _match(estate, estate.sites[1], {}) is None


def test_maintenance_events_carry_matchers_masked_for_readers_without_pii(
    estate, make_window, publisher, django_capture_on_commit_callbacks
):
    from watchfloor.maintenance import services
    from watchfloor.realtime.viewer import mask_event

    window = make_window(estate, offset=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_window(
            window, actor=estate.user("supervisor"), matchers='owner="jane.doe@example.com"'
        )
    [event] = publisher.events
    assert event["window"]["matchers"] == '{owner="jane.doe@example.com"}'
    assert "jane.doe@example.com" not in str(mask_event(event))
