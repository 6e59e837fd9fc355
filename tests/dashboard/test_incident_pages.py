"""The incidents pages: the list (scope, filters, SLA badges, bad parameters, query count), one
incident (alerts, timeline in words, masking, other tenants' ids), its actions through the
services (capability, CSRF, audit), "new incident from these alerts" on the alerts page, the
alert page's link to its incident, the overview's SLA tile and the incident policy page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_alerts import key_for, publisher, trigger
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog
from watchfloor.incidents import services
from watchfloor.incidents.models import (
    EventKind,
    Incident,
    IncidentPolicy,
    IncidentStatus,
    Origin,
)
from watchfloor.tenancy.models import Site

__all__ = ["key_for", "publisher"]

ROW_LINK = re.compile(r'<a href="/incidents/(\d+)/">')
PII_TITLE = "Call jane.doe@example.com on +1-555-123-4567"


def html(response) -> str:
    return response.content.decode()


def listed(response) -> list[int]:
    assert response.status_code == 200, html(response)[:2000]
    return [int(i) for i in ROW_LINK.findall(html(response))]


def signed_in(user, *, csrf: bool = False) -> Client:
    browser = Client(enforce_csrf_checks=csrf)
    browser.force_login(user)
    return browser


@pytest.fixture
def seeded(estate, key_for):
    """Per site: a CRITICAL and a LOW alert; an incident per site holding both (the first
    site's with PII in its title), opened by the supervisor."""
    events = []
    for n, site in enumerate(estate.sites):
        title = PII_TITLE if n == 0 else f"Device offline at {site.code}"
        events.append(
            trigger("DEVICE_OFFLINE", site=site.code, severity=Severity.CRITICAL, title=title)
        )
        events.append(trigger("GEOFENCE_BREACH", site=site.code, severity=Severity.LOW))
    ingest(events, key=key_for(estate))
    actor = estate.user("supervisor")
    estate.incidents = []
    for n, site in enumerate(estate.sites):
        alerts = list(Alert.objects.filter(site=site).order_by("id"))
        estate.incidents.append(
            services.open_incident(
                alerts,
                actor=actor,
                origin=Origin.MANUAL,
                title=PII_TITLE if n == 0 else f"Outage at {site.code}",
                tenant=estate.tenant,
            )
        )
    return estate


# --- the list --------------------------------------------------------------------------------


def test_the_list_shows_the_incidents_in_scope_newest_first(seeded):
    everyone = listed(signed_in(seeded.user("supervisor")).get("/incidents/"))
    assert everyone == [i.pk for i in reversed(seeded.incidents)]
    # the operator sees the first client's two sites; the viewer one site of the second client
    assert sorted(listed(signed_in(seeded.user("operator")).get("/incidents/"))) == [
        seeded.incidents[0].pk,
        seeded.incidents[1].pk,
    ]
    assert listed(signed_in(seeded.user("viewer")).get("/incidents/")) == [seeded.incidents[2].pk]


def test_another_tenants_incidents_are_never_listed_nor_shown(seeded, other_estate):
    outsider = signed_in(other_estate.user("admin"))
    assert listed(outsider.get("/incidents/")) == []
    response = outsider.get(f"/incidents/{seeded.incidents[0].pk}/")
    assert response.status_code == 404
    # out of scope in the same tenant: the same 404
    viewer = signed_in(seeded.user("viewer"))
    assert viewer.get(f"/incidents/{seeded.incidents[0].pk}/").status_code == 404
    assert viewer.get("/incidents/999999999/").status_code == 404


def test_the_list_filters_by_status_severity_client_site_text_and_sla(seeded):
    browser = signed_in(seeded.user("supervisor"))
    first, second, third, fourth = seeded.incidents
    services.acknowledge_incident(second, actor=seeded.user("supervisor"))
    assert listed(browser.get("/incidents/", {"status": "ACKNOWLEDGED"})) == [second.pk]
    assert sorted(listed(browser.get("/incidents/", {"status": "NEW,ACKNOWLEDGED"}))) == sorted(
        i.pk for i in seeded.incidents
    )
    assert listed(browser.get("/incidents/", {"client": seeded.clients[1].pk})) == [
        fourth.pk,
        third.pk,
    ]
    assert listed(browser.get("/incidents/", {"site": seeded.sites[0].pk})) == [first.pk]
    assert listed(browser.get("/incidents/", {"q": seeded.sites[3].code})) == [fourth.pk]
    by_id = listed(browser.get("/incidents/", {"q": f"#{third.pk}"}))
    assert third.pk in by_id and fourth.pk not in by_id
    assert len(listed(browser.get("/incidents/", {"severity": "CRITICAL"}))) == 4
    assert listed(browser.get("/incidents/", {"severity": "LOW"})) == []
    # SLA: one incident past its acknowledge target, one past 75 % of it
    now = timezone.now()
    Incident.objects.filter(pk=first.pk).update(
        ack_due_at=now - timedelta(minutes=1), ack_risk_at=now - timedelta(minutes=5)
    )
    Incident.objects.filter(pk=third.pk).update(
        ack_due_at=now + timedelta(minutes=3), ack_risk_at=now - timedelta(minutes=1)
    )
    breached = browser.get("/incidents/", {"sla": "breached"})
    assert listed(breached) == [first.pk]
    assert "sla--breached" in html(breached)
    at_risk = browser.get("/incidents/", {"sla": "at_risk"})
    assert listed(at_risk) == [third.pk]
    assert "sla--at_risk" in html(at_risk)


def test_most_severe_first(seeded):
    browser = signed_in(seeded.user("supervisor"))
    Incident.objects.filter(pk=seeded.incidents[1].pk).update(severity=Severity.LOW)
    rows = listed(browser.get("/incidents/", {"sort": "severity"}))
    assert rows[-1] == seeded.incidents[1].pk
    assert rows[:3] == [seeded.incidents[3].pk, seeded.incidents[2].pk, seeded.incidents[0].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "SLEEPING"}, "status"),
        ({"severity": "URGENT"}, "severity"),
        ({"client": "abc"}, "client"),
        ({"site": "99999999999999999999999"}, "site"),
        ({"sla": "late"}, "sla"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"open": "maybe"}, "open"),
        ({"sort": "random"}, "sort"),
        ({"page": "0"}, "page"),
        ({"page": "-3"}, "page"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(seeded, params, field):
    response = signed_in(seeded.user("supervisor")).get("/incidents/", params)
    assert response.status_code == 400
    assert f"<strong>{field}</strong>" in html(response)


def select_options(response, name: str) -> list[tuple[int, str, bool]]:
    """(id, text, selected) of each option of the filter's <select name=...> but "Any"."""
    select = re.search(rf'<select id="f-{name}" name="{name}">(.*?)</select>', html(response), re.S)
    return [
        (int(value), text, bool(chosen))
        for value, chosen, text in re.findall(
            r'<option value="(\d+)"( selected)?>([^<]*)</option>', select.group(1)
        )
    ]


def test_the_filter_offers_the_clients_and_sites_in_scope_as_they_are_now(seeded, other_estate):
    supervisor = signed_in(seeded.user("supervisor"))
    sites = select_options(supervisor.get("/incidents/"), "site")
    assert sorted(i for i, _, _ in sites) == sorted(s.pk for s in seeded.sites)
    with CaptureQueriesContext(connection) as queries:  # the tenant's lists, kept
        assert select_options(supervisor.get("/incidents/"), "site") == sites
    assert not [q for q in queries.captured_queries if 'FROM "tenancy_site"' in q["sql"]]
    # users with assigned clients or sites are offered theirs only; another tenant's never
    operator = select_options(signed_in(seeded.user("operator")).get("/incidents/"), "site")
    assert sorted(i for i, _, _ in operator) == [seeded.sites[0].pk, seeded.sites[1].pk]
    viewer = select_options(signed_in(seeded.user("viewer")).get("/incidents/"), "client")
    assert [i for i, _, _ in viewer] == [seeded.clients[1].pk]
    outsider = select_options(signed_in(other_estate.user("admin")).get("/incidents/"), "site")
    assert not {i for i, _, _ in outsider} & {s.pk for s in seeded.sites}
    # the lists are kept per tenant for a few seconds: a site added and a client renamed in
    # this process show on the next page at once, the names escaped
    added = Site.objects.create(
        tenant=seeded.tenant,
        client=seeded.clients[1],
        code="acme-new",
        name="Depot <B> & yard",
        latitude=30.0,
        longitude=-97.0,
    )
    renamed = seeded.clients[0]
    renamed.name = "Acme Renamed"
    renamed.save()
    page = supervisor.get("/incidents/", {"site": added.pk})
    assert (added.pk, "Depot &lt;B&gt; &amp; yard", True) in select_options(page, "site")
    assert (renamed.pk, "Acme Renamed", False) in select_options(page, "client")
    assert all(not chosen for _, _, chosen in select_options(supervisor.get("/incidents/"), "site"))
    added.delete()
    assert added.pk not in [i for i, _, _ in select_options(supervisor.get("/incidents/"), "site")]


def test_the_rows_escape_what_they_print(seeded):
    incident = seeded.incidents[1]
    Incident.objects.filter(pk=incident.pk).update(
        title='<script>alert("t")</script>', external_ref='REF<1>&"x"'
    )
    page = html(signed_in(seeded.user("supervisor")).get("/incidents/"))
    assert "<script>alert" not in page
    assert f"#{incident.pk} &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;</a>" in page
    assert '<span class="sub">REF&lt;1&gt;&amp;&quot;x&quot;</span>' in page


def test_titles_are_masked_without_view_pii(seeded):
    operator = html(signed_in(seeded.user("operator")).get("/incidents/"))
    assert "jane.doe@example.com" not in operator and "555-123-4567" not in operator
    assert "j***@example.com" in operator
    supervisor = html(signed_in(seeded.user("supervisor")).get("/incidents/"))
    assert "jane.doe@example.com" in supervisor


def test_the_list_reads_a_fixed_number_of_queries(seeded, key_for):
    browser = signed_in(seeded.user("supervisor"))
    browser.get("/incidents/")  # session, permissions warmed

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert browser.get("/incidents/").status_code == 200
        return len(queries)

    before = count()
    more = [trigger("DISK_FULL", site=s.code, severity=Severity.HIGH) for s in seeded.sites]
    ingest(more, key=key_for(seeded))
    for alert in Alert.objects.filter(type="DISK_FULL"):
        services.open_incident(
            [alert], actor=seeded.user("supervisor"), origin=Origin.MANUAL, tenant=seeded.tenant
        )
    services.assign_incident(
        seeded.incidents[0], actor=seeded.user("supervisor"), commander=seeded.user("operator")
    )
    assert count() == before


def test_pages(seeded):
    browser = signed_in(seeded.user("supervisor"))
    first = listed(browser.get("/incidents/"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("watchfloor.dashboard.incident_list.PAGE_SIZE", 3)
        page_one = listed(browser.get("/incidents/"))
        page_two = browser.get("/incidents/", {"page": 2})
        assert page_one == first[:3]
        assert listed(page_two) == first[3:]
        assert 'rel="prev"' in html(page_two)


def test_the_list_needs_view(seeded, estate):
    from django.contrib.auth.models import Group

    user = estate.user("viewer")
    user.groups.set([Group.objects.create(name="nothing")])
    response = signed_in(user).get("/incidents/")
    assert response.status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=user).exists()


def test_htmx_gets_the_lists_body_alone(seeded):
    response = signed_in(seeded.user("supervisor")).get("/incidents/", HTTP_HX_REQUEST="true")
    body = html(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card" aria-labelledby="incidents-h"')
    assert "<html" not in body


# --- one incident ----------------------------------------------------------------------------


def test_the_detail_shows_alerts_timeline_people_and_clocks(seeded):
    incident = seeded.incidents[0]
    supervisor = seeded.user("supervisor")
    services.assign_incident(
        incident, actor=supervisor, commander=seeded.user("operator"), responders=[supervisor]
    )
    services.add_note(incident, actor=supervisor, body="Guard on the way")
    page = html(signed_in(supervisor).get(f"/incidents/{incident.pk}/"))
    for alert in Alert.objects.filter(site=seeded.sites[0]):
        assert f'href="/alerts/{alert.pk}/"' in page
    assert "opened it from selected alerts" in page
    assert "made Operator Person the commander" in page
    assert "added Supervisor Person as a responder" in page
    assert "Guard on the way" in page
    assert 'data-clock="acknowledge"' in page and 'data-clock="resolve"' in page
    assert "left" in page  # the clocks count down


def test_the_detail_masks_pii_for_the_operator(seeded):
    incident = seeded.incidents[0]
    supervisor = seeded.user("supervisor")
    services.add_note(incident, actor=supervisor, body="Ring jane.doe@example.com now")
    services.edit_incident(
        incident, actor=supervisor, summary="Owner: +1-555-123-4567", external_ref="jane@x.org"
    )
    operator = signed_in(seeded.user("operator"))
    page = html(operator.get(f"/incidents/{incident.pk}/"))
    assert "jane.doe@example.com" not in page and "jane@x.org" not in page
    assert "555-123-4567" not in page
    assert "j***@example.com" in page
    # saving the edit form as shown keeps what the operator could not see
    operator.post(
        f"/incidents/{incident.pk}/edit/",
        {"title": "", "summary": "", "runbook_url": "", "external_ref": ""},
    )
    incident.refresh_from_db()
    assert incident.title == PII_TITLE
    assert incident.summary == "Owner: +1-555-123-4567"
    assert incident.external_ref == "jane@x.org"


def test_actions_follow_capabilities(seeded):
    incident = seeded.incidents[2]
    viewer_page = html(signed_in(seeded.user("viewer")).get(f"/incidents/{incident.pk}/"))
    assert "/acknowledge/" not in viewer_page
    assert "No action is open to you" in viewer_page
    supervisor_page = html(signed_in(seeded.user("supervisor")).get(f"/incidents/{incident.pk}/"))
    for action in ("acknowledge", "assign", "resolve", "merge", "note", "edit"):
        assert f"/incidents/{incident.pk}/{action}/" in supervisor_page


def test_acknowledge_from_the_page_goes_through_the_service(
    seeded, publisher, django_capture_on_commit_callbacks
):
    incident = seeded.incidents[0]
    operator = seeded.user("operator")
    publisher.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(operator).post(f"/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 302
    assert response["Location"] == f"/incidents/{incident.pk}/"
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    assert incident.acknowledged_by == operator
    assert incident.events.filter(kind=EventKind.STATUS).exists()
    assert AuditLog.objects.filter(actor=operator, entity_id=str(incident.pk)).exists()
    assert [e["incident"]["id"] for e in publisher.of_type("incident.updated")] == [incident.pk]
    # twice: the service refuses, the page says why
    again = signed_in(operator).post(f"/incidents/{incident.pk}/acknowledge/", follow=True)
    assert "Cannot acknowledge" in html(again)


def test_actions_need_csrf(seeded):
    incident = seeded.incidents[0]
    browser = signed_in(seeded.user("supervisor"), csrf=True)
    assert browser.post(f"/incidents/{incident.pk}/acknowledge/").status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.NEW


def test_the_viewer_cannot_act_and_is_audited(seeded):
    incident = seeded.incidents[2]
    viewer = seeded.user("viewer")
    response = signed_in(viewer).post(f"/incidents/{incident.pk}/acknowledge/")
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.NEW
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=viewer).exists()


def test_actions_on_another_tenants_incident_are_a_404(seeded, other_estate):
    incident = seeded.incidents[0]
    response = signed_in(other_estate.user("admin")).post(
        f"/incidents/{incident.pk}/resolve/", {"note": "mine now"}
    )
    assert response.status_code == 404
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.NEW


def test_resolve_needs_a_note_and_resolves_the_alerts(seeded):
    incident = seeded.incidents[0]
    browser = signed_in(seeded.user("supervisor"))
    refused = browser.post(f"/incidents/{incident.pk}/resolve/", {"note": "  "}, follow=True)
    assert "How was it resolved: write something." in html(refused)
    browser.post(f"/incidents/{incident.pk}/resolve/", {"note": "Power back"})
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert set(Alert.objects.filter(site=seeded.sites[0]).values_list("status", flat=True)) == {
        Status.RESOLVED
    }
    browser.post(f"/incidents/{incident.pk}/close/")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.CLOSED


def test_assign_note_edit_and_start(seeded):
    incident = seeded.incidents[0]
    supervisor, operator = seeded.user("supervisor"), seeded.user("operator")
    browser = signed_in(supervisor)
    browser.post(
        f"/incidents/{incident.pk}/assign/",
        {"commander": operator.pk, "responders": [supervisor.pk]},
    )
    incident.refresh_from_db()
    assert incident.commander == operator
    assert incident.status == IncidentStatus.ASSIGNED
    browser.post(f"/incidents/{incident.pk}/start/")
    browser.post(f"/incidents/{incident.pk}/note/", {"body": "Checking the UPS"})
    browser.post(
        f"/incidents/{incident.pk}/edit/",
        {"title": "UPS failure", "summary": "", "runbook_url": "https://runbooks.example/ups"},
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.IN_PROGRESS
    assert incident.title == "UPS failure"
    assert incident.events.filter(kind=EventKind.NOTE, body="Checking the UPS").exists()
    page = html(browser.get(f"/incidents/{incident.pk}/"))
    assert 'href="https://runbooks.example/ups"' in page


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("assign", {"commander": "abc"}, "Commander: choose one."),
        ("assign", {}, "Choose a commander or at least one responder."),
        ("note", {"body": "x" * 5001}, "Note: at most 5000 characters."),
        ("note", {"body": "a\x00b"}, "Note: contains a NUL character."),
        ("edit", {"title": "t", "runbook_url": "javascript:alert(1)"}, "Runbook link"),
        ("merge", {"into": ""}, "Merge into: choose one."),
    ],
)
def test_bad_form_values_name_the_field(seeded, action, data, message):
    incident = seeded.incidents[0]
    response = signed_in(seeded.user("supervisor")).post(
        f"/incidents/{incident.pk}/{action}/", data, follow=True
    )
    assert response.status_code == 200
    assert message in html(response)


def test_an_unknown_action_is_a_404(seeded):
    browser = signed_in(seeded.user("supervisor"))
    assert browser.post(f"/incidents/{seeded.incidents[0].pk}/explode/").status_code == 404


def test_merge_and_move(seeded):
    first, second = seeded.incidents[0], seeded.incidents[1]
    browser = signed_in(seeded.user("supervisor"))
    alert = Alert.objects.filter(site=seeded.sites[0]).order_by("id").first()
    response = browser.post(
        f"/incidents/{first.pk}/move/", {"alert": alert.pk, "target": second.pk}
    )
    assert response.status_code == 302
    assert second.memberships.filter(alert=alert, left_at__isnull=True).exists()
    response = browser.post(f"/incidents/{first.pk}/merge/", {"into": second.pk})
    assert response["Location"] == f"/incidents/{second.pk}/"
    first.refresh_from_db()
    assert first.merged_into_id == second.pk


def test_merge_into_an_incident_out_of_scope_is_a_404(seeded):
    # the operator sees the first client only
    response = signed_in(seeded.user("operator")).post(
        f"/incidents/{seeded.incidents[0].pk}/merge/", {"into": seeded.incidents[3].pk}
    )
    assert response.status_code == 404


# --- from the alerts page --------------------------------------------------------------------


def test_new_incident_from_selected_alerts(estate, key_for):
    ingest(
        [trigger("DEVICE_OFFLINE", site=s.code, severity=Severity.HIGH) for s in estate.sites[:2]],
        key=key_for(estate),
    )
    ids = list(Alert.objects.order_by("id").values_list("id", flat=True))
    browser = signed_in(estate.user("operator"))
    page = html(browser.get("/alerts/"))
    assert "New incident from these alerts" in page
    response = browser.post("/incidents/new/", {"ids": ids, "title": "Two sites down"})
    incident = Incident.objects.get()
    assert response["Location"] == f"/incidents/{incident.pk}/"
    assert incident.origin == Origin.MANUAL
    assert incident.title == "Two sites down"
    assert sorted(incident.memberships.values_list("alert_id", flat=True)) == ids
    # the alert page links to it
    alert_page = html(browser.get(f"/alerts/{ids[0]}/"))
    assert f'href="/incidents/{incident.pk}/"' in alert_page


def test_new_incident_refuses_alerts_out_of_scope(estate, other_estate, key_for):
    ingest([trigger("DEVICE_OFFLINE", site=estate.sites[3].code)], key=key_for(estate))
    alert = Alert.objects.get()
    # the operator sees the first client only: the second client's alert is a 404
    response = signed_in(estate.user("operator")).post("/incidents/new/", {"ids": [alert.pk]})
    assert response.status_code == 404
    response = signed_in(other_estate.user("admin")).post("/incidents/new/", {"ids": [alert.pk]})
    assert response.status_code == 404
    assert not Incident.objects.exists()
    refused = signed_in(estate.user("viewer")).post("/incidents/new/", {"ids": [alert.pk]})
    assert refused.status_code == 403
    bad = signed_in(estate.user("supervisor")).post("/incidents/new/", {"ids": ["x"]}, follow=True)
    assert "Select between 1 and" in html(bad)


# --- the overview's SLA tile -----------------------------------------------------------------


def test_the_sla_tile_counts_open_at_risk_and_breached_in_scope(seeded, api):
    now = timezone.now()
    first, _, third, fourth = seeded.incidents
    Incident.objects.filter(pk=first.pk).update(ack_due_at=now - timedelta(minutes=1))
    Incident.objects.filter(pk=third.pk).update(
        ack_due_at=now + timedelta(minutes=3), ack_risk_at=now - timedelta(minutes=1)
    )
    services.resolve_incident(fourth, actor=seeded.user("supervisor"), note="done")
    answer = api(seeded.user("supervisor")).get("/api/v1/overview/incidents")
    assert answer.status_code == 200
    assert answer.json() == {"open": 3, "at_risk": 1, "breached": 1}
    # the operator sees the first client: one breached, none at risk
    mine = api(seeded.user("operator")).get("/api/v1/overview/incidents").json()
    assert mine == {"open": 2, "at_risk": 0, "breached": 1}
    page = html(signed_in(seeded.user("operator")).get("/"))
    assert 'href="/incidents/?sla=breached"' in page


# --- the incident policy ---------------------------------------------------------------------


def policy_form(**changes) -> dict:
    data = {
        "open_on_critical": "on",
        "group_threshold": "4",
        "excluded_types": "Watchdog, ATTENDANCE_ANOMALY",
        "reopen_rule": "within",
        "reopen_within_minutes": "45",
    }
    for s in Severity:
        data[f"sla_{s.value}_acknowledge"] = "10"
        data[f"sla_{s.value}_resolve"] = "100"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_policy_page_saves_and_audits(estate):
    admin = estate.user("admin")
    browser = signed_in(admin)
    assert browser.get("/incidents/policy/").status_code == 200
    response = browser.post("/incidents/policy/", policy_form(open_on_critical=None))
    assert response.status_code == 302
    policy = IncidentPolicy.objects.get(tenant=estate.tenant)
    assert policy.open_on_critical is False
    assert policy.group_threshold == 4
    assert sorted(policy.excluded_types) == ["ATTENDANCE_ANOMALY", "Watchdog"]
    assert policy.sla_minutes["CRITICAL"] == {"acknowledge": 10, "resolve": 100}
    assert policy.reopen_rule == "within" and policy.reopen_within_minutes == 45
    assert AuditLog.objects.filter(action=Action.CONFIG_CHANGE, actor=admin).exists()
    assert "Incident policy saved." in html(browser.get("/incidents/policy/"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"group_threshold": "-1"}, "group_threshold"),
        ({"group_threshold": "1001"}, "group_threshold"),
        ({"sla_HIGH_acknowledge": "0"}, "sla_HIGH_acknowledge"),
        ({"sla_LOW_resolve": "99999999999"}, "sla_LOW_resolve"),
        ({"sla_LOW_resolve": "5"}, "sla_LOW_resolve"),
        ({"reopen_rule": "sometimes"}, "reopen_rule"),
        ({"reopen_within_minutes": "abc"}, "reopen_within_minutes"),
    ],
)
def test_the_policy_page_refuses_values_out_of_range(estate, changes, field):
    before = IncidentPolicy.objects.filter(tenant=estate.tenant).first()
    response = signed_in(estate.user("admin")).post("/incidents/policy/", policy_form(**changes))
    assert response.status_code == 422
    assert f"<strong>{field}</strong>" in html(response)
    after = IncidentPolicy.objects.filter(tenant=estate.tenant).first()
    assert (after.group_threshold if after else None) == (
        before.group_threshold if before else (after.group_threshold if after else None)
    )
    assert after is None or after.sla_minutes["HIGH"]["acknowledge"] != 0


