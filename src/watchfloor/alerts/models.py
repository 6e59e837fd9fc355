"""Alerts: one row per (tenant, fingerprint) while open; repeats bump counters on it.

An alert's identity is its fingerprint; its content (title, severity, labels…) has its own hash, so
a repeat that says the same thing only bumps `occurrence_count`, while changed content is recorded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from watchfloor.tenancy.models import (
    ON_SITE,
    Client,
    Placement,
    Site,
    Tenant,
    TenantQuerySet,
    TenantScoped,
)


class BuiltinType(models.TextChoices):
    """Types raised by Watchfloor's own rules; monitoring sources add free types (alertname)."""

    SLA_BREACH = "SLA_BREACH"
    TICKET_ESCALATED = "TICKET_ESCALATED"
    DEVICE_OFFLINE = "DEVICE_OFFLINE"
    DEVICE_SPOOF = "DEVICE_SPOOF"
    GEOFENCE_BREACH = "GEOFENCE_BREACH"
    ATTENDANCE_MISSING = "ATTENDANCE_MISSING"
    SYNC_DEGRADED = "SYNC_DEGRADED"
    SECURITY_ANOMALY = "SECURITY_ANOMALY"
    WORK_ORDER_OVERDUE = "WORK_ORDER_OVERDUE"
    ATTENDANCE_ANOMALY = "ATTENDANCE_ANOMALY"


class Severity(models.TextChoices):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"

    @property
    def rank(self) -> int:
        """0 for CRITICAL … 4 for INFO: lower is worse."""
        return SEVERITY_RANK[self.value]


# severity value -> its rank (`Severity.rank`) without building the enum: the incident rules rank
# every alert of a fold (an enum lookup and a list per alert were 60 ms of a 10,000-alert pass)
SEVERITY_RANK: dict[str, int] = {s.value: i for i, s in enumerate(Severity)}


class Status(models.TextChoices):
    NEW = "NEW"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSIGNED = "ASSIGNED"
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"
    SUPPRESSED = "SUPPRESSED"


OPEN_STATUSES = (Status.NEW, Status.ACKNOWLEDGED, Status.ASSIGNED, Status.ESCALATED)
# Every status but RESOLVED holds the fingerprint: a suppressed alert still absorbs its repeats.
ACTIVE_STATUSES = (*OPEN_STATUSES, Status.SUPPRESSED)
ACTIVE_CONDITION = ~Q(status=Status.RESOLVED)
# Nobody acknowledged it: new, or escalated by the engine without an acknowledgement (the
# "overdue" filter's first half, alerts.escalation.overdue_condition).
UNACKNOWLEDGED_CONDITION = Q(status=Status.NEW) | Q(
    status=Status.ESCALATED, acknowledged_at__isnull=True
)


class SuppressionReason(models.TextChoices):
    MAINTENANCE = "maintenance"
    BACKPRESSURE = "backpressure"


class CorrelationReason(models.TextChoices):
    SITE = "site"
    STORM = "storm"


