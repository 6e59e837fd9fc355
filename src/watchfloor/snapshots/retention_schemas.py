"""The retention policy in the API: periods in days, each bounded (snapshots.models.KINDS)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from watchfloor.api.schemas import BoundedInt, StrictIn
from watchfloor.snapshots.models import KIND_BY_FIELD


def _days(field: str):
    kind = KIND_BY_FIELD[field]
    return BoundedInt(kind.minimum, kind.maximum) | None


class RetentionIn(StrictIn):
    """Periods in days; fields left out stay as they are. Audit must be at least every other
    period (it is kept longest)."""

    resolved_alerts_days: _days("resolved_alerts_days") = None  # type: ignore[valid-type]
    closed_incidents_days: _days("closed_incidents_days") = None  # type: ignore[valid-type]
    deliveries_days: _days("deliveries_days") = None  # type: ignore[valid-type]
    feed_records_days: _days("feed_records_days") = None  # type: ignore[valid-type]
    snapshots_days: _days("snapshots_days") = None  # type: ignore[valid-type]
    audit_days: _days("audit_days") = None  # type: ignore[valid-type]


class KindOut(Schema):
    field: str
    label: str
    days: int
    default: int
    minimum: int
    maximum: int


class RetentionOut(Schema):
    resolved_alerts_days: int
    closed_incidents_days: int
    deliveries_days: int
    feed_records_days: int
    snapshots_days: int
    audit_days: int
    kinds: list[KindOut]
    updated_at: datetime | None
