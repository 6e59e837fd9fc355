"""The append-only audit log.

This app is the one leaf every other app may import: it imports no Watchfloor app (its foreign
keys are string references), so recording an audit entry never creates an import cycle.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditImmutableError(Exception):
    """Raised on any attempt to change or delete an audit row."""


class Action(models.TextChoices):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    ESCALATE = "escalate"
    ESCALATION_STEP = "escalation.step"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    COMMENT = "comment"
    SUPPRESS = "suppress"
    MAINTENANCE_CREATE = "maintenance.create"
    MAINTENANCE_UPDATE = "maintenance.update"
    MAINTENANCE_DELETE = "maintenance.delete"
    EXPORT = "export"
    VIEW_SENSITIVE = "view_sensitive"
    CONFIG_CHANGE = "config_change"
    ACCESS_DENIED = "access_denied"
    AUTH_FAILED = "auth_failed"
    TOKEN_CREATE = "token.create"  # noqa: S105 (an action name, not a secret)
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    # incidents (acknowledge, assign, resolve, reopen and comment use the actions above)
    INCIDENT_OPEN = "incident.open"
    INCIDENT_UPDATE = "incident.update"  # start, edit, commander/responders
    INCIDENT_ALERTS = "incident.alerts"  # alerts joined, removed or moved
    INCIDENT_MERGE = "incident.merge"
    INCIDENT_CLOSE = "incident.close"
    INCIDENT_SLA_BREACH = "incident.sla_breach"  # the SLA job recorded a target that passed
    RETENTION_PURGE = "retention.purge"  # the retention job removed rows past their period
    # operations feeds: one entry per accepted batch (kind, key, counts), not one per record
    FEED_UPSERT = "feed.upsert"


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutableError("Audit entries cannot be changed.")

    def delete(self):
        raise AuditImmutableError("Audit entries cannot be deleted; retention removes them by age.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditImmutableError("Audit entries cannot be changed.")

    def for_tenant(self, tenant):
        if tenant is None:
            return self.none()
        return self.filter(tenant=tenant)


class AuditLog(models.Model):
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        # DO_NOTHING without a database constraint: deleting a user must not UPDATE audit rows
        # (the trigger refuses that); actor_label keeps who it was.
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    entity_type = models.CharField(max_length=60, blank=True)
    entity_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["tenant", "-id"]),
            models.Index(fields=["tenant", "entity_type", "entity_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AuditImmutableError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError("Audit entries cannot be deleted; retention removes them by age.")
