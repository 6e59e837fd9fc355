"""Scope assignments, API tokens, integration keys, and the home of the capability permissions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from watchfloor.access.capabilities import CAPABILITY_LABELS
from watchfloor.tenancy.models import Client, Site, TenantQuerySet, TenantScoped


class Capabilities(models.Model):
    """Holds no rows: it exists so the capabilities are Django permissions of app `access`."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(cap.codename, label) for cap, label in CAPABILITY_LABELS.items()]

    def __str__(self) -> str:
        return "capabilities"


class ClientAssignment(TenantScoped):
    """The user may see this client (and its sites) when they hold `noc:view_client`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_assignments"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="client_assignment_unique")
        ]


class SiteAssignment(TenantScoped):
    """The user may see this site when they hold `noc:view_assigned_sites`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="site_assignments"
    )
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="assignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "site"], name="site_assignment_unique")
        ]


class SecretQuerySet(TenantQuerySet):
    def usable(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token that acts as its user. Only the SHA-256 of the secret is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = SecretQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class SourceKind(models.TextChoices):
    NATIVE = "native", "Native JSON"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    PAGERDUTY = "pagerduty", "PagerDuty Events v2"
    OPERATIONS = "operations", "Operations feeds"


class IntegrationKey(TenantScoped):
    """Authorises ingestion for one tenant and source kind; only the SHA-256 is stored."""

    name = models.CharField(max_length=100)
    source = models.CharField(max_length=20, choices=SourceKind.choices)
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    default_client = models.ForeignKey(
        Client, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    default_site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = SecretQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} [{self.source}] ({self.prefix}…)"
