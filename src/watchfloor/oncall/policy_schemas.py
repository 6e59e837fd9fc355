"""Request and response shapes of the escalation policy API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from watchfloor.api.schemas import StrictIn

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
TargetKindName = Literal["schedule", "officer", "client_owner", "user", "channel"]
MAX_ID = 2**63 - 1


class TargetIn(StrictIn):
    kind: TargetKindName
    id: int | None = Field(default=None, ge=1, le=MAX_ID)


class StepIn(StrictIn):
    delay_minutes: int = Field(ge=0, le=7 * 24 * 60)
    severities: list[Severity] = Field(default_factory=list, max_length=5)
    targets: list[TargetIn] = Field(min_length=1, max_length=10)


class PolicyIn(StrictIn):
    name: str = Field(min_length=1, max_length=100)
    client_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    is_default: bool = False
    steps: list[StepIn] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=10)
    notify_after_minutes: int = Field(default=0, ge=0, le=1440)


class PolicyPatch(StrictIn):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=20)
    repeat: int | None = Field(default=None, ge=0, le=10)
    notify_after_minutes: int | None = Field(default=None, ge=0, le=1440)


class TargetOut(Schema):
    kind: str
    id: int | None = None
    label: str


class StepOut(Schema):
    delay_minutes: int
    severities: list[str]
    targets: list[TargetOut]


class VersionOut(Schema):
    number: int
    created_at: datetime
    created_by: dict | None


class PolicyOut(Schema):
    id: int
    name: str
    is_default: bool
    client: dict | None
    version: int
    steps: list[StepOut]
    repeat: int
    notify_after_minutes: int
    updated_at: datetime
    versions: list[VersionOut]


class PolicyList(Schema):
    items: list[PolicyOut]


class ChainStepOut(Schema):
    index: int
    round: int
    delay_minutes: float
    targets: list[TargetOut]
    taken: bool


class AlertEscalationOut(Schema):
    alert_id: int
    policy: dict | None
    version: int | None
    state: str
    stop_reason: str
    next_step: int
    next_at: datetime | None
    steps: list[ChainStepOut]
