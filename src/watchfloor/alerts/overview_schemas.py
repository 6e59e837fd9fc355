"""Overview API schemas: the filters (query string) and the answer shapes.

Answer models allow extra keys: a feed row is `alerts.broadcast.alert_payload` plus names, and
keys added there must reach the page unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from watchfloor.alerts.models import Status
from watchfloor.alerts.overview_queries import (
    FEED_DEFAULT_LIMIT,
    FEED_DEFAULT_ORDER,
    FEED_MAX_LIMIT,
    OverviewFilters,
)
from watchfloor.api.schemas import QueryIn


def _blank_is_none(value):
    """An empty parameter (`officer=` in a page URL) is no filter."""
    return None if isinstance(value, str) and not value.strip() else value


def _split(values) -> list[str]:
    """Repeatable parameters, each also allowed to hold a comma-separated list."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [v.strip() for value in values for v in str(value).split(",") if v.strip()]


Text = Annotated[str, Field(max_length=100)]


class OverviewQuery(QueryIn):
    client: list[Text] = Field(default_factory=list)
    city: Text = ""
    state: Text = ""
    officer: Annotated[int | None, BeforeValidator(_blank_is_none)] = None
    site: Text = ""
    range: Literal["", "1h", "6h", "24h", "7d", "30d"] = ""

    @field_validator("city", "state", "site", mode="before")
    @classmethod
    def _text(cls, v):
        return "" if v is None else str(v).strip()

    @field_validator("range", mode="before")
    @classmethod
    def _range(cls, v):
        return "" if v is None else str(v).strip().lower()

    def filters(self) -> OverviewFilters:
        return OverviewFilters(
            clients=tuple(_split(self.client)),
            city=self.city,
            state=self.state,
            officer=self.officer,
            site=self.site,
            range=self.range,
        )


class FeedQuery(OverviewQuery):
    limit: int = Field(FEED_DEFAULT_LIMIT, ge=1, le=FEED_MAX_LIMIT)
    status: list[str] = Field(default_factory=list)
    sort: Literal["severity", "-last_seen", "-first_seen"] = FEED_DEFAULT_ORDER

    @field_validator("sort", mode="before")
    @classmethod
    def _sort(cls, v):
        return FEED_DEFAULT_ORDER if v is None or not str(v).strip() else str(v).strip()

    @field_validator("status")
    @classmethod
    def _status(cls, v):
        values = [s.upper() for s in _split(v)]
        allowed = {s.value for s in Status}
        unknown = [s for s in values if s not in allowed]
        if unknown:
            raise ValueError(f"Unknown status {unknown[0]!r}; use {', '.join(sorted(allowed))}")
        return values


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class SeverityCounts(Out):
    CRITICAL: int
    HIGH: int
    MEDIUM: int
    LOW: int
    INFO: int


class OpenCounts(Out):
    total: int
    by_severity: SeverityCounts


class KpisOut(Out):
    open: OpenCounts
    unacknowledged_overdue: int
    suppressed_maintenance: int
    sites_with_critical: int
    mtta_today_seconds: float | None
    mttr_today_seconds: float | None
    acknowledged_today: int
    resolved_today: int
    generated_at: str


class SiteHealthOut(Out):
    id: int
    code: str
    name: str
    client_code: str
    client_name: str
    city: str
    state: str
    lat: float | None
    lon: float | None
    officer: str | None
    worst: str | None
    open: int
    critical: int


class ClientHealthOut(Out):
    code: str
    name: str
    sites: int
    open: int
    worst: str | None
    by_severity: SeverityCounts


class SitesOut(Out):
    sites: list[SiteHealthOut]
    clients: list[ClientHealthOut]
    generated_at: str


class FeedRowOut(Out):
    """alert_payload(alert) (documented in docs/api.md, "Real-time events") plus these."""

    id: int
    client_code: str | None
    client_name: str | None
    site_code: str | None
    site_name: str | None
    city: str | None
    state: str | None
    assignee_name: str | None


class FeedOut(Out):
    alerts: list[FeedRowOut]
    total: int = Field(description="alerts matching the filters, shown or not")
