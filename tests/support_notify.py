"""Helpers for the notification tests: alerts, verified contact methods, channels."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from django.utils import timezone

from support_alerts import trigger
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.oncall.models import ContactMethod, NotificationRule, TeamChannel

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PII_TITLE = "Guard jane.doe@example.com unreachable, call +1 555 867 5309"


def open_alert(estate, key, *, severity=Severity.CRITICAL, site=0, at=T0, **kw) -> Alert:
    kw.setdefault("title", PII_TITLE)
    with time_machine.travel(at, tick=False):
        ingest([trigger(severity=severity, site=estate.sites[site].code, **kw)], key=key, now=at)
    return Alert.objects.filter(tenant=estate.tenant).order_by("-id").first()


def method(user, *, medium="email", address=None, verified=True, label="Work") -> ContactMethod:
    return ContactMethod.objects.create(
        tenant_id=user.tenant_id,
        user=user,
        medium=medium,
        label=label,
        address=address or user.email,
        verified_at=timezone.now() if verified else None,
    )


def rule(m: ContactMethod, minutes: int) -> NotificationRule:
    return NotificationRule.objects.create(
        tenant_id=m.tenant_id, user=m.user, contact_method=m, delay_minutes=minutes
    )


def channel(tenant, address, *, name="NOC room", medium="webhook", verified=True, active=True):
    return TeamChannel.objects.create(
        tenant=tenant,
        name=name,
        medium=medium,
        address=address,
        verified_at=timezone.now() if verified else None,
        active=active,
    )
