"""The Django admin belongs to the platform's own operators, never to a tenant.

Its pages list every tenant's rows, so only active staff WITHOUT a tenant (a superuser created with
`watchfloor createsuperuser`, or staff it gives model permissions) may enter. A tenant's admin
works in the product's own pages and API, which are scoped by tenant; the database refuses a tenant
account that is staff or superuser (`tenancy` migration 0002), and this check stands even if such a
row were forced in.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig

from watchfloor.platform.operators import is_platform_operator


class PlatformAdminSite(AdminSite):
    site_header = "Watchfloor administration"
    site_title = "Watchfloor admin"
    index_title = "Tenants, access and audit (platform operators only)"

    def has_permission(self, request) -> bool:
        return is_platform_operator(request.user)


class PlatformAdminConfig(AdminConfig):
    default_site = "watchfloor.platform.admin_site.PlatformAdminSite"
