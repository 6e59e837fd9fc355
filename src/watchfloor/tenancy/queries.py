"""Read side of tenancy, always through the user's scope."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from watchfloor.access.scope import visible_clients, visible_sites
from watchfloor.bounds import INT64_MAX
from watchfloor.tenancy.models import Client, Site, User
from watchfloor.ttl import TtlCache


def clients_for(user) -> QuerySet[Client]:
    """Visible clients with the number of sites the user can see in each."""
    site_ids = visible_sites(user).values("id")
    return (
        visible_clients(user)
        .select_related("owner")
        .annotate(site_count=Count("sites", filter=Q(sites__id__in=site_ids), distinct=True))
    )


def sites_for(
    user, *, client=None, city=None, state=None, officer=None, active=None, q=None
) -> QuerySet[Site]:
    qs = visible_sites(user).select_related("client", "officer_in_charge")
    if client:
        # digits are a client's id (at most 64 bits: more is no id, and SQLite cannot bind it);
        # anything else is its code
        text = str(client)
        if text.isdigit() and int(text) <= INT64_MAX:
            qs = qs.filter(client_id=int(text))
        else:
            qs = qs.filter(client__code=text)
    if city:
        qs = qs.filter(city__iexact=city)
    if state:
        qs = qs.filter(state__iexact=state)
    if officer:
        qs = qs.filter(officer_in_charge_id=officer)
    if active is not None:
        qs = qs.filter(active=active)
    if q:
        qs = qs.filter(Q(code__icontains=q) | Q(name__icontains=q) | Q(city__icontains=q))
    return qs


@dataclass(frozen=True)
class SiteInfo:
    """What a live feed row shows about a site and its client."""

    client_id: int
    client_code: str
    client_name: str
    site_code: str
    site_name: str
    city: str
    state: str


# Real-time events name the site and client of each alert; one query per tenant every 30 s
# instead of one per event (a new site is loaded on first sight, see site_info).
SITE_DIRECTORY = TtlCache("site-directory", ttl=30)
PERSON_NAMES = TtlCache("person-names", ttl=30)


def _load_sites(tenant_id: int) -> dict[int, SiteInfo]:
    rows = Site.objects.filter(tenant_id=tenant_id).values_list(
        "id", "client_id", "client__code", "client__name", "code", "name", "city", "state"
    )
    return {row[0]: SiteInfo(*row[1:]) for row in rows}


def site_directory(tenant_id: int) -> dict[int, SiteInfo]:
    """The tenant's sites by id as cached (a site created since may be missing: `site_info`
    reloads for it)."""
    return SITE_DIRECTORY.get_or_load(tenant_id, lambda: _load_sites(tenant_id))


def site_info(tenant_id: int, site_id: int | None) -> SiteInfo | None:
    if site_id is None:
        return None
    sites = site_directory(tenant_id)
    if site_id not in sites:  # created since the directory was loaded
        SITE_DIRECTORY.invalidate(tenant_id)
        sites = SITE_DIRECTORY.get_or_load(tenant_id, lambda: _load_sites(tenant_id))
    return sites.get(site_id)


def person_name(tenant_id: int, user_id: int | None) -> str | None:
    """A user's full name (or username), unmasked: receivers mask it for their reader."""
    if user_id is None:
        return None

    def load() -> dict[int, str]:
        rows = User.objects.filter(tenant_id=tenant_id).values_list(
            "id", "first_name", "last_name", "username"
        )
        return {uid: f"{first} {last}".strip() or name for uid, first, last, name in rows}

    names = PERSON_NAMES.get_or_load(tenant_id, load)
    if user_id not in names:
        PERSON_NAMES.invalidate(tenant_id)
        names = PERSON_NAMES.get_or_load(tenant_id, load)
    return names.get(user_id)
