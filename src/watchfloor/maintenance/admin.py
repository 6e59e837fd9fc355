"""Maintenance windows in the Django admin.

Adding, changing and cancelling go through the services, like the API: the same rules apply,
each write is audited (`maintenance.create` / `maintenance.update` / `maintenance.delete`, with
ids and codes only) and announced in real time. Windows are never deleted (alerts keep a link to
the window that suppressed them): cancel them. A cancelled or ended window is read only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.maintenance import services
from watchfloor.maintenance.models import MaintenanceWindow, WindowState


class WindowForm(forms.ModelForm):
    """The model's invariants (site of the client, client of the tenant, times, types) come from
    `MaintenanceWindow.clean`; the form adds the rule of a write: the window ends in the future."""

    class Meta:
        model = MaintenanceWindow
        fields = ("tenant", *services.EDITABLE_FIELDS)

    def clean(self):
        data = super().clean()
        ends_at = data.get("ends_at")
        if ends_at is not None and ends_at <= timezone.now():
            self.add_error("ends_at", "Must be in the future (to end a window now, cancel it).")
        return data


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return WindowState.choices

    def queryset(self, request, queryset):
        if self.value() in WindowState.values:
            return queryset.in_state(self.value(), timezone.now())
        return queryset


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    form = WindowForm
    actions = ("cancel_selected",)
    list_display = (
        "title",
        "tenant",
        "client",
        "site",
        "kind",
        "starts_at",
        "ends_at",
        "state",
        "created_by",
    )
    list_filter = (StateFilter, "kind", "tenant")
    search_fields = ("title", "client__code", "client__name", "site__code", "site__name")
    list_select_related = ("tenant", "client", "site", "created_by")
    autocomplete_fields = ("client", "site")
    date_hierarchy = "starts_at"
    readonly_fields = (
        "state",
        "created_by",
        "created_at",
        "updated_at",
        "cancelled_at",
        "cancelled_by",
    )

    @admin.display(description="state")
    def state(self, obj):
        return WindowState(obj.state_at(timezone.now())).label if obj.pk else "-"

    def get_readonly_fields(self, request, obj=None):
        fields = self.readonly_fields
        return ("tenant", *fields) if obj is not None else fields

    def _may_manage(self, request) -> bool:
        return has_capability(request.user, Capability.MANAGE_MAINTENANCE)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self._may_manage(request)

    def has_change_permission(self, request, obj=None):
        if not (super().has_change_permission(request, obj) and self._may_manage(request)):
            return False
        return obj is None or obj.state_at(timezone.now()) not in services.CLOSED_STATES

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request):
        return super().has_change_permission(request) and self._may_manage(request)

    def save_model(self, request, obj, form, change):
        values = {f: form.cleaned_data[f] for f in form.Meta.fields if f in form.cleaned_data}
        if change:
            stored = MaintenanceWindow.objects.get(pk=obj.pk)
            edits = {f: values[f] for f in form.changed_data if f in services.EDITABLE_FIELDS}
            services.update_window(stored, actor=request.user, **edits)
        else:
            window = services.create_window(values.pop("tenant"), actor=request.user, **values)
            obj.pk = window.pk

    @admin.action(description="Cancel the selected windows", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        cancelled = 0
        for window in queryset.not_cancelled().filter(ends_at__gt=timezone.now()):
            try:
                services.cancel_window(window, actor=request.user)
            except services.WindowClosed:
                continue  # ended or cancelled meanwhile
            cancelled += 1
        self.message_user(request, f"Cancelled {cancelled}.", messages.SUCCESS)
