"""Writes of the reports app: the audit entry of an export (a report reads, it never changes
data). The entry names the range and the filters, never free text as typed: a city or a state
is masked like any free text, so no personal data reaches the audit log."""

from __future__ import annotations

from watchfloor.access.masking import mask_text
from watchfloor.alerts.overview_queries import OverviewFilters
from watchfloor.audit.models import Action, AuditLog
from watchfloor.audit.services import record
from watchfloor.reports.queries import ReportRange


def record_export(f: OverviewFilters, r: ReportRange, *, actor, fmt: str = "csv") -> AuditLog:
    filters: dict[str, object] = {}
    if f.clients:
        filters["client"] = list(f.clients)
    for name in ("city", "state"):
        if value := getattr(f, name):
            filters[name] = mask_text(value)
    if f.officer is not None:
        filters["officer"] = f.officer
    if f.site:
        filters["site"] = f.site
    return record(
        Action.EXPORT,
        actor=actor,
        entity_type="reports",
        details={
            "what": "reports",
            "format": fmt,
            "since": r.since.isoformat(),
            "until": r.until.isoformat(),
            "preset": r.preset,
            "filters": filters,
        },
    )
