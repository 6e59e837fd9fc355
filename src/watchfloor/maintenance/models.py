"""Maintenance windows: while one is active, matching alerts are stored as SUPPRESSED."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from watchfloor.tenancy.models import Client, Site, TenantQuerySet, TenantScoped


class WindowKind(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    EMERGENCY = "EMERGENCY", "Emergency"


class WindowState(models.TextChoices):
    """Where a window stands at an instant; derived from its times, never stored."""

    UPCOMING = "upcoming", "Upcoming"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled"


# The longest a window may last, in days (settings.MAINTENANCE_MAX_DAYS overrides it): a window
# that never ends would hide a site's alerts for good.
DEFAULT_MAX_DAYS = 30
MAX_ALERT_TYPES = 100


def max_duration() -> timedelta:
    return timedelta(days=getattr(settings, "MAINTENANCE_MAX_DAYS", DEFAULT_MAX_DAYS))


class MaintenanceWindowQuerySet(TenantQuerySet):
    def not_cancelled(self):
        return self.filter(cancelled_at__isnull=True)

    def cancelled(self):
        return self.filter(cancelled_at__isnull=False)

    def active_at(self, at):
        return self.not_cancelled().filter(starts_at__lte=at, ends_at__gt=at)

    def upcoming(self, at):
        return self.not_cancelled().filter(starts_at__gt=at)

    def ended(self, at):
        return self.not_cancelled().filter(ends_at__lte=at)

    def in_state(self, state: WindowState | str, at):
        """The windows in `state` at `at` (the same rule as `MaintenanceWindow.state_at`)."""
        state = WindowState(state)
        if state == WindowState.CANCELLED:
            return self.cancelled()
        return {
            WindowState.ACTIVE: self.active_at,
            WindowState.UPCOMING: self.upcoming,
            WindowState.ENDED: self.ended,
        }[state](at)


class MaintenanceWindow(TenantScoped):
    """Scope is a client (all its sites) or one site of it; `alert_types` empty means all types."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=WindowKind.choices, default=WindowKind.PLANNED)
    alert_types = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = MaintenanceWindowQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["tenant", "ends_at"], name="maint_tenant_ends")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="maint_ends_after_starts"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def state_at(self, at) -> WindowState:
        if self.cancelled_at is not None:
            return WindowState.CANCELLED
        if at < self.starts_at:
            return WindowState.UPCOMING
        if at < self.ends_at:
            return WindowState.ACTIVE
        return WindowState.ENDED

    def clean(self) -> None:
        """The invariants: ends after it starts, lasts at most the maximum, its client is of its
        tenant and its site of its client, `alert_types` is a list of non-empty strings."""
        errors: dict[str, str] = {}
        if self.starts_at is not None and self.ends_at is not None:
            if self.ends_at <= self.starts_at:
                errors["ends_at"] = "Must be after starts_at."
            elif self.ends_at - self.starts_at > max_duration():
                days = max_duration().days
                errors["ends_at"] = f"A window lasts at most {days} day{'' if days == 1 else 's'}."
        if self.client_id is not None and self.tenant_id is not None:
            if self.client.tenant_id != self.tenant_id:
                errors["client"] = "Not found in this tenant."
            elif self.site_id is not None and self.site.client_id != self.client_id:
                errors["site"] = "Must be a site of the window's client."
        types = self.alert_types
        if not isinstance(types, list) or not all(isinstance(t, str) and t.strip() for t in types):
            errors["alert_types"] = "Must be a list of alert types (non-empty strings)."
        elif len(types) > MAX_ALERT_TYPES:
            errors["alert_types"] = f"At most {MAX_ALERT_TYPES} alert types."
        if errors:
            raise ValidationError(errors)

    def covers(self, *, client_id: int | None, site_id: int | None, alert_type: str) -> bool:
        """Whether an alert at this client/site of this type falls inside the window's scope."""
        if client_id is None or client_id != self.client_id:
            return False
        if self.site_id is not None and site_id != self.site_id:
            return False
        return not self.alert_types or alert_type in self.alert_types
