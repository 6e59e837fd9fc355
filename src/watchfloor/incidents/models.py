"""Incidents: what people work on. An incident groups alerts, carries its own status, people and
SLA clock, and keeps a timeline of everything that happened to it.

Membership is a table (`IncidentAlert`), not a column on the hot alerts table: an alert belongs
to at most one *open* incident (a partial unique index on the memberships whose incident is
open), and keeps its history with the incidents it belonged to before. When an incident is
resolved or closed its memberships stop being `open`, so it never absorbs another alert (Keep's
users' complaint) — rules only ever add alerts to incidents whose status is open.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from watchfloor.alerts.models import Severity
from watchfloor.tenancy.models import (
    ON_SITE,
    Client,
    Placement,
    Site,
    Tenant,
    TenantQuerySet,
    TenantScoped,
)
from watchfloor.ttl import TtlCache


class IncidentStatus(models.TextChoices):
    NEW = "NEW"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


OPEN_INCIDENT_STATUSES = (
    IncidentStatus.NEW,
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.ASSIGNED,
    IncidentStatus.IN_PROGRESS,
)
# an incident nobody has acknowledged yet: its SLA's acknowledge clock runs
UNACKNOWLEDGED_STATUSES = (IncidentStatus.NEW,)


class Origin(models.TextChoices):
    """Why the incident exists."""

    CRITICAL_ALERT = (
        "critical_alert",
        "for a critical alert",
    )  # "a CRITICAL alert opens an incident"
    ALERT_GROUP = "alert_group", "for related alerts"  # "N alerts of one correlation group"
    MANUAL = "manual", "by hand"  # "new incident from these alerts"


def _person(related_name: str = "+", *, index: bool = False):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name=related_name,
        db_index=index,
    )


class IncidentQuerySet(TenantQuerySet):
    def open(self):
        return self.filter(status__in=OPEN_INCIDENT_STATUSES)


class Incident(TenantScoped):
    title = models.CharField(max_length=500)
    # the highest severity of its alerts (kept current by the services as alerts join, leave or
    # change), or what a person set when it holds no alert
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(
        max_length=12, choices=IncidentStatus.choices, default=IncidentStatus.NEW
    )
    origin = models.CharField(max_length=20, choices=Origin.choices)
    # where it sits: the one client (and site) all its alerts share; null when they span more
    # (then only people who see the whole client, or every client, see it — access.scope)
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # the correlation group (alerts.correlation) that opened it: later alerts of the group join
    correlation_id = models.UUIDField(null=True, blank=True)
    commander = _person()
    summary = models.TextField(blank=True)
    runbook_url = models.URLField(max_length=1000, blank=True)
    external_ref = models.CharField(max_length=200, blank=True)  # a ticket or work order

    # SLA targets, fixed when it opens (from the tenant's IncidentPolicy and its severity)
    ack_due_at = models.DateTimeField(null=True, blank=True)
    resolve_due_at = models.DateTimeField(null=True, blank=True)
    # 75 % of the way to each target: past it the target is "at risk" (a stored moment, so the
    # list filters by SLA state in SQL on both databases)
    ack_risk_at = models.DateTimeField(null=True, blank=True)
    resolve_risk_at = models.DateTimeField(null=True, blank=True)
    # recorded by the SLA job when the target passes (and on the timeline), never on display
    ack_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)

    opened_at = models.DateTimeField()
    opened_by = _person()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = _person()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = _person()
    resolution_note = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = _person()
    # merged into another incident: this one is CLOSED and points at the survivor
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # how many times it was reopened (the tenant's reopen rule, or a person)
    reopen_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    responders = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="IncidentResponder",
        through_fields=("incident", "user"),
        related_name="+",
    )
    alerts = models.ManyToManyField(
        "alerts.Alert", through="IncidentAlert", related_name="incidents"
    )

    objects = IncidentQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's
    placement = ON_SITE

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [
            # the incidents list: a tenant's incidents newest first, or its open ones
            models.Index(fields=["tenant", "opened_at", "id"], name="incident_tenant_opened"),
            models.Index(
                fields=["tenant", "status", "severity", "opened_at"],
                name="incident_tenant_status",
            ),
            models.Index(fields=["client", "opened_at"], name="incident_client_opened"),
            models.Index(fields=["site", "opened_at"], name="incident_site_opened"),
            # the rules: the open incident of a correlation group
            models.Index(
                fields=["tenant", "correlation_id"],
                condition=Q(status__in=OPEN_INCIDENT_STATUSES),
                name="incident_open_group",
            ),
            # the SLA job: open incidents whose targets may have passed
            models.Index(
                fields=["ack_due_at"],
                condition=Q(ack_breached_at__isnull=True, acknowledged_at__isnull=True),
                name="incident_ack_due",
            ),
            models.Index(
                fields=["resolve_due_at"],
                condition=Q(resolve_breached_at__isnull=True, resolved_at__isnull=True),
                name="incident_resolve_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.severity} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_INCIDENT_STATUSES


class IncidentAlert(TenantScoped):
    """An alert's membership of an incident. `open` mirrors whether the incident is open; the
    partial unique constraint on it is "an alert belongs to at most one open incident"."""

    # A storm's first pass writes thousands of these a second, each paying every index and
    # every foreign-key check at commit (10,000 rows: 193 ms; 55-60 ms without the indexes
    # Django adds, which repeat the leading columns of those in Meta, and the constraints;
    # docs/decisions.md). The rows go with their alert or incident: Django's cascade, and
    # retention's set-based delete (dependents first) — no database constraint is needed.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    incident = models.ForeignKey(
        Incident,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
        db_constraint=False,
    )
    alert = models.ForeignKey(
        "alerts.Alert",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    open = models.BooleanField(default=True)
    joined_at = models.DateTimeField()
    joined_by = _person()  # null: a rule added it
    left_at = models.DateTimeField(null=True, blank=True)  # moved out, or merged away

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert"],
                condition=Q(open=True, left_at__isnull=True),
                name="incident_alert_one_open_incident",
            ),
            models.UniqueConstraint(
                fields=["incident", "alert"],
                condition=Q(left_at__isnull=True),
                name="incident_alert_once",
            ),
        ]
        indexes = [
            models.Index(fields=["incident", "joined_at"], name="incident_alert_incident"),
            models.Index(fields=["alert"], name="incident_alert_alert"),
        ]

    def __str__(self) -> str:
        return f"alert {self.alert_id} in incident {self.incident_id}"


class IncidentResponder(TenantScoped):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="responder_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField()
    added_by = _person()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "user"], name="incident_responder_once")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} on incident {self.incident_id}"


class EventKind(models.TextChoices):
    """What a timeline entry records."""

    OPENED = "opened"
    STATUS = "status"  # details: {"from": …, "to": …}
    NOTE = "note"  # body: the note (internal: never on a client's status page)
    # details: {"alert_id", "reason"} (a person), or {"alert_ids", "reason"} (the rules: every
    # alert that joined in one rules call, one line)
    ALERT_JOINED = "alert_joined"
    ALERT_LEFT = "alert_left"  # details: {"alert_id", "to_incident"?}
    ALERT_RESOLVED = "alert_resolved"
    SEVERITY = "severity"  # details: {"from", "to"}
    COMMANDER = "commander"
    RESPONDER = "responder"  # details: {"added"|"removed": user id}
    NOTIFICATION = "notification"  # details: {"deliveries": n, "step": …}
    STATUS_UPDATE = "status_update"  # a client status update was posted (IncidentStatusUpdate)
    SLA_BREACH = "sla_breach"  # details: {"target": "acknowledge"|"resolve", "due_at"}
    MERGED = "merged"  # details: {"into"|"from": incident id}
    EDITED = "edited"  # title, summary, runbook, external reference


class IncidentEvent(TenantScoped):
    """One line of an incident's timeline, append-only, in order (`at`, then id)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = _person()  # null: Watchfloor itself (a rule, the SLA job, escalation)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    body = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at", "id"], name="incident_event_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} on incident {self.incident_id} at {self.at:%Y-%m-%d %H:%M}"


