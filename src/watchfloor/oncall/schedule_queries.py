"""Read side of on-call schedules, always through the user's tenant.

Schedules are tenant-wide (a person on call covers every client), so anyone of the tenant with
`noc:view` sees them all; there is no per-client scope. `access_*` raise the same 404 whether
the id is missing, in another tenant, or the user may not see schedules at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.oncall.models import CalendarFeed, Layer, LayerMember, Override, Schedule
from watchfloor.oncall.rotation import Shift, next_handoff, timelines
from watchfloor.oncall.schedule_services import feed_token_hash
from watchfloor.tenancy.models import User


def _tenant_of(user) -> int | None:
    if not has_capability(user, Capability.VIEW):
        return None
    return getattr(user, "tenant_id", None)


def schedules_for(user) -> QuerySet[Schedule]:
    """The schedules of the user's tenant, layers and members prefetched (three queries)."""
    tenant_id = _tenant_of(user)
    if tenant_id is None:
        return Schedule.objects.none()
    members = LayerMember.objects.select_related("user").order_by("position")
    layers = Layer.objects.order_by("-position", "id").prefetch_related(
        Prefetch("members", queryset=members)
    )
    return (
        Schedule.objects.for_tenant(tenant_id)
        .order_by("name", "id")
        .prefetch_related(Prefetch("layers", queryset=layers))
    )


def _get(qs: QuerySet, pk):
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("Not found.") from None


def access_schedule(user, schedule_id) -> Schedule:
    return _get(schedules_for(user), schedule_id)


def access_layer(user, layer_id) -> Layer:
    tenant_id = _tenant_of(user)
    qs = Layer.objects.for_tenant(tenant_id).select_related("schedule")
    return _get(qs if tenant_id is not None else qs.none(), layer_id)


def access_override(user, override_id) -> Override:
    tenant_id = _tenant_of(user)
    qs = Override.objects.for_tenant(tenant_id).select_related("user", "created_by")
    return _get(qs if tenant_id is not None else qs.none(), override_id)


def overrides_for(user, schedule: Schedule, *, include_past: bool = False) -> QuerySet[Override]:
    tenant_id = _tenant_of(user)
    if tenant_id is None or schedule.tenant_id != tenant_id:
        return Override.objects.none()
    qs = Override.objects.filter(schedule=schedule).select_related("user", "created_by")
    if not include_past:
        qs = qs.filter(ends_at__gt=timezone.now())
    return qs.order_by("starts_at", "id")


def overrides_by_schedule(user, schedule_ids, now: datetime) -> dict[int, list[Override]]:
    """The overrides not yet ended of these schedules, by schedule (one query, 50 each at most
    shown by the page)."""
    tenant_id = _tenant_of(user)
    if tenant_id is None:
        return {}
    out: dict[int, list[Override]] = {}
    rows = (
        Override.objects.for_tenant(tenant_id)
        .filter(schedule_id__in=schedule_ids, ends_at__gt=now)
        .select_related("user")
        .order_by("starts_at", "id")
    )
    for override in rows[:2000]:
        bucket = out.setdefault(override.schedule_id, [])
        if len(bucket) < 50:
            bucket.append(override)
    return out


def people_for(user) -> QuerySet[User]:
    """Active people of the user's tenant (who can be put on call)."""
    tenant_id = _tenant_of(user)
    if tenant_id is None:
        return User.objects.none()
    return User.objects.filter(tenant_id=tenant_id, is_active=True).order_by(
        "first_name", "last_name", "username", "id"
    )


def users_by_id(user, ids) -> dict[int, User]:
    """People of the user's tenant by id (one query), to show the ids a timeline names."""
    tenant_id = _tenant_of(user)
    if tenant_id is None or not ids:
        return {}
    return {u.id: u for u in User.objects.filter(tenant_id=tenant_id, id__in=set(ids))}


# --- who is on call ------------------------------------------------------------------------------
@dataclass
class OnCallNow:
    schedule: Schedule
    user_ids: list[int]
    shifts: list[Shift]  # the merged shifts at `at`
    next_handoff: datetime | None


def oncall_at(user, schedules: list[Schedule], at: datetime) -> list[OnCallNow]:
    """Who is on call at `at` in each schedule, and when that changes next (looking up to two
    weeks ahead), in a fixed number of queries."""
    if not schedules:
        return []
    found = timelines([s.id for s in schedules], at, at + timedelta(days=14))
    out = []
    for schedule in schedules:
        merged, _layers = found.get(schedule.id, ([], {}))
        now_on = [s for s in merged if s.starts_at <= at < s.ends_at]
        out.append(
            OnCallNow(
                schedule=schedule,
                user_ids=list(dict.fromkeys(s.user_id for s in now_on)),
                shifts=now_on,
                next_handoff=next_handoff(merged, at),
            )
        )
    return out


# --- calendar feeds ------------------------------------------------------------------------------
def feeds_of(user) -> QuerySet[CalendarFeed]:
    """The person's own feeds, newest first."""
    if getattr(user, "tenant_id", None) is None:
        return CalendarFeed.objects.none()
    return CalendarFeed.objects.filter(tenant_id=user.tenant_id, user=user).order_by("-id")


def access_feed(user, feed_id) -> CalendarFeed:
    return _get(feeds_of(user), feed_id)


def feed_owner(token: str) -> User | None:
    """The active person a live feed token belongs to, who may still see schedules."""
    if not token or len(token) > 200:
        return None
    feed = (
        CalendarFeed.objects.filter(token_hash=feed_token_hash(token), revoked_at__isnull=True)
        .select_related("user")
        .first()
    )
    if feed is None or not feed.user.is_active or feed.user.tenant_id != feed.tenant_id:
        return None
    if not has_capability(feed.user, Capability.VIEW):
        return None
    return feed.user
