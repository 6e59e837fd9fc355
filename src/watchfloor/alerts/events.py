"""The normalised event every integration parses its payload into, and the batch error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from watchfloor.alerts.models import Severity


class EventAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(slots=True)
class Event:
    """One alert event, source-independent.

    `fingerprint` is the source's own identity for the alert (an explicit dedup key, or
    Alertmanager's label-set fingerprint); when empty the pipeline derives one from type, site,
    entity type and entity id. `client_code`/`site_code` come from labels; empty means the
    integration key's defaults.
    """

    action: EventAction
    type: str
    severity: Severity = Severity.MEDIUM
    title: str = ""
    description: str = ""
    fingerprint: str = ""
    client_code: str = ""
    site_code: str = ""
    entity_type: str = ""
    entity_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source_url: str = ""
    runbook_url: str = ""
    occurred_at: datetime | None = None
    # a trigger's content hash when the parser already knows it (an alert it remembers,
    # alerts.integrations.alertmanager); None means "compute it" (fingerprints.content_hash)
    digest: str | None = field(default=None, repr=False, compare=False)
    # its 15 fields above as staged (alerts.staging.encode_fields), for such an event too
    staged: bytes | None = field(default=None, repr=False, compare=False)


class BatchInvalid(Exception):
    """A batch failed validation; `fields` maps `<index>.<field>` (or `body`) to the problem.

    Raised before anything is stored; the API answers 422 with these fields.
    """

    def __init__(
        self, fields: dict[str, str], message: str = "The batch is not valid; nothing was stored."
    ):
        super().__init__(message)
        self.fields = fields
        self.message = message


# Monitoring severities (Prometheus conventions, PagerDuty's four) and Watchfloor's own names.
_SEVERITY_NAMES = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "major": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "minor": Severity.LOW,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "none": Severity.INFO,
}


def parse_severity(value: object) -> Severity | None:
    """Severity for a label value (case-insensitive), or None when it names none."""
    if not isinstance(value, str):
        return None
    return _SEVERITY_NAMES.get(value.strip().lower())
