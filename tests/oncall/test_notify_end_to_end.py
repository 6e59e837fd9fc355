"""End to end without a browser: a CRITICAL alert nobody acknowledges is escalated by the sweep
to the site's officer in charge, the page reaches their mailbox (a real SMTP server), and the
acknowledge link in it acknowledges the alert as them; the next step's pages are then cancelled."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import time_machine
from django.test import Client

from support_alerts import key_for
from support_notify import T0, method, open_alert
from support_sinks import mailbox
from watchfloor.alerts.models import Status
from watchfloor.oncall import escalation, notify
from watchfloor.oncall.models import Delivery, DeliveryStatus

__all__ = ["key_for", "mailbox"]

ACK = re.compile(r"(http://\S+/ack/\S+/)")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def test_an_unacknowledged_critical_alert_pages_the_officer_who_acknowledges_by_link(
    estate, key_for, mailbox, settings
):
    settings.ALERT_ESCALATION_DELAYS = {"CRITICAL": 2}
    officer = estate.user("operator")  # no noc:view_pii: the page is masked for them
    for site in estate.sites:
        site.officer_in_charge = officer
        site.save(update_fields=["officer_in_charge"])
    owner = estate.user("admin")
    for client in estate.clients:
        client.owner = owner
        client.save(update_fields=["owner"])
    method(officer)
    method(owner)
    alert = open_alert(estate, key_for(estate))

    for minute in (0, 1):  # nothing is due before 2 minutes
        with time_machine.travel(T0 + timedelta(minutes=minute), tick=False):
            escalation.sweep(T0 + timedelta(minutes=minute))
            notify.send_due()
    assert mailbox.messages == []

    due = T0 + timedelta(minutes=2, seconds=5)
    with time_machine.travel(due, tick=False):
        escalation.sweep(due)
        assert notify.send_due()["sent"] == 1
    (mail,) = mailbox.wait_for(1)
    assert mail.rcpt_to == [officer.email]
    assert "jane.doe@example.com" not in mail.body
    link = ACK.search(mail.body).group(1)

    browser = Client(enforce_csrf_checks=True)
    path = urlsplit(link).path
    with time_machine.travel(due + timedelta(minutes=1), tick=False):
        shown = browser.get(path)
        token = CSRF.search(shown.content.decode()).group(1)
        assert browser.post(path, {"csrfmiddlewaretoken": token}).status_code == 200
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED  # someone has it now
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by_id == officer.id

    later = T0 + timedelta(minutes=10)
    with time_machine.travel(later, tick=False):
        escalation.sweep(later)
        notify.send_due()
    assert len(mailbox.messages) == 1  # the owner is never paged: the chain stopped
    assert not Delivery.objects.filter(recipient=owner, status=DeliveryStatus.SENT).exists()
