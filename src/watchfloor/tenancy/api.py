"""Clients and sites in the caller's scope."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_view
from watchfloor.access.scope import (
    access_client,
    access_site,
    has_capability,
    require_capability,
)
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id, QueryIn
from watchfloor.tenancy import services
from watchfloor.tenancy.queries import clients_for, sites_for
from watchfloor.tenancy.schemas import (
    ClientIn,
    ClientOut,
    ClientPage,
    ClientPatch,
    SiteIn,
    SiteOut,
    SitePage,
    SitePatch,
)

router = Router(tags=["clients and sites"])


def _client_out(client, pii: bool) -> dict:
    return {
        "id": client.id,
        "code": client.code,
        "name": client.name,
        "active": client.active,
        "owner": person_view(client.owner, pii),
        "site_count": client.site_count,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }


def _site_out(site, pii: bool) -> dict:
    return {
        "id": site.id,
        "code": site.code,
        "name": site.name,
        "client": {"id": site.client.id, "code": site.client.code, "name": site.client.name},
        "city": site.city,
        "state": site.state,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "timezone": site.timezone,
        "officer_in_charge": person_view(site.officer_in_charge, pii),
        "active": site.active,
        "created_at": site.created_at,
        "updated_at": site.updated_at,
    }


def _tenant_user(tenant_id: int, user_id: int | None, field: str):
    if user_id is None:
        return None
    user = get_user_model().objects.filter(tenant_id=tenant_id, pk=user_id).first()
    if user is None:
        raise ValidationError({field: "No such user in this tenant."})
    return user


class ClientFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    active: bool | None = None


@router.get("/clients", response=ClientPage)
def list_clients(request, filters: Query[ClientFilters]):
    require_capability(request.auth, Capability.VIEW)
    qs = clients_for(request.auth)
    if filters.active is not None:
        qs = qs.filter(active=filters.active)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    pii = has_capability(request.auth, Capability.VIEW_PII)
    return {
        "items": [_client_out(c, pii) for c in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/clients/{client_id}", response=ClientOut)
def get_client(request, client_id: Id):
    require_capability(request.auth, Capability.VIEW)
    client = access_client(request.auth, client_id)
    client = clients_for(request.auth).get(pk=client.pk)
    return _client_out(client, has_capability(request.auth, Capability.VIEW_PII))


@router.post("/clients", response={201: ClientOut})
def create_client(request, data: ClientIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    owner = _tenant_user(user.tenant_id, data.owner_id, "owner_id")
    client = services.create_client(
        user.tenant, actor=user, code=data.code, name=data.name, owner=owner, active=data.active
    )
    client.site_count = 0  # type: ignore[attr-defined]  # annotated on reads; none yet
    return Status(201, _client_out(client, has_capability(user, Capability.VIEW_PII)))


@router.patch("/clients/{client_id}", response=ClientOut)
def update_client(request, client_id: Id, data: ClientPatch):
    user = request.auth
    require_capability(user, Capability.VIEW)
    client = access_client(user, client_id)
    require_capability(user, Capability.CONFIGURE)
    values = data.model_dump(exclude_unset=True)
    if "owner_id" in values:
        values["owner"] = _tenant_user(user.tenant_id, values.pop("owner_id"), "owner_id")
    services.update_client(client, actor=user, **values)
    client = clients_for(user).get(pk=client.pk)
    return _client_out(client, has_capability(user, Capability.VIEW_PII))


class SiteFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    client: str | None = None
    city: str | None = None
    state: str | None = None
    officer: int | None = None
    active: bool | None = None
    q: str | None = None


@router.get("/sites", response=SitePage)
def list_sites(request, filters: Query[SiteFilters]):
    require_capability(request.auth, Capability.VIEW)
    qs = sites_for(
        request.auth,
        client=filters.client,
        city=filters.city,
        state=filters.state,
        officer=filters.officer,
        active=filters.active,
        q=filters.q,
    )
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    pii = has_capability(request.auth, Capability.VIEW_PII)
    return {
        "items": [_site_out(s, pii) for s in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get("/sites/{site_id}", response=SiteOut)
def get_site(request, site_id: Id):
    require_capability(request.auth, Capability.VIEW)
    site = access_site(request.auth, site_id)
    return _site_out(site, has_capability(request.auth, Capability.VIEW_PII))


def _site_values(user, data: dict) -> dict:
    if "client_id" in data:
        client_id = data.pop("client_id")
        try:
            data["client"] = access_client(user, client_id)
        except Http404:
            raise ValidationError({"client_id": "No such client in your scope."}) from None
    if "officer_in_charge_id" in data:
        data["officer_in_charge"] = _tenant_user(
            user.tenant_id, data.pop("officer_in_charge_id"), "officer_in_charge_id"
        )
    return data


@router.post("/sites", response={201: SiteOut})
def create_site(request, data: SiteIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    values = _site_values(user, data.model_dump())
    site = services.create_site(user.tenant, actor=user, **values)
    return Status(201, _site_out(site, has_capability(user, Capability.VIEW_PII)))


@router.patch("/sites/{site_id}", response=SiteOut)
def update_site(request, site_id: Id, data: SitePatch):
    user = request.auth
    require_capability(user, Capability.VIEW)
    site = access_site(user, site_id)
    require_capability(user, Capability.CONFIGURE)
    values = _site_values(user, data.model_dump(exclude_unset=True))
    services.update_site(site, actor=user, **values)
    return _site_out(access_site(user, site.pk), has_capability(user, Capability.VIEW_PII))
