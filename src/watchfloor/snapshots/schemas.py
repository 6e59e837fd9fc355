from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator

from watchfloor.api.schemas import QueryIn
from watchfloor.snapshots.models import MEASURES
from watchfloor.snapshots.queries import SnapshotFilters

Measure = Literal[MEASURES]


def _blank_is_none(value):
    return None if value in ("", None) else value


def _split(values: list[str]) -> list[str]:
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


class SnapshotQuery(QueryIn):
    """The overview's filters: client codes (repeat or comma-separate), city, state (either
    case), officer in charge (user id), one site code."""

    client: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list)
    city: Annotated[str, Field(max_length=100)] = ""
    state: Annotated[str, Field(max_length=100)] = ""
    officer: Annotated[int | None, BeforeValidator(_blank_is_none), Field(ge=1, le=2**63 - 1)] = (
        None
    )
    site: Annotated[str, Field(max_length=50)] = ""

    def filters(self) -> SnapshotFilters:
        return SnapshotFilters(
            clients=tuple(_split(self.client)),
            city=self.city.strip(),
            state=self.state.strip(),
            officer=self.officer,
            site=self.site.strip(),
        )


class LatestQuery(SnapshotQuery):
    level: Literal["client", "site"] = "client"


class SeriesQuery(SnapshotQuery):
    measure: Measure
    range: Literal["1h", "7d"] = "1h"


class Measures(Schema):
    tickets_open_p1: int
    tickets_open_p2: int
    tickets_open_p3: int
    tickets_open_p4: int
    tickets_overdue_p1: int
    tickets_overdue_p2: int
    tickets_overdue_p3: int
    tickets_overdue_p4: int
    work_orders_open: int
    work_orders_overdue: int
    work_orders_pending: int
    work_orders_scheduled: int
    work_orders_in_progress: int
    work_orders_on_hold: int
    attendance_expected: int
    attendance_present: int
    attendance_late: int
    attendance_missing: int
    devices_total: int
    devices_offline: int
    devices_synced: int
    geofence_events: int
    geofence_breaches: int
    security_anomalies: int
    alerts_open_critical: int
    alerts_open_high: int
    alerts_open_medium: int
    alerts_open_low: int
    alerts_open_info: int
    sync_health: int | None = Field(description="percent of devices synced recently; null: none")


class Ref(Schema):
    id: int
    code: str
    name: str


class LatestRow(Schema):
    client: Ref
    site: Ref | None
    city: str
    state: str
    officer_in_charge_id: int | None
    measures: Measures
    health_score: int | None = Field(description="0–100, on client rows (docs/architecture.md)")


class LatestOut(Schema):
    window_end: datetime | None = Field(description="null: no snapshot in the last day")
    level: Literal["client", "site"]
    items: list[LatestRow]


class PointOut(Schema):
    at: datetime
    value: float | None


class SeriesOut(Schema):
    measure: str
    range: str
    step_seconds: int
    points: list[PointOut]


class HealthOut(Schema):
    client: Ref
    window_end: datetime
    score: int
    sync_health: int | None


class HealthListOut(Schema):
    items: list[HealthOut]
