"""Schedule services: capability, tenant checks, validation, audit with ids only, and the
rotation's local wall time kept when the schedule's zone changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from support_schedules import make_schedule, utc
from watchfloor.access.scope import CapabilityDenied
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall import schedule_services as services
from watchfloor.oncall.models import Layer, Override
from watchfloor.oncall.rotation import shifts, who_is_on_call

pytestmark = pytest.mark.django_db

NOW = utc(2026, 6, 1, 12)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_zone_change_keeps_the_local_handoff(estate):
    admin = estate.user("admin")
    schedule = services.create_schedule(estate.tenant, actor=admin, name="S", time_zone="UTC")
    services.create_rotation_layer(
        schedule,
        actor=admin,
        name="daily",
        rotation_start=datetime(2026, 5, 1, 9, 0),
        shift_length="daily",
        member_ids=[estate.user("operator").id, estate.user("supervisor").id],
    )
    assert shifts(schedule, utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))[1].starts_at == utc(
        2026, 6, 1, 9
    )
    services.update_schedule(schedule, actor=admin, time_zone="Asia/Tokyo")
    # 09:00 in Tokyo is 00:00 UTC
    assert shifts(schedule, utc(2026, 6, 1, 0), utc(2026, 6, 3, 0))[1].starts_at == utc(
        2026, 6, 2, 0
    )


def test_an_aware_rotation_start_is_read_in_the_schedules_zone(estate):
    admin = estate.user("admin")
    schedule = services.create_schedule(
        estate.tenant, actor=admin, name="S", time_zone="Europe/Berlin"
    )
    layer = services.create_rotation_layer(
        schedule,
        actor=admin,
        name="daily",
        rotation_start=utc(2026, 5, 1, 7),  # 09:00 CEST
        shift_length="daily",
        member_ids=[estate.user("operator").id],
    )
    assert layer.rotation_start == utc(2026, 5, 1, 9)  # stored as the local wall time


def test_services_need_configure(estate):
    schedule = make_schedule(estate.tenant)
    supervisor = estate.user("supervisor")
    with pytest.raises(CapabilityDenied):
        services.create_schedule(estate.tenant, actor=supervisor, name="x")
    with pytest.raises(CapabilityDenied):
        services.create_override(
            schedule,
            actor=supervisor,
            user_id=supervisor.id,
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
        )
    with pytest.raises(CapabilityDenied):
        services.delete_schedule(schedule, actor=supervisor)


def test_inactive_or_foreign_people_are_refused(estate, other_estate):
    admin = estate.user("admin")
    schedule = make_schedule(estate.tenant)
    gone = estate.user("executive")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    for user_id in (gone.id, other_estate.user("admin").id, 999999):
        with pytest.raises(ValidationError) as err:
            services.create_override(
                schedule,
                actor=admin,
                user_id=user_id,
                starts_at=NOW,
                ends_at=NOW + timedelta(hours=1),
            )
        assert "user_id" in err.value.message_dict
        with pytest.raises(ValidationError) as err:
            services.create_rotation_layer(
                schedule,
                actor=admin,
                name="x",
                rotation_start=datetime(2026, 6, 1),
                member_ids=[admin.id, user_id],
            )
        assert "member_ids" in err.value.message_dict
    assert not Override.objects.exists() and not Layer.objects.exists()


def test_a_deactivated_member_leaves_a_gap_instead_of_being_paged(estate):
    admin = estate.user("admin")
    schedule = make_schedule(estate.tenant)
    op = estate.user("operator")
    services.create_rotation_layer(
        schedule,
        actor=admin,
        name="x",
        rotation_start=datetime(2026, 6, 1),
        shift_length="daily",
        member_ids=[op.id],
    )
    assert who_is_on_call([schedule.id], NOW) == {schedule.id: [op.id]}
    op.is_active = False
    op.save(update_fields=["is_active"])
    assert who_is_on_call([schedule.id], NOW) == {schedule.id: []}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "time_zone": "Not/AZone"}, "time_zone"),
        ({"name": "ok", "description": "\ud800"}, "description"),
        ({"name": "  "}, "name"),
    ],
)
def test_schedule_validation(estate, kwargs, field):
    with pytest.raises(ValidationError) as err:
        services.create_schedule(estate.tenant, actor=estate.user("admin"), **kwargs)
    assert field in err.value.message_dict


def test_layer_limit(estate):
    admin = estate.user("admin")
    schedule = make_schedule(estate.tenant)
    for i in range(services.MAX_LAYERS):
        services.create_rotation_layer(
            schedule,
            actor=admin,
            name=f"l{i}",
            rotation_start=datetime(2026, 6, 1),
            member_ids=[admin.id],
        )
    with pytest.raises(ValidationError):
        services.create_rotation_layer(
            schedule,
            actor=admin,
            name="one more",
            rotation_start=datetime(2026, 6, 1),
            member_ids=[admin.id],
        )


def test_audit_details_carry_ids_only(estate):
    admin = estate.user("admin")
    schedule = services.create_schedule(
        estate.tenant, actor=admin, name="Alice's private schedule", description="call 555-1234"
    )
    services.create_override(
        schedule,
        actor=admin,
        user_id=estate.user("operator").id,
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=2),
        reason="Bob is at the dentist",
    )
    services.update_schedule(schedule, actor=admin, name="Renamed")
    services.delete_schedule(schedule, actor=admin)
    details = [
        str(d)
        for d in AuditLog.objects.filter(action=Action.CONFIG_CHANGE).values_list(
            "details", flat=True
        )
    ]
    text = " ".join(details)
    for secret in ("Alice", "555", "dentist", "Renamed", "Operator", "example.com"):
        assert secret not in text
    assert any("schedule.delete" in d for d in details)
