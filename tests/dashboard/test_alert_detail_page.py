"""The alert detail page: scope and 404s, buttons per role, PII masking, timeline, correlation
group, links that are never `javascript:`, assignees, CSRF for the API it calls, query count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_alerts import acknowledge, key_for, resolve, trigger
from watchfloor.alerts import services
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.queries import assignable_users
from watchfloor.audit.models import Action, AuditLog
from watchfloor.dashboard.alert_views import safe_url
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.oncall.escalation import escalate_now
from watchfloor.tenancy.models import User

__all__ = ["key_for"]

PII_TITLE = "Guard jane.doe@example.com unreachable, call +1 555 867 5309"
ACTION_FORM = re.compile(r'data-action="(\w+)"')


def html(response) -> str:
    return response.content.decode()


def actions_of(response) -> set[str]:
    return set(ACTION_FORM.findall(html(response)))


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


def raise_alert(key, site, *, type_="DEVICE_OFFLINE", **kw) -> Alert:
    result = ingest([trigger(type_, site=site.code, **kw)], key=key)
    assert result.accepted == 1
    return Alert.objects.filter(site=site, type=type_).latest("id")


def page(client, user, alert_id):
    client.force_login(user)
    return client.get(f"/alerts/{alert_id}/")


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "site", "expected"),
    [
        ("viewer", 2, set()),
        ("operator", 0, {"acknowledge", "assign", "resolve", "comment"}),
        ("supervisor", 2, {"acknowledge", "assign", "escalate", "resolve", "comment"}),
        ("executive", 2, set()),
        ("admin", 2, {"acknowledge", "assign", "escalate", "resolve", "comment"}),
    ],
)
def test_each_role_sees_the_page_with_its_buttons(client, estate, key, role, site, expected):
    alert = raise_alert(key, estate.sites[site])
    response = page(client, estate.user(role), alert.id)
    assert response.status_code == 200
    assert actions_of(response) == expected
    body = html(response)
    assert f"Alert #{alert.id}" in body and "DEVICE_OFFLINE" in body
    assert estate.sites[site].code in body and "Austin, TX" in body
    if expected:
        # hidden until the module runs, so no button is dead without JavaScript
        assert "data-actions hidden" in body and "alert_detail.js" in body
    else:
        assert "data-actions" not in body and "No action is open to you" in body


def test_buttons_follow_the_status(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    supervisor = estate.user("supervisor")
    services.acknowledge_alert(alert, actor=supervisor)
    working = {"assign", "escalate", "resolve", "comment"}
    assert actions_of(page(client, supervisor, alert.id)) == working
    escalate_now(Alert.objects.get(pk=alert.pk), actor=supervisor)
    # an escalated alert someone acknowledged already is not acknowledged again
    assert actions_of(page(client, supervisor, alert.id)) == working
    services.resolve_alert(Alert.objects.get(pk=alert.pk), actor=supervisor, note="fixed")
    response = page(client, supervisor, alert.id)
    # a resolved alert may be reopened or commented, nothing else
    assert actions_of(response) == {"reopen", "comment"}


def test_another_tenants_or_out_of_scope_alert_is_404(client, estate, other_estate, key, key_for):
    theirs = raise_alert(key_for(other_estate), other_estate.sites[0])
    mine_elsewhere = raise_alert(key, estate.sites[3])
    assert page(client, estate.user("admin"), theirs.id).status_code == 404
    assert page(client, estate.user("operator"), mine_elsewhere.id).status_code == 404
    assert page(client, estate.user("viewer"), mine_elsewhere.id).status_code == 404
    assert page(client, estate.user("admin"), 10**9).status_code == 404


def test_without_noc_view_it_is_403_and_audited(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    nobody = User.objects.create_user("nobody", tenant=estate.tenant, password="x")
    response = page(client, nobody, alert.id)
    assert response.status_code == 403
    denied = AuditLog.objects.get(action=Action.ACCESS_DENIED)
    assert denied.actor == nobody and denied.details["path"] == f"/alerts/{alert.id}/"


def test_signed_out_is_sent_to_login(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    response = client.get(f"/alerts/{alert.id}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- what the page shows ----------------------------------------------------------------------


def test_personal_data_is_masked_without_view_pii(client, estate, key):
    alert = raise_alert(
        key,
        estate.sites[2],
        title=PII_TITLE,
        description="Reported by jane.doe@example.com",
        labels={"officer": "Jane Smith", "instance": "cam-7"},
        annotations={"contact_phone": "+1 555 867 5309", "summary": "camera down"},
    )
    supervisor = estate.user("supervisor")
    services.acknowledge_alert(alert, actor=supervisor)

    viewer_page = html(page(client, estate.user("viewer"), alert.id))
    for secret in ("jane.doe@example.com", "Jane Smith", "867 5309", "Supervisor Person"):
        assert secret not in viewer_page, secret
    assert "j***@example.com" in viewer_page and "J***e Sm***h" in viewer_page
    assert "Su***r Pe***n" in viewer_page  # who acknowledged, masked
    assert "cam-7" in viewer_page and "Personal data masked" in viewer_page

    full = html(page(client, supervisor, alert.id))
    for secret in ("jane.doe@example.com", "Jane Smith", "Supervisor Person"):
        assert secret in full, secret


def test_timeline_has_every_step_with_who_when_and_notes(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    ingest([trigger(site=estate.sites[0].code)] * 3, key=key)  # three repeats
    supervisor, operator = estate.user("supervisor"), estate.user("operator")
    services.acknowledge_alert(alert, actor=operator)
    services.assign_alert(alert, actor=supervisor, assignee=operator, note="take the east gate")
    escalate_now(alert, actor=supervisor, note="first escalation")
    escalate_now(alert, actor=supervisor, note="second escalation")
    services.resolve_alert(alert, actor=operator, note="camera rebooted")

    body = html(page(client, supervisor, alert.id))
    items = re.findall(r'<li class="timeline__item timeline__item--(\w+)">', body)
    # in time order: the repeats came before anyone acted
    assert items == ["seen", "seen", "acknowledge", "assign", "escalate", "escalate", "resolve"]
    for text in (
        "First seen",
        "Acknowledged",
        "by Operator Person",
        "take the east gate",
        "first escalation",
        "second escalation",
        "camera rebooted",
        "Last seen",
        "NEW → ACKNOWLEDGED",
    ):
        assert text in body, text
    assert re.search(r"<dt>Occurrences</dt><dd>4</dd>", body)
    # each step on the alert row is merged with the audit entry the same call wrote
    assert body.count('title="Recorded in the audit log"') == 5
    assert "UTC" in body and 'datetime="' in body


def test_steps_by_the_source_and_by_a_deleted_user(client, estate, key):
    by_source = raise_alert(key, estate.sites[0])
    ingest([acknowledge(by_source.fingerprint)], key=key)
    ingest([resolve(by_source.fingerprint)], key=key)
    body = html(page(client, estate.user("supervisor"), by_source.id))
    assert body.count("by the source (native)") == 2  # acknowledged and resolved
    assert "audited" not in body.split('id="timeline-h"')[1].split("</ol>")[0]

    by_someone = raise_alert(key, estate.sites[1])
    leaver = User.objects.create_user(
        "leaver", tenant=estate.tenant, first_name="Lee", last_name="Ver"
    )
    leaver.groups.add(*estate.user("operator").groups.all())
    services.acknowledge_alert(by_someone, actor=User.objects.get(pk=leaver.pk))
    leaver.delete()
    assert Alert.objects.get(pk=by_someone.pk).acknowledged_by is None
    # the audit entry keeps who it was (masked as a name for a viewer without noc:view_pii)
    assert 'Acknowledged</strong> <span class="muted">by leaver</span>' in html(
        page(client, estate.user("supervisor"), by_someone.id)
    )
    assert "by le***r" in html(page(client, estate.user("executive"), by_someone.id))


def test_suppressed_alert_links_its_maintenance_window(client, estate, key):
    now = timezone.now()
    window = MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=estate.clients[0],
        title="Cabling",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    alert = raise_alert(key, estate.sites[0])
    assert alert.status == Status.SUPPRESSED
    body = html(page(client, estate.user("supervisor"), alert.id))
    assert "Suppressed by a maintenance window" in body
    assert f'href="/maintenance/{window.id}/"' in body and "Cabling" in body
    # a suppressed alert may still be resolved, not acknowledged
    assert actions_of(page(client, estate.user("supervisor"), alert.id)) == {"resolve", "comment"}


def test_correlation_group_links_each_alert_in_scope(client, estate, key):
    site = estate.sites[0]
    first = raise_alert(key, site, type_="DEVICE_OFFLINE")
    others = [raise_alert(key, site, type_=t) for t in ("GEOFENCE_BREACH", "SLA_BREACH")]
    assert {a.correlation_id for a in [first, *others]} == {first.correlation_id} != {None}
    body = html(page(client, estate.user("operator"), first.id))
    for other in others:
        assert f'href="/alerts/{other.id}/"' in body
    assert f'href="/alerts/{first.id}/"' not in body  # the page's own alert is not in its group
    lonely = raise_alert(key, estate.sites[1], type_="SYNC_DEGRADED")
    assert lonely.correlation_id not in (None, first.correlation_id)  # a group of its own
    assert "alone in its correlation group" in html(
        page(client, estate.user("operator"), lonely.id)
    )


def test_links_are_http_only(client, estate, key):
    alert = raise_alert(
        key,
        estate.sites[0],
        runbook_url="https://runbooks.example.com/device-offline",
        source_url="https://monitor.example.com/alerts/1",
    )
    body = html(page(client, estate.user("supervisor"), alert.id))
    assert 'href="https://runbooks.example.com/device-offline"' in body
    assert 'href="https://monitor.example.com/alerts/1"' in body
    assert 'rel="noopener noreferrer"' in body

    # a row written around the pipeline's checks still never becomes a javascript: link
    Alert.objects.filter(pk=alert.pk).update(
        runbook_url="javascript:alert(document.cookie)", source_url=" JavaScript:alert(1)"
    )
    body = html(page(client, estate.user("supervisor"), alert.id))
    assert 'href="javascript' not in body.lower() and 'href=" javascript' not in body.lower()
    assert "not an http(s) address" in body


def test_alertmanager_generator_url_from_annotations_is_a_link(client, estate, key_for):
    key = key_for(estate, source="alertmanager")
    alert = raise_alert(
        key,
        estate.sites[0],
        annotations={"generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0"},
    )
    Alert.objects.filter(pk=alert.pk).update(source="alertmanager")
    body = html(page(client, estate.user("supervisor"), alert.id))
    assert 'href="http://prometheus:9090/graph?g0.expr=up%3D%3D0"' in body
    assert "Prometheus expression" in body


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("https://x.example/a", "https://x.example/a"),
        ("http://host:9090/graph", "http://host:9090/graph"),
        ("javascript:alert(1)", ""),
        ("JAVASCRIPT://x.example/%0aalert(1)", ""),
        ("data:text/html,<b>", ""),
        ("//x.example/a", ""),
        ("/relative", ""),
        (None, ""),
    ],
)
def test_safe_url(value, safe):
    assert safe_url(value) == safe


# --- assignees ------------------------------------------------------------------------------


def test_assignees_are_exactly_the_people_the_service_accepts(estate, other_estate, key):
    from django.contrib.auth.models import Permission

    from watchfloor.access.services import assign_scope

    # extra people: inactive, a direct permission without a group, a superuser, a client-scoped
    # user whose client is elsewhere, and one with no capability at all
    inactive = User.objects.create_user("gone", tenant=estate.tenant, is_active=False)
    inactive.groups.add(*estate.user("supervisor").groups.all())
    direct = User.objects.create_user("direct", tenant=estate.tenant)
    direct.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["noc_view", "noc_view_assigned_sites", "noc_ack_alerts"]
        )
    )
    assign_scope(direct, sites=[estate.sites[0]])
    User.objects.create_superuser("root", "root@example.com", "pw")  # platform, no tenant
    elsewhere = User.objects.create_user("elsewhere", tenant=estate.tenant)
    elsewhere.groups.add(*estate.user("operator").groups.all())
    assign_scope(elsewhere, clients=[estate.clients[1]])
    User.objects.create_user("plain", tenant=estate.tenant)

    everyone = list(User.objects.all())
    actor = estate.user("supervisor")
    for site in estate.sites:
        alert = raise_alert(key, site)
        offered = set(assignable_users(alert).values_list("id", flat=True))
        assert offered == accepted_by_the_service(alert, actor, everyone), site.code
    assert direct.id in set(
        assignable_users(Alert.objects.get(site=estate.sites[0])).values_list("id", flat=True)
    )


def accepted_by_the_service(alert, actor, people) -> set[int]:
    """Who `assign_alert` takes, tried one by one and rolled back."""
    from django.db import transaction

    from watchfloor.alerts.services import InvalidAssignee, assign_alert

    accepted = set()
    for person in people:
        try:
            with transaction.atomic():
                assign_alert(Alert.objects.get(pk=alert.pk), actor=actor, assignee=person)
                accepted.add(person.id)
                transaction.set_rollback(True)
        except InvalidAssignee:
            pass
    return accepted


def test_an_alert_without_a_site_is_offered_to_who_sees_its_client_and_can_act(estate, key):
    """#10 bug 10: users scoped to assigned clients see their clients' alerts without a site
    (the operator here); the executive sees it but cannot acknowledge, so is not offered."""
    result = ingest([trigger("SYNC_DEGRADED", client=estate.clients[0].code)], key=key)
    assert result.accepted == 1
    alert = Alert.objects.get(site__isnull=True)
    offered = set(assignable_users(alert).values_list("username", flat=True))
    assert offered == {"acme-supervisor", "acme-operator", "acme-admin"}
    people = list(User.objects.all())
    assert accepted_by_the_service(alert, estate.user("supervisor"), people) == set(
        assignable_users(alert).values_list("id", flat=True)
    )


def test_assignees_are_offered_in_the_form_masked_for_the_operator(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    body = html(page(client, estate.user("operator"), alert.id))
    options = dict(
        (int(v), label)
        for v, label in re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', body)
    )
    assert set(options) == set(assignable_users(alert).values_list("id", flat=True))
    assert estate.user("viewer").id not in options  # sees another site only
    assert options[estate.user("operator").id] == "Op***r Pe***n"


# --- the API the page calls, from the page's session -----------------------------------------


def test_the_page_sets_the_csrf_cookie_its_module_sends(session_browser, estate, key):
    alert = raise_alert(key, estate.sites[0])
    browser = session_browser(estate.user("operator"))
    assert browser.get(f"/alerts/{alert.id}/").status_code == 200
    token = browser.cookies["csrftoken"].value
    url = f"/api/v1/alerts/{alert.id}/acknowledge"
    assert browser.post(url, content_type="application/json").status_code == 403
    response = browser.post(url, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content
    assert Alert.objects.get(pk=alert.pk).status == Status.ACKNOWLEDGED
    again = browser.post(url, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


@pytest.fixture
def session_browser(db):
    from django.test import Client

    def make(user):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        return browser

    return make


# --- query count ----------------------------------------------------------------------------


def test_query_count_does_not_grow_with_the_group_or_the_timeline(client, estate, key):
    site = estate.sites[0]
    alert = raise_alert(key, site, severity=Severity.CRITICAL)
    supervisor = estate.user("supervisor")
    services.acknowledge_alert(alert, actor=supervisor)
    services.assign_alert(alert, actor=supervisor, assignee=estate.user("operator"))
    raise_alert(key, site, type_="GEOFENCE_BREACH")
    client.force_login(supervisor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/alerts/{alert.id}/").status_code == 200
        return len(captured)

    before = queries()
    # a bigger group, many more audit entries (assignments and escalations by other people)
    ingest([trigger(f"TYPE_{i}", site=site.code) for i in range(25)], key=key)
    for i in range(10):
        person = User.objects.create_user(f"helper{i}", tenant=estate.tenant, first_name=f"H{i}")
        person.groups.add(*estate.user("supervisor").groups.all())
        services.assign_alert(Alert.objects.get(pk=alert.pk), actor=person, assignee=person)
        escalate_now(Alert.objects.get(pk=alert.pk), actor=person, note=f"n{i}")
    after = queries()
    assert Alert.objects.filter(correlation_id=alert.correlation_id).count() > 20
    assert AuditLog.objects.filter(entity_id=str(alert.id)).count() > 20
    assert after == before, (before, after)
    # the chrome of every page included; one for the runbook; one for the people the alert names
    # (alerts.queries.attach_people: cheaper to plan than five more JOINs)
    assert before <= 18


# --- comments, reopen, the officer and the htmx swap (#10 section 4) -----------------------


def test_comments_are_on_the_timeline_masked_for_the_operator(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    services.comment_on_alert(
        alert, actor=estate.user("supervisor"), body="Called jane.doe@example.com, +1 555 867 5309"
    )
    masked = html(page(client, estate.user("operator"), alert.id))
    assert "timeline__item--comment" in masked
    assert "j***@example.com" in masked and "jane.doe@example.com" not in masked
    assert "867 5309" not in masked
    clear = html(page(client, estate.user("supervisor"), alert.id))
    assert "jane.doe@example.com" in clear and "+1 555 867 5309" in clear
    # the comment's audit entry (its id and length) is not a second timeline row
    assert clear.count("timeline__item--comment") == 1
    assert "Comment id" not in clear


def test_a_reopen_is_on_the_timeline_with_who_had_resolved_it(client, estate, key):
    from watchfloor.oncall.escalation import reopen

    alert = raise_alert(key, estate.sites[0])
    supervisor = estate.user("supervisor")
    services.resolve_alert(alert, actor=supervisor, note="fixed")
    reopen(Alert.objects.get(pk=alert.pk), actor=estate.user("operator"), note="still down")
    body = html(page(client, supervisor, alert.id))
    assert "timeline__item--reopen" in body and "Reopened" in body
    assert "Had been resolved by" in body and "Supervisor Person" in body
    assert "still down" in body
    assert actions_of(page(client, supervisor, alert.id)) >= {"acknowledge", "resolve"}


def test_the_officer_is_shown_masked_with_a_reveal_button_for_who_may(client, estate, key):
    site = estate.sites[0]
    site.officer_in_charge = estate.user("executive")
    site.save(update_fields=["officer_in_charge"])
    alert = raise_alert(key, site)
    body = html(page(client, estate.user("operator"), alert.id))
    assert "Officer in charge" in body and "Executive Person" not in body
    assert f'data-reveal-site="{site.id}"' in body
    body = html(page(client, estate.user("admin"), alert.id))
    assert "Executive Person" in body and "data-reveal-site" in body
    other = raise_alert(key, estate.sites[2])
    other_site = estate.sites[2]
    other_site.officer_in_charge = estate.user("executive")
    other_site.save(update_fields=["officer_in_charge"])
    body = html(page(client, estate.user("executive"), other.id))  # no noc:reveal_contact
    assert "Officer in charge" in body and "data-reveal-site" not in body


def test_an_htmx_request_gets_the_alert_body_alone(client, estate, key):
    alert = raise_alert(key, estate.sites[0])
    client.force_login(estate.user("operator"))
    full = client.get(f"/alerts/{alert.id}/")
    swap = client.get(f"/alerts/{alert.id}/", headers={"HX-Request": "true"})
    assert swap.status_code == 200
    body = html(swap)
    assert body.lstrip().startswith('<div id="alert-body"')
    assert "<html" not in body and "topbar" not in body and 'id="action-status"' not in body
    assert "HX-Request" in full["Vary"] and "HX-Request" in swap["Vary"]
    assert "django_htmx/htmx-2.min.js" in html(full)
