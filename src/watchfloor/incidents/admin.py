"""Incidents in the admin are read-only: every change goes through the incident services, which
check capabilities, keep the timeline, audit and publish. The policy is edited through the
incident-policy API (validated ranges, audited)."""

from __future__ import annotations

from django.contrib import admin

from watchfloor.audit.admin import NoAddChangeDeleteMixin
from watchfloor.incidents.models import Incident, IncidentEvent, IncidentPolicy


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    fields = ("at", "kind", "actor", "details")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = ("id", "tenant", "severity", "status", "title", "client", "site", "opened_at")
    list_filter = ("tenant", "status", "severity", "origin")
    search_fields = ("title", "external_ref")
    list_select_related = ("tenant", "client", "site")
    raw_id_fields = ("client", "site", "merged_into")
    date_hierarchy = "opened_at"
    show_full_result_count = False
    inlines = [IncidentEventInline]


@admin.register(IncidentPolicy)
class IncidentPolicyAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = ("tenant", "open_on_critical", "group_threshold", "reopen_rule", "updated_at")
    list_select_related = ("tenant",)
