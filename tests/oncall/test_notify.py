"""Deliveries: who a page reaches and when, real sends to a local SMTP server and a local
webhook receiver, masking per recipient, retries with backoff, cancellation, stuck rows, the
periodic safety net, and errors without secrets."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine

from support_alerts import key_for
from support_notify import PII_TITLE, T0, channel, method, open_alert, rule
from support_sinks import mailbox, queued, webhook
from watchfloor.alerts.services import acknowledge_alert, resolve_alert
from watchfloor.oncall import notify
from watchfloor.oncall.models import Delivery, DeliveryKind, DeliveryStatus

__all__ = ["key_for", "mailbox", "queued", "webhook"]

DUE = T0 + timedelta(minutes=2)


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


@pytest.fixture
def alert(estate, key):
    return open_alert(estate, key)


def page_at(alert, recipients, channels=(), *, at=DUE, step=0):
    with time_machine.travel(at, tick=False):
        return notify.page(alert, step=step, recipients=recipients, channels=channels, due_at=at)


def deliver_at(delivery, at):
    with time_machine.travel(at, tick=False):
        outcome = notify.deliver(delivery.id)
    delivery.refresh_from_db()
    return outcome


# --- who, on what, when -----------------------------------------------------------------------
def test_page_follows_rules_dedups_and_records_the_unreachable(
    estate, other_estate, alert, queued, django_capture_on_commit_callbacks
):
    sup, op, admin = estate.user("supervisor"), estate.user("operator"), estate.user("admin")
    email = method(sup)
    hook = method(sup, medium="webhook", address="json://127.0.0.1:9/hook", label="Hook")
    rule(email, 0)
    rule(hook, 5)
    method(op)  # verified, no rules: used at once
    method(op, label="Old", address="old@example.com", verified=False)  # never used
    method(admin, verified=False)  # nothing verified: unreachable
    room = channel(estate.tenant, "json://127.0.0.1:9/room")
    off = channel(estate.tenant, "json://127.0.0.1:9/off", name="Off", active=False)
    unverified = channel(estate.tenant, "json://127.0.0.1:9/u", name="New", verified=False)
    foreign = channel(other_estate.tenant, "json://127.0.0.1:9/x")

    with django_capture_on_commit_callbacks(execute=True):
        rows = page_at(
            alert,
            [sup, op, sup, admin, other_estate.user("admin")],  # sup twice: on call AND officer
            [room, off, unverified, foreign, room],
        )

    got = sorted(
        (d.recipient_id or 0, d.channel_id or 0, d.medium, d.status, d.due_at - DUE)
        for d in Delivery.objects.filter(alert=alert)
    )
    zero = timedelta(0)
    assert got == sorted(
        [
            (sup.id, 0, "email", "pending", zero),
            (sup.id, 0, "webhook", "pending", timedelta(minutes=5)),
            (op.id, 0, "email", "pending", zero),
            (admin.id, 0, "", "unreachable", zero),
            (0, room.id, "webhook", "pending", zero),
        ]
    )
    assert len(rows) == 5
    assert all(d.kind == DeliveryKind.PAGE and d.step == 0 for d in rows)
    # after commit, one task for everything due now and one for the webhook 5 minutes later
    # (a task sends everything due by its time)
    assert {path for path, _, _ in queued} == {"watchfloor.oncall.tasks.send_delivery"}
    assert sorted(eta or DUE for _, _, eta in queued) == [DUE, DUE + timedelta(minutes=5)]
    assert [eta for _, _, eta in queued].count(None) == 1
    later = next(args for _, args, eta in queued if eta is not None)
    assert Delivery.objects.get(pk=later[0]).medium == "webhook"


def test_page_makes_a_fixed_number_of_queries(estate, alert, django_assert_max_num_queries):
    people = [estate.user(r) for r in ("supervisor", "operator", "admin", "executive")]
    for person in people:
        rule(method(person), 0)
    with django_assert_max_num_queries(4):
        rows = page_at(alert, people)
    assert len(rows) == 4


# --- real sends -----------------------------------------------------------------------------
def test_email_page_is_received_masked_for_its_recipient_with_links(estate, alert, mailbox):
    sup, op = estate.user("supervisor"), estate.user("operator")  # PII: yes / no
    method(sup)
    method(op)
    rows = page_at(alert, [sup, op])
    for delivery in rows:
        assert deliver_at(delivery, DUE + timedelta(seconds=3)) == "sent"
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.attempts == 1
        assert delivery.latency_ms == pytest.approx(3000, abs=1)
        assert delivery.last_error == ""
    mails = mailbox.wait_for(2)
    assert len(mails) == 2
    full = mailbox.to(sup.email)[0]
    masked = mailbox.to(op.email)[0]
    site = estate.sites[0]
    for mail in (full, masked):
        assert mail.mail_from == "noc@watchfloor.test"
        assert mail.subject.startswith("[CRITICAL] ")
        assert f"{site.name}, {site.city}" in mail.subject
        body = mail.body
        assert "CRITICAL alert, open for 2 min (escalation step 1)" in body
        assert f"{estate.clients[0].name} · {site.name} · {site.city}, {site.state}" in body
        assert "Type:   DEVICE_OFFLINE" in body
        assert f"http://127.0.0.1:8000/alerts/{alert.id}/" in body
        assert "http://127.0.0.1:8000/ack/" in body
    assert PII_TITLE in full.body
    assert "jane.doe@example.com" not in masked.body + masked.subject
    assert "867 5309" not in masked.body
    assert "j***@example.com" in masked.body


def test_webhook_channel_gets_the_page_masked_and_without_an_acknowledge_link(
    estate, alert, webhook
):
    room = channel(estate.tenant, webhook.url("/room"))
    (delivery,) = page_at(alert, [], [room])
    assert deliver_at(delivery, DUE) == "sent"
    (hook,) = webhook.wait_for(1)
    assert hook.path == "/room"
    assert hook.body["title"].startswith("[CRITICAL]")
    message = hook.body["message"]
    assert "jane.doe@example.com" not in message  # a channel never sees personal data
    assert "/ack/" not in message
    assert f"/alerts/{alert.id}/" in message


def test_sms_gets_the_short_form(estate, alert, settings):
    from watchfloor.oncall import messages

    op = estate.user("operator")
    msg = messages.page_message(alert, recipient=op, step=0, now=DUE, ack_link="https://x/ack/t/")
    assert msg.short.startswith("[CRITICAL] Guard j***@example.com")
    assert "open 2 min. Ack: https://x/ack/t/" in msg.short
    assert len(msg.short) < 200


# --- failures and retries -----------------------------------------------------------------------
def test_failure_is_retried_with_backoff_then_failed(
    estate, alert, webhook, queued, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    room = channel(estate.tenant, webhook.url("/room"))
    (delivery,) = page_at(alert, [], [room])
    webhook.fail_next(10)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_at(delivery, DUE) == "pending"
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == DUE + timedelta(seconds=30)
    assert "500" in delivery.last_error
    assert queued[-1] == (notify.SEND_TASK, (delivery.id,), DUE + timedelta(seconds=30))

    # not due yet: nothing happens
    assert deliver_at(delivery, DUE + timedelta(seconds=29)) == ""
    assert delivery.attempts == 1

    second = DUE + timedelta(seconds=30)
    assert deliver_at(delivery, second) == "pending"
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == second + timedelta(minutes=1)

    assert deliver_at(delivery, second + timedelta(minutes=1)) == "failed"
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert delivery.next_attempt_at is None
    assert len(webhook.requests) == 0


def test_a_retry_that_succeeds_records_latency_from_the_due_time(estate, alert, webhook):
    room = channel(estate.tenant, webhook.url("/room"))
    (delivery,) = page_at(alert, [], [room])
    webhook.fail_next(1)
    deliver_at(delivery, DUE)
    assert deliver_at(delivery, DUE + timedelta(seconds=30)) == "sent"
    assert delivery.attempts == 2
    assert delivery.latency_ms == pytest.approx(30_000, abs=1)
    assert delivery.last_error == ""


def test_errors_never_carry_the_url_password_or_token(estate, alert):
    secret_url = "json://hookuser:s3cretpass@127.0.0.1:9/hook/TOKENVALUE123?token=abcdef99"
    room = channel(estate.tenant, secret_url)
    (delivery,) = page_at(alert, [], [room])
    deliver_at(delivery, DUE)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error
    for secret in ("s3cretpass", "TOKENVALUE123", "abcdef99", "hookuser", "json://"):
        assert secret not in delivery.last_error


def test_scrub_cuts_urls_and_secret_parts():
    from watchfloor.oncall.channels import scrub

    text = (
        "HTTPSConnectionPool(host='hooks.slack.com'): Max retries exceeded with url: "
        "/services/T000/B000/XXXXSECRET (connect timeout) posting slack://A1/B2/XXXXSECRET"
    )
    out = scrub(text, "slack://A1/B2/XXXXSECRET")
    assert "XXXXSECRET" not in out
    assert "slack://" not in out


def test_a_failing_destination_is_logged_once_and_its_recovery_once(estate, alert, webhook, caplog):
    room = channel(estate.tenant, webhook.url("/room"))
    rows = [page_at(alert, [], [room], step=i)[0] for i in range(3)]
    webhook.fail_next(2)
    with caplog.at_level(logging.INFO, logger="watchfloor.oncall.channels"):
        for delivery in rows:
            deliver_at(delivery, DUE)
    records = [r.getMessage() for r in caplog.records if r.name == "watchfloor.oncall.channels"]
    assert len([m for m in records if "started failing" in m]) == 1
    assert len([m for m in records if "recovered" in m]) == 1
    assert all("127.0.0.1" not in m and "/room" not in m for m in records)


def test_email_without_a_relay_fails_with_a_clear_error(estate, alert, settings):
    settings.SMTP_URL = ""
    op = estate.user("operator")
    method(op)
    (delivery,) = page_at(alert, [op])
    deliver_at(delivery, DUE)
    assert "WATCHFLOOR_SMTP_URL" in delivery.last_error


# --- cancelled, stuck, the safety net ------------------------------------------------------------
@pytest.mark.parametrize("how", ["acknowledge", "resolve"])
def test_a_page_is_cancelled_when_the_alert_was_handled_before_it_went_out(
    estate, alert, mailbox, how
):
    op = estate.user("operator")
    method(op)
    (delivery,) = page_at(alert, [op])
    sup = estate.user("supervisor")
    if how == "acknowledge":
        acknowledge_alert(alert, actor=sup)
    else:
        resolve_alert(alert, actor=sup, note="fixed")
    assert deliver_at(delivery, DUE) == "cancelled"
    assert delivery.status == DeliveryStatus.CANCELLED
    assert delivery.attempts == 0
    assert delivery.sent_at is None
    assert mailbox.messages == []


def test_a_method_unverified_meanwhile_is_not_used(estate, alert, mailbox):
    op = estate.user("operator")
    m = method(op)
    (delivery,) = page_at(alert, [op])
    m.verified_at = None
    m.save(update_fields=["verified_at"])
    assert deliver_at(delivery, DUE) == "failed"
    assert "no longer verified" in delivery.last_error
    assert mailbox.messages == []


def test_a_delivery_is_claimed_once(estate, alert):
    op = estate.user("operator")
    method(op)
    (delivery,) = page_at(alert, [op])
    with time_machine.travel(DUE, tick=False):
        assert notify._claim(delivery.id, DUE) is True
        assert notify._claim(delivery.id, DUE) is False  # a second worker gets nothing
        assert notify.deliver(delivery.id) == ""


def test_a_stuck_delivery_is_sent_again_by_the_safety_net(estate, alert, mailbox):
    op = estate.user("operator")
    method(op)
    (delivery,) = page_at(alert, [op])
    with time_machine.travel(DUE, tick=False):
        assert notify._claim(delivery.id, DUE)  # the worker "dies" here
    with time_machine.travel(DUE + timedelta(seconds=30), tick=False):
        assert notify.send_due() == {"picked": 0}  # not stuck yet
    later = DUE + notify.stuck_after() + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert notify.send_due() == {"picked": 1, "sent": 1}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert len(mailbox.wait_for(1)) == 1


def test_send_due_sends_what_is_due_oldest_first_and_leaves_the_rest(estate, alert, webhook):
    room = channel(estate.tenant, webhook.url("/room"))
    sup = estate.user("supervisor")
    rule(method(sup, medium="webhook", address=webhook.url("/sup"), label="Hook"), 10)
    rows = page_at(alert, [sup], [room])
    with time_machine.travel(DUE + timedelta(minutes=1), tick=False):
        assert notify.send_due() == {"picked": 1, "sent": 1}
    assert [h.path for h in webhook.requests] == ["/room"]
    with time_machine.travel(DUE + timedelta(minutes=10), tick=False):
        assert notify.send_due() == {"picked": 1, "sent": 1}
    assert [h.path for h in webhook.wait_for(2)] == ["/room", "/sup"]
    assert {d.status for d in Delivery.objects.filter(id__in=[r.id for r in rows])} == {"sent"}


def test_the_task_wrappers_call_the_sender(estate, alert, webhook):
    from watchfloor.oncall import tasks

    room = channel(estate.tenant, webhook.url("/room"))
    (delivery,) = page_at(alert, [], [room])
    with time_machine.travel(DUE, tick=False):
        tasks.send_delivery(delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    with time_machine.travel(DUE, tick=False):
        assert tasks.send_due_deliveries() == {"picked": 0}


def test_page_many_writes_a_sweeps_batch_in_a_fixed_number_of_queries(
    estate, key, django_assert_max_num_queries
):
    people = [estate.user(r) for r in ("supervisor", "operator", "admin")]
    for person in people:
        rule(method(person), 0)
    alerts = [open_alert(estate, key, type_=f"T{i}") for i in range(10)]
    requests = [notify.PageRequest(a, 0, people, [], DUE) for a in alerts]
    with time_machine.travel(DUE, tick=False), django_assert_max_num_queries(4):
        rows = notify.page_many(requests)
    assert len(rows) == 30
    assert {(d.alert_id, d.recipient_id) for d in rows} == {
        (a.id, p.id) for a in alerts for p in people
    }


def test_scrub_leaves_ordinary_words_alone_for_short_user_names():
    from watchfloor.oncall.channels import scrub

    out = scrub("A Connection error occurred sending to u", "json://u:pw@127.0.0.1:9/x")
    assert "occurred" in out


def test_send_due_sends_a_batch_at_once_and_records_each(estate, alert, webhook, mailbox):
    rooms = [channel(estate.tenant, webhook.url(f"/room{i}"), name=f"Room {i}") for i in range(6)]
    people = [estate.user(role) for role in ("supervisor", "admin")]
    for person in people:
        method(person, address=f"{person.username}@pager.example.com")
    webhook.fail_next(1)  # one of the seven fails and is retried later
    rows = page_at(alert, people, rooms)
    assert len(rows) == 8
    with time_machine.travel(DUE + timedelta(seconds=5), tick=False):
        counts = notify.send_due()
    assert counts["picked"] == 8 and counts["sent"] == 7 and counts["pending"] == 1
    assert len(webhook.wait_for(5)) == 5 and len(mailbox.wait_for(2)) == 2
    sent = Delivery.objects.filter(id__in=[r.id for r in rows], status=DeliveryStatus.SENT)
    assert sent.count() == 7
    assert all(d.latency_ms == 5000.0 and d.attempts == 1 for d in sent)
    retry = Delivery.objects.get(id__in=[r.id for r in rows], status=DeliveryStatus.PENDING)
    assert retry.attempts == 1 and retry.next_attempt_at == DUE + timedelta(seconds=35)


def test_send_due_drains_in_batches(estate, alert, webhook):
    rooms = [channel(estate.tenant, webhook.url(f"/r{i}"), name=f"R{i}") for i in range(7)]
    page_at(alert, [], rooms)
    with time_machine.travel(DUE + timedelta(seconds=1), tick=False):
        assert notify.send_due(limit=3) == {"picked": 3, "sent": 3}  # one batch by default
        assert notify.send_due(limit=3, batches=5) == {"picked": 4, "sent": 4}
    assert len(webhook.wait_for(7)) == 7
