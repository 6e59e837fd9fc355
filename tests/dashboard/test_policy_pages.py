"""The escalation policy pages: policies in plain words for `noc:view`, create/edit/delete for
`noc:configure` only (403 and an audit entry otherwise), scope and tenant isolation (404),
validation errors shown with nothing stored, CSRF, and the alert page's escalation section."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_alerts import key_for, trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall.models import (
    AlertEscalation,
    EscalationPolicy,
    EscalationState,
    PolicyVersion,
    Schedule,
    TeamChannel,
)
from watchfloor.oncall.policy_services import create_policy, ensure_default_policy
from watchfloor.tenancy.models import Client as TenantClient

__all__ = ["key_for"]


def html(response) -> str:
    return response.content.decode()


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def policies(estate):
    """The shipped default and a policy for the second client (schedule, then a channel)."""
    default = ensure_default_policy(estate.tenant.id)
    schedule = Schedule.objects.create(tenant=estate.tenant, name="NOC Day")
    channel = TeamChannel.objects.create(
        tenant=estate.tenant, name="noc-room", medium="webhook", address="https://hooks.test/x"
    )
    client_policy = create_policy(
        estate.tenant,
        actor=estate.user("admin"),
        name="Client 2 paging",
        client=estate.clients[1],
        steps=[
            {"delay_minutes": 5, "severities": ["CRITICAL"], "targets": [{"kind": "officer"}]},
            {"delay_minutes": 10, "targets": [{"kind": "schedule", "id": schedule.id}]},
            {
                "delay_minutes": 0,
                "severities": ["CRITICAL", "HIGH"],
                "targets": [
                    {"kind": "channel", "id": channel.id},
                    {"kind": "user", "id": estate.user("supervisor").id},
                ],
            },
        ],
        repeat=2,
        notify_after_minutes=3,
    )
    return {
        "default": default,
        "client": client_policy,
        "schedule": schedule,
        "channel": channel,
    }


def form_body(**overrides) -> dict:
    """A valid edit/create form: one step, CRITICAL, to the site's officer after 7 minutes."""
    body = {
        "name": "Night paging",
        "repeat": "1",
        "notify_after_minutes": "2",
        "step_count": "1",
        "s0-delay": "7",
        "s0-sev": ["CRITICAL"],
        "s0-target": ["officer"],
        "op": "save",
    }
    body.update(overrides)
    return body


def versions(policy) -> int:
    return PolicyVersion.objects.filter(policy=policy).count()


# --- reading -------------------------------------------------------------------------------------


def test_viewer_sees_the_policies_in_plain_words_and_no_edit_controls(client, estate, policies):
    body = html(signed_in(client, estate.user("viewer")).get("/escalation/"))
    assert "After 15 min, CRITICAL only: the site&#x27;s officer in charge" in body
    assert "After 5 min, CRITICAL only: the site&#x27;s officer in charge" in body
    assert "then after 10 min: on call in NOC Day" in body
    assert "then at once, CRITICAL and HIGH only: channel noc-room; " in body
    # the named person is masked for a reader without noc:view_pii
    assert "Supervisor Person" not in body and "Su***r Pe***n" in body
    assert "the whole chain 2 more times" in body and "3 min" in body
    assert "by Ad***n Pe***n" in body  # who saved the version, masked
    assert "Personal data masked" in body
    assert "/edit/" not in body and "New client policy" not in body
    detail = html(client.get(f"/escalation/{policies['client'].id}/"))
    assert "Version history" in detail and "Edit policy" not in detail
    assert "Delete policy" not in detail


def test_admin_sees_edit_controls_names_unmasked_and_the_history(client, estate, policies):
    body = html(signed_in(client, estate.user("admin")).get("/escalation/"))
    assert f'href="/escalation/{policies["client"].id}/edit/"' in body
    assert f'href="/escalation/{policies["default"].id}/edit/"' in body
    assert "New client policy" in body  # the first client has no policy of its own yet
    assert "Supervisor Person" in body and "by Admin Person" in body
    detail = html(client.get(f"/escalation/{policies['client'].id}/"))
    assert "Edit policy" in detail and "Delete policy" in detail
    default = html(client.get(f"/escalation/{policies['default'].id}/"))
    assert "Delete policy" not in default  # the default is edited, never deleted
    assert "Watchfloor" in default  # version 1 of the default was made by the system


def test_a_scoped_operator_does_not_see_another_clients_policy(client, estate, policies):
    signed_in(client, estate.user("operator"))  # sees the first client only
    body = html(client.get("/escalation/"))
    assert "Client 2 paging" not in body and policies["default"].name in body
    assert client.get(f"/escalation/{policies['client'].id}/").status_code == 404


