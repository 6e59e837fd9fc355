"""Request and response bodies of the client status updates and status page links API."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from watchfloor.alerts.schemas import ClientRef, PersonRef
from watchfloor.api.schemas import Id, StrictIn, Text
from watchfloor.incidents.models import UpdatePhase


class StatusUpdateIn(StrictIn):
    phase: UpdatePhase
    body: Text(2000, min_length=1)


class StatusUpdateItem(Schema):
    id: int
    phase: UpdatePhase
    body: str
    posted_at: datetime
    posted_by: PersonRef | None


class StatusLinkIn(StrictIn):
    client_id: Id
    label: Text(100) = ""


class StatusLinkOut(Schema):
    id: int
    client: ClientRef
    label: str
    prefix: str
    created_at: datetime
    created_by: PersonRef | None
    revoked_at: datetime | None


class StatusLinkCreatedOut(StatusLinkOut):
    url: str  # the page's address with its token: shown this once, never again
