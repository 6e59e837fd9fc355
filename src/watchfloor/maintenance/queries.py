"""Read side of maintenance windows, always through the user's scope.

A user sees the windows of the clients they see. A user whose scope is a list of sites sees the
windows on those sites and the client-wide windows of those sites' clients (they cover the user's
sites too), but not the windows on the client's other sites.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from watchfloor.access.scope import ScopeKind, scope_kind, scope_of
from watchfloor.maintenance.models import MaintenanceWindow, WindowState
from watchfloor.tenancy.models import Client, Site


def _visible(user) -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.restrict(scope_of(user))


def _by_id_or_code(value) -> Q:
    """`client=3`, `client=acme-c1` or a model instance, as a lookup on the related row."""
    if isinstance(value, Client | Site):
        return Q(id=value.id)
    text = str(value)
    # (a number too long for an id can only be a code)
    return Q(id=int(text)) if text.isdigit() and len(text) < 19 else Q(code=text)


def _prefixed(q: Q, prefix: str) -> Q:
    ((key, value),) = q.children  # type: ignore[misc]  # one (lookup, value) pair
    return Q(**{f"{prefix}__{key}": value})


def windows_for(
    user,
    *,
    status: WindowState | str | None = None,
    client=None,
    site=None,
    at: datetime | None = None,
) -> QuerySet[MaintenanceWindow]:
    """Windows the user may see, with what a list shows selected.

    `status` is `active`, `upcoming`, `ended` or `cancelled` at `at` (default now); `client` and
    `site` are ids, codes or instances. `site` selects the windows that cover that site: its own
    and its client's client-wide windows.
    """
    qs = _visible(user).select_related("client", "site", "created_by", "cancelled_by")
    if status:
        qs = qs.in_state(status, at or timezone.now())  # type: ignore[attr-defined]
    if client is not None and client != "":
        qs = qs.filter(_prefixed(_by_id_or_code(client), "client"))
    if site is not None and site != "":
        match = _by_id_or_code(site)
        # a subquery, not a join through client__sites: a join would repeat each window once
        # per site of its client
        clients_of_site = Site.objects.filter(match).values("client_id")
        qs = qs.filter(_prefixed(match, "site") | Q(site__isnull=True, client__in=clients_of_site))
    return qs


def access_window(user, window_id) -> MaintenanceWindow:
    """One window the user may see; the same 404 whether it is missing, in another tenant or
    outside the user's scope."""
    try:
        return windows_for(user).get(pk=window_id)
    except (MaintenanceWindow.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


def may_write(user, *, site: Site | None) -> bool:
    """Whether the user's scope allows a window on `site` (None: the whole client).

    The client or site itself has been fetched through the user's scope already; what is left is
    that a user who sees only some sites may not cover a whole client, which reaches sites they
    do not see.
    """
    return site is not None or scope_kind(user) != ScopeKind.ASSIGNED_SITES


def state_counts(user, now: datetime) -> dict[str, int]:
    """How many windows each tab holds (one query)."""
    live = Q(cancelled_at__isnull=True)
    filters = {
        "active": live & Q(starts_at__lte=now, ends_at__gt=now),
        "upcoming": live & Q(starts_at__gt=now),
        "past": live & Q(ends_at__lte=now),
        "cancelled": Q(cancelled_at__isnull=False),
    }
    return (
        windows_for(user)
        .select_related(None)
        .order_by()
        .aggregate(**{tab: Count("id", filter=q) for tab, q in filters.items()})
    )