def test_another_tenants_policy_is_a_404_everywhere(client, estate, other_estate, policies):
    theirs = ensure_default_policy(other_estate.tenant.id)
    signed_in(client, estate.user("admin"))
    assert f"/escalation/{theirs.id}/" not in html(client.get("/escalation/"))
    assert client.get(f"/escalation/{theirs.id}/").status_code == 404
    assert client.get(f"/escalation/{theirs.id}/edit/").status_code == 404
    assert client.post(f"/escalation/{theirs.id}/edit/", form_body()).status_code == 404
    assert client.post(f"/escalation/{theirs.id}/delete/", {"confirm": "yes"}).status_code == 404
    assert client.get("/escalation/999999999/").status_code == 404
    assert versions(theirs) == 1 and EscalationPolicy.objects.filter(pk=theirs.pk).exists()


def test_the_list_reads_a_fixed_number_of_queries(client, estate, other_estate, policies):
    signed_in(client, estate.user("admin"))
    client.get("/escalation/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/escalation/").status_code == 200
    for n in range(2, 6):
        create_policy(
            estate.tenant,
            actor=estate.user("admin"),
            name=f"Extra {n}",
            client=TenantClient.objects.create(
                tenant=estate.tenant, code=f"x{n}", name=f"Extra client {n}"
            ),
            steps=[
                {
                    "delay_minutes": n,
                    "targets": [
                        {"kind": "schedule", "id": policies["schedule"].id},
                        {"kind": "user", "id": estate.user("viewer").id},
                    ],
                }
            ],
        )
    with CaptureQueriesContext(connection) as many:
        body = html(client.get("/escalation/"))
    assert "Extra 5" in body
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


# --- creating ------------------------------------------------------------------------------------


def test_admin_creates_a_client_policy(client, estate, policies):
    admin = estate.user("admin")
    signed_in(client, admin)
    form = html(client.get("/escalation/new/"))
    # only visible clients without a policy are offered
    assert f'value="{estate.clients[0].id}"' in form
    assert f'<option value="{estate.clients[1].id}"' not in form
    assert "NOC Day" in form and "noc-room" in form and "Viewer Person" in form
    # the page's module (a filter for long lists) is served from the package, never a CDN
    assert '<script type="module" src="/static/watchfloor/js/policies.js">' in form
    assert finders.find("watchfloor/js/policies.js") and "https://" not in form.split("<main")[0]
    body = form_body(
        client=str(estate.clients[0].id),
        step_count="2",
        **{
            "s1-delay": "20",
            "s1-target": [f"schedule:{policies['schedule'].id}", "client_owner"],
        },
    )
    response = client.post("/escalation/new/", body)
    policy = EscalationPolicy.objects.get(tenant=estate.tenant, client=estate.clients[0])
    assert response.status_code == 302 and response["Location"] == f"/escalation/{policy.id}/"
    version = policy.current
    assert (version.number, version.repeat, version.notify_after_minutes) == (1, 1, 2)
    assert version.steps == [
        {"delay_minutes": 7, "severities": ["CRITICAL"], "targets": [{"kind": "officer"}]},
        {
            "delay_minutes": 20,
            "severities": [],
            "targets": [
                {"kind": "client_owner"},
                {"kind": "schedule", "id": policies["schedule"].id},
            ],
        },
    ]
    assert AuditLog.objects.filter(
        action=Action.CONFIG_CHANGE, actor=admin, entity_id=str(policy.id)
    ).exists()
    page = html(client.get(response["Location"]))
    assert "created (version 1)" in page
    assert "then after 20 min: the client&#x27;s owner; on call in NOC Day" in page


def test_a_client_outside_the_list_is_refused(client, estate, other_estate, policies):
    signed_in(client, estate.user("admin"))
    for bad in (str(estate.clients[1].id), str(other_estate.clients[0].id), "abc", ""):
        response = client.post("/escalation/new/", form_body(client=bad))
        assert response.status_code == 422
        assert "Client:" in html(response)
    assert EscalationPolicy.objects.filter(tenant=estate.tenant).count() == 2
    assert not EscalationPolicy.objects.filter(tenant=other_estate.tenant).exists()