def _actor():
    """Who took a step: kept when the user is deleted (set null), never looked up by (no index)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )


class AlertQuerySet(TenantQuerySet):
    def active(self):
        """Rows that own their fingerprint: everything not resolved."""
        return self.filter(ACTIVE_CONDITION)

    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def suppressed(self):
        return self.filter(status=Status.SUPPRESSED)


class Alert(TenantScoped):
    # Every index costs each new alert an insertion (2-7 us each, measured: a first pass of
    # 10,000 alerts spent most of its INSERT in 21 indexes). The tenant's and the site's own
    # indexes are left out: alert_tenant_first_seen and alert_site_first_seen start with them
    # and serve the same lookups (a cascade, a PROTECT check).
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    source = models.CharField(max_length=20)
    integration_key = models.ForeignKey(
        "access.IntegrationKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    type = models.CharField(max_length=100)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=128)
    content_hash = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=50, blank=True)
    entity_id = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    source_url = models.URLField(max_length=1000, blank=True)
    runbook_url = models.URLField(max_length=1000, blank=True)

    occurrence_count = models.PositiveIntegerField(default=1)
    suppressed_count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)

    suppression_reason = models.CharField(
        max_length=20, choices=SuppressionReason.choices, blank=True
    )
    maintenance_window = models.ForeignKey(
        "maintenance.MaintenanceWindow",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    correlation_id = models.UUIDField(null=True, blank=True)
    correlation_reason = models.CharField(
        max_length=10, choices=CorrelationReason.choices, blank=True
    )
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = _actor()
    assigned_at = models.DateTimeField(null=True, blank=True)
    assigned_by = _actor()
    # the same column as an actor's, but looked up by: indexed where set (alert_assignee), as
    # most alerts have no assignee
    assignee = _actor()
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_by = _actor()
    escalation_level = models.PositiveSmallIntegerField(default=0)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = _actor()
    resolution_note = models.TextField(blank=True)
    time_to_acknowledge = models.DurationField(null=True, blank=True)
    time_to_resolve = models.DurationField(null=True, blank=True)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = AlertQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's
    # an alert without a site is seen by the users who see its whole client (access.scope)
    placement = ON_SITE

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "fingerprint"],
                condition=ACTIVE_CONDITION,
                name="alert_one_active_per_fingerprint",
            )
        ]
        # No index may cover a column a plain repeat writes (occurrence_count, last_seen_at,
        # updated_at): PostgreSQL can then update the row in place (a HOT update, with the
        # table's fillfactor leaving room), 4× the repeats per second (docs/benchmarks.md).
        indexes = [
            models.Index(fields=["tenant", "status", "severity"], name="alert_tenant_status_sev"),
            models.Index(fields=["site", "first_seen_at"], name="alert_site_first_seen"),
            models.Index(fields=["correlation_id"], name="alert_correlation"),
            # where set only: an alert outside every window costs these indexes nothing
            models.Index(
                fields=["maintenance_window"],
                condition=Q(maintenance_window__isnull=False),
                name="alert_maintenance_window",
            ),
            models.Index(
                fields=["assignee"], condition=Q(assignee__isnull=False), name="alert_assignee"
            ),
            # storm correlation: a (client, type) pair's active alerts in first-seen order, id
            # last so a fold reads a pair's first rows without sorting all of them
            # (alerts.correlation)
            models.Index(
                fields=["client", "type", "first_seen_at", "id"],
                condition=ACTIVE_CONDITION,
                name="alert_active_pair_seen",
            ),
            # the overview's tiles and map, and the escalation job (NEW, one severity, first
            # seen before its delay): active alerts are ~3 % of the table; every column those
            # aggregates read is a key, so a vacuumed page answers from the index alone
            models.Index(
                fields=[
                    "tenant",
                    "status",
                    "severity",
                    "first_seen_at",
                    "client",
                    "site",
                    "suppression_reason",
                ],
                condition=ACTIVE_CONDITION,
                name="alert_active_overview",
            ),
            # the same, for a few sites (the overview filtered by city, state, officer or site)
            models.Index(
                fields=["site", "status", "severity", "first_seen_at", "client"],
                condition=ACTIVE_CONDITION,
                name="alert_active_site",
            ),
            # "acknowledged / resolved today" (MTTA, MTTR): a range at the end of each index;
            # client and site are keys so a filtered overview skips other places' rows inside
            # the index instead of reading each row of the day
            models.Index(
                fields=["tenant", "acknowledged_at", "client", "site"],
                condition=Q(acknowledged_at__isnull=False),
                name="alert_acknowledged_day",
            ),
            models.Index(
                fields=["tenant", "resolved_at", "client", "site"],
                condition=Q(resolved_at__isnull=False),
                name="alert_resolved_day",
            ),
            # the newest assignment and escalation of a tenant (the overview's shared answers
            # are renewed when either moves; see alerts.overview_queries.watermark)
            models.Index(
                fields=["tenant", "assigned_at"],
                condition=Q(assigned_at__isnull=False),
                name="alert_assigned_at",
            ),
            models.Index(
                fields=["tenant", "escalated_at"],
                condition=Q(escalated_at__isnull=False),
                name="alert_escalated_at",
            ),
            # the alerts list's sorts (alerts.listing): first seen either way, and, per severity,
            # the oldest open alerts first (the feed's order). first_seen_at is written once, so
            # repeats stay HOT; last_seen_at has no index on purpose (the rule above), so the
            # `last_seen` sorts read every row the filters leave (docs/benchmarks.md)
            models.Index(fields=["tenant", "first_seen_at", "id"], name="alert_tenant_first_seen"),
            models.Index(
                fields=["tenant", "severity", "first_seen_at", "id"],
                condition=ACTIVE_CONDITION,
                name="alert_active_severity_age",
            ),
            # the overdue filter (unacknowledged, first seen before its severity's delay) in first
            # seen order: a walk of the unacknowledged alerts alone. Through
            # alert_tenant_first_seen it filtered out ~1,600 rows (resolved ones, mostly) for a
            # page of 51; PostgreSQL's CPU a page 1.15 → 0.78 ms (docs/decisions.md)
            models.Index(
                fields=["tenant", "first_seen_at", "id"],
                condition=UNACKNOWLEDGED_CONDITION,
                name="alert_unacknowledged_age",
            ),
            # the severity order's last part, active alerts of a severity outside Severity
            # (none are ever stored; the order still places them last): empty, so that part of
            # the overview feed and the alerts list is a probe, not a read of every active
            # alert (194 ms at 26,000 active alerts, docs/benchmarks.md)
            models.Index(
                fields=["tenant", "first_seen_at", "id"],
                condition=ACTIVE_CONDITION & ~Q(severity__in=[s.value for s in Severity]),
                name="alert_active_other_severity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.type}: {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status != Status.RESOLVED


class AlertComment(TenantScoped):
    """A remark on an alert that changes nothing else (its status, its escalation). Shown on
    the alert's timeline, masked for viewers without `noc:view_pii`; the audit entry names
    only the comment's id and length (the text may hold personal data)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["alert", "created_at"], name="alert_comment_alert_time")]

    def __str__(self) -> str:
        return f"comment #{self.pk} on alert {self.alert_id}"


