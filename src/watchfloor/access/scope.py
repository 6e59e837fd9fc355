"""Who sees what: capabilities, scope (all clients / assigned clients / assigned sites), 404s.

Every read of a client or site for a user goes through `visible_clients` / `visible_sites`, and
fetching one object goes through `access_client` / `access_site`, which raise the same `Http404`
whether the id does not exist, belongs to another tenant, or is outside the user's scope.
"""

from __future__ import annotations

from enum import StrEnum

from django.db.models import Q, QuerySet
from django.http import Http404

from watchfloor.access.capabilities import Capability
from watchfloor.tenancy.models import Client, Site


class CapabilityDenied(Exception):
    """The user lacks a capability; the API answers 403 and audits it."""

    def __init__(self, capability: Capability):
        super().__init__(f"Missing capability {capability.value}.")
        self.capability = capability


class ScopeKind(StrEnum):
    ALL_CLIENTS = "all_clients"
    ASSIGNED_CLIENTS = "assigned_clients"
    ASSIGNED_SITES = "assigned_sites"
    NONE = "none"


def capabilities_of(user) -> frozenset[Capability]:
    """The capabilities a user holds, cached on the user object for the request."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_watchfloor_caps", None)
    if cached is None:
        perms = user.get_all_permissions()
        cached = frozenset(cap for cap in Capability if cap.perm in perms)
        user._watchfloor_caps = cached
    return cached


def has_capability(user, capability: Capability) -> bool:
    return capability in capabilities_of(user)


def require_capability(user, capability: Capability) -> None:
    if not has_capability(user, capability):
        raise CapabilityDenied(capability)


def scope_kind(user) -> ScopeKind:
    caps = capabilities_of(user)
    if Capability.VIEW not in caps or getattr(user, "tenant_id", None) is None:
        return ScopeKind.NONE
    if Capability.VIEW_ALL_CLIENTS in caps:
        return ScopeKind.ALL_CLIENTS
    if Capability.VIEW_CLIENT in caps:
        return ScopeKind.ASSIGNED_CLIENTS
    if Capability.VIEW_ASSIGNED_SITES in caps:
        return ScopeKind.ASSIGNED_SITES
    return ScopeKind.NONE


def visible_clients(user) -> QuerySet[Client]:
    """Clients the user may see: a client is visible through any of its visible sites too."""
    kind = scope_kind(user)
    base = Client.objects.for_tenant(user.tenant_id if kind != ScopeKind.NONE else None)
    if kind == ScopeKind.ALL_CLIENTS:
        return base
    if kind == ScopeKind.ASSIGNED_CLIENTS:
        return base.filter(assignments__user=user).distinct()
    if kind == ScopeKind.ASSIGNED_SITES:
        return base.filter(sites__assignments__user=user).distinct()
    return base.none()


def visible_sites(user) -> QuerySet[Site]:
    kind = scope_kind(user)
    base = Site.objects.for_tenant(user.tenant_id if kind != ScopeKind.NONE else None)
    if kind == ScopeKind.ALL_CLIENTS:
        return base
    if kind == ScopeKind.ASSIGNED_CLIENTS:
        return base.filter(client__assignments__user=user)
    if kind == ScopeKind.ASSIGNED_SITES:
        return base.filter(assignments__user=user)
    return base.none()


def site_scope_filter(user, prefix: str = "site") -> Q:
    """A Q object that limits rows with a `site` foreign key to the user's scope."""
    return Q(**{f"{prefix}__in": visible_sites(user).values("id")})


def _get_or_404(queryset: QuerySet, pk):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def access_client(user, client_id) -> Client:
    return _get_or_404(visible_clients(user), client_id)


def access_site(user, site_id) -> Site:
    return _get_or_404(visible_sites(user).select_related("client"), site_id)
