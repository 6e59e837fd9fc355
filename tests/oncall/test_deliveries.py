"""Deliveries for admins: the API (filters, cursor pages, masking, tenant isolation, a fixed
number of queries), the /deliveries/ page, the alert detail page's list, and the settings page
where a person adds, verifies and tests their contact methods."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission

from support_alerts import key_for
from support_notify import T0, channel, method, open_alert
from support_sinks import mailbox
from watchfloor.access.capabilities import Capability
from watchfloor.oncall import notify
from watchfloor.oncall.models import ContactMethod, Delivery, NotificationRule
from watchfloor.tenancy.models import User

__all__ = ["key_for", "mailbox"]

URL = "/api/v1/deliveries"
DUE = T0 + timedelta(minutes=2)


@pytest.fixture
def alert(estate, key_for):
    return open_alert(estate, key_for(estate))


@pytest.fixture
def paged(estate, alert):
    """Three deliveries about `alert`: the operator (pending), the executive (unreachable), a
    channel (pending)."""
    op = estate.user("operator")
    method(op)
    room = channel(estate.tenant, "json://127.0.0.1:9/room")
    with time_machine.travel(DUE, tick=False):
        return notify.page(
            alert, step=0, recipients=[op, estate.user("executive")], channels=[room], due_at=DUE
        )


@pytest.fixture
def configurer(estate):
    """Configures, sees every client, but may not see personal data."""
    group = Group.objects.create(name="configurer")
    for cap in (Capability.VIEW, Capability.VIEW_ALL_CLIENTS, Capability.CONFIGURE):
        group.permissions.add(Permission.objects.get(codename=cap.codename))
    user = User.objects.create_user(username="conf", password="x", tenant=estate.tenant)
    user.groups.add(group)
    return user


def test_admins_list_deliveries_newest_first_with_filters(estate, api, alert, paged):
    admin = estate.user("admin")
    body = api(admin).get(URL).json()
    assert [d["id"] for d in body["items"]] == sorted((d.id for d in paged), reverse=True)
    unreachable = api(admin).get(URL, status="unreachable").json()["items"]
    assert [d["recipient"]["id"] for d in unreachable] == [estate.user("executive").id]
    assert unreachable[0]["error"] == "No verified contact method."
    mine = api(admin).get(URL, recipient=estate.user("operator").id).json()["items"]
    assert [(d["medium"], d["status"]) for d in mine] == [("email", "pending")]
    assert len(api(admin).get(URL, alert=alert.id).json()["items"]) == 3
    assert api(admin).get(URL, alert=alert.id + 1000).json()["items"] == []
    row = body["items"][0]
    assert row["channel"]["name"] == "NOC room"
    assert row["kind"] == "page" and row["step"] == 0 and row["alert_id"] == alert.id


def test_cursor_pages(estate, api, paged):
    admin = estate.user("admin")
    first = api(admin).get(URL, limit=2).json()
    second = api(admin).get(URL, limit=2, cursor=first["next_cursor"]).json()
    ids = [d["id"] for d in first["items"] + second["items"]]
    assert ids == sorted((d.id for d in paged), reverse=True)
    assert second["next_cursor"] is None
    assert api(admin).get(URL, cursor="garbage").status_code == 422
    assert api(admin).get(URL, limit=10**9).status_code == 422


def test_recipients_are_masked_without_pii(estate, api, paged, configurer):
    items = api(configurer).get(URL, status="unreachable").json()["items"]
    person = items[0]["recipient"]
    assert person["full_name"] != "Executive Person"
    assert person["full_name"].startswith("Ex***")
    full = api(estate.user("admin")).get(URL, status="unreachable").json()["items"]
    assert full[0]["recipient"]["full_name"] == "Executive Person"


@pytest.mark.parametrize("role", ["operator", "supervisor", "viewer", "executive"])
def test_deliveries_need_configure(estate, api, paged, role):
    assert api(estate.user(role)).get(URL).status_code == 403


def test_another_tenant_sees_none(other_estate, api, paged, alert):
    other = other_estate.user("admin")
    assert api(other).get(URL).json()["items"] == []
    assert api(other).get(URL, alert=alert.id).json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"status": "lost"}, {"alert": 10**30}, {"recipient": "x"}, {"alert": 0}],
)
def test_bad_filters_are_refused(estate, api, params):
    answer = api(estate.user("admin")).get(URL, **params)
    assert answer.status_code == 422
    assert set(params) & set(answer.json()["error"]["fields"])


def test_the_list_makes_a_fixed_number_of_queries(
    estate, api, alert, django_assert_max_num_queries
):
    people = [estate.user(r) for r in ("operator", "supervisor", "viewer", "executive")]
    for person in people:
        method(person)
    with time_machine.travel(DUE, tick=False):
        for step in range(5):
            notify.page(alert, step=step, recipients=people, channels=[], due_at=DUE)
    caller = api(estate.user("admin"))
    caller.get(URL)  # warm up what is cached per process
    with django_assert_max_num_queries(8):
        assert len(caller.get(URL).json()["items"]) == 20


# --- pages ---------------------------------------------------------------------------------------
def test_the_deliveries_page_for_admins(client, estate, paged):
    client.force_login(estate.user("admin"))
    page = client.get("/deliveries/")
    assert page.status_code == 200
    html = page.content.decode()
    assert len(re.findall(r"data-delivery=", html)) == 3
    assert "NOC room" in html and "No verified contact method." in html
    only = client.get("/deliveries/?status=unreachable").content.decode()
    assert len(re.findall(r"data-delivery=", only)) == 1


def test_the_deliveries_page_is_403_for_an_operator(client, estate, paged):
    client.force_login(estate.user("operator"))
    assert client.get("/deliveries/").status_code == 403


def test_the_alert_detail_page_lists_its_deliveries(client, estate, alert, paged, configurer):
    client.force_login(configurer)
    html = client.get(f"/alerts/{alert.id}/").content.decode()
    assert 'id="alert-deliveries"' in html
    assert len(re.findall(r"data-delivery=", html)) == 3
    assert "Executive Person" not in html  # masked for this viewer


def test_the_settings_page_adds_verifies_and_tests_a_method(client, estate, mailbox):
    op = estate.user("operator")
    client.force_login(op)
    page = client.get("/settings/notifications/")
    assert page.status_code == 200
    assert "Team channels" not in page.content.decode()  # not an admin
    added = client.post(
        "/settings/notifications/",
        {"action": "add_method", "medium": "email", "label": "Work", "address": op.email},
        follow=True,
    )
    assert "A verification code sent." in added.content.decode()
    m = ContactMethod.objects.get(user=op)
    code = re.search(r"code is (\d{6})", mailbox.wait_for(1)[0].body).group(1)
    done = client.post(
        "/settings/notifications/",
        {"action": "verify", "method_id": m.id, "code": code},
        follow=True,
    )
    assert "is verified" in done.content.decode()
    client.post(
        "/settings/notifications/",
        {"action": "add_rule", "method_id": m.id, "delay_minutes": "5"},
    )
    assert NotificationRule.objects.get(user=op).delay_minutes == 5
    tested = client.post(
        "/settings/notifications/", {"action": "test", "method_id": m.id}, follow=True
    )
    assert "A test message sent." in tested.content.decode()
    assert len(mailbox.wait_for(2)) == 2


def test_the_settings_page_refuses_bad_input_and_others_methods(client, estate):
    op = estate.user("operator")
    theirs = method(estate.user("supervisor"))
    client.force_login(op)
    bad = client.post(
        "/settings/notifications/",
        {"action": "add_method", "medium": "slack", "label": "S", "address": "json://x/y"},
        follow=True,
    )
    assert "Address:" in bad.content.decode()
    assert not ContactMethod.objects.filter(user=op).exists()
    other = client.post(
        "/settings/notifications/", {"action": "delete_method", "method_id": theirs.id}, follow=True
    )
    assert "Not found." in other.content.decode()
    assert ContactMethod.objects.filter(pk=theirs.pk).exists()
    absurd = client.post(
        "/settings/notifications/",
        {"action": "delete_method", "method_id": str(10**30)},
        follow=True,
    )
    assert absurd.status_code == 200
    assert (
        client.post("/settings/notifications/", {"action": "add_channel", "name": "x"}).status_code
        == 403
    )


def test_an_admin_sees_and_adds_team_channels_on_the_settings_page(client, estate):
    client.force_login(estate.user("admin"))
    client.post(
        "/settings/notifications/",
        {
            "action": "add_channel",
            "name": "NOC Slack",
            "medium": "slack",
            "address": "slack://T1234ABCD/B5678EFGH/abcdefghijklmnopqrstuvwx",
        },
    )
    html = client.get("/settings/notifications/").content.decode()
    assert "NOC Slack" in html
    assert "abcdefghijklmnopqrstuvwx" not in html


def test_deliveries_of_tests_and_codes_need_no_alert(estate, api, mailbox):
    op = estate.user("operator")
    api(op).post(
        "/api/v1/me/contact-methods", {"medium": "email", "label": "W", "address": op.email}
    )
    rows = api(estate.user("admin")).get(URL).json()["items"]
    assert [(d["kind"], d["status"], d["alert_id"]) for d in rows] == [("verify", "sent", None)]
    assert Delivery.objects.count() == 1


def test_the_demo_shows_what_its_sinks_received(client, estate, settings, tmp_path):
    from watchfloor.demo.sinks import FOLDER_NAME, MailSink, WebhookSink
    from watchfloor.oncall import channels

    settings.DEMO = True
    settings.WATCHFLOOR_HOME = tmp_path
    folder = tmp_path / FOLDER_NAME
    with MailSink(folder=folder) as mail, WebhookSink(folder=folder) as hook:
        settings.SMTP_URL = mail.url
        channels.send("email", "ann@example.com", subject="Mail one", text="Body 1", short="")
        channels.send("webhook", hook.url("/room"), subject="Hook one", text="Body 2", short="")
        mail.wait_for(1)
        hook.wait_for(1)
    client.force_login(estate.user("admin"))
    html = client.get("/deliveries/").content.decode()
    assert 'id="demo-inbox"' in html
    assert "Mail one" in html and "Hook one" in html and "ann@example.com" in html
    settings.DEMO = False
    assert 'id="demo-inbox"' not in client.get("/deliveries/").content.decode()


def test_settled_deliveries_are_on_the_alerts_timeline(client, estate, alert, paged, configurer):
    from watchfloor.demo.sinks import WebhookSink

    op_delivery = next(d for d in paged if d.recipient_id == estate.user("operator").id)
    with WebhookSink() as hook:
        m = op_delivery.contact_method
        m.medium, m.address = "webhook", hook.url("/op")
        m.save(update_fields=["medium", "address"])
        with time_machine.travel(DUE + timedelta(seconds=2), tick=False):
            assert notify.deliver(op_delivery.id) == "sent"
    client.force_login(configurer)
    html = client.get(f"/alerts/{alert.id}/").content.decode()
    items = re.findall(r"timeline__item--notified.*?</li>", html, re.S)
    assert len(items) == 2  # sent and unreachable; the channel's pending one is not settled
    sent = next(i for i in items if "Notified" in i)
    assert "Op***r Pe***n" in sent and "2.0 s" in sent  # masked for this viewer
    assert any("Could not notify" in i for i in items)