class Runbook(TenantScoped):
    """What to do about an alert type: Markdown (rendered safely, alerts.runbooks) or a URL, or
    both. One per (tenant, type) for every client, and one per (tenant, type, client) where a
    client's differs: the client's wins (`alerts.runbooks.runbooks_for`). Here, not in incidents,
    because on-call's messages link to it and on-call never imports incidents."""

    alert_type = models.CharField(max_length=100)
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)  # Markdown; raw HTML is never rendered
    url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = _actor()

    # a client-specific runbook is seen by who sees the client; a general one (no client) by
    # everyone of the tenant with noc:view
    placement = Placement(client="client_id", site=None, client_wide=True)

    class Meta:
        ordering = ["alert_type", "client_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "alert_type"],
                condition=Q(client__isnull=True),
                name="runbook_type_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "alert_type", "client"],
                condition=Q(client__isnull=False),
                name="runbook_type_per_client",
            ),
        ]

    def __str__(self) -> str:
        return f"runbook for {self.alert_type}" + (
            f" (client {self.client_id})" if self.client_id else ""
        )


class StagedBatch(TenantScoped):
    """One ingestion request's validated events, durable before the request is answered.

    Append-only: one row per request (one INSERT), folded into alerts by the pipeline's fold
    (alerts.staging) and deleted in the fold's own transaction. `events` is the compact JSON the
    fold reads back (alerts.staging.encode): each event already located (client and site ids)
    and fingerprinted, so the fold never re-validates. No foreign key on the integration key: a
    key revoked or deleted while its batch waits must not lose the batch; `source` and the key's
    id are copied. Nor one on the tenant, and no index but the primary key: the row lives for
    milliseconds, every read of the fold goes by id (alerts.staging), and the constraint's check
    took a share lock on the tenant's row at every request's commit (docs/decisions.md). A
    tenant's deletion still takes its batches with it (Django's cascade).
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    integration_key_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=20)
    received_at = models.DateTimeField()
    event_count = models.PositiveIntegerField()
    events = models.TextField()

    class Meta:
        ordering = ["id"]
