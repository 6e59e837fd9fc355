"""Maintenance windows: while one is active, matching alerts are stored as SUPPRESSED."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from watchfloor.tenancy.models import Client, Site, TenantQuerySet, TenantScoped


class WindowKind(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    EMERGENCY = "EMERGENCY", "Emergency"


class MaintenanceWindowQuerySet(TenantQuerySet):
    def not_cancelled(self):
        return self.filter(cancelled_at__isnull=True)

    def active_at(self, at):
        return self.not_cancelled().filter(starts_at__lte=at, ends_at__gt=at)

    def upcoming(self, at):
        return self.not_cancelled().filter(starts_at__gt=at)


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

    def covers(self, *, client_id: int | None, site_id: int | None, alert_type: str) -> bool:
        """Whether an alert at this client/site of this type falls inside the window's scope."""
        if client_id is None or client_id != self.client_id:
            return False
        if self.site_id is not None and site_id != self.site_id:
            return False
        return not self.alert_types or alert_type in self.alert_types