class UpdatePhase(models.TextChoices):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class IncidentStatusUpdate(TenantScoped):
    """A status update for the client ("investigating", "identified"…): sent to the client's
    subscribed contacts and shown on its status page. Written for the client: no internal
    notes, no personal data (the service masks what it stores)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="status_updates")
    phase = models.CharField(max_length=15, choices=UpdatePhase.choices)
    body = models.TextField()
    posted_at = models.DateTimeField()
    posted_by = _person()

    class Meta:
        ordering = ["posted_at", "id"]
        indexes = [
            models.Index(fields=["incident", "posted_at"], name="incident_update_incident"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} update on incident {self.incident_id}"


class ReopenRule(models.TextChoices):
    NEVER = "never"  # a closed or resolved incident stays so; a new alert opens a new incident
    WITHIN = "within"  # a resolved incident of the same fingerprint reopens within N minutes


def default_sla_minutes() -> dict:
    """Acknowledge and resolve targets per severity, in minutes."""
    return {
        "CRITICAL": {"acknowledge": 15, "resolve": 240},
        "HIGH": {"acknowledge": 30, "resolve": 480},
        "MEDIUM": {"acknowledge": 60, "resolve": 1440},
        "LOW": {"acknowledge": 120, "resolve": 2880},
        "INFO": {"acknowledge": 240, "resolve": 10080},
    }


# tenant id -> its IncidentPolicy, for the rules that run after every fold (a read each call was
# a twentieth of their time under a storm); a change reaches other processes within the TTL
RULES_POLICIES = TtlCache("incident-policies", ttl=5)


class IncidentPolicy(TenantScoped):
    """A tenant's incident rules and SLA targets (one row per tenant; `noc:configure` edits it)."""

    open_on_critical = models.BooleanField(default=True)
    # N alerts of one correlation group (site or storm) open one incident holding them; 0: off
    group_threshold = models.PositiveSmallIntegerField(default=3)
    excluded_types = models.JSONField(default=list, blank=True)  # alert types never auto-grouped
    sla_minutes = models.JSONField(default=default_sla_minutes)
    reopen_rule = models.CharField(
        max_length=10, choices=ReopenRule.choices, default=ReopenRule.NEVER
    )
    reopen_within_minutes = models.PositiveIntegerField(default=30)
    updated_at = models.DateTimeField()
    updated_by = _person()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="incident_policy_one_per_tenant")
        ]

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        # this process reads it fresh at once; other processes within the cache's TTL
        RULES_POLICIES.invalidate(self.tenant_id)

    def __str__(self) -> str:
        return f"incident policy of tenant {self.tenant_id}"


