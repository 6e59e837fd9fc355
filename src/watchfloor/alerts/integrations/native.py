"""Native JSON events: one object or a list of them → `list[Event]`.

Also holds the small field checks the Alertmanager and PagerDuty parsers share (times, string
maps, URLs). Parsers are pure: decoded JSON in, events out; every problem of a batch is collected
by location (`<index>.<field>`) into one `BatchInvalid`, so nothing of a bad batch is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

from watchfloor.alerts.events import BatchInvalid, Event, EventAction, parse_severity
from watchfloor.alerts.models import Severity
from watchfloor.bounds import time_problem

# Column sizes of the Alert model: a value longer than these cannot be stored.
MAX_TYPE = 100
MAX_TITLE = 500
MAX_FINGERPRINT = 128
MAX_ENTITY_TYPE = 50
MAX_ENTITY_ID = 100
MAX_URL = 1000
MAX_CODE = 50


class Problems:
    """What is wrong with a payload, by dotted location; the first problem of a place wins."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, where: str, message: str) -> None:
        self.fields.setdefault(where, message)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise BatchInvalid(self.fields)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 / RFC 3339 time as an aware UTC datetime; naive means UTC.

    Go's zero time (`0001-01-01T00:00:00Z`, what Alertmanager sends as the `endsAt` of a firing
    alert) and empty values mean "no time". Raises ValueError when the value is not a time or
    is outside the API's accepted range (watchfloor.api.schemas.MIN_TIME–MAX_TIME).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("Must be an ISO 8601 time string.")
    return _parse_time_text(value)


@lru_cache(maxsize=1024)
def _parse_time_text(value: str) -> datetime | None:
    """`parse_time` of a string, remembered: the alerts of one rule evaluation share their
    times (Prometheus sends one `endsAt` for all of them). A refusal is not remembered."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("Not an ISO 8601 time.") from None
    if parsed.year <= 1:
        return None
    if problem := time_problem(parsed):
        raise ValueError(problem)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def string_map(value: object, *, coerce: bool = True) -> dict[str, str]:
    """An object of label-like values as `dict[str, str]`.

    With `coerce`, numbers and booleans become strings; nested values and nulls are refused.
    Raises ValueError.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("Must be an object of strings.")
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, str):
            out[name] = item
        elif coerce and isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif coerce and isinstance(item, int | float):
            out[name] = str(item)
        else:
            raise ValueError(f"Must be an object of strings ({name!r} is not a string).")
    return out


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL short enough to store (host names without a dot are fine)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def clip(value: str, limit: int) -> str:
    """Cut a machine-sent text to a column's size, marking the cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def check_batch_size(count: int) -> None:
    if count > settings.ALERT_MAX_BATCH:
        raise BatchInvalid({"body": f"At most {settings.ALERT_MAX_BATCH} events per request."})


# --- native events ------------------------------------------------------------------------------

NATIVE_FIELDS = frozenset(
    {
        "type",
        "severity",
        "title",
        "description",
        "client",
        "site",
        "dedup_key",
        "entity_type",
        "entity_id",
        "labels",
        "annotations",
        "source_url",
        "runbook_url",
        "occurred_at",
        "status",
    }
)
_STATUSES = {"firing": EventAction.TRIGGER, "resolved": EventAction.RESOLVE}


def parse_native(data: object) -> list[Event]:
    """Events of a native request body: one event object or a list of them."""
    if isinstance(data, dict):
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise BatchInvalid({"body": "Send one event object or a list of event objects."})
    check_batch_size(len(items))
    problems = Problems()
    events = []
    for index, item in enumerate(items):
        event = _native_event(item, str(index), problems)
        if event is not None:
            events.append(event)
    problems.raise_if_any()
    return events


def _text(item: dict, name: str, where: str, problems: Problems, *, limit: int | None) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(f"{where}.{name}", "Must be a string.")
        return ""
    value = value.strip()
    if limit is not None and len(value) > limit:
        problems.add(f"{where}.{name}", f"At most {limit} characters.")
    return value


def _native_event(item: object, where: str, problems: Problems) -> Event | None:
    if not isinstance(item, dict):
        problems.add(where, "Must be an event object.")
        return None
    before = len(problems.fields)
    for name in item.keys() - NATIVE_FIELDS:
        problems.add(f"{where}.{name}", "Unknown field.")

    action: EventAction | None = EventAction.TRIGGER
    status = item.get("status")
    if status is not None:
        action = _STATUSES.get(status) if isinstance(status, str) else None
        if action is None:
            problems.add(f"{where}.status", "Must be 'firing' or 'resolved'.")
    firing = action != EventAction.RESOLVE

    type_ = _text(item, "type", where, problems, limit=MAX_TYPE)
    if not type_ and f"{where}.type" not in problems.fields:
        problems.add(f"{where}.type", "This field is required.")

    severity = Severity.MEDIUM
    raw_severity = item.get("severity")
    if raw_severity is None:
        if firing:
            problems.add(f"{where}.severity", "This field is required.")
    else:
        parsed = parse_severity(raw_severity)
        if parsed is None:
            shown = raw_severity if isinstance(raw_severity, str) else str(raw_severity)
            problems.add(f"{where}.severity", f"Unknown severity {shown!r}.")
        else:
            severity = parsed

    title = _text(item, "title", where, problems, limit=MAX_TITLE)
    if firing and not title and f"{where}.title" not in problems.fields:
        problems.add(f"{where}.title", "This field is required.")

    description = _text(item, "description", where, problems, limit=None)
    client = _text(item, "client", where, problems, limit=MAX_CODE)
    site = _text(item, "site", where, problems, limit=MAX_CODE)
    dedup_key = _text(item, "dedup_key", where, problems, limit=MAX_FINGERPRINT)
    entity_type = _text(item, "entity_type", where, problems, limit=MAX_ENTITY_TYPE)
    entity_id_raw = item.get("entity_id")
    if isinstance(entity_id_raw, int) and not isinstance(entity_id_raw, bool):
        item = {**item, "entity_id": str(entity_id_raw)}
    entity_id = _text(item, "entity_id", where, problems, limit=MAX_ENTITY_ID)

    maps = {}
    for name in ("labels", "annotations"):
        try:
            maps[name] = string_map(item.get(name))
        except ValueError as exc:
            problems.add(f"{where}.{name}", str(exc))
            maps[name] = {}

    urls = {}
    for name in ("source_url", "runbook_url"):
        value = item.get(name)
        if value in (None, ""):
            urls[name] = ""
        elif is_http_url(value):
            urls[name] = value
        else:
            problems.add(
                f"{where}.{name}", f"Must be an http(s) URL of at most {MAX_URL} characters."
            )
            urls[name] = ""

    try:
        occurred_at = parse_time(item.get("occurred_at"))
    except ValueError as exc:
        problems.add(f"{where}.occurred_at", str(exc))
        occurred_at = None

    if len(problems.fields) > before or action is None:  # a bad status is one of the problems
        return None
    return Event(
        action=action,
        type=type_,
        severity=severity,
        title=title,
        description=description,
        fingerprint=dedup_key,
        client_code=client,
        site_code=site,
        entity_type=entity_type,
        entity_id=entity_id,
        labels=maps["labels"],
        annotations=maps["annotations"],
        source_url=urls["source_url"],
        runbook_url=urls["runbook_url"],
        occurred_at=occurred_at,
    )
