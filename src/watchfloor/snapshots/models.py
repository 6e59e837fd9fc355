"""Snapshots app: time-windowed KPI snapshots (partitions, rollup tables) and retention.

`RetentionPolicy` is one row per tenant: how many days each kind of stored row is kept. The
daily `retention.enforce` job (snapshots/retention.py) deletes what is past its period, in
bounded batches. A tenant without a row uses the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from watchfloor.tenancy.models import ON_SITE, Placement, TenantQuerySet, TenantScoped


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


# --- KPI snapshots -------------------------------------------------------------------------

WINDOW = 5  # minutes: a snapshot's window ends on a multiple of this
SNAPSHOT_TABLE = "snapshots_kpisnapshot"

# The measures of a snapshot, in column order: all counts, summed from site rows into the
# client's row (sync_health is derived from devices_synced / devices_total).
TICKET_MEASURES = tuple(
    f"tickets_{state}_{p}" for state in ("open", "overdue") for p in ("p1", "p2", "p3", "p4")
)
WORK_ORDER_MEASURES = (
    "work_orders_open",
    "work_orders_overdue",
    "work_orders_pending",
    "work_orders_scheduled",
    "work_orders_in_progress",
    "work_orders_on_hold",
)
ATTENDANCE_MEASURES = (
    "attendance_expected",
    "attendance_present",
    "attendance_late",
    "attendance_missing",
)
DEVICE_MEASURES = ("devices_total", "devices_offline", "devices_synced")
EVENT_MEASURES = ("geofence_events", "geofence_breaches")
ALERT_MEASURES = (
    "security_anomalies",
    "alerts_open_critical",
    "alerts_open_high",
    "alerts_open_medium",
    "alerts_open_low",
    "alerts_open_info",
)
COUNT_MEASURES: tuple[str, ...] = (
    *TICKET_MEASURES,
    *WORK_ORDER_MEASURES,
    *ATTENDANCE_MEASURES,
    *DEVICE_MEASURES,
    *EVENT_MEASURES,
    *ALERT_MEASURES,
)
# counts of things that happened in the window (summed over an hour); the others are levels
# at the window's end (averaged over an hour)
FLOW_MEASURES = frozenset(EVENT_MEASURES)
MEASURES: tuple[str, ...] = (*COUNT_MEASURES, "sync_health")


def _count() -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=0)


class KpiSnapshot(models.Model):
    """One client's (site is null) or one site's KPIs at the end of a 5-minute window.

    On PostgreSQL the table is partitioned by month on `window_end` (migration 0002, RunSQL):
    its primary key there is (id, window_end), which Django never needs to know — `id` alone
    is unique (one identity sequence). City, state and officer in charge are copied from the
    site as they were at the window, so history keeps its dimensions when a site moves.
    Not a `TenantScoped` subclass only because its tenant key must carry no cascade from the
    ORM into a partitioned table; it reads the same way (`objects.restrict(scope)`).
    """

    id = models.BigAutoField(primary_key=True)
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    window_end = models.DateTimeField()
    client = models.ForeignKey(
        "tenancy.Client", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    site = models.ForeignKey(
        "tenancy.Site",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    officer_in_charge_id = models.BigIntegerField(null=True, blank=True)

    tickets_open_p1 = _count()
    tickets_open_p2 = _count()
    tickets_open_p3 = _count()
    tickets_open_p4 = _count()
    tickets_overdue_p1 = _count()
    tickets_overdue_p2 = _count()
    tickets_overdue_p3 = _count()
    tickets_overdue_p4 = _count()
    work_orders_open = _count()
    work_orders_overdue = _count()
    work_orders_pending = _count()
    work_orders_scheduled = _count()
    work_orders_in_progress = _count()
    work_orders_on_hold = _count()
    attendance_expected = _count()
    attendance_present = _count()
    attendance_late = _count()
    attendance_missing = _count()
    devices_total = _count()
    devices_offline = _count()
    devices_synced = _count()
    geofence_events = _count()
    geofence_breaches = _count()
    security_anomalies = _count()
    alerts_open_critical = _count()
    alerts_open_high = _count()
    alerts_open_medium = _count()
    alerts_open_low = _count()
    alerts_open_info = _count()
    # percent of devices synced within the tenant's `sync_stale_minutes`; null: no devices
    sync_health = models.PositiveSmallIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()
    placement = ON_SITE

    class Meta:
        db_table = SNAPSHOT_TABLE
        ordering = ["-window_end", "client_id", "site_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "window_end", "client", "site"],
                condition=models.Q(site__isnull=False),
                name="kpi_snapshot_site_window_unique",
            ),
            models.UniqueConstraint(
                fields=["tenant", "window_end", "client"],
                condition=models.Q(site__isnull=True),
                name="kpi_snapshot_client_window_unique",
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant", "client", "window_end"], name="kpi_snapshot_client_time"
            ),
            models.Index(fields=["window_end"], name="kpi_snapshot_window_end"),
        ]

    def __str__(self) -> str:
        return f"KPIs of client {self.client_id} site {self.site_id} at {self.window_end}"


class _RollupRow(models.Model):
    """A row the snapshot job derives from the snapshot table (snapshots/rollups.py): a plain
    table on both databases, written in the same transaction as the window it derives from."""

    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


def _level() -> models.FloatField:
    return models.FloatField()


def _sum() -> models.BigIntegerField:
    return models.BigIntegerField()


class KpiHourly(_RollupRow):
    """`snapshots_kpi_hourly`: one client's or site's hour (site_key 0: the client's row) over
    the last `rollups.KEEP` days; levels averaged over the hour's windows, geofence counts
    summed. The hour is the one a window's end falls in (a window ending on the hour closes the
    hour before). Recomputed from the snapshots for the hour a window touches (rollups.py)."""

    client = models.ForeignKey(
        "tenancy.Client",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    site_key = models.BigIntegerField()
    site = models.ForeignKey(
        "tenancy.Site",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    hour = models.DateTimeField()
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=100)
    officer_in_charge_id = models.BigIntegerField(null=True)
    points = models.BigIntegerField()
    locals().update({name: _level() for name in COUNT_MEASURES})
    sync_health = models.FloatField(null=True)

    placement = ON_SITE

    class Meta:
        db_table = "snapshots_kpi_hourly"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "client", "site_key", "hour"], name="kpi_hourly_key"
            )
        ]
        indexes = [models.Index(fields=["tenant", "hour"], name="kpi_hourly_time")]

    def __str__(self) -> str:
        return f"hourly KPIs of client {self.client_id} site {self.site_id} at {self.hour}"


# what a tenant total sums: "" every client row (the whole tenant); "city" / "state" the site
# rows of one city or state (key: UPPER of it, as the database computes it)
TOTAL_DIMENSIONS = ("", "city", "state")


class KpiTotal(_RollupRow):
    """`snapshots_kpi_total`: one window's measures summed over the whole tenant (dimension
    "", key "") or over the site rows of one city or state — what the 1-hour and 7-day series
    of a user who sees every client read instead of summing ~1,000 rows per window. Never read
    for a user scoped to some clients or sites (queries.py falls back to their own rows)."""

    window_end = models.DateTimeField()
    dimension = models.CharField(max_length=8, blank=True)
    key = models.TextField(blank=True)
    summed_rows = models.BigIntegerField()  # the snapshot rows summed
    locals().update({name: _sum() for name in COUNT_MEASURES})

    class Meta:
        db_table = "snapshots_kpi_total"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "dimension", "key", "window_end"], name="kpi_total_key"
            )
        ]
        indexes = [models.Index(fields=["window_end"], name="kpi_total_window_end")]

    def __str__(self) -> str:
        return f"KPI total {self.dimension or 'tenant'} {self.key} at {self.window_end}"


class ClientHealth(_RollupRow):
    """`snapshots_client_health`: each client's newest client row, scored (health.py); kept by
    the snapshot job (a window replaces a client's row unless the row is newer)."""

    client = models.ForeignKey(
        "tenancy.Client",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    window_end = models.DateTimeField()
    score = models.IntegerField()
    sync_health = models.IntegerField(null=True)
    locals().update({name: models.IntegerField() for name in COUNT_MEASURES})

    # a client's total: seen by users who see the whole client, never by a site-scoped user
    placement = Placement(client="client_id", site=None)

    class Meta:
        db_table = "snapshots_client_health"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "client"], name="client_health_key")
        ]

    def __str__(self) -> str:
        return f"health {self.score} of client {self.client_id} at {self.window_end}"
