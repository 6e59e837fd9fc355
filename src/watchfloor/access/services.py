"""Writes for access: API tokens, integration keys, scope assignments. Each audits itself."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from watchfloor.access.models import (
    ApiToken,
    ClientAssignment,
    IntegrationKey,
    SiteAssignment,
    SourceKind,
)
from watchfloor.access.scope import (
    authz_generation,
    capabilities_of,
    forget_authorizations,
    register_authz_cache,
)
from watchfloor.access.secrets import generate_secret, hash_secret
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.tenancy.models import Client, Site
from watchfloor.ttl import TtlCache

# last_used_at is written at most this often per secret, so a busy integration does not turn
# every ingestion request into an extra UPDATE.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Issued:
    """A newly issued secret: `plain` is shown once and never stored."""

    obj: ApiToken | IntegrationKey
    plain: str


@transaction.atomic
def create_api_token(user, *, name: str, expires_at: datetime | None = None) -> Issued:
    secret = generate_secret("t")
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret.prefix,
        secret_hash=secret.digest,
        expires_at=expires_at,
    )
    record(
        Action.TOKEN_CREATE,
        actor=user,
        entity=token,
        tenant=user.tenant,
        details={"name": name, "prefix": secret.prefix},
    )
    return Issued(obj=token, plain=secret.plain)


@transaction.atomic
def revoke_api_token(token: ApiToken, *, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        forget_authorizations()
        record(
            Action.TOKEN_REVOKE,
            actor=actor,
            entity=token,
            tenant=token.user.tenant,
            details={"prefix": token.prefix},
        )
    return token


def _touch(obj, now) -> None:
    if obj.last_used_at is None or now - obj.last_used_at > LAST_USED_RESOLUTION:
        type(obj).objects.filter(pk=obj.pk).update(last_used_at=now)
        obj.last_used_at = now


# An API token's row, its user and tenant, and the user's capabilities, per process for a few
# seconds (three queries, ~9 ms of an overview request answered from the shared cache). Keyed by
# the authorization generation (access.scope): revoking a token, changing roles or permissions,
# or an account in the admin is seen by every process at its next request.
TOKEN_CACHE = register_authz_cache(TtlCache("api_tokens", ttl=5))


def _load_api_token(digest: str, now: datetime) -> ApiToken | None:
    token = (
        ApiToken.objects.usable(now)
        .select_related("user", "user__tenant")
        .filter(secret_hash=digest)
        .first()
    )
    if token is not None:
        capabilities_of(token.user)  # computed once, carried by every copy of the user
    return token


def authenticate_api_token(plain: str):
    """The active user a token acts as, or None (unknown, revoked, expired, inactive user).

    Each call gets its own copy of the user (Django copies the model's state and related-object
    cache), so nothing one request sets on it reaches another."""
    if not plain or not plain.startswith("wft_"):
        return None
    now = timezone.now()
    digest = hash_secret(plain)
    token = TOKEN_CACHE.get_or_load(
        (digest, authz_generation()), lambda: _load_api_token(digest, now)
    )
    if token is None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    _touch(token, now)
    return copy.copy(token.user)


@transaction.atomic
def create_integration_key(
    tenant,
    *,
    actor,
    name: str,
    source: SourceKind | str,
    default_client: Client | None = None,
    default_site: Site | None = None,
    expires_at: datetime | None = None,
) -> Issued:
    if default_site is not None and default_client is None:
        default_client = default_site.client
    if default_site is not None and default_site.client_id != default_client.id:
        raise ValueError("default_site must belong to default_client")
    secret = generate_secret("i")
    key = IntegrationKey.objects.create(
        tenant=tenant,
        name=name,
        source=SourceKind(source),
        prefix=secret.prefix,
        secret_hash=secret.digest,
        default_client=default_client,
        default_site=default_site,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        expires_at=expires_at,
    )
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant,
        entity=key,
        details={"change": "integration_key.create", "source": key.source, "prefix": key.prefix},
    )
    return Issued(obj=key, plain=secret.plain)


@transaction.atomic
def revoke_integration_key(key: IntegrationKey, *, actor) -> IntegrationKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        KEY_CACHE.invalidate(key.secret_hash)
        record(
            Action.CONFIG_CHANGE,
            actor=actor,
            tenant=key.tenant,
            entity=key,
            details={"change": "integration_key.revoke", "prefix": key.prefix},
        )
    return key


# Ingestion authenticates every request: a usable key is remembered per process for a few
# seconds, so a revocation reaches other processes within KEY_CACHE.ttl (at once in this one).
KEY_CACHE = TtlCache("integration_keys", ttl=10)


def _load_integration_key(digest: str):
    now = timezone.now()
    key = (
        IntegrationKey.objects.usable(now)
        .select_related("tenant")
        .filter(secret_hash=digest, tenant__active=True)
        .first()
    )
    if key is not None:
        _touch(key, now)
    return key


def authenticate_integration_key(plain: str, *, source: SourceKind | str | None = None):
    """The usable integration key for this secret (and source kind), or None."""
    if not plain or not plain.startswith("wfi_"):
        return None
    digest = hash_secret(plain)
    key = KEY_CACHE.get_or_load(digest, lambda: _load_integration_key(digest))
    if key is None or (key.expires_at is not None and key.expires_at <= timezone.now()):
        return None
    if source is not None and key.source != SourceKind(source):
        return None
    return key


@transaction.atomic
def set_roles(user, roles: list[str], *, actor=None) -> None:
    groups = list(Group.objects.filter(name__in=roles))
    missing = set(roles) - {g.name for g in groups}
    if missing:
        raise ValueError(f"Unknown roles: {', '.join(sorted(missing))}")
    user.groups.set(groups)
    user.__dict__.pop("_watchfloor_caps", None)
    for cached in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cached, None)
    forget_authorizations()
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=user.tenant,
        entity_type="tenancy.user",
        entity_id=user.pk,
        details={"change": "roles.set", "roles": sorted(roles)},
    )


@transaction.atomic
def assign_scope(user, *, clients=(), sites=(), actor=None) -> None:
    """Replace the user's client and site assignments (same tenant only)."""
    for obj in [*clients, *sites]:
        if obj.tenant_id != user.tenant_id:
            raise ValueError("Scope assignments must stay inside the user's tenant.")
    ClientAssignment.objects.filter(user=user).delete()
    SiteAssignment.objects.filter(user=user).delete()
    ClientAssignment.objects.bulk_create(
        ClientAssignment(tenant_id=user.tenant_id, user=user, client=c) for c in clients
    )
    SiteAssignment.objects.bulk_create(
        SiteAssignment(tenant_id=user.tenant_id, user=user, site=s) for s in sites
    )
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=user.tenant,
        entity_type="tenancy.user",
        entity_id=user.pk,
        details={
            "change": "scope.assign",
            "clients": [c.code for c in clients],
            "sites": [s.code for s in sites],
        },
    )
