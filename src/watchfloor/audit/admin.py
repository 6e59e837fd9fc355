"""The audit log in the admin (read only), and the mixin that audits admin edits.

Edits made in the admin are configuration changes like any other, so they go to the audit log
too, with field names only (never values: they may be personal data or secrets).
"""

from __future__ import annotations

from django.contrib import admin

from watchfloor.audit.models import Action, AuditLog
from watchfloor.audit.services import record


class NoAddChangeDeleteMixin:
    """An admin page that only shows rows: nothing can be added, changed or deleted there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _changed_fields(message) -> list[str]:
    """Names of the changed fields in Django's admin change message (a list of dicts)."""
    fields: list[str] = []
    for part in message if isinstance(message, list) else []:
        changed = part.get("changed", {}) if isinstance(part, dict) else {}
        if "object" not in changed:  # inline changes name an object: leave them out
            fields += [str(f) for f in changed.get("fields", [])]
    return fields


def _audit(request, obj, change: str, fields: list[str] | None = None) -> None:
    tenant = obj if obj._meta.label_lower == "tenancy.tenant" else None
    details = {"change": f"admin.{change}", "model": obj._meta.label_lower}
    if fields:
        details["fields"] = fields
    record(Action.CONFIG_CHANGE, actor=request.user, entity=obj, tenant=tenant, details=details)


class AuditedAdminMixin:
    """Put first in the bases of a ModelAdmin whose edits must be audited."""

    def log_addition(self, request, obj, message):
        _audit(request, obj, "create")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        _audit(request, obj, "update", _changed_fields(message))
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            _audit(request, obj, "delete")
        return super().log_deletions(request, queryset)


@admin.register(AuditLog)
class AuditLogAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    """Append-only: nobody adds, changes or deletes audit entries, not even a superuser."""

    list_display = (
        "created_at",
        "action",
        "actor_label",
        "tenant",
        "entity_type",
        "entity_id",
        "ip",
    )
    list_filter = ("action", "tenant")
    search_fields = ("actor_label", "entity_type", "entity_id")
    list_select_related = ("tenant",)
    show_full_result_count = False