class IncidentEscalation(TenantScoped):
    """An incident's paging: it pages through its escalation policy once, instead of each of its
    alerts (their own chains stop when they join). The chain is the policy version in force when
    the incident opened (the client's policy, else the tenant's default), read for the incident's
    severity at each step; `token` changes each time `next_at` does (`incidents.paging`)."""

    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, primary_key=True, related_name="escalation"
    )
    policy_version = models.ForeignKey(
        "oncall.PolicyVersion", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    next_step = models.PositiveSmallIntegerField(default=0)  # index into the chain
    next_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, default="active")  # oncall's EscalationState
    stop_reason = models.CharField(max_length=200, blank=True)
    token = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_at"], condition=Q(state="active"), name="incident_escalation_due"
            )
        ]

    def __str__(self) -> str:
        return f"escalation of incident {self.incident_id}: {self.state}"


class StatusPageLink(TenantScoped):
    """A client's status page: a secret link, no sign-in (`/status/<token>/`). The token is
    shown once and kept only as its SHA-256 digest, like API tokens; revoking it makes the
    page a 404, the same as an unknown token."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)  # to tell links apart; never enough to use one
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    created_by = _person()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = _person()

    placement = Placement(client="client_id", site=None, client_wide=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"status page link {self.prefix} of client {self.client_id}"


class ClientContact(TenantScoped):
    """Someone at a client who gets the client status updates of its incidents (#11 §5), by
    email or an apprise URL (`medium` as for team channels). Only a verified (a 6-digit code
    sent to the address and given back) and subscribed contact gets them. The address may hold
    a token: never logged, never audited, shown back masked."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    medium = models.CharField(max_length=10)  # oncall.models.Medium
    address = models.CharField(max_length=1000)
    subscribed = models.BooleanField(default=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_hash = models.CharField(max_length=64, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    created_by = _person()

    placement = Placement(client="client_id", site=None, client_wide=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["client", "subscribed"], name="client_contact_client")]

    def __str__(self) -> str:
        return f"contact {self.id} of client {self.client_id}"
