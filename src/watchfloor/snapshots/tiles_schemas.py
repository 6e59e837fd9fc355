"""The overview's field tiles (`GET /api/v1/overview/field`): the query and the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import field_validator

from watchfloor.snapshots.schemas import SnapshotQuery


class FieldTilesQuery(SnapshotQuery):
    """The overview's filters and its time range: the trends cover the last hour for no range
    or `1h`, the last 7 days for a longer range."""

    range: Literal["", "1h", "6h", "24h", "7d", "30d"] = ""

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, v):
        return "" if v is None else str(v).strip().lower()


class ByPriority(Schema):
    P1: int
    P2: int
    P3: int
    P4: int


class TicketsTile(Schema):
    open: int
    overdue: int = Field(description="open tickets past their SLA due time")
    open_by_priority: ByPriority


class SlaTile(Schema):
    breaches: int = Field(description="open tickets past their SLA due time (SLA_BREACH)")
    by_priority: ByPriority


class AttendanceTile(Schema):
    expected: int
    present: int
    late: int
    missing: int
    present_percent: float | None = Field(description="present of expected; null: none expected")


class WorkOrdersTile(Schema):
    open: int
    overdue: int


class DevicesTile(Schema):
    total: int
    offline: int
    online_percent: float | None = Field(description="null: no device")


class Figures(Schema):
    tickets: TicketsTile
    sla: SlaTile
    attendance: AttendanceTile
    work_orders: WorkOrdersTile
    devices: DevicesTile


class Trends(Schema):
    tickets: list[float | None] = Field(description="open tickets")
    sla: list[float | None] = Field(description="tickets past their SLA")
    attendance: list[float | None] = Field(description="present share of expected, percent")
    work_orders: list[float | None] = Field(description="overdue work orders")
    devices: list[float | None] = Field(description="offline devices")


class FieldTilesOut(Schema):
    window_end: datetime | None = Field(description="the newest snapshot; null: none in a day")
    figures: Figures | None = Field(description="null: no snapshot in the last day")
    range: Literal["1h", "7d"]
    step_seconds: int
    points: list[datetime] = Field(description="each trend point's time (window end or hour)")
    trends: Trends
