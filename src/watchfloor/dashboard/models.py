"""Per-user dashboard settings: one row per user, created on the first change.

A user without a row has the defaults (`Preferences()` in watchfloor.dashboard.preferences);
reading never writes. Values are checked by `update_preferences`, the one writer; the model only
holds them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from watchfloor.tenancy.models import TenantQuerySet

REFRESH_MIN = 5
REFRESH_MAX = 300
REFRESH_DEFAULT = 30


class Theme(models.TextChoices):
    SYSTEM = "system", "Follow the system"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class DashboardSettings(models.Model):
    # Every row carries its tenant (DESIGN.md); null only for a tenantless superuser's settings.
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboard_settings"
    )
    # {"client": [codes], "city": str, "state": str, "officer": user id | null, "range": str}
    default_filters = models.JSONField(default=dict, blank=True)
    refresh_seconds = models.PositiveSmallIntegerField(default=REFRESH_DEFAULT)
    critical_sound = models.BooleanField(default=False)
    critical_browser_notification = models.BooleanField(default=False)
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)
    # an IANA zone for the times pages show; "" = UTC on the server, the browser's in scripts
    time_zone = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = "dashboard settings"
        verbose_name_plural = "dashboard settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refresh_seconds__gte=REFRESH_MIN)
                & models.Q(refresh_seconds__lte=REFRESH_MAX),
                name="dashboard_settings_refresh_range",
            ),
            models.CheckConstraint(
                condition=models.Q(theme__in=[t.value for t in Theme]),
                name="dashboard_settings_theme_known",
            ),
        ]

    def __str__(self) -> str:
        return f"dashboard settings of user {self.user_id}"
