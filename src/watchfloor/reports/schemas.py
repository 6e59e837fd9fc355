"""Reports API schemas: the query string (the overview's filters plus a date range) and the
answer shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from watchfloor.alerts.overview_schemas import OverviewQuery
from watchfloor.api.schemas import UtcDatetime
from watchfloor.reports.queries import ReportRange


class ReportQuery(OverviewQuery):
    """`range` is a preset ending now (24h, 7d, 30d; 7d when nothing is given); `since` (and
    optionally `until`, default now) give a custom range instead: since < until, at most 366
    days, within 1970–3000. Filters as on the overview: `client` codes (outside your scope they
    match nothing), `city`, `state`, `officer` (user id), `site` code."""

    range: Literal["", "24h", "7d", "30d"] = ""
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None

    def report_range(self, now: datetime | None = None) -> ReportRange:
        """Raises `queries.RangeError` naming the parameter at fault."""
        return ReportRange.build(preset=self.range, since=self.since, until=self.until, now=now)


class RangeOut(BaseModel):
    since: datetime
    until: datetime
    preset: str


class MeanOut(BaseModel):
    count: int
    mean_seconds: float | None


class SeverityMeanOut(MeanOut):
    severity: str


class ClientMeanOut(MeanOut):
    client: str


class ResponseTimeOut(BaseModel):
    overall: MeanOut
    by_severity: list[SeverityMeanOut]
    by_client: list[ClientMeanOut]


class ResponseTimesOut(BaseModel):
    range: RangeOut
    mtta: ResponseTimeOut
    mttr: ResponseTimeOut


class TypeCountOut(BaseModel):
    type: str
    alerts: int
    occurrences: int


class TrendSeriesOut(BaseModel):
    type: str
    counts: list[int]


class TrendOut(BaseModel):
    days: list[str]
    total: list[int]
    series: list[TrendSeriesOut]


class FrequencyOut(BaseModel):
    range: RangeOut
    by_type: list[TypeCountOut]
    trend: TrendOut


class SlaCountsOut(BaseModel):
    total: int
    ack_met: int
    ack_breached: int
    ack_pending: int
    resolve_met: int
    resolve_breached: int
    resolve_pending: int
    ack_compliance_percent: float | None
    resolve_compliance_percent: float | None


class SlaSeverityOut(SlaCountsOut):
    severity: str
    ack_target_minutes: int
    resolve_target_minutes: int


class SlaOut(BaseModel):
    range: RangeOut
    targets_source: str
    overall: SlaCountsOut
    by_severity: list[SlaSeverityOut]


class NoisySiteOut(BaseModel):
    site: str
    site_name: str
    client: str
    city: str
    state: str
    officer: str | None
    alerts: int
    occurrences: int
    suppressed_alerts: int
    suppressed_repeats: int
    suppressed: int


class NoisySitesOut(BaseModel):
    range: RangeOut
    sites: list[NoisySiteOut]