@pytest.mark.parametrize("role", ["operator", "supervisor", "viewer", "executive"])
def test_writes_are_refused_without_configure(client, estate, policies, role):
    user = estate.user(role)
    signed_in(client, user)
    policy = policies["default"]  # every role sees the default
    before = AuditLog.objects.filter(action=Action.ACCESS_DENIED).count()
    answers = [
        client.get("/escalation/new/"),
        client.post("/escalation/new/", form_body(client=str(estate.clients[0].id))),
        client.get(f"/escalation/{policy.id}/edit/"),
        client.post(f"/escalation/{policy.id}/edit/", form_body()),
        client.post(f"/escalation/{policy.id}/delete/", {"confirm": "yes"}),
    ]
    assert [a.status_code for a in answers] == [403] * 5
    assert "noc:configure" in html(answers[1])
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).count() == before + 5
    denied = AuditLog.objects.filter(action=Action.ACCESS_DENIED, actor=user).last()
    assert denied.details["capability"] == "noc:configure"
    assert EscalationPolicy.objects.filter(tenant=estate.tenant).count() == 2
    assert versions(policy) == 1


# --- editing -------------------------------------------------------------------------------------


def test_admin_edits_a_policy_into_a_new_version(client, estate, policies):
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    form = html(client.get(f"/escalation/{policy.id}/edit/"))
    assert 'name="step_count" value="3"' in form
    assert re.search(r'name="s0-sev" value="CRITICAL" checked', form)
    assert re.search(rf'name="s1-target" value="schedule:{policies["schedule"].id}" checked', form)
    # the person a step names comes first in its (scrolling) list of people, ticked
    first_person = re.search(r'name="s2-target" value="user:(\d+)"( checked)?', form)
    assert first_person.groups() == (str(estate.user("supervisor").id), " checked")
    response = client.post(
        f"/escalation/{policy.id}/edit/",
        form_body(
            name="Client 2 renamed",
            **{"s0-target": ["officer", f"channel:{policies['channel'].id}"]},
        ),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "Client 2 renamed" and policy.current.number == 2
    assert policy.current.steps == [
        {
            "delay_minutes": 7,
            "severities": ["CRITICAL"],
            "targets": [{"kind": "officer"}, {"kind": "channel", "id": policies["channel"].id}],
        }
    ]
    page = html(client.get(response["Location"]))
    assert "Saved as version 2" in page and "keep version 1" in page
    assert '<td class="nowrap">2 <span class="tag">current</span></td>' in page
    assert '<td class="nowrap">1</td>' in page
    # each version's steps are kept in plain words: the old chain is still readable
    assert "<summary>1 step, repeated 1 more time, only if still firing after 2 min" in page
    assert "<summary>3 steps, repeated 2 more times, only if still firing after 3 min" in page
    assert "then after 10 min: on call in NOC Day" in page
    # saving the same again makes no version
    client.post(
        f"/escalation/{policy.id}/edit/",
        form_body(
            name="Client 2 renamed",
            **{"s0-target": [f"channel:{policies['channel'].id}", "officer"]},
        ),
    )
    assert versions(policy) == 2


def test_steps_are_added_moved_and_removed_without_storing(client, estate, policies):
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    body = form_body(
        step_count="2",
        **{"s1-delay": "30", "s1-target": ["client_owner"], "op": "up-1"},
    )
    response = client.post(f"/escalation/{policy.id}/edit/", body)
    assert response.status_code == 200
    text = html(response)
    assert 'name="s0-delay" id="s0-delay" value="30"' in text
    assert 'name="s1-delay" id="s1-delay" value="7"' in text
    assert "moved to position 1" in text
    response = client.post(f"/escalation/{policy.id}/edit/", {**body, "op": "add"})
    assert 'name="step_count" value="3"' in html(response)
    response = client.post(f"/escalation/{policy.id}/edit/", {**body, "op": "remove-0"})
    text = html(response)
    assert 'name="step_count" value="1"' in text and 'id="s0-delay" value="30"' in text
    assert versions(policy) == 1  # nothing stored by any of them
    assert policy.current.steps[0]["delay_minutes"] == 5


@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"s0-delay": "abc"}, "Step 1, delay: Whole minutes"),
        ({"s0-delay": "99999"}, "Step 1, delay: Between 0 and 10080 minutes."),
        ({"s0-delay": "9" * 400}, "Step 1, delay: Whole minutes"),
        ({"s0-target": []}, "Step 1, targets: Give at least one target."),
        ({"s0-target": ["nonsense:1"]}, "Step 1, targets: Unknown target"),
        ({"s0-sev": ["URGENT"]}, "Step 1, severities: A list of severities"),
        ({"name": ""}, "Name: This field is required."),
        ({"name": "x" * 101}, "Name: Ensure this value has at most 100 characters"),
        ({"name": "bad\x00name"}, "Name: Null characters are not allowed."),
        ({"repeat": "11"}, "Repeat the chain: Ensure this value is less than or equal to 10."),
        ({"repeat": "1" * 50}, "Repeat the chain: Ensure this value is less than or equal"),
        ({"notify_after_minutes": "-1"}, "Notify only if still firing after"),
        ({"name": "Default"}, "Name: Another policy has this name."),
    ],
)
def test_invalid_input_is_shown_and_nothing_is_stored(
    client, estate, policies, change, field_error
):
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    response = client.post(f"/escalation/{policy.id}/edit/", form_body(**change))
    assert response.status_code == 422
    text = html(response).replace("&#x27;", "'")
    assert "Nothing was saved" in text
    assert field_error in text, re.findall(r"<li>(.*?)</li>", text)
    assert 'class="field__error"' in text  # also next to the field itself
    policy.refresh_from_db()
    assert versions(policy) == 1 and policy.name == "Client 2 paging"


