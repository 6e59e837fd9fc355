"""Read side of the estate page: the user's clients and sites, filtered and PII-masked.

A fixed number of queries whatever the size of the estate: the clients with their site counts,
the filtered sites with client and officer joined, and the city/state choices.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_phone, person_label
from watchfloor.access.scope import has_capability, visible_clients, visible_sites
from watchfloor.tenancy.models import User
from watchfloor.tenancy.queries import clients_for, sites_for


@dataclass(frozen=True)
class Filters:
    client: str = ""
    city: str = ""
    state: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, params) -> Filters:
        return cls(
            **{f: (params.get(f) or "").strip()[:100] for f in ("client", "city", "state", "q")}
        )

    @property
    def active(self) -> bool:
        return any((self.client, self.city, self.state, self.q))


@dataclass(frozen=True)
class Person:
    name: str
    phone: str


@dataclass(frozen=True)
class SiteRow:
    id: int
    code: str
    name: str
    city: str
    state: str
    timezone: str
    local_time: str
    officer: Person | None
    active: bool


@dataclass
class ClientGroup:
    code: str
    name: str
    owner: Person | None
    site_count: int  # every site of the client in the user's scope
    sites: list[SiteRow] = field(default_factory=list)


@dataclass(frozen=True)
class EstatePage:
    filters: Filters
    clients: list[ClientGroup]  # every client in scope, in code order
    shown: list[ClientGroup]  # the clients the filters leave, with their matching sites
    cities: list[str]
    states: list[str]
    site_total: int
    shown_sites: int
    officers: int
    can_view_pii: bool


@cache
def site_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """A site's time zone, or None for a name this machine does not know."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _local_time(now: datetime, tz_name: str) -> str:
    zone = site_zone(tz_name)
    return now.astimezone(zone).strftime("%H:%M %Z") if zone else ""


def _person(user, pii: bool) -> Person | None:
    if user is None:
        return None
    name = person_label(user, pii) or ""
    if pii:
        return Person(name=name, phone=user.phone)
    return Person(name=name, phone=mask_phone(user.phone) if user.phone else "")


def estate_page(user, filters: Filters) -> EstatePage:
    pii = has_capability(user, Capability.VIEW_PII)
    now = timezone.now()
    groups = {
        c.id: ClientGroup(c.code, c.name, _person(c.owner, pii), c.site_count)  # type: ignore[attr-defined]
        for c in clients_for(user).order_by("code")
    }
    sites = sites_for(
        user,
        client=filters.client or None,
        city=filters.city or None,
        state=filters.state or None,
        q=filters.q or None,
    ).order_by("client__code", "code")
    officers = set()
    shown_sites = 0
    for site in sites:
        group = groups.get(site.client_id)
        if group is None:
            continue
        group.sites.append(
            SiteRow(
                id=site.id,
                code=site.code,
                name=site.name,
                city=site.city,
                state=site.state,
                timezone=site.timezone,
                local_time=_local_time(now, site.timezone),
                officer=_person(site.officer_in_charge, pii),
                active=site.active,
            )
        )
        officers.add(site.officer_in_charge_id)
        shown_sites += 1
    places = sorted(set(visible_sites(user).values_list("city", "state").distinct()))
    clients = list(groups.values())
    shown = [g for g in clients if g.sites or not filters.active]
    return EstatePage(
        filters=filters,
        clients=clients,
        shown=shown,
        cities=sorted({city for city, _ in places if city}),
        states=sorted({state for _, state in places if state}),
        site_total=sum(g.site_count for g in clients),
        shown_sites=shown_sites,
        officers=len(officers - {None}),
        can_view_pii=pii,
    )


def overview_choices(user) -> dict:
    """What the overview's filters offer (three queries, any estate size): clients (code, id
    and name), cities, states, each city with its state (`places`, which lets the page narrow
    the cities to a chosen state) and officers in charge of the user's sites (names masked
    without `noc:view_pii`). Whom an alert may be assigned to depends on the alert: the assign
    form reads GET /api/v1/alerts/{id}/assignees."""
    pii = has_capability(user, Capability.VIEW_PII)
    sites = visible_sites(user)
    places = sorted(set(sites.values_list("city", "state").distinct()))
    officers = (
        User.objects.filter(pk__in=sites.values("officer_in_charge_id"))
        .order_by("last_name", "first_name", "username")
        .only("id", "first_name", "last_name", "username")
    )
    return {
        "clients": [
            {"code": c.code, "id": c.id, "name": c.name}
            for c in visible_clients(user).order_by("code").only("id", "code", "name")
        ],
        "cities": sorted({city for city, _ in places if city}),
        "states": sorted({state for _, state in places if state}),
        "places": [{"city": city, "state": state or ""} for city, state in places if city],
        "officers": [{"id": o.id, "name": person_label(o, pii)} for o in officers],
    }
