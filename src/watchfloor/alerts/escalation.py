"""Escalation delays: how long an alert may stay unacknowledged, per severity.

The delays come from `WATCHFLOOR_ESCALATION_DELAYS` (settings.ALERT_ESCALATION_DELAYS, minutes;
default CRITICAL 15, HIGH 30, MEDIUM 60, LOW 120, INFO never). The overview's "unacknowledged
past the escalation delay" tile counts with `overdue_condition`. The shipped default escalation
policy (`watchfloor.oncall.policies.default_steps`) takes its first step after the same delays.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from watchfloor.alerts.models import UNACKNOWLEDGED_CONDITION, Severity


def escalation_delay(severity: str) -> timedelta | None:
    """The delay after which a NEW alert of this severity escalates; None: it never does."""
    minutes = settings.ALERT_ESCALATION_DELAYS.get(str(severity))
    return None if minutes is None else timedelta(minutes=minutes)


def overdue_condition(now: datetime) -> Q:
    """Alerts nobody acknowledged (NEW, or ESCALATED by the escalation engine without an
    acknowledgement) first seen longer ago than their severity's delay.

    A Q over `status`, `acknowledged_at`, `severity` and `first_seen_at` (one OR branch per
    severity that escalates); matches nothing when no severity escalates.
    """
    branches = Q(pk__in=[])
    for severity in Severity:
        delay = escalation_delay(severity.value)
        if delay is not None:
            branches |= Q(severity=severity.value, first_seen_at__lt=now - delay)
    return UNACKNOWLEDGED_CONDITION & branches
