"""Contact methods, notification rules and team channels through the API: each person manages
their own (another's id, another tenant's id: 404), verification by a real code sent to a real
local SMTP server or webhook receiver, rate limits, validation at the edge, secrets never shown
back, audit without addresses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from support_notify import T0, method
from support_sinks import mailbox, webhook
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall.models import ContactMethod, Delivery, NotificationRule, TeamChannel

__all__ = ["mailbox", "webhook"]

METHODS = "/api/v1/me/contact-methods"
RULES = "/api/v1/me/notification-rules"
CHANNELS = "/api/v1/team-channels"
CODE = re.compile(r"code is (\d{6})")
SLACK = "slack://T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx"


def code_in(text: str) -> str:
    return CODE.search(text).group(1)


def add(api, user, **body):
    body = {"medium": "email", "label": "Work", "address": user.email, **body}
    return api(user).post(METHODS, body)


# --- adding and verifying ------------------------------------------------------------------------
def test_add_sends_a_code_and_the_code_verifies(estate, api, mailbox):
    op = estate.user("operator")
    with time_machine.travel(T0, tick=False):
        answer = add(api, op)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["verified"] is False
    assert body["address"] == op.email  # its owner sees their own address
    (mail,) = mailbox.wait_for(1)
    assert mail.rcpt_to == [op.email]
    code = code_in(mail.body)
    stored = ContactMethod.objects.get(pk=body["id"])
    assert code not in stored.verification_hash
    delivery = Delivery.objects.get(contact_method=stored)
    assert (delivery.kind, delivery.status, delivery.recipient_id) == ("verify", "sent", op.id)

    with time_machine.travel(T0 + timedelta(minutes=3), tick=False):
        wrong = api(op).post(f"{METHODS}/{body['id']}/verify", {"code": "000000"})
        assert wrong.status_code == 422
        assert "4 more tries" in wrong.json()["error"]["fields"]["code"]
        right = api(op).post(f"{METHODS}/{body['id']}/verify", {"code": code})
    assert right.status_code == 200
    assert right.json()["verified"] is True
    changes = [
        e.details["change"]
        for e in AuditLog.objects.filter(action=Action.CONFIG_CHANGE, actor=op).order_by("id")
    ]
    assert changes == [
        "contact_method.add",
        "contact_method.code_sent",
        "contact_method.wrong_code",
        "contact_method.verify",
    ]
    for entry in AuditLog.objects.filter(actor=op):
        assert op.email not in str(entry.details) and code not in str(entry.details)


def test_a_code_expires_and_wrong_codes_run_out(estate, api, mailbox):
    op = estate.user("operator")
    with time_machine.travel(T0, tick=False):
        method_id = add(api, op).json()["id"]
    code = code_in(mailbox.wait_for(1)[0].body)
    with time_machine.travel(T0 + timedelta(minutes=16), tick=False):
        late = api(op).post(f"{METHODS}/{method_id}/verify", {"code": code})
    assert late.status_code == 422
    assert "expired" in late.json()["error"]["fields"]["code"]

    with time_machine.travel(T0 + timedelta(minutes=17), tick=False):
        assert api(op).post(f"{METHODS}/{method_id}/send-code").json()["status"] == "sent"
        fresh = code_in(mailbox.wait_for(2)[-1].body)
        wrong = "111111" if fresh != "111111" else "222222"
        for _ in range(5):
            assert api(op).post(f"{METHODS}/{method_id}/verify", {"code": wrong}).status_code == 422
        spent = api(op).post(f"{METHODS}/{method_id}/verify", {"code": fresh})
    assert spent.status_code == 422
    assert "Too many" in spent.json()["error"]["fields"]["code"]
    assert ContactMethod.objects.get(pk=method_id).verified_at is None


def test_a_new_code_is_rate_limited(estate, api, mailbox):
    op = estate.user("operator")
    with time_machine.travel(T0, tick=False):
        method_id = add(api, op).json()["id"]
        again = api(op).post(f"{METHODS}/{method_id}/send-code")
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "rate_limited"
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        assert api(op).post(f"{METHODS}/{method_id}/send-code").status_code == 200
    assert len(mailbox.wait_for(2)) == 2


def test_a_webhook_method_is_verified_through_the_real_receiver(estate, api, webhook):
    viewer = estate.user("viewer")  # noc:view is enough to manage one's own methods
    url = webhook.url("/hook/SECRETPATH99")
    answer = add(api, viewer, medium="webhook", address=url, label="My hook")
    assert answer.status_code == 201
    assert "SECRETPATH99" not in answer.content.decode()
    (hook,) = webhook.wait_for(1)
    code = code_in(hook.body["message"])
    assert (
        api(viewer)
        .post(f"{METHODS}/{answer.json()['id']}/verify", {"code": code})
        .json()["verified"]
    )


def test_a_failed_code_send_says_why_without_the_secret(estate, api):
    op = estate.user("operator")
    answer = add(api, op, medium="webhook", address="json://u:pw9999@127.0.0.1:9/h/TOKEN777")
    assert answer.status_code == 201
    delivery = Delivery.objects.get(contact_method_id=answer.json()["id"])
    assert delivery.status == "failed"
    told = answer.json()["code_delivery"]
    assert told["delivery_id"] == delivery.id and told["status"] == "failed"
    assert told["error"] == delivery.last_error
    assert delivery.last_error
    assert "pw9999" not in delivery.last_error and "TOKEN777" not in delivery.last_error


def test_apprise_urls_are_shown_with_their_secrets_cut(estate, api):
    op = estate.user("operator")
    method(op, medium="slack", address=SLACK)
    (shown,) = api(op).get(METHODS).json()
    assert shown["address"].startswith("slack://")
    assert "abcdefghijklmnopqrstuvwx" not in shown["address"]
    assert "T1234ABCD" not in shown["address"]


def test_test_messages_need_a_verified_method(estate, api, mailbox):
    op = estate.user("operator")
    unverified = method(op, verified=False)
    assert api(op).post(f"{METHODS}/{unverified.id}/test").status_code == 409
    verified = method(op, address="op2@example.com", label="Second")
    sent = api(op).post(f"{METHODS}/{verified.id}/test")
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    (mail,) = mailbox.wait_for(1)
    assert mail.subject == "Watchfloor test message"


def test_delete_removes_the_method_and_its_rules(estate, api):
    op = estate.user("operator")
    m = method(op)
    api(op).post(RULES, {"contact_method_id": m.id, "delay_minutes": 5})
    assert api(op).delete(f"{METHODS}/{m.id}").status_code == 204
    assert not ContactMethod.objects.filter(pk=m.id).exists()
    assert not NotificationRule.objects.filter(contact_method_id=m.id).exists()


# --- rules ---------------------------------------------------------------------------------------
def test_rules_are_listed_in_order_and_unique_per_delay(estate, api):
    op = estate.user("operator")
    m = method(op)
    assert api(op).post(RULES, {"contact_method_id": m.id, "delay_minutes": 5}).status_code == 201
    assert api(op).post(RULES, {"contact_method_id": m.id, "delay_minutes": 0}).status_code == 201
    dup = api(op).post(RULES, {"contact_method_id": m.id, "delay_minutes": 5})
    assert dup.status_code == 422 and "delay_minutes" in dup.json()["error"]["fields"]
    assert [r["delay_minutes"] for r in api(op).get(RULES).json()] == [0, 5]
    rule_id = api(op).get(RULES).json()[0]["id"]
    assert api(op).delete(f"{RULES}/{rule_id}").status_code == 204


# --- isolation -----------------------------------------------------------------------------------
def test_another_persons_or_tenants_method_is_a_404(estate, other_estate, api):
    mine = method(estate.user("operator"))
    foreign = method(other_estate.user("operator"))
    for intruder in (estate.user("admin"), other_estate.user("admin")):
        for path in (f"{METHODS}/{mine.id}",):
            assert api(intruder).get(path).status_code == 404
            assert api(intruder).delete(path).status_code == 404
            assert api(intruder).post(f"{path}/test").status_code == 404
            assert api(intruder).post(f"{path}/verify", {"code": "123456"}).status_code == 404
    rule_of_other = api(estate.user("admin")).post(
        RULES, {"contact_method_id": mine.id, "delay_minutes": 1}
    )
    assert rule_of_other.status_code == 422
    assert "contact_method_id" in rule_of_other.json()["error"]["fields"]
    assert api(estate.user("operator")).get(f"{METHODS}/{foreign.id}").status_code == 404
    assert ContactMethod.objects.filter(pk=mine.id).exists()
    rule = NotificationRule.objects.create(
        tenant=estate.tenant, user=mine.user, contact_method=mine, delay_minutes=3
    )
    assert api(other_estate.user("admin")).delete(f"{RULES}/{rule.id}").status_code == 404
    assert api(estate.user("admin")).delete(f"{RULES}/{rule.id}").status_code == 404


def test_unauthenticated_is_401(db, api):
    assert api().get(METHODS).status_code == 401
    assert api().get(CHANNELS).status_code == 401


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"medium": "slack", "address": "json://127.0.0.1/x"}, "address"),
        ({"medium": "webhook", "address": SLACK}, "address"),
        ({"medium": "email", "address": "not an email"}, "address"),
        ({"medium": "email", "address": "a@b.c\x00"}, "address"),
        ({"medium": "email", "address": "x" * 1001}, "address"),
        ({"medium": "apprise", "address": "nosuchscheme://foo"}, "address"),
        ({"medium": "pager"}, "medium"),
        ({"label": ""}, "label"),
        ({"label": "L" * 101}, "label"),
        ({"label": "bad\x00label"}, "label"),
        ({"label": "\ud800"}, "label"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_methods_are_refused_naming_the_field(estate, api, body, field):
    op = estate.user("operator")
    answer = add(api, op, **body)
    assert answer.status_code == 422, answer.content
    assert field in answer.json()["error"]["fields"]
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay_minutes": 1441}, "delay_minutes"),
        ({"delay_minutes": -1}, "delay_minutes"),
        ({"delay_minutes": 10**30}, "delay_minutes"),
        ({"delay_minutes": "soon"}, "delay_minutes"),
        ({"contact_method_id": 10**30}, "contact_method_id"),
        ({"contact_method_id": 0}, "contact_method_id"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(estate, api, body, field):
    op = estate.user("operator")
    m = method(op)
    answer = api(op).post(RULES, {"contact_method_id": m.id, "delay_minutes": 0, **body})
    assert answer.status_code == 422, answer.content
    assert field in answer.json()["error"]["fields"]
    assert not NotificationRule.objects.exists()


def test_absurd_ids_in_paths_are_404s(estate, api):
    op = estate.user("operator")
    assert api(op).get(f"{METHODS}/{10**30}").status_code in (404, 422)
    assert api(op).get(f"{METHODS}/99999999").status_code == 404


def test_a_bad_code_shape_is_refused(estate, api):
    op = estate.user("operator")
    m = method(op, verified=False)
    for code in ("12345", "abcdef", "1234567"):
        answer = api(op).post(f"{METHODS}/{m.id}/verify", {"code": code})
        assert answer.status_code == 422 and "code" in answer.json()["error"]["fields"]


# --- team channels -------------------------------------------------------------------------------
def test_team_channels_need_configure(estate, api):
    for role in ("operator", "supervisor", "viewer"):
        assert api(estate.user(role)).get(CHANNELS).status_code == 403
        body = {"name": "X", "medium": "slack", "address": SLACK}
        assert api(estate.user(role)).post(CHANNELS, body).status_code == 403
    assert AuditLog.objects.filter(action=Action.ACCESS_DENIED).count() == 6
    assert not TeamChannel.objects.exists()


def test_a_team_channel_is_created_verified_tested_and_switched_off(estate, api, webhook):
    admin = estate.user("admin")
    url = webhook.url("/room/SECRETROOM42")
    created = api(admin).post(CHANNELS, {"name": "NOC room", "medium": "webhook", "address": url})
    assert created.status_code == 201
    channel = created.json()
    assert channel["verified"] is False and "SECRETROOM42" not in created.content.decode()
    with time_machine.travel(timezone.now(), tick=False):
        sent = api(admin).post(f"{CHANNELS}/{channel['id']}/send-code")
    assert sent.json()["status"] == "sent"
    code = code_in(webhook.wait_for(1)[0].body["message"])
    wrong = "000000" if code != "000000" else "111111"
    bad = api(admin).post(f"{CHANNELS}/{channel['id']}/verify", {"code": wrong})
    assert bad.status_code == 422
    ok = api(admin).post(f"{CHANNELS}/{channel['id']}/verify", {"code": code})
    assert ok.json()["verified"] is True
    assert api(admin).post(f"{CHANNELS}/{channel['id']}/test").json()["status"] == "sent"
    assert webhook.wait_for(2)[-1].body["title"] == "Watchfloor test message"
    off = api(admin).patch(f"{CHANNELS}/{channel['id']}", {"active": False})
    assert off.json()["active"] is False
    moved = api(admin).patch(f"{CHANNELS}/{channel['id']}", {"address": webhook.url("/new")})
    assert moved.json()["verified"] is False  # a new address must be verified again
    assert api(admin).delete(f"{CHANNELS}/{channel['id']}").status_code == 204
    changes = [
        e.details["change"]
        for e in AuditLog.objects.filter(action=Action.CONFIG_CHANGE, actor=admin).order_by("id")
    ]
    assert changes[0] == "team_channel.create" and changes[-1] == "team_channel.delete"
    assert all("SECRETROOM42" not in str(e.details) for e in AuditLog.objects.all())


def test_team_channels_are_isolated_by_tenant(estate, other_estate, api):
    channel = TeamChannel.objects.create(
        tenant=estate.tenant, name="Room", medium="slack", address=SLACK
    )
    other = other_estate.user("admin")
    assert api(other).get(CHANNELS).json() == []
    for call in (
        lambda: api(other).get(f"{CHANNELS}/{channel.id}"),
        lambda: api(other).patch(f"{CHANNELS}/{channel.id}", {"name": "Mine"}),
        lambda: api(other).delete(f"{CHANNELS}/{channel.id}"),
        lambda: api(other).post(f"{CHANNELS}/{channel.id}/send-code"),
        lambda: api(other).post(f"{CHANNELS}/{channel.id}/verify", {"code": "123456"}),
    ):
        assert call().status_code == 404
    channel.refresh_from_db()
    assert channel.name == "Room"


def test_team_channel_names_are_unique_and_validated(estate, api):
    admin = estate.user("admin")
    body = {"name": "Room", "medium": "slack", "address": SLACK}
    assert api(admin).post(CHANNELS, body).status_code == 201
    dup = api(admin).post(CHANNELS, body)
    assert dup.status_code == 422 and "name" in dup.json()["error"]["fields"]
    bad = api(admin).post(CHANNELS, {**body, "name": "N" * 101})
    assert bad.status_code == 422 and "name" in bad.json()["error"]["fields"]
    nul = api(admin).post(CHANNELS, {**body, "name": "A\x00"})
    assert nul.status_code == 422 and "name" in nul.json()["error"]["fields"]


def test_the_api_is_in_the_openapi_document(db, client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        METHODS,
        f"{METHODS}/{{method_id}}/verify",
        RULES,
        CHANNELS,
        "/api/v1/deliveries",
    ):
        assert path in paths
