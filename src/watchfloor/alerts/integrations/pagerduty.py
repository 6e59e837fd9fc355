"""PagerDuty Events API v2 (`POST /v2/enqueue`): one event per request → one `Event`.

- action: `event_action` (trigger, acknowledge, resolve).
- fingerprint: `dedup_key`; a trigger without one gets a generated key, returned in the answer;
  a key longer than 128 characters (the column) is stored as `sha256:<hex>` of itself.
- type: `payload.class`, else `payload.component`, else `pagerduty`.
- severity: `payload.severity`: critical → CRITICAL, error → HIGH, warning → MEDIUM,
  info → INFO.
- title: `payload.summary`, cut to 500 characters (the whole text then goes to the description).
- entity: `payload.source` with entity type `source`.
- client/site codes: `payload.custom_details.client` / `.site`, else the key's defaults.
- labels: `source`, `component`, `group`, `class` of the payload.
- annotations: `payload.custom_details` (non-string values as JSON), `links`, `images`.
- source_url: `client_url`; runbook_url: `payload.custom_details.runbook_url`.
- occurred_at: `payload.timestamp`.

The top-level `client` is the name of the *monitoring tool* in PagerDuty's format, not a
Watchfloor client; it is kept as the annotation `monitoring_client`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from watchfloor.alerts.events import BatchInvalid, Event, EventAction, parse_severity
from watchfloor.alerts.integrations.native import (
    MAX_ENTITY_ID,
    MAX_FINGERPRINT,
    MAX_TITLE,
    MAX_TYPE,
    Problems,
    clip,
    is_http_url,
    parse_time,
)
from watchfloor.alerts.models import Severity

MAX_DEDUP_KEY = 255  # PagerDuty's own limit
MAX_SUMMARY = 1024  # PagerDuty's own limit
SEVERITIES = ("critical", "error", "warning", "info")
_ACTIONS = {
    "trigger": EventAction.TRIGGER,
    "acknowledge": EventAction.ACKNOWLEDGE,
    "resolve": EventAction.RESOLVE,
}
DEFAULT_TYPE = "pagerduty"


@dataclass(slots=True)
class PagerDutyEvent:
    """A parsed enqueue request: the event, and the dedup key to answer with."""

    event: Event
    dedup_key: str


def routing_key_of(data: object) -> str:
    """The `routing_key` of a request body ("" when absent): it is the integration key."""
    if isinstance(data, dict) and isinstance(data.get("routing_key"), str):
        return data["routing_key"].strip()
    return ""


def fingerprint_for(dedup_key: str) -> str:
    """The alert fingerprint for a dedup key: itself, or its SHA-256 when too long to store."""
    if len(dedup_key) <= MAX_FINGERPRINT:
        return dedup_key
    return "sha256:" + hashlib.sha256(dedup_key.encode()).hexdigest()


def parse_enqueue(data: object) -> PagerDutyEvent:
    """The event of an Events API v2 request; BatchInvalid names fields like `payload.summary`."""
    if not isinstance(data, dict):
        raise BatchInvalid({"body": "Expected an event object."})
    problems = Problems()

    raw_action = data.get("event_action")
    action = _ACTIONS.get(raw_action) if isinstance(raw_action, str) else None
    if raw_action is None:
        problems.add("event_action", "This field is required.")
    elif action is None:
        problems.add("event_action", "Must be one of trigger, acknowledge, resolve.")

    dedup_key = data.get("dedup_key")
    if dedup_key is None or dedup_key == "":
        dedup_key = ""
        if action in (EventAction.ACKNOWLEDGE, EventAction.RESOLVE):
            problems.add("dedup_key", f"This field is required to {raw_action}.")
    elif not isinstance(dedup_key, str):
        problems.add("dedup_key", "Must be a string.")
        dedup_key = ""
    elif len(dedup_key) > MAX_DEDUP_KEY:
        problems.add("dedup_key", f"At most {MAX_DEDUP_KEY} characters.")

    if action == EventAction.TRIGGER:
        event = _trigger(data, problems)
    else:
        event = Event(action=action or EventAction.TRIGGER, type=DEFAULT_TYPE)
    problems.raise_if_any()

    if not dedup_key:
        dedup_key = uuid.uuid4().hex
    event.fingerprint = fingerprint_for(dedup_key)
    return PagerDutyEvent(event=event, dedup_key=dedup_key)


def _string(payload: dict, name: str, problems: Problems, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(f"payload.{name}", "This field is required.")
        return ""
    if not isinstance(value, str):
        problems.add(f"payload.{name}", "Must be a string.")
        return ""
    return value.strip()


def _trigger(data: dict, problems: Problems) -> Event:
    payload = data.get("payload")
    if not isinstance(payload, dict):
        problems.add("payload", "This field is required and must be an object.")
        return Event(action=EventAction.TRIGGER, type=DEFAULT_TYPE)

    summary = _string(payload, "summary", problems, required=True)
    if len(summary) > MAX_SUMMARY:
        problems.add("payload.summary", f"At most {MAX_SUMMARY} characters.")
    source = _string(payload, "source", problems, required=True)
    raw_severity = payload.get("severity")
    severity = parse_severity(raw_severity) if raw_severity in SEVERITIES else None
    if raw_severity is None:
        problems.add("payload.severity", "This field is required.")
    elif severity is None:
        problems.add("payload.severity", "Must be one of critical, error, warning, info.")
    component = _string(payload, "component", problems)
    group = _string(payload, "group", problems)
    class_ = _string(payload, "class", problems)
    try:
        occurred_at = parse_time(payload.get("timestamp"))
    except ValueError as exc:
        problems.add("payload.timestamp", str(exc))
        occurred_at = None

    details = payload.get("custom_details")
    annotations = _flatten(details) if details is not None else {}
    codes = details if isinstance(details, dict) else {}
    for name in ("links", "images"):
        value = data.get(name)
        if value is not None:
            if not isinstance(value, list):
                problems.add(name, "Must be a list.")
            elif value:
                annotations[name] = json.dumps(value, separators=(",", ":"))
    monitoring_client = data.get("client")
    if isinstance(monitoring_client, str) and monitoring_client:
        annotations["monitoring_client"] = monitoring_client
    client_url = data.get("client_url")
    runbook = codes.get("runbook_url")

    labels = {
        name: value
        for name, value in (
            ("source", source),
            ("component", component),
            ("group", group),
            ("class", class_),
        )
        if value
    }
    return Event(
        action=EventAction.TRIGGER,
        type=clip(class_ or component, MAX_TYPE) or DEFAULT_TYPE,
        severity=severity or Severity.MEDIUM,  # PagerDuty's "warning"
        title=clip(summary, MAX_TITLE),
        description=summary if len(summary) > MAX_TITLE else "",
        client_code=_code(codes.get("client")),
        site_code=_code(codes.get("site")),
        entity_type="source" if source else "",
        entity_id=clip(source, MAX_ENTITY_ID),
        labels=labels,
        annotations=annotations,
        source_url=str(client_url) if is_http_url(client_url) else "",
        runbook_url=str(runbook) if is_http_url(runbook) else "",
        occurred_at=occurred_at,
    )


def _code(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _flatten(details: object) -> dict[str, str]:
    """custom_details as string annotations: strings as they are, anything else as JSON."""
    if not isinstance(details, dict):
        return {"custom_details": json.dumps(details, separators=(",", ":"), default=str)}
    return {
        str(name): value
        if isinstance(value, str)
        else json.dumps(value, separators=(",", ":"), default=str)
        for name, value in details.items()
    }
