"""Request and response bodies of the client contacts API (#11 §5)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from watchfloor.alerts.schemas import PersonRef
from watchfloor.api.schemas import StrictIn, Text
from watchfloor.oncall.contact_schemas import SentOut
from watchfloor.oncall.models import Medium

ContactName = Text(100, min_length=1)
Address = Text(1000, min_length=1)


class ClientContactIn(StrictIn):
    name: ContactName
    medium: Medium
    address: Address
    subscribed: bool = True


class ClientContactPatch(StrictIn):
    name: ContactName | None = None
    medium: Medium | None = None
    address: Address | None = None
    subscribed: bool | None = None


class ClientContactOut(Schema):
    id: int
    client_id: int
    name: str  # masked without noc:view_pii
    medium: Medium
    address: str  # secrets cut always; masked without noc:view_pii
    subscribed: bool
    verified: bool
    verified_at: datetime | None
    created_at: datetime
    created_by: PersonRef | None


class ClientContactCreatedOut(ClientContactOut):
    code_delivery: SentOut
