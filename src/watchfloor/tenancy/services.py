"""Writes for tenancy: clients and sites. Capability checks happen in the caller (API, views)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.tenancy.models import Client, Site, Tenant

CLIENT_FIELDS = {"code", "name", "owner", "active"}
SITE_FIELDS = {
    "code",
    "name",
    "client",
    "city",
    "state",
    "latitude",
    "longitude",
    "timezone",
    "officer_in_charge",
    "active",
}


def _check_same_tenant(tenant: Tenant, **related) -> None:
    for field, obj in related.items():
        if obj is None:
            continue
        if getattr(obj, "tenant_id", None) != tenant.id:
            raise ValidationError({field: "Not found in this tenant."})


def _validate(obj) -> None:
    """`full_clean`, with a taken code reported on `code`.

    Django reports the multi-field constraint (tenant, code) under `__all__`; the API promises
    the name of the field.
    """
    try:
        obj.full_clean()
    except ValidationError as exc:
        errors = exc.error_dict
        for error in errors.pop(NON_FIELD_ERRORS, []):
            unique_check = (error.params or {}).get("unique_check", ())
            key = "code" if "code" in unique_check else NON_FIELD_ERRORS
            errors.setdefault(key, []).append(
                ValidationError(_CODE_TAKEN) if key == "code" else error
            )
        raise ValidationError(errors) from None


_CODE_TAKEN = "This code is already used in this tenant."


def _code_taken(obj) -> bool:
    others = type(obj).objects.filter(tenant_id=obj.tenant_id, code=obj.code)
    return others.exclude(pk=obj.pk).exists() if obj.pk else others.exists()


def _save(obj, **kwargs) -> None:
    """Save; a concurrent writer that took the same code between check and save gets a 422."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError:
        if _code_taken(obj):
            raise ValidationError({"code": [_CODE_TAKEN]}) from None
        raise


def _audit_change(obj, *, actor, change: str, fields: list[str]) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        entity=obj,
        details={"change": change, "code": obj.code, "fields": sorted(fields)},
    )


def _apply(obj, values: dict[str, Any], allowed: set[str]) -> list[str]:
    unknown = set(values) - allowed
    if unknown:
        raise ValidationError({f: "Unknown field." for f in unknown})
    for field, value in values.items():
        setattr(obj, field, value)
    return list(values)


@transaction.atomic
def create_tenant(*, slug: str, name: str, actor=None) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    tenant.save()
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant,
        entity=tenant,
        details={"change": "tenant.create", "slug": slug},
    )
    return tenant


@transaction.atomic
def create_client(tenant: Tenant, *, actor, **values) -> Client:
    _check_same_tenant(tenant, owner=values.get("owner"))
    client = Client(tenant=tenant)
    fields = _apply(client, values, CLIENT_FIELDS)
    _validate(client)
    _save(client)
    _audit_change(client, actor=actor, change="client.create", fields=fields)
    return client


@transaction.atomic
def update_client(client: Client, *, actor, **values) -> Client:
    _check_same_tenant(client.tenant, owner=values.get("owner"))
    fields = _apply(client, values, CLIENT_FIELDS)
    if not fields:
        return client
    _validate(client)
    _save(client, update_fields=[*fields, "updated_at"])
    _audit_change(client, actor=actor, change="client.update", fields=fields)
    return client


@transaction.atomic
def create_site(tenant: Tenant, *, actor, **values) -> Site:
    _check_same_tenant(
        tenant, client=values.get("client"), officer_in_charge=values.get("officer_in_charge")
    )
    site = Site(tenant=tenant)
    fields = _apply(site, values, SITE_FIELDS)
    _validate(site)
    _save(site)
    _audit_change(site, actor=actor, change="site.create", fields=fields)
    return site


@transaction.atomic
def update_site(site: Site, *, actor, **values) -> Site:
    _check_same_tenant(
        site.tenant, client=values.get("client"), officer_in_charge=values.get("officer_in_charge")
    )
    fields = _apply(site, values, SITE_FIELDS)
    if not fields:
        return site
    _validate(site)
    _save(site, update_fields=[*fields, "updated_at"])
    _audit_change(site, actor=actor, change="site.update", fields=fields)
    return site
