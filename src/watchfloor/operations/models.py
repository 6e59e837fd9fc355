"""The field records an operations team already keeps elsewhere — tickets, work orders, devices,
attendance and geofence events — upserted here by external id, plus heartbeats (dead man's
switches) and each tenant's thresholds for the rules that turn them into alerts.

Every record sits on a client and, usually, a site (scope reads it like an alert). Records are
mirrors: the source system owns them, so `source_updated_at` (the source's own change time) decides
whether an upsert is newer than what is stored; `received_at` is when Watchfloor last took it in.
Names of people are personal data: they are stored as sent and masked on every read.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now

from watchfloor.tenancy.models import ON_SITE, Client, Site, TenantScoped

EXTERNAL_ID_MAX = 100


class FeedRecord(TenantScoped):
    """What every upserted record has: its identity in the source and where it sits."""

    external_id = models.CharField(max_length=EXTERNAL_ID_MAX)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source_updated_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    created_at = models.DateTimeField()
    # every write of the row, the upsert's and any other (the feed rules' job judges the records
    # changed since its last run by it: `FeedRulesMark`)
    # (the database's default serves rows written outside the ORM, and existing rows at migration)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    placement = ON_SITE

    class Meta:
        abstract = True


def _unique_external_id(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(fields=["tenant", "external_id"], name=name)


class Priority(models.TextChoices):
    P1 = "P1", "P1 — critical"
    P2 = "P2", "P2 — high"
    P3 = "P3", "P3 — medium"
    P4 = "P4", "P4 — low"


class TicketStatus(models.TextChoices):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


TICKET_OPEN_STATUSES = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.ON_HOLD)


class Ticket(FeedRecord):
    title = models.CharField(max_length=500)
    category = models.CharField(max_length=100, blank=True)
    priority = models.CharField(max_length=2, choices=Priority.choices)
    status = models.CharField(max_length=12, choices=TicketStatus.choices)
    opened_at = models.DateTimeField()
    # when the source gives none, the tenant's SLA hours for the priority set it (OperationsPolicy)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # 0: not escalated; the source's escalation tier otherwise (TICKET_ESCALATED while open)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    assignee_name = models.CharField(max_length=200, blank=True)  # personal data: masked on read

    class Meta:
        ordering = ["-id"]
        constraints = [_unique_external_id("ticket_external_id_unique")]
        indexes = [
            models.Index(fields=["tenant", "status", "sla_due_at"], name="ticket_status_sla"),
            models.Index(fields=["client", "status"], name="ticket_client_status"),
            models.Index(fields=["tenant", "updated_at"], name="ticket_changed"),
            # the KPI snapshot's grouped count of open tickets, as an index-only scan
            models.Index(
                fields=["tenant", "client", "site"],
                include=["priority", "sla_due_at", "id"],
                condition=models.Q(status__in=TICKET_OPEN_STATUSES),
                name="ticket_open_kpi",
            ),
        ]


class WorkOrderStatus(models.TextChoices):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


WORK_ORDER_OPEN_STATUSES = (
    WorkOrderStatus.PENDING,
    WorkOrderStatus.SCHEDULED,
    WorkOrderStatus.IN_PROGRESS,
    WorkOrderStatus.ON_HOLD,
)


class WorkOrder(FeedRecord):
    title = models.CharField(max_length=500)
    category = models.CharField(max_length=100, blank=True)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    status = models.CharField(max_length=12, choices=WorkOrderStatus.choices)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    assignee_name = models.CharField(max_length=200, blank=True)  # personal data: masked on read

    class Meta:
        ordering = ["-id"]
        constraints = [_unique_external_id("work_order_external_id_unique")]
        indexes = [
            models.Index(fields=["tenant", "status", "deadline_at"], name="work_order_status_due"),
            models.Index(fields=["client", "status"], name="work_order_client_status"),
            models.Index(fields=["tenant", "updated_at"], name="work_order_changed"),
            # the KPI snapshot's grouped count of open work orders, as an index-only scan
            models.Index(
                fields=["tenant", "client", "site"],
                include=["status", "deadline_at", "id"],
                condition=models.Q(status__in=WORK_ORDER_OPEN_STATUSES),
                name="work_order_open_kpi",
            ),
        ]


class DeviceStatus(models.TextChoices):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    FAULT = "FAULT"
    MAINTENANCE = "MAINTENANCE"
    RETIRED = "RETIRED"


def _latitude(**kwargs) -> models.FloatField:
    return models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)], **kwargs
    )


def _longitude(**kwargs) -> models.FloatField:
    return models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
        **kwargs,
    )


class Device(FeedRecord):
    """A camera, panic button, guard's phone, access panel…; silent past its type's threshold it
    raises DEVICE_OFFLINE, and a jump no vehicle could make raises DEVICE_SPOOF."""

    name = models.CharField(max_length=200)
    device_type = models.CharField(max_length=50)
    status = models.CharField(max_length=12, choices=DeviceStatus.choices)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # when its data last reached the source system (a site's sync health reads it)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    battery_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    latitude = _latitude()
    longitude = _longitude()
    located_at = models.DateTimeField(null=True, blank=True)
    # the position before the latest one, kept by the upsert to judge the move between them
    previous_latitude = _latitude()
    previous_longitude = _longitude()
    previously_located_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [_unique_external_id("device_external_id_unique")]
        indexes = [
            models.Index(fields=["tenant", "last_seen_at"], name="device_last_seen"),
            models.Index(fields=["site", "device_type"], name="device_site_type"),
            models.Index(fields=["tenant", "updated_at"], name="device_changed"),
            # the KPI snapshot's grouped count of devices in service, as an index-only scan
            models.Index(
                fields=["tenant", "client", "site"],
                include=["status", "device_type", "last_seen_at", "last_sync_at", "id"],
                condition=~models.Q(status="RETIRED"),
                name="device_kpi",
            ),
        ]


class AttendanceStatus(models.TextChoices):
    EXPECTED = "EXPECTED"  # shift not started yet, or started within the grace period
    PRESENT = "PRESENT"
    LATE = "LATE"
    MISSING = "MISSING"
    EXCUSED = "EXCUSED"


class AttendanceRecord(FeedRecord):
    """One person's one shift at one site."""

    person_ref = models.CharField(max_length=100)  # the person's id in the source system
    person_name = models.CharField(max_length=200, blank=True)  # personal data: masked on read
    shift_start = models.DateTimeField()
    shift_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=AttendanceStatus.choices)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-shift_start", "-id"]
        constraints = [_unique_external_id("attendance_external_id_unique")]
        indexes = [
            models.Index(
                fields=["tenant", "status", "shift_start"], name="attendance_status_start"
            ),
            models.Index(fields=["site", "shift_start"], name="attendance_site_start"),
            models.Index(fields=["tenant", "person_ref", "shift_start"], name="attendance_person"),
            models.Index(fields=["tenant", "shift_end"], name="attendance_end"),
            models.Index(fields=["tenant", "updated_at"], name="attendance_changed"),
        ]


