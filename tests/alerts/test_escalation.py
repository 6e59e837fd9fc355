"""Escalation delays: parsed from WATCHFLOOR_ESCALATION_DELAYS, one per severity, INFO never."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count
from django.utils import timezone

from support_alerts import key_for, trigger
from watchfloor.alerts.escalation import escalation_delay, overdue_condition
from watchfloor.alerts.models import Alert, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.settings import parse_escalation_delays

__all__ = ["key_for"]


def test_defaults_are_the_design_delays():
    assert [escalation_delay(s) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(minutes=60),
        timedelta(minutes=120),
        None,
    ]


def test_parse_accepts_spaces_and_case_and_leaves_others_out():
    assert parse_escalation_delays(" critical=5 , HIGH=10,") == {"CRITICAL": 5, "HIGH": 10}
    assert parse_escalation_delays("") == {}


@pytest.mark.parametrize("text", ["CRITICAL", "URGENT=5", "HIGH=soon", "LOW=-1"])
def test_parse_refuses_a_typo_naming_the_variable(text):
    with pytest.raises(ImproperlyConfigured, match="WATCHFLOOR_ESCALATION_DELAYS"):
        parse_escalation_delays(text)


def test_overdue_condition_selects_new_alerts_past_their_delay(estate, key_for, settings):
    ingest([trigger(site=estate.sites[0].code, severity="HIGH")], key=key_for(estate))
    now = timezone.now()
    Alert.objects.update(first_seen_at=now - timedelta(minutes=31))
    overdue = Alert.objects.filter(overdue_condition(now))
    assert overdue.count() == 1
    Alert.objects.update(status=Status.ACKNOWLEDGED)
    assert overdue.count() == 0
    Alert.objects.update(status=Status.NEW)
    settings.ALERT_ESCALATION_DELAYS = {"CRITICAL": 15}
    assert Alert.objects.filter(overdue_condition(now)).count() == 0
    # no severity escalates: the condition matches nothing, also inside an aggregate
    settings.ALERT_ESCALATION_DELAYS = {}
    assert escalation_delay("CRITICAL") is None
    assert Alert.objects.filter(overdue_condition(now)).count() == 0
    counted = Alert.objects.aggregate(n=Count("id", filter=overdue_condition(now)))
    assert counted == {"n": 0}
