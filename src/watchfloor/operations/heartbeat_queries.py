"""Read side of heartbeats: scoped like alerts (their client and site)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from watchfloor.access.scope import scope_of
from watchfloor.operations.models import Heartbeat

LIST_LIMIT = 500


def heartbeats_for(user) -> QuerySet:
    return Heartbeat.objects.restrict(scope_of(user)).select_related("client", "site")


def access_heartbeat(user, heartbeat_id) -> Heartbeat:
    """The heartbeat if the user may see it; another tenant's or out of scope: 404."""
    try:
        return heartbeats_for(user).get(pk=heartbeat_id)
    except (Heartbeat.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
