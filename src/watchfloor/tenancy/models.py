"""Tenant → Client → Site, the users who belong to a tenant, and the tenant-scoping base."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from watchfloor.tenancy import row_loading

code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    "Use letters, digits, '.', '_' and '-', starting with a letter or digit.",
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone {value!r}.")


class Tenant(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person or program account. Every non-superuser account belongs to one tenant."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    phone = models.CharField(max_length=40, blank=True)

    class Meta(AbstractUser.Meta):
        constraints = [
            # The Django admin shows every tenant's rows: it is for platform operators only.
            models.CheckConstraint(
                condition=models.Q(tenant__isnull=True)
                | models.Q(is_superuser=False, is_staff=False),
                name="tenant_user_is_not_platform_staff",
            )
        ]


@dataclass(frozen=True)
class Placement:
    """Where a row sits in the estate, as scope reads it: the lookups of its client and site ids.

    `client_wide`: a row without a site concerns every site of its client, so a user who sees one
    of those sites sees the row (a maintenance window on the whole client, the client itself).
    Otherwise a row without a site is seen only by users who see its whole client (an alert
    raised for a client, not a site).
    """

    client: str = "client_id"
    site: str | None = "site_id"
    client_wide: bool = False


CLIENT_PLACEMENT = Placement(client="id", site=None, client_wide=True)
SITE_PLACEMENT = Placement(client="client_id", site="id")
# a row on one site, or on its client alone when it has no site (an alert)
ON_SITE = Placement()
# a row on one site, or on every site of its client when it has none (a maintenance window)
COVERS_SITES = Placement(client_wide=True)


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | int | None):
        if tenant is None:
            return self.none()
        return self.filter(tenant=tenant)

    def restrict(self, scope):
        """The rows a user may see, chainable: `Alert.objects.restrict(scope_of(user)).open()`.

        `scope` is `access.scope.Scope`, the one description of what a user sees; the model
        says where its rows sit with a `placement` (a `Placement`).
        """
        return scope.restrict(self)


class TenantScoped(models.Model):
    """Base for every domain row: it carries its tenant, and its queryset filters by it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        return row_loading.from_db(cls, super().from_db, db, field_names, values)


class ClientQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(active=True)


class Client(TenantScoped):
    code = models.CharField(max_length=50, validators=[code_validator])
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_clients"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClientQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's
    placement = CLIENT_PLACEMENT

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="client_code_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class SiteQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(active=True)


class Site(TenantScoped):
    code = models.CharField(max_length=50, validators=[code_validator])
    name = models.CharField(max_length=200)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="sites")
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    latitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    longitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    officer_in_charge = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="sites_in_charge"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's
    placement = SITE_PLACEMENT

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="site_code_unique_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "client"]),
            models.Index(fields=["tenant", "city"]),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"
