"""The demo's paging: who is on call, how they are reached, the short-delay policy, the sinks."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from support_sinks import mailbox, webhook  # noqa: F401 (fixtures)
from watchfloor.access.models import IntegrationKey
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.demo import data as demo_data
from watchfloor.demo import paging as demo_paging
from watchfloor.demo.alerts import load_demo_alerts
from watchfloor.oncall import escalation, notify
from watchfloor.oncall.models import (
    AlertEscalation,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    EscalationPolicy,
    EscalationState,
    TeamChannel,
)
from watchfloor.oncall.rotation import who_is_on_call
from watchfloor.tenancy.models import Site, User


def test_the_demo_pages_whoever_is_on_call_within_minutes(db, mailbox, webhook):  # noqa: F811
    tenant = demo_data.load_demo().tenant
    load_demo_alerts(tenant, seed=demo_data.DEFAULT_SEED)
    counts = demo_paging.load_demo_paging(
        tenant, webhook_url=webhook.url("/noc"), personal_webhook_url=webhook.url("/admin")
    )
    assert demo_paging.paging_loaded(tenant)
    people = User.objects.filter(tenant=tenant, is_active=True).exclude(email="")
    assert counts["contacts"] == people.count()
    assert ContactMethod.objects.filter(tenant=tenant, verified_at__isnull=True).count() == 0
    assert TeamChannel.objects.get(tenant=tenant, name=demo_paging.CHANNEL_NAME).verified_at
    policy = EscalationPolicy.objects.get(tenant=tenant, is_default=True)
    assert policy.current.steps[0]["delay_minutes"] == 2
    assert policy.current.notify_after_minutes == 1
    # the history loaded before paging existed never pages
    history = AlertEscalation.objects.filter(tenant=tenant, stop_reason=demo_paging.HISTORY_REASON)
    assert history.count() == counts["history"] > 0
    assert not history.exclude(state=EscalationState.DONE).exists()

    admin = User.objects.get(tenant=tenant, username="admin")
    schedule_id = counts["schedule"]
    assert who_is_on_call([schedule_id], timezone.now()) == {schedule_id: [admin.id]}

    site = Site.objects.filter(tenant=tenant).order_by("id").first()
    key = IntegrationKey.objects.filter(tenant=tenant, source="native").first()
    now = timezone.now()
    ingest(
        [
            Event(
                action=EventAction.TRIGGER,
                type="INTRUSION",
                severity=Severity.CRITICAL,
                site_code=site.code,
                title="Perimeter alarm, gate 2",
            )
        ],
        key=key,
        now=now,
    )
    alert = Alert.objects.get(tenant=tenant, title="Perimeter alarm, gate 2")
    with time_machine.travel(now + timedelta(minutes=1, seconds=59), tick=False):
        escalation.sweep()
    assert not Delivery.objects.filter(alert=alert).exists()
    with time_machine.travel(now + timedelta(minutes=2, seconds=1), tick=False):
        escalation.sweep()
        for delivery in Delivery.objects.filter(alert=alert, status=DeliveryStatus.PENDING):
            if delivery.next_attempt_at <= timezone.now():
                notify.deliver(delivery.id)
    assert mailbox.to(admin.email), "the admin (on call) got the page by email"
    assert "Perimeter alarm, gate 2" in mailbox.to(admin.email)[0].subject
    assert any(hook.path == "/noc" for hook in webhook.wait_for(1, timeout=10))
