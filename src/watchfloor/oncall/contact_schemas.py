"""Request and response bodies of the contact-method, rule, team-channel and delivery API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import Field

from watchfloor.api.schemas import Id, QueryIn, StrictIn, Text
from watchfloor.oncall.models import DeliveryKind, DeliveryStatus, Medium
from watchfloor.tenancy.schemas import PersonOut

Label = Text(100, min_length=1)
Address = Text(1000, min_length=1)
Code = Text(20, min_length=1)
Delay = Annotated[int, Field(ge=0, le=1440)]


class ContactMethodIn(StrictIn):
    medium: Medium
    label: Label
    address: Address


class CodeIn(StrictIn):
    code: Code


class SentOut(Schema):
    """What a code or test message did: the delivery written for it."""

    delivery_id: int
    status: DeliveryStatus
    error: str


class ContactMethodOut(Schema):
    id: int
    medium: Medium
    label: str
    address: str  # an email in full, an apprise URL with its secrets cut
    verified: bool
    verified_at: datetime | None
    code_sent_at: datetime | None
    # on creation only: how sending the first code went
    code_delivery: SentOut | None = None


class RuleIn(StrictIn):
    contact_method_id: Id
    delay_minutes: Delay


class RuleOut(Schema):
    id: int
    contact_method_id: int
    contact_method_label: str
    medium: Medium
    verified: bool
    delay_minutes: int


class ChannelIn(StrictIn):
    name: Label
    medium: Medium
    address: Address


class ChannelPatch(StrictIn):
    name: Label | None = None
    address: Address | None = None
    active: bool | None = None


class ChannelOut(Schema):
    id: int
    name: str
    medium: Medium
    address: str
    verified: bool
    verified_at: datetime | None
    active: bool
    created_at: datetime


class MethodRef(Schema):
    id: int
    label: str


class ChannelRef(Schema):
    id: int
    name: str


class DeliveryOut(Schema):
    id: int
    kind: DeliveryKind
    alert_id: int | None
    step: int | None
    status: DeliveryStatus
    medium: str
    recipient: PersonOut | None
    contact_method: MethodRef | None
    channel: ChannelRef | None
    attempts: int
    due_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    latency_ms: float | None
    error: str
    created_at: datetime


class DeliveryPage(Schema):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    alert: Id | None = None
    status: DeliveryStatus | None = None
    recipient: Id | None = None
