"""On-call and escalation: schedules, escalation policies, contact methods and deliveries.

- A `Schedule` has layers (a rotation of people, or an imported iCalendar feed); a higher layer
  wins where it has someone on call; an `Override` wins over every layer.
- An `EscalationPolicy` is edited as a whole and every edit stores a new immutable
  `PolicyVersion` (its steps as JSON). When an alert first comes under escalation, the version in
  force when the alert opened is frozen onto its `AlertEscalation` (Grafana OnCall's lesson):
  editing a policy changes only later alerts.
- A person is reached through their verified `ContactMethod`s, in the order and delays of their
  `NotificationRule`s; a `TeamChannel` is a shared destination (a Slack channel, a webhook).
- Every attempt to reach someone is a `Delivery`, retried with backoff; `AckLinkUse` makes a
  one-click acknowledge link single-use.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from watchfloor.tenancy.models import Client, TenantScoped

MAX_STEPS = 20
MAX_REPEAT = 10
MAX_DELAY_MINUTES = 7 * 24 * 60


# --- schedules ---------------------------------------------------------------------------------
class Schedule(TenantScoped):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="schedule_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class LayerKind(models.TextChoices):
    ROTATION = "rotation"
    ICAL = "ical"


class ShiftLength(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # shift_hours


class Layer(TenantScoped):
    """One layer of a schedule: a rotation (participants in order, each on for one shift from
    the handoff, in the schedule's time zone: a daily shift is a calendar day, so a DST change
    makes it 23 or 25 hours) or the events of an iCalendar feed (an event's summary, attendee
    or organizer names the person by username or email)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)  # higher wins
    kind = models.CharField(max_length=10, choices=LayerKind.choices, default=LayerKind.ROTATION)
    # rotation: the first handoff (a local date and time in the schedule's zone)
    rotation_start = models.DateTimeField(null=True, blank=True)
    shift_length = models.CharField(
        max_length=10, choices=ShiftLength.choices, default=ShiftLength.WEEKLY
    )
    shift_hours = models.PositiveSmallIntegerField(null=True, blank=True)  # CUSTOM only
    # ical: where it came from (a URL refreshed by a job, or an uploaded file) and its text
    ical_url = models.URLField(max_length=1000, blank=True)
    ical_text = models.TextField(blank=True)
    ical_refreshed_at = models.DateTimeField(null=True, blank=True)
    ical_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["schedule", "-position", "id"]

    def __str__(self) -> str:
        return f"{self.schedule} / {self.name}"


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer", "position"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "position"], name="layer_member_position")
        ]

    def __str__(self) -> str:
        return f"{self.layer_id}#{self.position}: user {self.user_id}"


class Override(TenantScoped):
    """One person covers a schedule for a period, whoever the layers say."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["schedule", "ends_at"], name="override_schedule_end")]


class CalendarFeed(TenantScoped):
    """A person's subscribable iCalendar feed of their shifts: the token travels in the URL, so
    only its hash is stored, and revoking it ends the feed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)  # shown to the person to tell feeds apart
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


# --- escalation policies -------------------------------------------------------------------------
class EscalationPolicy(TenantScoped):
    """The tenant's default policy (one, `client` empty) or a client's own."""

    name = models.CharField(max_length=100)
    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    is_default = models.BooleanField(default=False)
    current = models.ForeignKey(
        "PolicyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="one_default_policy"
            ),
            models.UniqueConstraint(fields=["tenant", "name"], name="policy_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyVersion(TenantScoped):
    """An immutable version of a policy.

    `steps` is a list of {"delay_minutes": int, "severities": [..] (empty: all),
    "targets": [{"kind": "schedule", "id": 3} | {"kind": "officer"} | {"kind": "client_owner"} |
    {"kind": "user", "id": 7} | {"kind": "channel", "id": 2}]}. A step's delay counts from the
    previous step taken (the first: from the alert opening); a step limited to severities is
    skipped, with its delay, for others. The chain is taken `repeat + 1` times in all.
    `notify_after_minutes`: nobody is paged before the alert has fired this long (an alert
    resolved sooner pages nobody).
    """

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    steps = models.JSONField(default=list)
    repeat = models.PositiveSmallIntegerField(default=0)
    notify_after_minutes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number")
        ]
        indexes = [models.Index(fields=["policy", "created_at"], name="policy_version_at")]


