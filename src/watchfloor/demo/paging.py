"""The demo's paging: who is on call, how they are reached, and a policy with short delays.

So that a newcomer sees an escalation and its notifications within minutes of opening the demo:

- a schedule "NOC on call" whose daily rotation (handoff 08:00 UTC) takes the operator, the
  supervisor and the admin in turn, with an override: the admin covers the first four hours
  after the demo is installed;
- every person of the demo tenant reachable by email (their demo address, through the SMTP sink
  the demo starts on 127.0.0.1), the admin also on a personal webhook a minute later;
- a team channel "NOC chat" posting to the demo's webhook sink;
- the default escalation policy with delays of minutes: CRITICAL and HIGH alerts page whoever is
  on call (and the channel) after 2 minutes if still firing, then the site's officer in charge,
  then the client's owner; MEDIUM and LOW reach the on-call person after 10 minutes.

The demo's contact methods are created verified: they point at the demo's own sinks, so there
is no one to send a code to. Nothing leaves the machine. The alerts loaded as the demo's history
(the three hours before it was installed) are marked as opened before paging existed, so the
first minute of the demo is not a flood of pages about the past.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from watchfloor.alerts.models import Alert, Status
from watchfloor.oncall.models import (
    AlertEscalation,
    ContactMethod,
    EscalationPolicy,
    EscalationState,
    Layer,
    LayerMember,
    Medium,
    NotificationRule,
    Override,
    Schedule,
    ShiftLength,
    TeamChannel,
)
from watchfloor.oncall.policy_services import create_policy, update_policy
from watchfloor.tenancy.models import Tenant, User

SCHEDULE_NAME = "NOC on call"
CHANNEL_NAME = "NOC chat"
DAY_ROTATION = ("operator", "supervisor", "admin")
HISTORY_REASON = "opened before the demo's paging was set up"


def demo_policy_steps(schedule_id: int, channel_id: int) -> list[dict]:
    urgent = ["CRITICAL", "HIGH"]
    on_call = {"kind": "schedule", "id": schedule_id}
    return [
        {
            "delay_minutes": 2,
            "severities": urgent,
            "targets": [on_call, {"kind": "channel", "id": channel_id}],
        },
        {"delay_minutes": 3, "severities": urgent, "targets": [{"kind": "officer"}]},
        {"delay_minutes": 5, "severities": ["CRITICAL"], "targets": [{"kind": "client_owner"}]},
        {"delay_minutes": 10, "severities": ["MEDIUM", "LOW"], "targets": [on_call]},
    ]


def _people(tenant: Tenant, usernames) -> list[User]:
    found = {u.username: u for u in User.objects.filter(tenant=tenant, username__in=usernames)}
    return [found[name] for name in usernames if name in found]


def _schedule(tenant: Tenant, now: datetime) -> Schedule:
    schedule = Schedule.objects.create(
        tenant=tenant,
        name=SCHEDULE_NAME,
        description="The demo's operations center: one person a day, handoff at 08:00 UTC.",
        time_zone="UTC",
    )
    first_day = datetime.combine(now.date() - timedelta(days=1), time(8), tzinfo=now.tzinfo)
    days = Layer.objects.create(
        tenant=tenant,
        schedule=schedule,
        name="Days",
        position=0,
        rotation_start=first_day,
        shift_length=ShiftLength.DAILY,
    )
    for position, user in enumerate(_people(tenant, DAY_ROTATION)):
        LayerMember.objects.create(layer=days, user=user, position=position)
    # whoever installs the demo is most likely its admin: they cover the first hours, so the
    # first pages reach the person looking at the screen
    admin = _people(tenant, ["admin"])
    if admin:
        Override.objects.create(
            tenant=tenant,
            schedule=schedule,
            user=admin[0],
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(hours=4),
            reason="The admin covers the demo's first hours",
        )
    return schedule


def _contacts(tenant: Tenant, now: datetime, personal_webhook: str) -> int:
    methods = []
    for user in User.objects.filter(tenant=tenant, is_active=True).exclude(email=""):
        methods.append(
            ContactMethod(
                tenant=tenant,
                user=user,
                medium=Medium.EMAIL,
                label="Work email",
                address=user.email,
                verified_at=now,
            )
        )
    created = ContactMethod.objects.bulk_create(methods)
    admin = User.objects.filter(tenant=tenant, username="admin").first()
    if admin is not None:
        email = next(m for m in created if m.user_id == admin.id)
        hook = ContactMethod.objects.create(
            tenant=tenant,
            user=admin,
            medium=Medium.WEBHOOK,
            label="Phone app (demo webhook)",
            address=personal_webhook,
            verified_at=now,
        )
        NotificationRule.objects.create(
            tenant=tenant, user=admin, contact_method=email, delay_minutes=0
        )
        NotificationRule.objects.create(
            tenant=tenant, user=admin, contact_method=hook, delay_minutes=1
        )
    return len(created)


def _mark_history(tenant: Tenant, now: datetime) -> int:
    history = Alert.objects.filter(
        tenant=tenant, status__in=(Status.NEW, Status.ESCALATED), acknowledged_at__isnull=True
    ).exclude(escalation__isnull=False)
    rows = [
        AlertEscalation(
            alert_id=alert_id,
            tenant=tenant,
            state=EscalationState.DONE,
            stop_reason=HISTORY_REASON,
            created_at=now,
            updated_at=now,
        )
        for alert_id in history.values_list("id", flat=True)
    ]
    AlertEscalation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def paging_loaded(tenant: Tenant) -> bool:
    return Schedule.objects.filter(tenant=tenant, name=SCHEDULE_NAME).exists()


@transaction.atomic
def load_demo_paging(tenant: Tenant, *, webhook_url: str, personal_webhook_url: str) -> dict:
    """Create the demo's schedule, contacts, channel and policy (once per demo tenant)."""
    now = timezone.now()
    admin = (
        User.objects.filter(tenant=tenant, username="admin").first()
        or User.objects.filter(tenant=tenant, groups__name="admin", is_active=True)
        .order_by("id")
        .first()
    )
    if admin is None:  # not the demo's own people: nobody may configure paging
        return {"contacts": 0, "history": 0, "schedule": None}
    schedule = _schedule(tenant, now)
    contacts = _contacts(tenant, now, personal_webhook_url)
    channel = TeamChannel.objects.create(
        tenant=tenant,
        name=CHANNEL_NAME,
        medium=Medium.WEBHOOK,
        address=webhook_url,
        verified_at=now,
        created_by=admin,
    )
    steps = demo_policy_steps(schedule.id, channel.id)
    default = EscalationPolicy.objects.filter(tenant=tenant, is_default=True).first()
    if default is None:
        create_policy(
            tenant,
            actor=admin,
            name="Default",
            is_default=True,
            steps=steps,
            notify_after_minutes=1,
        )
    else:
        update_policy(default, actor=admin, steps=steps, notify_after_minutes=1)
    history = _mark_history(tenant, now)
    return {"contacts": contacts, "history": history, "schedule": schedule.id}


def point_at_sinks(tenant: Tenant, *, webhook_url: str, personal_webhook_url: str) -> None:
    """The sinks may listen on other ports than last time: the demo's channel and the admin's
    webhook follow them (only the demo's own rows, by name)."""
    TeamChannel.objects.filter(tenant=tenant, name=CHANNEL_NAME).update(address=webhook_url)
    ContactMethod.objects.filter(
        tenant=tenant, user__username="admin", medium=Medium.WEBHOOK, label__startswith="Phone app"
    ).update(address=personal_webhook_url)
