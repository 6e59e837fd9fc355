"""The daily rollup of the alert reports (docs/architecture.md "Reports", decisions.md).

A report over 1,000,000 alerts read every alert of its range (2–9 s on PostgreSQL). These tables
hold per UTC day what the reports sum, so a report reads the rollup for the whole days it covers
and the alerts only for what the rollup cannot hold: the partial edge days of the range, the days
not rolled yet (today), and — for the figures of alerts by the day they were first seen — the
alerts still active or resolved after the tenant's watermark.

- `AlertDayRollup`: alerts first seen on `day` that were RESOLVED before the tenant's watermark,
  in three grains (by type, by severity, by site alone: `Grain`).
  A resolved alert never changes again (RESOLVED is terminal; a repeat opens a new alert), so
  these figures are final. Open and suppressed alerts stay live (few, in the active indexes).
- `ResponseDayRollup`: acknowledgements and resolutions that happened on `day` (MTTA by
  `acknowledged_at`, MTTR by `resolved_at`): final once the day is over.
- `RollupState`: per tenant, the rolled days [first_day, end_day), the watermark and the SLA
  targets the rollup's SLA counts were computed with.

Written only by `reports.rollup` (the `reports.rollup` job); rows carry client and site so the
user's scope (`restrict`) and the overview's filters apply to them as to the alerts.
"""

from __future__ import annotations

from django.db import models

from watchfloor.tenancy.models import ON_SITE, Client, Site, TenantScoped


class Grain(models.TextChoices):
    """What an `AlertDayRollup` row is grouped by besides day, client and site: each report
    reads only the rows of its grain, so it reads as few rows as its grouping needs."""

    TYPE = "type"  # frequency by type and day (severity "")
    SEVERITY = "severity"  # SLA compliance by severity (type "")
    SITE = "site"  # noisy sites (type and severity "")


class AlertDayRollup(TenantScoped):
    day = models.DateField()
    grain = models.CharField(max_length=8, choices=Grain.choices)
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=100)
    severity = models.CharField(max_length=10)
    alerts = models.PositiveIntegerField(default=0)
    occurrences = models.BigIntegerField(default=0)
    suppressed_repeats = models.BigIntegerField(default=0)
    ack_met = models.PositiveIntegerField(default=0)
    ack_breached = models.PositiveIntegerField(default=0)
    resolve_met = models.PositiveIntegerField(default=0)
    resolve_breached = models.PositiveIntegerField(default=0)

    placement = ON_SITE

    class Meta:
        indexes = [models.Index(fields=["tenant", "grain", "day"], name="rollup_alert_grain_day")]


class ResponseKind(models.TextChoices):
    ACKNOWLEDGE = "ack"
    RESOLVE = "resolve"


class ResponseDayRollup(TenantScoped):
    day = models.DateField()
    kind = models.CharField(max_length=8, choices=ResponseKind.choices)
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    severity = models.CharField(max_length=10)
    count = models.PositiveIntegerField(default=0)  # acknowledged_at / resolved_at set
    timed = models.PositiveIntegerField(default=0)  # of which with a time to acknowledge/resolve
    total_us = models.BigIntegerField(default=0)  # their sum, microseconds

    placement = ON_SITE

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind", "day"], name="rollup_response_day")]


class RollupState(TenantScoped):
    """One per tenant. Days in [first_day, end_day) are rolled; `watermark`: the alerts
    resolved before it are in AlertDayRollup; `sla_minutes`: the targets used."""

    first_day = models.DateField(null=True, blank=True)
    end_day = models.DateField(null=True, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    sla_minutes = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="rollup_state_tenant")]
