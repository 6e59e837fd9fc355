"""Alerts in the admin are read-only: every change goes through the lifecycle services, which
check capabilities, audit and publish."""

from __future__ import annotations

from django.contrib import admin

from watchfloor.alerts.models import Alert
from watchfloor.audit.admin import NoAddChangeDeleteMixin


@admin.register(Alert)
class AlertAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "tenant",
        "severity",
        "status",
        "type",
        "title",
        "site",
        "occurrence_count",
        "last_seen_at",
    )
    list_filter = ("tenant", "status", "severity", "source")
    search_fields = ("title", "fingerprint", "type", "entity_id")
    list_select_related = ("tenant", "site")
    raw_id_fields = ("parent", "site", "client", "maintenance_window")
    date_hierarchy = "first_seen_at"
    show_full_result_count = False  # a COUNT(*) over millions of rows on every page is slow
