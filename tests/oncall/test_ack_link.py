"""One-click acknowledge links: the GET only shows, the CSRF-protected POST acknowledges as the
recipient (capability checked, audited with the delivery, published), once; expired, altered,
used and foreign links are refused with a clear page, and audited as denied."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client

from support_alerts import key_for, publisher
from support_notify import T0, method, open_alert
from watchfloor.alerts.models import Status
from watchfloor.alerts.services import acknowledge_alert
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall import ack_links, notify
from watchfloor.oncall.models import AckLinkUse

__all__ = ["key_for", "publisher"]

DUE = T0 + timedelta(minutes=2)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def alert(estate, key_for):
    return open_alert(estate, key_for(estate))


def delivery_for(alert, user):
    method(user)
    with time_machine.travel(DUE, tick=False):
        (delivery,) = notify.page(alert, step=0, recipients=[user], channels=[], due_at=DUE)
    return delivery


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def open_and_confirm(browser, url):
    shown = browser.get(url)
    assert shown.status_code == 200, shown.content
    token = CSRF.search(shown.content.decode()).group(1)
    return browser.post(url, {"csrfmiddlewaretoken": token})


def path_of(token):
    return f"/ack/{token}/"


def denied(reason):
    return [
        e
        for e in AuditLog.objects.filter(action=Action.ACCESS_DENIED)
        if e.details.get("via") == "link" and e.details.get("reason") == reason
    ]


def test_the_link_in_a_message_points_at_the_public_url(estate, alert, settings):
    settings.PUBLIC_URL = "https://noc.example.org"
    delivery = delivery_for(alert, estate.user("supervisor"))
    url = ack_links.ack_url(delivery)
    assert url.startswith("https://noc.example.org/ack/") and url.endswith("/")


def test_get_shows_and_post_acknowledges_as_the_recipient_without_signing_in(
    estate, alert, browser, publisher, django_capture_on_commit_callbacks
):
    sup = estate.user("supervisor")
    delivery = delivery_for(alert, sup)
    url = path_of(ack_links.make_token(delivery))

    shown = browser.get(url)
    assert shown.status_code == 200
    body = shown.content.decode()
    assert "Acknowledge this alert?" in body
    assert "jane.doe@example.com" in body  # the supervisor may see personal data
    assert shown["Cache-Control"].startswith("max-age=0")
    alert.refresh_from_db()
    assert alert.status == Status.NEW  # a GET (a mail scanner) acknowledges nothing

    with django_capture_on_commit_callbacks(execute=True):
        done = open_and_confirm(browser, url)
    assert done.status_code == 200
    assert "data-ack-done" in done.content.decode()
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED
    assert alert.acknowledged_by_id == sup.id
    entry = AuditLog.objects.get(action=Action.ACKNOWLEDGE, entity_id=str(alert.id))
    assert entry.actor_id == sup.id
    assert entry.details["via"] == "link"
    assert entry.details["delivery_id"] == delivery.id
    assert AckLinkUse.objects.filter(delivery=delivery).count() == 1
    assert [e["alert"]["id"] for e in publisher.of_type("alert.updated")] == [alert.id]


def test_the_page_is_masked_for_a_recipient_without_pii(estate, alert, browser):
    op = estate.user("operator")
    url = path_of(ack_links.make_token(delivery_for(alert, op)))
    body = browser.get(url).content.decode()
    assert "jane.doe@example.com" not in body
    assert "j***@example.com" in body


def test_a_link_works_once(estate, alert, browser):
    sup = estate.user("supervisor")
    url = path_of(ack_links.make_token(delivery_for(alert, sup)))
    assert open_and_confirm(browser, url).status_code == 200
    again = browser.get(url)
    assert again.status_code == 409
    assert 'data-ack-refused="used"' in again.content.decode()


def test_a_replayed_post_is_refused_and_audited(estate, alert):
    sup = estate.user("supervisor")
    token = ack_links.make_token(delivery_for(alert, sup))
    ack_links.use(token)
    with pytest.raises(ack_links.LinkRefused) as refused:
        ack_links.use(token)
    assert refused.value.reason == "used"
    assert len(denied("used")) == 1


def test_the_post_needs_the_csrf_token(estate, alert, browser):
    url = path_of(ack_links.make_token(delivery_for(alert, estate.user("supervisor"))))
    assert browser.post(url, {}).status_code == 403
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_an_expired_link_is_refused_and_audited_in_its_tenant(estate, alert, browser, settings):
    settings.ACK_LINK_HOURS = 24
    with time_machine.travel(DUE, tick=False):
        token = ack_links.make_token(delivery_for(alert, estate.user("supervisor")))
    with time_machine.travel(DUE + timedelta(hours=24, seconds=1), tick=False):
        assert browser.get(path_of(token)).status_code == 410
        client = Client()  # without CSRF checks: the refusal is the link's
        answer = client.post(path_of(token))
    assert answer.status_code == 410
    assert 'data-ack-refused="expired"' in answer.content.decode()
    (entry,) = denied("expired")
    assert entry.tenant_id == estate.tenant.id
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_a_link_just_before_expiry_works(estate, alert, settings):
    settings.ACK_LINK_HOURS = 24
    with time_machine.travel(DUE, tick=False):
        token = ack_links.make_token(delivery_for(alert, estate.user("supervisor")))
    with time_machine.travel(DUE + timedelta(hours=23, minutes=59), tick=False):
        assert ack_links.use(token).status == Status.ACKNOWLEDGED


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:5] + t[6:],
        lambda t: "nonsense",
        lambda t: signing.dumps({"d": 1, "a": 1, "u": 1, "n": "x"}, salt="another salt"),
    ],
    ids=["last-char", "cut", "garbage", "other-salt"],
)
def test_an_altered_link_is_refused(estate, alert, mangle):
    token = mangle(ack_links.make_token(delivery_for(alert, estate.user("supervisor"))))
    client = Client()
    assert client.get(path_of(token)).status_code == 400
    answer = client.post(path_of(token))
    assert answer.status_code == 400
    assert 'data-ack-refused="invalid"' in answer.content.decode()
    assert len(denied("invalid")) == 1
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_a_signed_link_naming_someone_else_is_gone(estate, alert):
    delivery = delivery_for(alert, estate.user("supervisor"))
    forged = signing.dumps(
        {"d": delivery.id, "a": alert.id, "u": estate.user("admin").id, "n": "f" * 32},
        salt=ack_links.SALT,
        compress=True,
    )
    assert Client().post(path_of(forged)).status_code == 404
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_a_recipient_who_may_not_acknowledge_is_refused(estate, alert):
    executive = estate.user("executive")  # sees everything, may not acknowledge
    token = ack_links.make_token(delivery_for(alert, executive))
    answer = Client().post(path_of(token))
    assert answer.status_code == 403
    assert 'data-ack-refused="forbidden"' in answer.content.decode()
    assert len(denied("forbidden")) == 1
    assert not AckLinkUse.objects.exists()  # the use rolled back with the refusal
    alert.refresh_from_db()
    assert alert.status == Status.NEW


def test_an_alert_acknowledged_meanwhile_says_so(estate, alert):
    token = ack_links.make_token(delivery_for(alert, estate.user("operator")))
    acknowledge_alert(alert, actor=estate.user("supervisor"))
    assert Client().get(path_of(token)).status_code == 409
    answer = Client().post(path_of(token))
    assert answer.status_code == 409
    assert 'data-ack-refused="already_acknowledged"' in answer.content.decode()


def test_a_deactivated_recipient_cannot_use_their_link(estate, alert):
    op = estate.user("operator")
    token = ack_links.make_token(delivery_for(alert, op))
    op.is_active = False
    op.save(update_fields=["is_active"])
    assert Client().post(path_of(token)).status_code == 404


def test_an_oversized_token_is_refused(db):
    assert Client().get(path_of("a" * 5000)).status_code == 400


def test_a_recipient_outside_the_alerts_scope_cannot_acknowledge_it(estate, key_for):
    elsewhere = open_alert(estate, key_for(estate), site=2, type_="SYNC_DEGRADED")
    operator = estate.user("operator")  # may acknowledge, but sees the first client only
    token = ack_links.make_token(delivery_for(elsewhere, operator))
    answer = Client().post(path_of(token))
    assert answer.status_code == 403
    assert len(denied("forbidden")) == 1
    elsewhere.refresh_from_db()
    assert elsewhere.status == Status.NEW
