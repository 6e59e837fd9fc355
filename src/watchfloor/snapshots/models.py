"""Snapshots app: time-windowed KPI snapshots (partitions, materialized views) and retention.

`RetentionPolicy` is one row per tenant: how many days each kind of stored row is kept. The
daily `retention.enforce` job (snapshots/retention.py) deletes what is past its period, in
bounded batches. A tenant without a row uses the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from watchfloor.tenancy.models import TenantScoped


@dataclass(frozen=True)
class Kind:
    """One kind of row a policy bounds: its field on RetentionPolicy, default and bounds (days)."""

    field: str
    label: str
    default: int
    minimum: int
    maximum: int


# Audit is kept longest: its minimum is the longest any other kind may be kept, and a policy
# refuses an audit period shorter than any other period (RetentionPolicy.clean).
MAX_DAYS = 3650  # ten years: the longest anything but audit may be kept
AUDIT_MAX_DAYS = 3650 * 2

KINDS: tuple[Kind, ...] = (
    Kind("resolved_alerts_days", "Resolved alerts", 180, 7, MAX_DAYS),
    Kind("closed_incidents_days", "Closed incidents", 365, 7, MAX_DAYS),
    Kind("deliveries_days", "Notification deliveries", 90, 7, MAX_DAYS),
    Kind(
        "feed_records_days",
        "Feed records (tickets, work orders, devices, attendance)",
        180,
        7,
        MAX_DAYS,
    ),
    Kind("snapshots_days", "KPI snapshots", 90, 31, MAX_DAYS),
    Kind("audit_days", "Audit log", 730, 30, AUDIT_MAX_DAYS),
)
KIND_BY_FIELD = {kind.field: kind for kind in KINDS}
DEFAULTS = {kind.field: kind.default for kind in KINDS}


def _days(kind: Kind) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        kind.label + " (days)",
        default=kind.default,
        validators=[MinValueValidator(kind.minimum), MaxValueValidator(kind.maximum)],
    )


_K = KIND_BY_FIELD


class RetentionPolicy(TenantScoped):
    """How long one tenant's rows are kept, per kind, in days."""

    resolved_alerts_days = _days(_K["resolved_alerts_days"])
    closed_incidents_days = _days(_K["closed_incidents_days"])
    deliveries_days = _days(_K["deliveries_days"])
    feed_records_days = _days(_K["feed_records_days"])
    snapshots_days = _days(_K["snapshots_days"])
    audit_days = _days(_K["audit_days"])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="retention_policy_one_per_tenant"),
            models.CheckConstraint(
                condition=models.Q(audit_days__gte=models.F("resolved_alerts_days"))
                & models.Q(audit_days__gte=models.F("closed_incidents_days"))
                & models.Q(audit_days__gte=models.F("deliveries_days"))
                & models.Q(audit_days__gte=models.F("feed_records_days"))
                & models.Q(audit_days__gte=models.F("snapshots_days")),
                name="retention_audit_kept_longest",
            ),
        ]

    def __str__(self) -> str:
        return f"retention policy of tenant {self.tenant_id}"

    def days(self) -> dict[str, int]:
        return {kind.field: getattr(self, kind.field) for kind in KINDS}

    def clean(self):
        errors = problems(self.days())
        if errors:
            raise ValidationError(errors)


def problems(days: dict[str, int]) -> dict[str, str]:
    """What is wrong with a set of periods, by field: each within its bounds, audit longest."""
    errors: dict[str, str] = {}
    for field, value in days.items():
        kind = KIND_BY_FIELD[field]
        if not kind.minimum <= value <= kind.maximum:
            errors[field] = f"between {kind.minimum} and {kind.maximum} days"
    audit = days.get("audit_days")
    if audit is not None and "audit_days" not in errors:
        longer = [f for f, v in days.items() if f != "audit_days" and f not in errors and v > audit]
        if longer:
            errors["audit_days"] = (
                "audit is kept longest: at least " + str(max(days[f] for f in longer)) + " days"
            )
    return errors