def test_another_tenants_person_schedule_or_channel_is_refused(
    client, estate, other_estate, policies
):
    stranger = other_estate.user("admin")
    their_schedule = Schedule.objects.create(tenant=other_estate.tenant, name="Theirs")
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    for value in (f"user:{stranger.id}", f"schedule:{their_schedule.id}", "channel:987654"):
        body = form_body(step_count="2", **{"s1-delay": "3", "s1-target": ["client_owner", value]})
        response = client.post(f"/escalation/{policy.id}/edit/", body)
        assert response.status_code == 422
        text = html(response)
        kind = value.split(":")[0]
        assert f"Step 2, targets: Target 2 ({value}): No such {kind} in this tenant." in text
        assert '<a href="#step-2">Step 2, targets: Target 2' in text  # links to the step
        # the unknown choice stays on the form, ticked, so it is visible what was refused
        assert f'value="{value}" checked' in text
    assert versions(policy) == 1


def test_editing_the_default_policy_keeps_it_the_default(client, estate, policies):
    policy = policies["default"]
    signed_in(client, estate.user("admin"))
    response = client.post(f"/escalation/{policy.id}/edit/", form_body(name="Default"))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.is_default and policy.current.number == 2


# --- deleting ------------------------------------------------------------------------------------


def open_escalation(estate, key_for, policy) -> Alert:
    key = key_for(estate)
    ingest([trigger(severity=Severity.CRITICAL, site=estate.sites[2].code)], key=key)
    alert = Alert.objects.filter(tenant=estate.tenant).order_by("-id").first()
    now = timezone.now()
    AlertEscalation.objects.create(
        tenant=estate.tenant,
        alert=alert,
        policy_version=policy.current,
        next_step=1,
        next_at=now,
        created_at=now,
        updated_at=now,
    )
    return alert


