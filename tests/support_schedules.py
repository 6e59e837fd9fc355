"""Helpers for the schedule tests: schedules, layers and overrides written straight to the
database (the services have their own tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from watchfloor.oncall.models import Layer, LayerKind, LayerMember, Override, Schedule


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_schedule(tenant, name="Primary", time_zone="UTC") -> Schedule:
    return Schedule.objects.create(tenant=tenant, name=name, time_zone=time_zone)


def rotation(schedule, members, *, start_local, length="daily", hours=None, position=0, name="R"):
    """A rotation layer; `start_local` is a naive local wall time in the schedule's zone."""
    layer = Layer.objects.create(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        name=name,
        position=position,
        kind=LayerKind.ROTATION,
        rotation_start=start_local.replace(tzinfo=UTC),
        shift_length=length,
        shift_hours=hours,
    )
    for i, user in enumerate(members):
        LayerMember.objects.create(layer=layer, user=user, position=i)
    return layer


def ical_layer(schedule, text, *, position=0, name="Calendar", url=""):
    return Layer.objects.create(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        name=name,
        position=position,
        kind=LayerKind.ICAL,
        ical_text=text,
        ical_url=url,
    )


def override(schedule, user, starts_at, ends_at) -> Override:
    return Override.objects.create(
        tenant_id=schedule.tenant_id,
        schedule=schedule,
        user=user,
        starts_at=starts_at,
        ends_at=ends_at,
    )
