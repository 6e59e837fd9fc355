"""Request and answer shapes of the operations policy API."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from watchfloor.alerts.schemas import Out, PersonRef
from watchfloor.api.schemas import BoundedInt, StrictIn, Text
from watchfloor.operations.policy_services import (
    DEVICE_TYPE_MAX,
    SILENCE_MINUTES_MAX,
    SILENCE_TYPES_MAX,
)

Hours = BoundedInt(1, 24 * 365)
Minutes = BoundedInt(1, SILENCE_MINUTES_MAX)
DeviceType = Text(DEVICE_TYPE_MAX, min_length=1)


class OperationsPolicyIn(StrictIn):
    """Fields left out stay as they are."""

    sla_hours_p1: Hours | None = None
    sla_hours_p2: Hours | None = None
    sla_hours_p3: Hours | None = None
    sla_hours_p4: Hours | None = None
    device_silence_minutes: Minutes | None = None
    device_silence_by_type: dict[DeviceType, Minutes] | None = Field(
        default=None, max_length=SILENCE_TYPES_MAX
    )
    attendance_grace_minutes: Minutes | None = None
    max_device_speed_kmh: BoundedInt(1, 5000) | None = None
    sync_health_min_percent: BoundedInt(0, 100) | None = None
    sync_stale_minutes: Minutes | None = None
    anomaly_late_missing_percent: BoundedInt(1, 100) | None = None
    anomaly_window_days: BoundedInt(1, 90) | None = None
    anomaly_min_shifts: BoundedInt(1, 10_000) | None = None


class OperationsPolicyOut(Out):
    sla_hours_p1: int
    sla_hours_p2: int
    sla_hours_p3: int
    sla_hours_p4: int
    device_silence_minutes: int
    device_silence_by_type: dict[str, int]
    attendance_grace_minutes: int
    max_device_speed_kmh: int
    sync_health_min_percent: int
    sync_stale_minutes: int
    anomaly_late_missing_percent: int
    anomaly_window_days: int
    anomaly_min_shifts: int
    updated_at: datetime | None
    updated_by: PersonRef | None