def test_the_policy_page_needs_configure(estate):
    supervisor = estate.user("supervisor")
    response = signed_in(supervisor).post("/incidents/policy/", policy_form())
    assert response.status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=supervisor).exists()
    assert not IncidentPolicy.objects.filter(updated_by=supervisor).exists()


def test_most_severe_first_pages_across_severities(seeded, key_for):
    more = [trigger("DISK_FULL", site=s.code, severity=Severity.LOW) for s in seeded.sites]
    more += [trigger("NOISE", site=s.code, severity=Severity.HIGH) for s in seeded.sites[:2]]
    ingest(more, key=key_for(seeded))
    for alert in Alert.objects.filter(type__in=("DISK_FULL", "NOISE")):
        services.open_incident(
            [alert], actor=seeded.user("supervisor"), origin=Origin.MANUAL, tenant=seeded.tenant
        )
    browser = signed_in(seeded.user("supervisor"))
    whole = listed(browser.get("/incidents/", {"sort": "severity"}))
    expected = list(Incident.objects.order_by("-opened_at", "-id").values_list("id", "severity"))
    rank = {s.value: n for n, s in enumerate(Severity)}
    assert whole == [i for i, _ in sorted(expected, key=lambda r: rank[r[1]])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("watchfloor.dashboard.incident_list.PAGE_SIZE", 3)
        pages = [
            listed(browser.get("/incidents/", {"sort": "severity", "page": n}))
            for n in (1, 2, 3, 4)
        ]
        assert [i for page in pages for i in page] == whole
        # past the end: the last page
        assert listed(browser.get("/incidents/", {"sort": "severity", "page": 99})) == pages[-1]


def test_the_detail_reads_a_fixed_number_of_queries(seeded):
    incident = seeded.incidents[0]
    supervisor = seeded.user("supervisor")
    browser = signed_in(supervisor)
    services.assign_incident(incident, actor=supervisor, commander=supervisor)
    browser.get(f"/incidents/{incident.pk}/")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(f"/incidents/{incident.pk}/").status_code == 200
        return len(queries)

    before = count()
    services.assign_incident(
        incident,
        actor=supervisor,
        commander=seeded.user("operator"),
        responders=[supervisor, seeded.user("admin")],
    )
    for n in range(5):
        services.add_note(incident, actor=supervisor, body=f"note {n}")
    assert count() == before


def test_the_detail_shows_the_runbook_of_each_alert_type(seeded):
    from watchfloor.alerts.runbook_services import create_runbook

    create_runbook(
        actor=seeded.user("admin"),
        alert_type="DEVICE_OFFLINE",
        title="Camera or gateway offline",
        body="1. Call the site.\n2. Power-cycle the **gateway**.",
    )
    page = html(signed_in(seeded.user("supervisor")).get(f"/incidents/{seeded.incidents[0].pk}/"))
    assert "Runbook: Camera or gateway offline" in page
    assert "<strong>gateway</strong>" in page  # its Markdown, rendered safely
    assert "No runbook for GEOFENCE_BREACH alerts yet." in page  # the other type of its alerts


def test_a_client_status_update_from_the_page(seeded):
    from watchfloor.incidents.models import IncidentStatusUpdate

    incident = seeded.incidents[0]
    operator = signed_in(seeded.user("operator"))
    response = operator.post(
        f"/incidents/{incident.pk}/status_update/",
        {"phase": "identified", "body": "Power cut at the site; call jane.doe@example.com"},
        follow=True,
    )
    assert "Status update posted" in html(response)
    update = IncidentStatusUpdate.objects.get(incident=incident)
    assert update.phase == "identified"
    assert "jane.doe@example.com" not in update.body  # masked when stored (the service)
    assert "Power cut at the site" in html(response)
    refused = operator.post(
        f"/incidents/{incident.pk}/status_update/", {"phase": "guessing", "body": "x"}, follow=True
    )
    assert "phase: One of" in html(refused)
    viewer = signed_in(seeded.user("viewer"))
    denied = viewer.post(
        f"/incidents/{seeded.incidents[2].pk}/status_update/", {"phase": "identified", "body": "x"}
    )
    assert denied.status_code == 403
    assert IncidentStatusUpdate.objects.count() == 1


def test_timeline_says_why_an_alert_joined_in_words():
    from watchfloor.dashboard.incident_views import JOIN_REASONS
    from watchfloor.incidents.models import Origin

    for origin in Origin.values:
        assert JOIN_REASONS[origin] and "_" not in JOIN_REASONS[origin]


def test_a_rules_line_names_every_alert_that_joined_up_to_a_limit():
    """The rules write one `alert_joined` line per call with `alert_ids`; a person's line has
    one `alert_id`. Both read in words with links; past LINKS_SHOWN the rest are counted."""
    from datetime import UTC, datetime

    from watchfloor.dashboard.incident_views import LINKS_SHOWN, _line
    from watchfloor.incidents.models import EventKind, Origin

    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ids = list(range(1, LINKS_SHOWN + 6))
    many = _line(
        {"kind": EventKind.ALERT_JOINED, "at": at,
         "details": {"alert_ids": ids, "reason": Origin.ALERT_GROUP}},
        {},
    )  # fmt: skip
    assert many.text.startswith(f"added {len(ids)} alerts (") and "alert_group" not in many.text
    assert [t for t, _href in many.links] == [f"alert #{i}" for i in ids[:LINKS_SHOWN]]
    assert many.links[0][1] == "/alerts/1/" and many.more == 5
    one = _line(
        {"kind": EventKind.ALERT_JOINED, "at": at, "details": {"alert_ids": [7], "reason": ""}},
        {},
    )
    assert (one.text, [t for t, _h in one.links], one.more) == ("added an alert:", ["alert #7"], 0)
    person = _line(
        {"kind": EventKind.ALERT_JOINED, "at": at, "details": {"alert_id": 9, "reason": ""}},
        {},
    )
    assert (person.text, person.link, person.links) == (
        "added an alert:",
        ("alert #9", "/alerts/9/"),
        (),
    )