class GeofenceEventKind(models.TextChoices):
    ENTER = "ENTER"
    EXIT = "EXIT"
    BREACH = "BREACH"  # outside the site's fence while on shift


class GeofenceEvent(FeedRecord):
    person_ref = models.CharField(max_length=100, blank=True)
    attendance = models.ForeignKey(
        AttendanceRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=6, choices=GeofenceEventKind.choices)
    occurred_at = models.DateTimeField()
    latitude = _latitude()
    longitude = _longitude()
    distance_m = models.PositiveIntegerField(null=True, blank=True)  # from the fence, if outside

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [_unique_external_id("geofence_event_external_id_unique")]
        indexes = [
            models.Index(fields=["tenant", "occurred_at"], name="geofence_tenant_time"),
            models.Index(fields=["site", "occurred_at"], name="geofence_site_time"),
            models.Index(fields=["tenant", "updated_at"], name="geofence_changed"),
        ]


class HeartbeatStatus(models.TextChoices):
    WAITING = "WAITING"  # created, never pinged
    UP = "UP"
    LATE = "LATE"  # not seen within period + grace: its alert is open
    PAUSED = "PAUSED"


class Heartbeat(TenantScoped):
    """A dead man's switch: a monitor, device or Prometheus' Watchdog alert pings it; a ping
    missing for longer than `period + grace` raises an alert, the next ping resolves it."""

    name = models.SlugField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    period = models.DurationField()
    grace = models.DurationField()
    status = models.CharField(
        max_length=8, choices=HeartbeatStatus.choices, default=HeartbeatStatus.WAITING
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    late_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    placement = ON_SITE

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="heartbeat_name_unique")
        ]


class FeedRulesMark(TenantScoped):
    """Where the `operations.feed_rules` job left a tenant (one row per tenant): its next run
    judges only what can have changed since.

    `checked_at`: the rules' time of the last run (conditions that begin or end with time are
    looked for in (checked_at, now]); `changes_from`: records with `updated_at` from here on are
    judged again (the last run's start on the clock, less an overlap for writes that committed
    late); `policy_updated_at`: the tenant's `OperationsPolicy.updated_at` the run used (another
    value: the next run is a full pass); `full_at`: the last full pass (every record that may
    hold and every active rule alert judged)."""

    checked_at = models.DateTimeField()
    changes_from = models.DateTimeField()
    policy_updated_at = models.DateTimeField(null=True, blank=True)
    full_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="feed_rules_mark_one_per_tenant")
        ]


def _hours(default: int) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        default=default, validators=[MinValueValidator(1), MaxValueValidator(24 * 365)]
    )


def _minutes(default: int) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        default=default, validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 30)]
    )


class OperationsPolicy(TenantScoped):
    """A tenant's thresholds for the feed rules (one row per tenant; defaults until edited)."""

    sla_hours_p1 = _hours(4)
    sla_hours_p2 = _hours(8)
    sla_hours_p3 = _hours(24)
    sla_hours_p4 = _hours(72)
    device_silence_minutes = _minutes(15)
    # {"camera": 10, "panic_button": 60}: minutes of silence per device type, over the default
    device_silence_by_type = models.JSONField(default=dict, blank=True)
    attendance_grace_minutes = _minutes(15)
    # no device may move faster than this between two reported positions (DEVICE_SPOOF)
    max_device_speed_kmh = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1), MaxValueValidator(5000)]
    )
    # a site's share of devices that synced within `sync_stale_minutes`, below which: SYNC_DEGRADED
    sync_health_min_percent = models.PositiveSmallIntegerField(
        default=80, validators=[MaxValueValidator(100)]
    )
    sync_stale_minutes = _minutes(60)
    # ATTENDANCE_ANOMALY: a site whose late + missing share over the last
    # `anomaly_window_days` reaches this percent (with at least `anomaly_min_shifts` shifts)
    anomaly_late_missing_percent = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    anomaly_window_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    anomaly_min_shifts = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(10_000)]
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="operations_policy_one_per_tenant")
        ]

    def sla_hours(self, priority: str) -> int:
        return {
            Priority.P1: self.sla_hours_p1,
            Priority.P2: self.sla_hours_p2,
            Priority.P3: self.sla_hours_p3,
            Priority.P4: self.sla_hours_p4,
        }[Priority(priority)]

    def silence_minutes(self, device_type: str) -> int:
        value = (self.device_silence_by_type or {}).get(device_type)
        return int(value) if isinstance(value, int) and value > 0 else self.device_silence_minutes
