"""Tenants, clients and sites in the Django admin.

The User admin lives in access/admin.py: it shows the scope assignments, which are access models
(imports flow access → tenancy, never back).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from watchfloor.audit.admin import AuditedAdminMixin
from watchfloor.tenancy.models import Client, Site, Tenant


class SameTenantForm(forms.ModelForm):
    """Refuse related rows (client, owner, officer) that belong to another tenant."""

    tenant_bound: tuple[str, ...] = ()

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant")
        for name in self.tenant_bound:
            related = data.get(name)
            if tenant is not None and related is not None and related.tenant_id != tenant.id:
                self.add_error(name, "Belongs to another tenant.")
        return data


class ClientForm(SameTenantForm):
    tenant_bound = ("owner",)


class SiteForm(SameTenantForm):
    tenant_bound = ("client", "officer_in_charge")


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Client)
class ClientAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ClientForm
    list_display = ("code", "name", "tenant", "owner", "active", "updated_at")
    list_filter = ("tenant", "active")
    search_fields = ("code", "name")
    list_select_related = ("tenant", "owner")
    autocomplete_fields = ("owner",)


@admin.register(Site)
class SiteAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = SiteForm
    list_display = (
        "code",
        "name",
        "client",
        "city",
        "state",
        "timezone",
        "officer_in_charge",
        "active",
    )
    list_filter = ("tenant", "state", "active", ("client", admin.RelatedOnlyFieldListFilter))
    search_fields = ("code", "name", "city", "client__code", "client__name")
    list_select_related = ("client", "officer_in_charge")
    autocomplete_fields = ("client", "officer_in_charge")
    fieldsets = (
        (None, {"fields": ("tenant", "client", "code", "name", "active")}),
        ("Location", {"fields": ("city", "state", "latitude", "longitude", "timezone")}),
        ("People", {"fields": ("officer_in_charge",)}),
    )