class EscalationState(models.TextChoices):
    ACTIVE = "active"  # a next step is due at next_at
    DONE = "done"  # every step taken
    STOPPED = "stopped"  # acknowledged, resolved, suppressed, in maintenance


class AlertEscalation(TenantScoped):
    """One alert's escalation: the frozen chain and where it stands.

    The chain is `policy_version` (immutable) read for the alert's severity, repeats unrolled
    (`oncall.policies.chain_for`): the version in force when the alert opened, whatever edits
    came later. `token` changes each time `next_at` does: a delayed task carries the token it
    was queued with and does nothing when it no longer matches (a stale task).
    """

    alert = models.OneToOneField(
        "alerts.Alert", on_delete=models.CASCADE, primary_key=True, related_name="escalation"
    )
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    next_step = models.PositiveSmallIntegerField(default=0)  # index into chain
    next_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=EscalationState.choices, default=EscalationState.ACTIVE
    )
    stop_reason = models.CharField(max_length=200, blank=True)
    token = models.PositiveIntegerField(default=0)
    # the token a timed task was last queued with: each step is queued once, not by every sweep
    # that sees it coming
    queued_token = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_at"],
                condition=Q(state="active"),
                name="escalation_due",
            )
        ]


# --- notifications -------------------------------------------------------------------------------
class Medium(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS (gateway)"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    TELEGRAM = "telegram", "Telegram"
    WEBHOOK = "webhook", "Webhook"
    APPRISE = "apprise", "Other (apprise URL)"


class ContactMethod(TenantScoped):
    """Where one person can be reached. `address` is an email address, or an apprise URL
    (it may hold a token: never logged, never shown back in full). Unverified methods are
    never paged."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    medium = models.CharField(max_length=10, choices=Medium.choices)
    label = models.CharField(max_length=100)
    address = models.CharField(max_length=1000)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_hash = models.CharField(max_length=64, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.medium})"


class NotificationRule(TenantScoped):
    """ "Reach me on this method N minutes after I am paged" (0: at once)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules"
    )
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="+")
    delay_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["user", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact_method", "delay_minutes"], name="rule_method_delay"
            )
        ]


class TeamChannel(TenantScoped):
    """A shared destination a policy step can notify (an apprise URL: Slack, Teams, webhook…)."""

    name = models.CharField(max_length=100)
    medium = models.CharField(max_length=10, choices=Medium.choices)
    address = models.CharField(max_length=1000)
    verified_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="channel_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryKind(models.TextChoices):
    PAGE = "page"  # an escalation step
    TEST = "test"  # a test message asked for by a person or an admin
    VERIFY = "verify"  # a verification code
    # a message an app above oncall wrote for an address of its own (a client contact's status
    # update, its verification code): `address` and `context["notice"]` carry it whole
    NOTICE = "notice"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for next_attempt_at
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry
    CANCELLED = "cancelled"  # the alert was acknowledged or resolved before it went out
    UNREACHABLE = "unreachable"  # the person has no verified contact method


class Delivery(TenantScoped):
    """One attempt to reach one destination about one thing (retried in place)."""

    kind = models.CharField(max_length=10, choices=DeliveryKind.choices)
    alert = models.ForeignKey(
        "alerts.Alert", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    step = models.PositiveSmallIntegerField(null=True, blank=True)  # index in the chain
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        TeamChannel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    medium = models.CharField(max_length=10, choices=Medium.choices, blank=True)
    # NOTICE only: where it goes (an email or apprise URL: may hold a token, never shown back)
    address = models.CharField(max_length=1000, blank=True)
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()  # when it should have gone out (latency counts from here)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)  # due_at → sent
    # what a page is about beyond its alert: {"incident": {"id", "title", "severity",
    # "alert_count", "runbook_url"}} when an incident pages (the incidents app writes it; oncall
    # imports no app above it, so it renders the page from this, and never cancels it by the
    # alert's own status: the incident's escalation cancels its pages)
    context = models.JSONField(default=dict, blank=True)
    last_error = models.CharField(max_length=500, blank=True)  # no secrets: URLs are cut
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due",
            ),
            models.Index(fields=["alert"], name="delivery_alert"),
            models.Index(fields=["tenant", "-id"], name="delivery_tenant_newest"),
        ]


class AckLinkUse(models.Model):
    """A one-click acknowledge link that was used (links are signed and expire; this makes each
    one single use)."""

    nonce = models.CharField(max_length=32, primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"acknowledge link of delivery {self.delivery_id} used {self.used_at}"
