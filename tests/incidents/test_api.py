"""The incidents API: list filters and pages (fixed query count), detail, open from alerts, the
actions, membership, merge, policy; capabilities (403, audited) and scope (404)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_api import V1, error_code, error_fields
from support_incidents import make_alert
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.audit.models import AuditLog
from watchfloor.incidents import services as s
from watchfloor.incidents.models import (
    Incident,
    IncidentPolicy,
    IncidentStatus,
    IncidentStatusUpdate,
    Origin,
)
from watchfloor.tenancy.models import User


def _open(estate, alerts, **kw) -> Incident:
    return s.open_incident(alerts, origin=Origin.ALERT_GROUP, tenant=estate.tenant, **kw)


@pytest.fixture
def sup_api(api, estate):
    return api(estate.user("supervisor"))


def test_open_from_alerts_then_the_whole_lifecycle(estate, sup_api):
    a = make_alert(estate, 1, severity=Severity.MEDIUM)
    b = make_alert(estate, 2, severity=Severity.CRITICAL)
    response = sup_api.post(f"{V1}/incidents", {"alert_ids": [a.id, b.id], "title": "Gate down"})
    assert response.status_code == 201, response.content
    body = response.json()
    iid = body["id"]
    assert body["severity"] == "CRITICAL" and body["status"] == "NEW"
    assert body["alert_count"] == 2 and {x["id"] for x in body["alerts"]} == {a.id, b.id}
    assert body["sla"]["state"] == "ok" and body["sla"]["acknowledge_due_at"]
    assert [e["kind"] for e in body["timeline"]] == ["opened", "alert_joined", "alert_joined"]

    sup = estate.user("supervisor")
    steps = [
        ("acknowledge", None, "ACKNOWLEDGED"),
        ("assign", {"commander_id": sup.id, "responder_ids": [sup.id]}, "ASSIGNED"),
        ("start", None, "IN_PROGRESS"),
        ("resolve", {"note": "Rebooted the controller"}, "RESOLVED"),
        ("reopen", {"reason": "Fired again"}, "NEW"),
        ("resolve", {"note": "Replaced it"}, "RESOLVED"),
        ("close", None, "CLOSED"),
    ]
    for action, payload, status in steps:
        response = sup_api.post(f"{V1}/incidents/{iid}/{action}", payload)
        assert response.status_code == 200, (action, response.content)
        assert response.json()["status"] == status, action
    detail = sup_api.get(f"{V1}/incidents/{iid}").json()
    assert detail["commander"]["id"] == sup.id
    assert [r["user"]["id"] for r in detail["responders"]] == [sup.id]
    assert detail["resolution_note"] == "Replaced it"
    assert {x["status"] for x in detail["alerts"]} == {"RESOLVED"}
    assert Alert.objects.get(pk=a.pk).resolution_note == "Rebooted the controller"
    # closed: frozen
    again = sup_api.post(f"{V1}/incidents/{iid}/reopen", {"reason": "no"})
    assert again.status_code == 409 and error_code(again) == "illegal_transition"
    note = sup_api.post(f"{V1}/incidents/{iid}/notes", {"body": "late"})
    assert note.status_code == 409


def test_notes_edit_and_membership(estate, sup_api):
    a, b, c = (make_alert(estate, n) for n in (1, 2, 3))
    first, second = _open(estate, [a, b]), _open(estate, [c])
    note = sup_api.post(f"{V1}/incidents/{first.id}/notes", {"body": "Guard on the way"})
    assert note.status_code == 201 and note.json()["timeline"][-1]["body"] == "Guard on the way"
    edit = sup_api.patch(
        f"{V1}/incidents/{first.id}",
        {"summary": "Gate", "runbook_url": "https://runbooks.example/gate", "external_ref": "T-1"},
    )
    assert edit.status_code == 200
    assert edit.json()["runbook_url"] == "https://runbooks.example/gate"
    bad = sup_api.patch(f"{V1}/incidents/{first.id}", {"runbook_url": "ftp://x"})
    assert bad.status_code == 422 and "runbook_url" in error_fields(bad)
    # add: c is in another open incident, skipped
    d = make_alert(estate, 4)
    added = sup_api.post(f"{V1}/incidents/{first.id}/alerts", {"alert_ids": [c.id, d.id]})
    assert added.status_code == 200
    assert (added.json()["joined"], added.json()["skipped"]) == ([d.id], [c.id])
    moved = sup_api.post(f"{V1}/incidents/{first.id}/alerts/{d.id}/move", {"target_id": second.id})
    assert moved.status_code == 200 and moved.json()["alert_count"] == 2
    removed = sup_api.delete(f"{V1}/incidents/{second.id}/alerts/{d.id}")
    assert removed.status_code == 200 and removed.json()["alert_count"] == 1
    gone = sup_api.delete(f"{V1}/incidents/{second.id}/alerts/{d.id}")
    assert gone.status_code == 422 and "alert_id" in error_fields(gone)
    merged = sup_api.post(f"{V1}/incidents/{second.id}/merge", {"into_id": first.id})
    assert merged.status_code == 200 and merged.json()["id"] == first.id
    assert merged.json()["alert_count"] == 3
    src = sup_api.get(f"{V1}/incidents/{second.id}").json()
    assert (src["status"], src["merged_into_id"]) == ("CLOSED", first.id)


def test_body_references_out_of_reach_are_422_and_store_nothing(estate, other_estate, sup_api):
    mine = make_alert(estate, 1)
    theirs = make_alert(other_estate, 1)
    incident = _open(estate, [mine])
    foreign_incident = _open(other_estate, [theirs])
    before = Incident.objects.count()
    r = sup_api.post(f"{V1}/incidents", {"alert_ids": [mine.id, theirs.id]})
    assert r.status_code == 422 and "alert_ids" in error_fields(r)
    assert Incident.objects.count() == before
    r = sup_api.post(f"{V1}/incidents/{incident.id}/merge", {"into_id": foreign_incident.id})
    assert r.status_code == 422 and "into_id" in error_fields(r)
    r = sup_api.post(
        f"{V1}/incidents/{incident.id}/alerts/{mine.id}/move", {"target_id": foreign_incident.id}
    )
    assert r.status_code == 422 and "target_id" in error_fields(r)
    r = sup_api.post(
        f"{V1}/incidents/{incident.id}/assign", {"commander_id": other_estate.user("admin").id}
    )
    assert r.status_code == 422 and "commander_id" in error_fields(r)
    r = sup_api.post(f"{V1}/incidents", {"alert_ids": []})
    assert r.status_code == 422 and "alert_ids" in error_fields(r)
    r = sup_api.post(f"{V1}/incidents", {"alert_ids": [mine.id], "extra": 1})
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "capability"),
    [
        ("executive", "post", "/acknowledge", None, "noc:ack_alerts"),
        ("executive", "post", "/resolve", {"note": "x"}, "noc:ack_alerts"),
        ("executive", "post", "/assign", {"commander_id": 1}, "noc:assign_incidents"),
        ("executive", "post", "/start", None, "noc:assign_incidents"),
        ("executive", "post", "/notes", {"body": "x"}, "noc:assign_incidents"),
        ("executive", "patch", "", {"title": "x"}, "noc:assign_incidents"),
        ("executive", "post", "/merge", {"into_id": 1}, "noc:assign_incidents"),
        ("executive", "post", "/alerts", {"alert_ids": [1]}, "noc:assign_incidents"),
        ("executive", "get", "/assignees", None, "noc:assign_incidents"),
        ("viewer", "post", "/acknowledge", None, "noc:ack_alerts"),
    ],
)
def test_missing_capability_is_403_audited_and_changes_nothing(
    estate, api, role, method, path, body, capability
):
    incident = _open(estate, [make_alert(estate, 1, site=estate.sites[2])])
    caller = api(estate.user(role))
    url = f"{V1}/incidents/{incident.id}{path}"
    response = caller.get(url) if method == "get" else getattr(caller, method)(url, body)
    assert response.status_code == 403, response.content
    assert error_code(response) == "forbidden"
    denied = AuditLog.objects.filter(action="access_denied", actor=estate.user(role))
    assert denied.filter(details__capability=capability).exists()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.NEW and incident.title


def test_create_needs_assign_incidents(estate, api):
    alert = make_alert(estate, 1)
    r = api(estate.user("executive")).post(f"{V1}/incidents", {"alert_ids": [alert.id]})
    assert r.status_code == 403
    assert not Incident.objects.exists()


def test_out_of_scope_is_404_even_with_the_capability(estate, api):
    incident = _open(estate, [make_alert(estate, 1, site=estate.sites[2])])  # client 2
    operator = api(estate.user("operator"))  # assigned client 1 only
    for method, path, body in (
        ("get", "", None),
        ("post", "/acknowledge", None),
        ("post", "/resolve", {"note": "x"}),
    ):
        url = f"{V1}/incidents/{incident.id}{path}"
        r = operator.get(url) if method == "get" else operator.post(url, body)
        assert r.status_code == 404
    assert operator.get(f"{V1}/incidents").json()["items"] == []
    # the site-scoped viewer sees it (its site), not one spanning the client
    viewer = api(estate.user("viewer"))
    assert viewer.get(f"{V1}/incidents/{incident.id}").status_code == 200
    wide = _open(estate, [make_alert(estate, 2, site=estate.sites[3])])
    s.add_alerts(wide, [make_alert(estate, 3, site=estate.sites[2])])
    assert viewer.get(f"{V1}/incidents/{wide.id}").status_code == 404


def test_list_filters(estate, sup_api):
    now = timezone.now()
    crit = _open(estate, [make_alert(estate, 1, severity=Severity.CRITICAL)], title="Door open")
    high = _open(estate, [make_alert(estate, 2, site=estate.sites[2])], title="Camera")
    s.acknowledge_incident(high, actor=estate.user("supervisor"))
    Incident.objects.filter(pk=crit.pk).update(
        opened_at=now - timedelta(minutes=20),
        ack_due_at=now - timedelta(minutes=5),
        ack_risk_at=now - timedelta(minutes=9),
    )
    late = _open(estate, [make_alert(estate, 3)], title="Late")
    Incident.objects.filter(pk=late.pk).update(ack_risk_at=now - timedelta(minutes=1))

    def ids(**params):
        r = sup_api.get(f"{V1}/incidents", **params)
        assert r.status_code == 200, r.content
        return [i["id"] for i in r.json()["items"]]

    assert ids() == [late.id, high.id, crit.id]
    assert ids(status="ACKNOWLEDGED") == [high.id]
    assert ids(severity="CRITICAL") == [crit.id]
    assert ids(client=str(estate.clients[1].id)) == [high.id]
    assert ids(site=str(estate.sites[0].id)) == [late.id, crit.id]
    assert ids(sla="breached") == [crit.id]
    assert ids(sla="at_risk") == [late.id]
    assert ids(sla="ok") == [high.id]
    assert ids(sla="ok,at_risk") == [late.id, high.id]
    assert ids(q="door") == [crit.id]
    assert ids(q=str(high.id)) == [high.id]
    assert ids(opened_until=(now - timedelta(minutes=10)).isoformat()) == [crit.id]
    assert ids(opened_since=(now - timedelta(minutes=10)).isoformat()) == [late.id, high.id]
    assert ids(open="false") == []
    rows = sup_api.get(f"{V1}/incidents").json()["items"]
    assert rows[-1]["sla"]["acknowledge"] == "breached"
    for params, field in (
        ({"status": "SLEEPING"}, "status"),
        ({"sla": "fine"}, "sla"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"opened_since": "9999-12-31T23:59:59-05:00"}, "opened_since"),
    ):
        r = sup_api.get(f"{V1}/incidents", **params)
        assert r.status_code == 422 and field in error_fields(r), (params, r.content)


def test_pages_forward_and_back(estate, sup_api):
    made = [_open(estate, [make_alert(estate, n)]).id for n in range(7)]
    newest_first = made[::-1]
    seen, cursor = [], None
    pages = []
    while True:
        r = sup_api.get(f"{V1}/incidents", limit=3, **({"cursor": cursor} if cursor else {}))
        page = r.json()
        pages.append(page)
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == newest_first
    back = sup_api.get(f"{V1}/incidents", limit=3, cursor=pages[-1]["prev_cursor"]).json()
    assert [i["id"] for i in back["items"]] == newest_first[3:6]


def test_the_list_makes_a_fixed_number_of_queries(estate, sup_api):
    def count() -> tuple[int, int]:
        sup_api.get(f"{V1}/incidents")  # warm up (token last use)
        with CaptureQueriesContext(connection) as ctx:
            r = sup_api.get(f"{V1}/incidents", limit=500)
        assert r.status_code == 200
        return len(ctx.captured_queries), len(r.json()["items"])

    n = 0

    def grow(k):
        nonlocal n
        for _ in range(k):
            n += 1
            person = User.objects.create_user(username=f"cmd-{n}", tenant=estate.tenant)
            person.groups.add(*estate.user("supervisor").groups.all())
            incident = _open(estate, [make_alert(estate, n, site=estate.sites[n % 4])])
            Incident.objects.filter(pk=incident.pk).update(commander=person)

    grow(2)
    few, rows_few = count()
    grow(20)
    many, rows_many = count()
    assert (rows_few, rows_many) == (2, 22)
    assert many == few <= 8


def test_detail_shows_status_updates_and_is_a_fixed_number_of_queries(estate, sup_api):
    incident = _open(estate, [make_alert(estate, n) for n in range(3)])
    now = timezone.now()
    IncidentStatusUpdate.objects.create(
        tenant=estate.tenant, incident=incident, phase="identified", body="Fixing", posted_at=now
    )
    body = sup_api.get(f"{V1}/incidents/{incident.id}").json()
    assert [(u["phase"], u["body"]) for u in body["status_updates"]] == [("identified", "Fixing")]
    with CaptureQueriesContext(connection) as ctx:
        sup_api.get(f"{V1}/incidents/{incident.id}")
    few = len(ctx.captured_queries)
    s.add_alerts(incident, [make_alert(estate, n) for n in range(3, 20)])
    for i in range(10):
        s.add_note(incident, actor=estate.user("supervisor"), body=f"note {i}")
    with CaptureQueriesContext(connection) as ctx:
        sup_api.get(f"{V1}/incidents/{incident.id}")
    assert len(ctx.captured_queries) == few


def test_assignees_are_who_can_see_it_and_act(estate, sup_api):
    incident = _open(estate, [make_alert(estate, 1, site=estate.sites[2])])  # client 2
    names = {
        p["id"] for p in sup_api.get(f"{V1}/incidents/{incident.id}/assignees").json()["assignees"]
    }
    assert estate.user("supervisor").id in names and estate.user("admin").id in names
    assert estate.user("operator").id not in names  # client 1 only
    assert estate.user("viewer").id not in names  # cannot act on alerts


def test_policy_get_put_with_configure_only(estate, api):
    admin = api(estate.user("admin"))
    policy = admin.get(f"{V1}/incident-policy")
    assert policy.status_code == 200
    assert policy.json()["sla_minutes"]["CRITICAL"] == {"acknowledge": 15, "resolve": 240}
    changed = admin.put(
        f"{V1}/incident-policy",
        {
            "group_threshold": 5,
            "excluded_types": ["SYNC_DEGRADED"],
            "sla_minutes": {"HIGH": {"acknowledge": 10, "resolve": 100}},
            "reopen_rule": "within",
            "reopen_within_minutes": 45,
        },
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert body["group_threshold"] == 5 and body["reopen_rule"] == "within"
    assert body["sla_minutes"]["HIGH"] == {"acknowledge": 10, "resolve": 100}
    assert body["sla_minutes"]["CRITICAL"] == {"acknowledge": 15, "resolve": 240}
    # a later change keeps the other severities' targets
    admin.put(f"{V1}/incident-policy", {"sla_minutes": {"LOW": {"acknowledge": 7, "resolve": 9}}})
    table = IncidentPolicy.objects.get(tenant=estate.tenant).sla_minutes
    assert table["HIGH"] == {"acknowledge": 10, "resolve": 100}
    assert table["LOW"] == {"acknowledge": 7, "resolve": 9}
    for role in ("operator", "supervisor", "viewer"):
        for r in (
            api(estate.user(role)).get(f"{V1}/incident-policy"),
            api(estate.user(role)).put(f"{V1}/incident-policy", {"group_threshold": 1}),
        ):
            assert r.status_code == 403
    assert IncidentPolicy.objects.get(tenant=estate.tenant).group_threshold == 5


def test_new_incident_resolves_live_alerts_with_events(
    estate, sup_api, django_capture_on_commit_callbacks
):
    from watchfloor.events import RecordingPublisher, set_publisher

    recorder = RecordingPublisher()
    set_publisher(recorder)
    try:
        alert = make_alert(estate, 1)
        incident = _open(estate, [alert])
        with django_capture_on_commit_callbacks(execute=True):
            r = sup_api.post(f"{V1}/incidents/{incident.id}/resolve", {"note": "done"})
        assert r.status_code == 200
    finally:
        set_publisher(None)
    assert Alert.objects.get(pk=alert.pk).status == Status.RESOLVED
    assert [e["type"] for e in recorder.events] == ["alert.resolved", "incident.updated"]


def test_another_tenants_incident_is_404_on_every_action(estate, other_estate, api):
    """The actions test_api_isolation.py cannot call with a fixed body (their own-object call
    could not succeed): another tenant's incident or alert is a 404, and nothing changes."""
    foreign_alert = make_alert(other_estate, 1)
    foreign = _open(other_estate, [foreign_alert])
    own_alert = make_alert(estate, 1)
    own = _open(estate, [own_alert])
    admin = api(estate.user("admin"))
    before = AuditLog.objects.filter(tenant=other_estate.tenant).count()
    calls = [
        ("post", f"/incidents/{foreign.id}/assign", {"commander_id": estate.user("admin").id}),
        ("post", f"/incidents/{foreign.id}/alerts", {"alert_ids": [own_alert.id]}),
        ("post", f"/incidents/{foreign.id}/merge", {"into_id": own.id}),
        ("post", f"/incidents/{foreign.id}/close", None),
        ("post", f"/incidents/{foreign.id}/notes", {"body": "a note"}),
        ("post", f"/incidents/{foreign.id}/reopen", {"reason": "again"}),
        ("delete", f"/incidents/{foreign.id}/alerts/{foreign_alert.id}", None),
        ("delete", f"/incidents/{own.id}/alerts/{foreign_alert.id}", None),
        (
            "post",
            f"/incidents/{foreign.id}/alerts/{foreign_alert.id}/move",
            {"target_id": own.id},
        ),
        ("post", f"/incidents/{own.id}/alerts/{foreign_alert.id}/move", {"target_id": own.id}),
    ]
    for method, path, body in calls:
        r = admin.delete(V1 + path) if method == "delete" else admin.post(V1 + path, body)
        assert r.status_code == 404, (path, r.content)
        assert error_code(r) == "not_found"
    foreign.refresh_from_db()
    assert foreign.status == IncidentStatus.NEW and foreign.commander_id is None
    assert foreign.memberships.filter(left_at__isnull=True).count() == 1
    assert AuditLog.objects.filter(tenant=other_estate.tenant).count() == before
