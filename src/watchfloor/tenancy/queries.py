"""Read side of tenancy, always through the user's scope."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from watchfloor.access.scope import visible_clients, visible_sites
from watchfloor.tenancy.models import Client, Site


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
        qs = (
            qs.filter(client__code=client)
            if not str(client).isdigit()
            else qs.filter(client_id=client)
        )
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
