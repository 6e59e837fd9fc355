"""Request and answer shapes of the heartbeat API."""

from __future__ import annotations

from datetime import datetime

from watchfloor.alerts.schemas import ClientRef, Out, SiteRef
from watchfloor.api.schemas import BoundedInt, Id, StrictIn, Text

Seconds = BoundedInt(10, 7 * 24 * 3600)
GraceSeconds = BoundedInt(0, 7 * 24 * 3600)


class HeartbeatIn(StrictIn):
    name: Text(100, min_length=1)
    description: Text(500) = ""
    client: Id
    site: Id | None = None
    period_seconds: Seconds
    grace_seconds: GraceSeconds = 60


class HeartbeatPatch(StrictIn):
    """Fields left out stay as they are; `paused` pauses or resumes."""

    name: Text(100, min_length=1) | None = None
    description: Text(500) | None = None
    site: Id | None = None
    period_seconds: Seconds | None = None
    grace_seconds: GraceSeconds | None = None
    paused: bool | None = None


class HeartbeatOut(Out):
    id: int
    name: str
    description: str
    client: ClientRef
    site: SiteRef | None
    period_seconds: int
    grace_seconds: int
    status: str
    last_seen_at: datetime | None
    late_since: datetime | None
    ping_url: str
