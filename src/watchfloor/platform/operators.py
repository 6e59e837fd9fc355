"""Who runs the platform: active staff accounts WITHOUT a tenant (the superuser made with
`watchfloor createsuperuser`, or staff it creates). They see figures that are platform-wide —
the host, the database, Redis, every tenant's volumes — which a tenant's admin must not: a
tenant's account can never be staff or superuser (`tenancy` migration 0002), and this check
stands even if such a row were forced in. The Django admin (`admin_site.py`) and the platform
pages (`/platform/`) use this one rule."""

from __future__ import annotations


def is_platform_operator(user) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and getattr(user, "tenant_id", None) is None
    )
