"""Users with their roles and scope, API tokens and integration keys in the Django admin.

Secrets are created by the CLI or the API, which show them once: the admin lists and revokes
them and shows only the prefix and the hash.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from watchfloor.access.models import ApiToken, ClientAssignment, IntegrationKey, SiteAssignment
from watchfloor.access.scope import forget_authorizations
from watchfloor.access.services import revoke_api_token, revoke_integration_key
from watchfloor.audit.admin import AuditedAdminMixin, NoAddChangeDeleteMixin
from watchfloor.tenancy.models import User


class _AssignmentFormSet(BaseInlineFormSet):
    """Assignments take the user's tenant and refuse clients or sites of another tenant."""

    target = ""

    def clean(self):
        super().clean()
        user = self.instance
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            if user.tenant_id is None:
                form.add_error(None, "Give the user a tenant before assigning a scope.")
                continue
            target = data.get(self.target)
            if target is not None and target.tenant_id != user.tenant_id:
                form.add_error(self.target, "Belongs to another tenant than the user.")
            form.instance.tenant_id = user.tenant_id


class _ClientAssignmentFormSet(_AssignmentFormSet):
    target = "client"


class _SiteAssignmentFormSet(_AssignmentFormSet):
    target = "site"


class ClientAssignmentInline(admin.TabularInline):
    model = ClientAssignment
    formset = _ClientAssignmentFormSet
    fields = ("client",)
    autocomplete_fields = ("client",)
    extra = 0
    verbose_name = "assigned client (used with noc:view_client)"
    verbose_name_plural = "assigned clients (used with noc:view_client)"


class SiteAssignmentInline(admin.TabularInline):
    model = SiteAssignment
    formset = _SiteAssignmentFormSet
    fields = ("site",)
    autocomplete_fields = ("site",)
    extra = 0
    verbose_name = "assigned site (used with noc:view_assigned_sites)"
    verbose_name_plural = "assigned sites (used with noc:view_assigned_sites)"


@admin.register(User)
class WatchfloorUserAdmin(AuditedAdminMixin, UserAdmin):
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Watchfloor", {"fields": ("tenant", "phone")}),
    )
    add_fieldsets = (
        *UserAdmin.add_fieldsets,
        ("Watchfloor", {"classes": ("wide",), "fields": ("tenant", "email", "phone")}),
    )
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "tenant",
        "is_staff",
        "is_active",
    )
    list_filter = (*UserAdmin.list_filter, "tenant")
    list_select_related = ("tenant",)
    inlines = (ClientAssignmentInline, SiteAssignmentInline)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    # roles (groups), permissions, is_active, is_superuser: every process's cached capabilities
    # and API tokens are forgotten (access.scope.forget_authorizations)
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_authorizations()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_authorizations()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        forget_authorizations()


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(GroupAdmin):
    """Django's group admin; a role's permissions changed reach every process at once."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_authorizations()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_authorizations()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        forget_authorizations()


class SecretStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("active", "active"), ("expired", "expired"), ("revoked", "revoked"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.usable(now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class _SecretAdmin(NoAddChangeDeleteMixin, admin.ModelAdmin):
    """View and revoke only: no add (secrets are shown once by the CLI/API), no edit, no delete
    (a revoked secret stays listed, with when it was last used)."""

    actions = ("revoke_selected",)
    revoke: Any = None  # the service that revokes one object

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_revoke_permission(self, request):
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.display(boolean=True, description="usable")
    def usable(self, obj):
        return obj.revoked_at is None and (
            obj.expires_at is None or obj.expires_at > timezone.now()
        )

    @admin.action(description="Revoke the selected secrets", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for obj in queryset.filter(revoked_at__isnull=True):
            self.revoke(obj, actor=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked}.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(_SecretAdmin):
    revoke = staticmethod(revoke_api_token)
    list_display = ("name", "user", "prefix", "usable", "created_at", "expires_at", "last_used_at")
    list_filter = (SecretStatusFilter,)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)


@admin.register(IntegrationKey)
class IntegrationKeyAdmin(_SecretAdmin):
    revoke = staticmethod(revoke_integration_key)
    list_display = (
        "name",
        "tenant",
        "source",
        "prefix",
        "usable",
        "default_client",
        "default_site",
        "created_at",
        "last_used_at",
    )
    list_filter = (SecretStatusFilter, "source", "tenant")
    search_fields = ("name", "prefix")
    list_select_related = ("tenant", "default_client", "default_site")
