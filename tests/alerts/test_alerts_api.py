"""The alerts read API and lifecycle actions: filters, pages, scope, capabilities, 409s, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from support_alerts import key_for, publisher, trigger
from support_api import V1, error_code, error_fields
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog

__all__ = ["key_for", "publisher"]


@pytest.fixture
def seeded(estate, key_for):
    """Two alerts per site of the estate: a HIGH device alert and a LOW geofence alert."""
    key = key_for(estate)
    events = []
    for site in estate.sites:
        events.append(trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.HIGH))
        events.append(trigger("GEOFENCE_BREACH", site=site.code, severity=Severity.LOW))
    ingest(events, key=key)
    return estate


def _ids(response):
    assert response.status_code == 200, response.content
    return [a["id"] for a in response.json()["items"]]


def test_list_is_newest_first_and_scoped_per_role(seeded, api):
    every = _ids(api(seeded.user("supervisor")).get(f"{V1}/alerts"))
    assert every == sorted(Alert.objects.values_list("id", flat=True), reverse=True)
    operator = _ids(api(seeded.user("operator")).get(f"{V1}/alerts"))
    assert set(operator) == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )
    viewer = _ids(api(seeded.user("viewer")).get(f"{V1}/alerts"))
    assert set(viewer) == set(
        Alert.objects.filter(site=seeded.sites[2]).values_list("id", flat=True)
    )


def test_another_tenants_alerts_are_never_listed_and_are_404(seeded, other_estate, api, key_for):
    ingest([trigger(site=other_estate.sites[0].code)], key=key_for(other_estate))
    theirs = Alert.objects.get(tenant=other_estate.tenant)
    admin = api(seeded.user("admin"))
    assert theirs.id not in _ids(admin.get(f"{V1}/alerts"))
    assert admin.get(f"{V1}/alerts/{theirs.id}").status_code == 404
    for action in ("acknowledge", "escalate"):
        assert admin.post(f"{V1}/alerts/{theirs.id}/{action}", {}).status_code == 404
    assert admin.post(f"{V1}/alerts/{theirs.id}/resolve", {"note": "x"}).status_code == 404
    assert admin.get(f"{V1}/alerts/counts").json()["open"] == 8


def test_out_of_scope_alert_is_the_same_404(seeded, api):
    outside = Alert.objects.filter(client=seeded.clients[1]).first()
    response = api(seeded.user("operator")).get(f"{V1}/alerts/{outside.id}")
    assert response.status_code == 404 and error_code(response) == "not_found"
    assert api(seeded.user("operator")).get(f"{V1}/alerts/999999").json() == response.json()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "HIGH"}, lambda qs: qs.filter(severity="HIGH")),
        ({"severity": "high,low"}, lambda qs: qs),
        ({"type": "GEOFENCE_BREACH"}, lambda qs: qs.filter(type="GEOFENCE_BREACH")),
        ({"status": "NEW"}, lambda qs: qs),
        ({"status": "RESOLVED"}, lambda qs: qs.none()),
        ({"city": "austin"}, lambda qs: qs.filter(site__city="Austin")),
        ({"state": "CO"}, lambda qs: qs.filter(site__state="CO")),
        ({"q": "geofence"}, lambda qs: qs.filter(type="GEOFENCE_BREACH")),
    ],
)
def test_filters(seeded, api, params, expected):
    got = _ids(api(seeded.user("supervisor")).get(f"{V1}/alerts", **params))
    assert set(got) == set(expected(Alert.objects.all()).values_list("id", flat=True))


def test_filters_by_client_site_officer_and_time(seeded, api):
    site = seeded.sites[3]
    site.officer_in_charge = seeded.user("operator")
    site.save(update_fields=["officer_in_charge"])
    sup = api(seeded.user("supervisor"))
    by_site = set(Alert.objects.filter(site=site).values_list("id", flat=True))
    assert set(_ids(sup.get(f"{V1}/alerts", site=str(site.id)))) == by_site
    assert set(_ids(sup.get(f"{V1}/alerts", officer=seeded.user("operator").id))) == by_site
    by_client = set(Alert.objects.filter(client=seeded.clients[1]).values_list("id", flat=True))
    assert set(_ids(sup.get(f"{V1}/alerts", client=str(seeded.clients[1].id)))) == by_client
    old = Alert.objects.filter(site=site).first()
    Alert.objects.filter(pk=old.pk).update(last_seen_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert old.id not in _ids(sup.get(f"{V1}/alerts", since=since))
    assert _ids(sup.get(f"{V1}/alerts", until=since)) == [old.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "OPENISH"}, "status"),
        ({"severity": "urgent"}, "severity"),
        ({"client": "a,b"}, "client"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"cursor": "zzz"}, "cursor"),
    ],
)
def test_bad_filters_are_422_naming_the_field(seeded, api, params, field):
    response = api(seeded.user("supervisor")).get(f"{V1}/alerts", **params)
    assert response.status_code == 422
    assert field in error_fields(response)


def test_cursor_pages_cover_everything_once_in_order(seeded, api):
    sup = api(seeded.user("supervisor"))
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = sup.get(f"{V1}/alerts", **params).json()
        seen += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(Alert.objects.values_list("id", flat=True), reverse=True)


def test_list_runs_a_constant_number_of_queries(
    seeded, api, key_for, django_assert_max_num_queries
):
    sup = api(seeded.user("supervisor"))
    Alert.objects.update(
        acknowledged_by=seeded.user("supervisor"), assignee=seeded.user("operator")
    )
    sup.get(f"{V1}/alerts")  # warm the token path
    with django_assert_max_num_queries(6) as small:
        sup.get(f"{V1}/alerts")
    ingest(
        [trigger(site=s.code, entity_id=f"more-{i}") for i in range(20) for s in seeded.sites],
        key=key_for(seeded),
    )
    Alert.objects.update(
        acknowledged_by=seeded.user("supervisor"), assignee=seeded.user("operator")
    )
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = sup.get(f"{V1}/alerts", limit=50).json()
    assert len(body["items"]) == 50


def test_counts_by_status_and_severity_in_scope(seeded, api):
    Alert.objects.filter(site=seeded.sites[0], type="GEOFENCE_BREACH").update(
        status=Status.SUPPRESSED
    )
    body = api(seeded.user("supervisor")).get(f"{V1}/alerts/counts").json()
    assert body["by_status"]["NEW"] == 7 and body["by_status"]["SUPPRESSED"] == 1
    assert body["by_severity"] == {"CRITICAL": 0, "HIGH": 4, "MEDIUM": 0, "LOW": 3, "INFO": 0}
    assert body["open"] == 7
    viewer = api(seeded.user("viewer")).get(f"{V1}/alerts/counts").json()
    assert viewer["open"] == 2


def test_detail_shows_the_correlation_group_within_scope(seeded, api):
    alert = Alert.objects.filter(site=seeded.sites[2]).order_by("id").first()
    body = api(seeded.user("viewer")).get(f"{V1}/alerts/{alert.id}").json()
    group = [a["id"] for a in body["correlation_group"]]
    assert group == list(
        Alert.objects.filter(correlation_id=alert.correlation_id)
        .exclude(pk=alert.pk)
        .values_list("id", flat=True)
    )
    assert len(group) == 1
    assert body["labels"] == {} and body["site"]["code"] == seeded.sites[2].code


def test_detail_masks_pii_for_users_without_view_pii(seeded, api, key_for):
    ingest(
        [
            trigger(
                site=seeded.sites[0].code,
                fingerprint="pii",
                title="Guard jane.doe@example.com missed check-in",
                labels={"guard_name": "Jane Doe", "phone": "+1 555 123 4567"},
            )
        ],
        key=key_for(seeded),
    )
    alert = Alert.objects.get(fingerprint="pii")
    masked = api(seeded.user("operator")).get(f"{V1}/alerts/{alert.id}").json()
    assert "jane.doe@example.com" not in masked["title"]
    assert masked["labels"]["guard_name"] != "Jane Doe"
    clear = api(seeded.user("supervisor")).get(f"{V1}/alerts/{alert.id}").json()
    assert clear["labels"]["guard_name"] == "Jane Doe" and "jane.doe" in clear["title"]


# --- lifecycle ------------------------------------------------------------------------------


def test_acknowledge_records_who_when_tta_audits_and_publishes(
    seeded, api, publisher, django_capture_on_commit_callbacks
):
    alert = Alert.objects.filter(client=seeded.clients[0]).first()
    operator = seeded.user("operator")
    with django_capture_on_commit_callbacks(execute=True):
        body = api(operator).post(f"{V1}/alerts/{alert.id}/acknowledge").json()
    assert body["status"] == "ACKNOWLEDGED"
    assert body["acknowledged_by"]["id"] == operator.id
    assert body["time_to_acknowledge_seconds"] >= 0
    entry = AuditLog.objects.get(action=Action.ACKNOWLEDGE)
    assert (entry.actor_id, entry.entity_id, entry.tenant_id) == (
        operator.id,
        str(alert.id),
        seeded.tenant.id,
    )
    assert [(e["type"], e["alert"]["status"]) for e in publisher.events] == [
        ("alert.updated", "ACKNOWLEDGED")
    ]


def test_acknowledging_twice_is_409(seeded, api):
    alert = Alert.objects.filter(client=seeded.clients[0]).first()
    op = api(seeded.user("operator"))
    assert op.post(f"{V1}/alerts/{alert.id}/acknowledge").status_code == 200
    response = op.post(f"{V1}/alerts/{alert.id}/acknowledge")
    assert response.status_code == 409 and error_code(response) == "illegal_transition"


def test_full_lifecycle_and_illegal_transitions(
    seeded, api, publisher, django_capture_on_commit_callbacks
):
    alert = Alert.objects.first()
    sup = api(seeded.user("supervisor"))
    base = f"{V1}/alerts/{alert.id}"
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            sup.post(f"{base}/escalate", {"note": "nobody picked it up"}).json()["escalation_level"]
            == 1
        )
        # escalated while nobody had it: acknowledging says someone has it now
        assert sup.post(f"{base}/acknowledge").json()["status"] == "ACKNOWLEDGED"
        assigned = sup.post(f"{base}/assign", {"assignee_id": seeded.user("admin").id}).json()
        assert (
            assigned["status"] == "ASSIGNED"
            and assigned["assignee"]["id"] == seeded.user("admin").id
        )
        resolved = sup.post(f"{base}/resolve", {"note": "replaced the camera"}).json()
    assert resolved["status"] == "RESOLVED" and resolved["resolution_note"] == "replaced the camera"
    assert resolved["time_to_resolve_seconds"] >= resolved["time_to_acknowledge_seconds"] >= 0
    for action, payload in [
        ("acknowledge", None),
        ("escalate", {}),
        ("resolve", {"note": "again"}),
    ]:
        response = sup.post(f"{base}/{action}", payload)
        assert response.status_code == 409, action
    response = sup.post(f"{base}/assign", {"assignee_id": seeded.user("admin").id})
    assert response.status_code == 409
    assert [e["type"] for e in publisher.events] == ["alert.updated"] * 3 + ["alert.resolved"]
    actions = list(
        AuditLog.objects.filter(entity_id=str(alert.id))
        .values_list("action", flat=True)
        .order_by("id")
    )
    assert actions == [Action.ESCALATE, Action.ACKNOWLEDGE, Action.ASSIGN, Action.RESOLVE]


@pytest.mark.parametrize(
    ("role", "action", "payload"),
    [
        ("viewer", "acknowledge", None),
        ("viewer", "resolve", {"note": "x"}),
        ("operator", "escalate", {}),
        ("executive", "acknowledge", None),
        ("executive", "assign", {"assignee_id": 1}),
    ],
)
def test_actions_need_their_capability(seeded, api, role, action, payload):
    alert = Alert.objects.filter(
        site=seeded.sites[2]
    ).first()  # in every role's scope but operator's
    if role == "operator":
        alert = Alert.objects.filter(client=seeded.clients[0]).first()
    response = api(seeded.user(role)).post(f"{V1}/alerts/{alert.id}/{action}", payload)
    assert response.status_code == 403 and error_code(response) == "forbidden"
    alert.refresh_from_db()
    assert alert.status == Status.NEW
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).exists()


def test_assignee_must_be_a_user_of_the_tenant_who_sees_the_alert(seeded, other_estate, api):
    alert = Alert.objects.filter(client=seeded.clients[1]).first()
    sup = api(seeded.user("supervisor"))
    for assignee in (
        other_estate.user("admin"),
        seeded.user("operator"),
    ):  # other tenant, out of scope
        response = sup.post(f"{V1}/alerts/{alert.id}/assign", {"assignee_id": assignee.id})
        assert response.status_code == 422 and "assignee_id" in error_fields(response)
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_resolve_needs_a_note(seeded, api):
    alert = Alert.objects.first()
    response = api(seeded.user("supervisor")).post(
        f"{V1}/alerts/{alert.id}/resolve", {"note": "  "}
    )
    assert response.status_code == 422 and "note" in error_fields(response)


def test_suppressed_alerts_are_listed_by_window(seeded, api):
    from watchfloor.maintenance.models import MaintenanceWindow

    window = MaintenanceWindow.objects.create(
        tenant=seeded.tenant,
        client=seeded.clients[0],
        title="w",
        starts_at=timezone.now() - timedelta(minutes=1),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    Alert.objects.filter(client=seeded.clients[0]).update(
        status=Status.SUPPRESSED, maintenance_window=window
    )
    got = _ids(api(seeded.user("supervisor")).get(f"{V1}/alerts", maintenance_window=window.id))
    assert set(got) == set(
        Alert.objects.filter(client=seeded.clients[0]).values_list("id", flat=True)
    )