def test_delete_is_refused_while_alerts_escalate_then_works(client, estate, key_for, policies):
    policy = policies["client"]
    alert = open_escalation(estate, key_for, policy)
    signed_in(client, estate.user("admin"))
    unconfirmed = client.post(f"/escalation/{policy.id}/delete/", {})
    assert unconfirmed.status_code == 422 and "Tick the box" in html(unconfirmed)
    busy = client.post(f"/escalation/{policy.id}/delete/", {"confirm": "yes"})
    assert busy.status_code == 409
    assert "1 alert(s) are still escalating under this policy" in html(busy)
    assert EscalationPolicy.objects.filter(pk=policy.pk).exists()
    AlertEscalation.objects.filter(alert=alert).update(state=EscalationState.STOPPED)
    done = client.post(f"/escalation/{policy.id}/delete/", {"confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/escalation/"
    assert not EscalationPolicy.objects.filter(pk=policy.pk).exists()
    assert "deleted; its client follows the default policy" in html(client.get("/escalation/"))


def test_the_default_policy_cannot_be_deleted(client, estate, policies):
    signed_in(client, estate.user("admin"))
    response = client.post(f"/escalation/{policies['default'].id}/delete/", {"confirm": "yes"})
    assert response.status_code == 409 and "can be edited, not deleted" in html(response)
    assert EscalationPolicy.objects.filter(pk=policies["default"].pk).exists()


def test_csrf_is_enforced(estate, policies):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(estate.user("admin"))
    policy = policies["client"]
    assert browser.post(f"/escalation/{policy.id}/edit/", form_body()).status_code == 403
    assert browser.post(f"/escalation/{policy.id}/delete/", {"confirm": "yes"}).status_code == 403
    new = form_body(client=str(estate.clients[0].id))
    assert browser.post("/escalation/new/", new).status_code == 403
    assert versions(policy) == 1 and EscalationPolicy.objects.count() == 2
    # with the token from the form, the same post goes through
    page = html(browser.get(f"/escalation/{policy.id}/edit/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    answer = browser.post(
        f"/escalation/{policy.id}/edit/", {**form_body(), "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302 and versions(policy) == 2


# --- the alert page ------------------------------------------------------------------------------


def test_the_alert_page_shows_its_escalation_chain(client, estate, key_for, policies):
    alert = open_escalation(estate, key_for, policies["client"])
    body = html(signed_in(client, estate.user("viewer")).get(f"/alerts/{alert.id}/"))
    section = body.split('id="escalation-h"', 1)[1].split("</section>", 1)[0]
    assert "Client 2 paging</a>, version 1" in section
    assert "Next step at" in section
    # CRITICAL: all three steps apply, repeated twice more: nine in all
    assert section.count('class="chain__step') == 9
    assert section.count("chain__step--taken") == 1 and section.count("chain__step--next") == 1
    assert "after 10 min: On call in NOC Day" in section
    assert "Channel noc-room; Su***r Pe***n" in section  # masked for the viewer
    assert "repeat 2" in section
    AlertEscalation.objects.filter(alert=alert).update(
        state=EscalationState.STOPPED, stop_reason="acknowledged"
    )
    section = html(client.get(f"/alerts/{alert.id}/")).split('id="escalation-h"', 1)[1]
    assert "Stopped: acknowledged." in section and "Next step at" not in section


def test_the_alert_page_says_when_no_escalation_has_started(client, estate, key_for):
    key = key_for(estate)
    ingest([trigger(severity=Severity.HIGH, site=estate.sites[0].code)], key=key)
    alert = Alert.objects.get(tenant=estate.tenant)
    body = html(signed_in(client, estate.user("admin")).get(f"/alerts/{alert.id}/"))
    assert "Not under escalation yet" in body


def test_absurd_step_counts_and_operations_are_bounded(client, estate, policies):
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    rows = {}
    for i in range(25):
        rows[f"s{i}-delay"] = "1"
        rows[f"s{i}-target"] = ["officer"]
    too_many = client.post(
        f"/escalation/{policy.id}/edit/", form_body(step_count="999999999", **rows)
    )
    assert too_many.status_code == 422 and "Steps: At most 20 steps." in html(too_many)
    for count in ("abc", "-5", "0"):
        none = client.post(f"/escalation/{policy.id}/edit/", form_body(step_count=count))
        assert none.status_code == 422 and "Steps: Give at least one step." in html(none)
    for op in ("up-999", "down-0x", "explode", "remove-" + "9" * 50):
        answer = client.post(f"/escalation/{policy.id}/edit/", form_body(op=op))
        assert answer.status_code == 200 and 'name="step_count" value="1"' in html(answer)
    full = form_body(step_count="20", op="add", **rows)
    assert "at most 20 steps" in html(client.post(f"/escalation/{policy.id}/edit/", full))
    assert versions(policy) == 1


def test_every_unreadable_step_is_reported_at_once(client, estate, policies):
    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    body = form_body(step_count="2", **{"s0-delay": "abc", "s1-delay": "4", "s1-target": []})
    text = html(client.post(f"/escalation/{policy.id}/edit/", body))
    assert "Correct 2 problems" in text
    assert '<a href="#s0-delay">Step 1, delay: Whole minutes' in text
    assert '<a href="#step-2">Step 2, targets: Give at least one target.</a>' in text
    assert versions(policy) == 1


def test_a_policys_page_reads_a_fixed_number_of_queries(client, estate, policies):
    from watchfloor.oncall.policy_services import update_policy

    policy = policies["client"]
    signed_in(client, estate.user("admin"))
    client.get(f"/escalation/{policy.id}/")
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/escalation/{policy.id}/").status_code == 200
    for n in range(4):
        update_policy(
            policy,
            actor=estate.user("admin"),
            steps=[
                {
                    "delay_minutes": n + 1,
                    "targets": [{"kind": "user", "id": estate.user("viewer").id}],
                }
            ],
        )
    with CaptureQueriesContext(connection) as many:
        body = html(client.get(f"/escalation/{policy.id}/"))
    assert "Viewer Person" in body and '<td class="nowrap">5 <span class="tag">current' in body
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
