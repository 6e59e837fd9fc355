"""Who sees what: capabilities, scope (all clients / assigned clients / assigned sites), 404s.

Scope is described once, here, and read three ways that must agree (tests/access/test_scope.py):

- in SQL over a model's rows: `Model.objects.restrict(scope_of(user))` (`Scope.restrict`), which
  `visible_clients`, `visible_sites`, `alerts_for` and the maintenance window list all use;
- in memory, for the WebSocket's per-event checks: `Scope.reach()` loads the ids once and
  `Reach.admits` decides without a query;
- the other way round, over users: `audience(...)`, the users who see one row (who may be
  assigned an alert).

A user's kind of scope is their broadest capability (`SCOPE_CAPABILITIES`, in order). Where a
row sits (its client and site lookups, and whether a row without a site concerns its whole
client) is the model's `placement` (`tenancy.models.Placement`). Fetching one object goes through
`access_client` / `access_site`, which raise the same `Http404` whether the id does not exist,
belongs to another tenant, or is outside the user's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from watchfloor.access.authz_watch import WATCH, announce, redis_configured
from watchfloor.access.capabilities import Capability
from watchfloor.access.models import ClientAssignment, SiteAssignment
from watchfloor.degrade import guarded
from watchfloor.tenancy.models import Client, Placement, Site, User
from watchfloor.ttl import TtlCache


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


# A user's capabilities are two permission queries (~6 ms of an overview request that is
# otherwise answered from the cache): each process keeps them per user for
# CAPABILITY_CACHE.ttl seconds, keyed by the "authorization generation", a counter in
# the shared cache that every change of roles, permissions or tokens moves
# (`forget_authorizations`). A role change is therefore seen by every process when the move's
# announcement reaches it (`access.authz_watch`; without a subscription, at its next request);
# while the cache is down the generation is unknown and the entries live out their TTL.
CAPABILITY_CACHE = TtlCache("capabilities", ttl=5)
AUTHZ_GENERATION_KEY = "access:authz-generation"


def authz_generation() -> int | None:
    """The shared authorization generation: as pushed to this process (`access.authz_watch`),
    else one cache read; None while the cache is down."""
    pushed = WATCH.current()
    if pushed is not None:
        return pushed
    return guarded("cache", lambda: int(cache.get(AUTHZ_GENERATION_KEY, 0)), lambda: None)


def _bump_generation() -> None:
    try:
        value = cache.incr(AUTHZ_GENERATION_KEY)
    except ValueError:  # no counter yet (or the cache was flushed)
        cache.add(AUTHZ_GENERATION_KEY, 1, timeout=None)
        value = int(cache.get(AUTHZ_GENERATION_KEY, 1))
    WATCH.moved(value)
    if redis_configured():
        announce()


def forget_authorizations() -> None:
    """Roles, permissions, an account or a token changed: every process forgets the
    capabilities and API tokens it holds (this one at once and after the commit, the others
    when the shared generation's move is announced to them)."""

    def forget() -> None:
        ttl_forget_authorizations()
        guarded("cache", _bump_generation, lambda: None)

    ttl_forget_authorizations()
    transaction.on_commit(forget)


_AUTHZ_CACHES: list[TtlCache] = [CAPABILITY_CACHE]


def ttl_forget_authorizations() -> None:
    """This process's cached capabilities and API tokens, forgotten."""
    for ttl_cache in _AUTHZ_CACHES:
        ttl_cache.invalidate()


def register_authz_cache(ttl_cache: TtlCache) -> TtlCache:
    """A per-process cache of authorizations (`access.services`' API tokens) that
    `forget_authorizations` empties too."""
    _AUTHZ_CACHES.append(ttl_cache)
    return ttl_cache


def _load_capabilities(user) -> frozenset[Capability]:
    perms = user.get_all_permissions()
    return frozenset(cap for cap in Capability if cap.perm in perms)


def capabilities_of(user) -> frozenset[Capability]:
    """The capabilities a user holds: cached on the user object for the request, and per
    process for a few seconds (CAPABILITY_CACHE, see above)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_watchfloor_caps", None)
    if cached is None:
        if user.pk is None:
            cached = _load_capabilities(user)
        else:
            # the account's identity, not its id alone: an id can come back after a rollback
            key = (user.pk, user.username, user.date_joined, user.is_superuser, authz_generation())
            cached = CAPABILITY_CACHE.get_or_load(key, lambda: _load_capabilities(user))
        user._watchfloor_caps = cached
    return cached


def has_capability(user, capability: Capability) -> bool:
    return capability in capabilities_of(user)


def require_capability(user, capability: Capability) -> None:
    if not has_capability(user, capability):
        raise CapabilityDenied(capability)


NOBODY = Q(pk=None)  # a condition no row meets (primary keys are never NULL)

# The capability that gives each kind of scope, broadest first: a user has the first they hold.
SCOPE_CAPABILITIES = (
    (Capability.VIEW_ALL_CLIENTS, ScopeKind.ALL_CLIENTS),
    (Capability.VIEW_CLIENT, ScopeKind.ASSIGNED_CLIENTS),
    (Capability.VIEW_ASSIGNED_SITES, ScopeKind.ASSIGNED_SITES),
)


def scope_kind(user) -> ScopeKind:
    caps = capabilities_of(user)
    if Capability.VIEW not in caps or getattr(user, "tenant_id", None) is None:
        return ScopeKind.NONE
    return next((kind for cap, kind in SCOPE_CAPABILITIES if cap in caps), ScopeKind.NONE)


@dataclass(frozen=True)
class Scope:
    """What one user may see: a kind of scope in a tenant, through the user's assignments."""

    kind: ScopeKind
    tenant_id: int | None
    user_id: int | None

    def restrict(self, qs: QuerySet) -> QuerySet:
        """`qs` limited to the rows this scope admits (subqueries on the assignments: no ids
        are loaded, so it stays one query whatever the size of the estate)."""
        if self.kind == ScopeKind.NONE:
            return qs.none()
        qs = qs.filter(tenant_id=self.tenant_id)
        if self.kind == ScopeKind.ALL_CLIENTS:
            return qs
        return qs.filter(self._condition(qs.model.placement))

    def _condition(self, at: Placement) -> Q:
        assert self.user_id is not None  # only the kind NONE has no user, and it admits nothing
        if self.kind == ScopeKind.ASSIGNED_CLIENTS:
            clients = ClientAssignment.objects.filter(user_id=self.user_id).values("client_id")
            return Q(**{f"{at.client}__in": clients})
        mine = SiteAssignment.objects.filter(user_id=self.user_id)
        on_my_sites = Q(**{f"{at.site}__in": mine.values("site_id")}) if at.site else NOBODY
        if not at.client_wide:
            return on_my_sites
        client_wide = Q(**{f"{at.client}__in": mine.values("site__client_id")})
        if at.site:
            client_wide &= Q(**{f"{at.site}__isnull": True})
        return on_my_sites | client_wide

    def reach(self) -> Reach:
        """This scope as ids, for deciding in memory (two small queries)."""
        clients = Client.objects.restrict(self).values_list("id", flat=True)
        sites = Site.objects.restrict(self).values_list("id", flat=True)
        return Reach(self.kind, frozenset(clients), frozenset(sites))


@dataclass(frozen=True)
class Reach:
    """A scope resolved to the ids of the clients and sites it sees, checked in memory.

    `admits` is `Scope.restrict` for one row: a client-scoped user sees the rows of their
    clients; a site-scoped user sees the rows on their sites and, for client-wide placements,
    the site-less rows of the clients of those sites (which are exactly `client_ids`).
    """

    kind: ScopeKind
    client_ids: frozenset[int]
    site_ids: frozenset[int]

    def admits(self, at: Placement, client_id: int | None, site_id: int | None) -> bool:
        if self.kind == ScopeKind.ALL_CLIENTS:
            return True
        if self.kind == ScopeKind.ASSIGNED_CLIENTS:
            return client_id in self.client_ids
        if self.kind == ScopeKind.ASSIGNED_SITES:
            if site_id is not None:
                return site_id in self.site_ids
            return at.client_wide and client_id in self.client_ids
        return False


def scope_of(user) -> Scope:
    kind = scope_kind(user)
    if kind == ScopeKind.NONE:
        return Scope(kind, None, None)
    return Scope(kind, user.tenant_id, user.pk)


def holds(capability: Capability) -> Q:
    """Users who hold a capability (directly or through a role), as a condition on users: what
    `capabilities_of` decides for one user (an active superuser holds every permission)."""
    perm = Permission.objects.filter(
        codename=capability.codename, content_type__app_label="access"
    ).values("id")
    direct = User.user_permissions.through.objects.filter(
        user_id=OuterRef("pk"), permission_id__in=perm
    )
    via_group = User.groups.through.objects.filter(
        user_id=OuterRef("pk"), group__permissions__in=perm
    )
    return Q(is_superuser=True) | Q(Exists(direct)) | Q(Exists(via_group))


def audience(at: Placement, *, tenant_id: int, client_id: int | None, site_id: int | None) -> Q:
    """Active users of the tenant whose scope admits a row placed at (client_id, site_id), as a
    condition on users (one query whatever their number): `Scope.restrict` read backwards."""

    def assigned(model, **lookup) -> Q:
        return Q(Exists(model.objects.filter(user_id=OuterRef("pk"), **lookup)))

    by_client = assigned(ClientAssignment, client_id=client_id) if client_id is not None else NOBODY
    if site_id is not None:
        by_site = assigned(SiteAssignment, site_id=site_id)
    elif at.client_wide and client_id is not None:
        by_site = assigned(SiteAssignment, site__client_id=client_id)
    else:
        by_site = NOBODY
    reaches = {
        ScopeKind.ALL_CLIENTS: Q(),
        ScopeKind.ASSIGNED_CLIENTS: by_client,
        ScopeKind.ASSIGNED_SITES: by_site,
    }
    condition, broader = NOBODY, Q()
    for capability, kind in SCOPE_CAPABILITIES:
        condition |= broader & holds(capability) & reaches[kind]
        broader &= ~holds(capability)
    return Q(tenant_id=tenant_id, is_active=True) & holds(Capability.VIEW) & condition


def visible_clients(user) -> QuerySet[Client]:
    """Clients the user may see: a client is visible through any of its visible sites too."""
    return Client.objects.restrict(scope_of(user))


def visible_sites(user) -> QuerySet[Site]:
    return Site.objects.restrict(scope_of(user))


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
