"""Attendance and device availability answers (`/api/v1/reports/attendance`, `/devices`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from watchfloor.reports.schemas import RangeOut


class AttendanceFigures(BaseModel):
    snapshots: int = Field(description="5-minute snapshots in the range")
    expected_mean: float | None = Field(description="guards expected, mean per snapshot")
    present_mean: float | None
    late_mean: float | None
    missing_mean: float | None
    present_percent: float | None = Field(description="Σ present / Σ expected; null: none")
    late_percent: float | None
    missing_percent: float | None


class AttendanceClient(AttendanceFigures):
    client: str
    client_name: str


class AttendanceSite(AttendanceFigures):
    site: str
    site_name: str
    client: str
    city: str
    state: str


class AttendanceDay(AttendanceFigures):
    day: str = Field(description="UTC date")


class AttendanceOut(BaseModel):
    range: RangeOut
    overall: AttendanceFigures
    by_client: list[AttendanceClient]
    lowest_sites: list[AttendanceSite] = Field(description="the 50 lowest present shares")
    daily: list[AttendanceDay]


class DeviceFigures(BaseModel):
    snapshots: int = Field(description="5-minute snapshots in the range")
    total_mean: float | None = Field(description="devices, mean per snapshot")
    offline_mean: float | None
    online_percent: float | None = Field(description="1 − Σ offline / Σ total; null: none")


class DeviceClient(DeviceFigures):
    client: str
    client_name: str


class DeviceSite(DeviceFigures):
    site: str
    site_name: str
    client: str
    city: str
    state: str


class DeviceDay(DeviceFigures):
    day: str = Field(description="UTC date")


class DevicesOut(BaseModel):
    range: RangeOut
    overall: DeviceFigures
    by_client: list[DeviceClient]
    lowest_sites: list[DeviceSite] = Field(description="the 50 lowest online shares")
    daily: list[DeviceDay]
