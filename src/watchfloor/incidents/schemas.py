"""Incident API schemas: list filters, action bodies, the policy, and the output shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from watchfloor.alerts.models import Severity
from watchfloor.alerts.schemas import AlertOut, ClientRef, Out, PersonRef, SiteRef, csv_values
from watchfloor.api.schemas import (
    BoundedInt,
    Id,
    IdList,
    QueryIn,
    StrictIn,
    Text,
    UtcDatetime,
    id_list,
)
from watchfloor.incidents import services
from watchfloor.incidents.models import IncidentStatus, ReopenRule, UpdatePhase
from watchfloor.incidents.queries import SLA_STATES, IncidentFilters

Minutes = BoundedInt(services.MINUTES_MIN, services.MINUTES_MAX)
NoteText = Text(services.NOTE_MAX, min_length=1)
AlertIds = list[Id]


class IncidentListQuery(QueryIn):
    """Comma-separated lists where a field takes several values (`status=NEW,ACKNOWLEDGED`)."""

    cursor: Text(2000) | None = None
    limit: BoundedInt() | None = None
    status: Text(200) | None = None
    severity: Text(200) | None = None
    client: IdList | None = None
    site: IdList | None = None
    sla: Text(50) | None = None
    opened_since: UtcDatetime | None = None
    opened_until: UtcDatetime | None = None
    open: bool | None = None
    q: Text(200) | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, v):
        csv_values(v, set(IncidentStatus.values))
        return v

    @field_validator("severity")
    @classmethod
    def _severity(cls, v):
        csv_values(v, set(Severity.values))
        return v

    @field_validator("sla")
    @classmethod
    def _sla(cls, v):
        csv_values(v, set(SLA_STATES), upper=False)
        return v

    def to_filters(self) -> IncidentFilters:
        return IncidentFilters(
            status=csv_values(self.status),
            severity=csv_values(self.severity),
            client=id_list(self.client),
            site=id_list(self.site),
            sla=csv_values(self.sla, upper=False),
            opened_since=self.opened_since,
            opened_until=self.opened_until,
            open=self.open,
            q=self.q or "",
        )


# --- bodies -----------------------------------------------------------------------------------


class IncidentCreateIn(StrictIn):
    alert_ids: AlertIds = Field(min_length=1, max_length=services.ALERTS_MAX)
    title: Text(services.TITLE_MAX) = ""


class AssignIn(StrictIn):
    commander_id: Id | None = None
    responder_ids: list[Id] = Field(default_factory=list, max_length=services.RESPONDERS_MAX)
    remove_responder_ids: list[Id] = Field(default_factory=list, max_length=services.RESPONDERS_MAX)


class ResolveIn(StrictIn):
    note: Text(2000, min_length=1)


class ReopenIn(StrictIn):
    reason: NoteText


class NoteIn(StrictIn):
    body: NoteText


class MergeIn(StrictIn):
    into_id: Id


class AlertsIn(StrictIn):
    alert_ids: AlertIds = Field(min_length=1, max_length=services.ALERTS_MAX)
    reason: Text(200) = ""


class MoveIn(StrictIn):
    target_id: Id


class EditIn(StrictIn):
    """Fields left out stay as they are."""

    title: Text(services.TITLE_MAX, min_length=1) | None = None
    summary: Text(services.SUMMARY_MAX) | None = None
    runbook_url: Text(services.URL_MAX) | None = None
    external_ref: Text(services.EXTERNAL_REF_MAX) | None = None


class SlaTargetIn(StrictIn):
    acknowledge: Minutes
    resolve: Minutes


class PolicyIn(StrictIn):
    """Fields left out stay as they are; `sla_minutes` may name some severities only."""

    open_on_critical: bool | None = None
    group_threshold: BoundedInt(0, services.THRESHOLD_MAX) | None = None
    excluded_types: list[Text(services.TYPE_MAX, min_length=1)] | None = Field(
        default=None, max_length=services.EXCLUDED_TYPES_MAX
    )
    sla_minutes: dict[Severity, SlaTargetIn] | None = None
    reopen_rule: Literal["never", "within"] | None = None
    reopen_within_minutes: Minutes | None = None


# --- answers ----------------------------------------------------------------------------------


class SlaOut(Out):
    state: Literal["ok", "at_risk", "breached"]
    acknowledge: Literal["ok", "at_risk", "breached"]
    resolve: Literal["ok", "at_risk", "breached"]
    acknowledge_due_at: datetime | None
    resolve_due_at: datetime | None


class IncidentOut(Out):
    id: int
    title: str
    severity: str
    status: str
    origin: str
    client: ClientRef | None
    site: SiteRef | None
    commander: PersonRef | None
    alert_count: int
    sla: SlaOut
    correlation_id: uuid.UUID | None
    external_ref: str
    merged_into_id: int | None
    reopen_count: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class IncidentPage(Out):
    items: list[IncidentOut]
    next_cursor: str | None
    prev_cursor: str | None = None


class TimelineOut(Out):
    id: int
    at: datetime
    kind: str
    actor: PersonRef | None
    body: str
    details: dict


class ResponderOut(Out):
    user: PersonRef
    added_at: datetime


class StatusUpdateOut(Out):
    id: int
    phase: UpdatePhase
    body: str
    posted_at: datetime
    posted_by: PersonRef | None


class IncidentDetailOut(IncidentOut):
    summary: str
    runbook_url: str
    resolution_note: str
    opened_by: PersonRef | None
    acknowledged_by: PersonRef | None
    resolved_by: PersonRef | None
    closed_by: PersonRef | None
    ack_breached_at: datetime | None
    resolve_breached_at: datetime | None
    alerts: list[AlertOut]
    responders: list[ResponderOut]
    timeline: list[TimelineOut]
    status_updates: list[StatusUpdateOut]


class JoinedOut(Out):
    joined: list[int]  # the alert ids that joined
    skipped: list[int]  # already in an open incident (or this one)
    incident: IncidentDetailOut


class AssigneeOut(Out):
    id: int
    name: str


class AssigneesOut(Out):
    incident_id: int
    assignees: list[AssigneeOut]


class SlaTargetOut(Out):
    acknowledge: int
    resolve: int


class PolicyOut(Out):
    open_on_critical: bool
    group_threshold: int
    excluded_types: list[str]
    sla_minutes: dict[str, SlaTargetOut]
    reopen_rule: ReopenRule
    reopen_within_minutes: int
    updated_at: datetime
    updated_by: PersonRef | None
