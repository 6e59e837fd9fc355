"""Who am I, my API tokens, the tenant's integration keys."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from ninja import Query, Router, Status

from watchfloor.access import services
from watchfloor.access.capabilities import Capability
from watchfloor.access.models import ApiToken, IntegrationKey
from watchfloor.access.reveal import reveal_officer_contact
from watchfloor.access.schemas import (
    IntegrationKeyCreated,
    IntegrationKeyIn,
    IntegrationKeyOut,
    IntegrationKeyPage,
    MeOut,
    RevealIn,
    RevealOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    TokenPage,
)
from watchfloor.access.scope import (
    access_client,
    access_site,
    capabilities_of,
    require_capability,
    scope_kind,
    visible_clients,
    visible_sites,
)
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id, QueryIn

router = Router(tags=["identity and keys"])


class PageParams(QueryIn):
    cursor: str | None = None
    limit: int | None = None


@router.get("/me", response=MeOut)
def me(request):
    user = request.auth
    return {
        "id": user.id,
        "username": user.username,
        "full_name": user.get_full_name(),
        "email": user.email,
        "tenant": {"id": user.tenant.id, "slug": user.tenant.slug, "name": user.tenant.name},
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "capabilities": sorted(c.value for c in capabilities_of(user)),
        "scope": {
            "kind": scope_kind(user).value,
            "client_ids": sorted(visible_clients(user).values_list("id", flat=True)),
            "site_ids": sorted(visible_sites(user).values_list("id", flat=True)),
        },
    }


def _future(value, field: str):
    if value is not None and value <= timezone.now():
        raise ValidationError({field: "Must be in the future."})
    return value


@router.get("/tokens", response=TokenPage)
def list_tokens(request, page: Query[PageParams]):
    result = paginate(
        ApiToken.objects.filter(user=request.auth),
        cursor=page.cursor,
        limit=page.limit,
        descending=True,
    )
    return {"items": result.items, "next_cursor": result.next_cursor}


@router.post("/tokens", response={201: TokenCreated})
def create_token(request, data: TokenIn):
    issued = services.create_api_token(
        request.auth, name=data.name, expires_at=_future(data.expires_at, "expires_at")
    )
    return Status(201, {**TokenOut.from_orm(issued.obj).model_dump(), "token": issued.plain})


@router.delete("/tokens/{token_id}", response=TokenOut)
def revoke_token(request, token_id: Id):
    token = ApiToken.objects.filter(user=request.auth, pk=token_id).first()
    if token is None:
        raise Http404
    return services.revoke_api_token(token, actor=request.auth)


@router.get("/integration-keys", response=IntegrationKeyPage)
def list_integration_keys(request, page: Query[PageParams]):
    require_capability(request.auth, Capability.CONFIGURE)
    qs = IntegrationKey.objects.for_tenant(request.auth.tenant_id)
    result = paginate(qs, cursor=page.cursor, limit=page.limit, descending=True)
    return {"items": result.items, "next_cursor": result.next_cursor}


@router.post("/integration-keys", response={201: IntegrationKeyCreated})
def create_integration_key(request, data: IntegrationKeyIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    client = site = None
    try:
        if data.default_client_id is not None:
            client = access_client(user, data.default_client_id)
    except Http404:
        raise ValidationError({"default_client_id": "No such client in your scope."}) from None
    try:
        if data.default_site_id is not None:
            site = access_site(user, data.default_site_id)
    except Http404:
        raise ValidationError({"default_site_id": "No such site in your scope."}) from None
    if site is not None and client is not None and site.client_id != client.id:
        raise ValidationError({"default_site_id": "The site belongs to another client."})
    issued = services.create_integration_key(
        user.tenant,
        actor=user,
        name=data.name,
        source=data.source,
        default_client=client,
        default_site=site,
        expires_at=_future(data.expires_at, "expires_at"),
    )
    issued.obj.key = issued.plain  # shown once, in this answer only
    return Status(201, issued.obj)


@router.get("/integration-keys/{key_id}", response=IntegrationKeyOut)
def get_integration_key(request, key_id: Id):
    require_capability(request.auth, Capability.CONFIGURE)
    key = IntegrationKey.objects.for_tenant(request.auth.tenant_id).filter(pk=key_id).first()
    if key is None:
        raise Http404
    return key


@router.delete("/integration-keys/{key_id}", response=IntegrationKeyOut)
def revoke_integration_key(request, key_id: Id):
    require_capability(request.auth, Capability.CONFIGURE)
    key = IntegrationKey.objects.for_tenant(request.auth.tenant_id).filter(pk=key_id).first()
    if key is None:
        raise Http404
    return services.revoke_integration_key(key, actor=request.auth)


@router.post("/sites/{site_id}/officer/reveal", response=RevealOut, tags=["clients and sites"])
def reveal_officer(request, site_id: Id, data: RevealIn | None = None):
    """The site officer's name, phone and email, unmasked: needs `noc:reveal_contact`; audited
    as a view of sensitive data (the site, the officer's id). POST: an explicit act, never a
    prefetch or a link. `officer` is null when the site has none."""
    revealed = reveal_officer_contact(site_id, actor=request.auth, via=data.via if data else "api")
    return revealed
