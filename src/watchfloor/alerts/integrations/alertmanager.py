"""Prometheus Alertmanager: the webhook payload (version 4) and the v2 alerts API shape.

Both carry Prometheus alerts (labels, annotations, startsAt, endsAt, generatorURL) and map the same
way:

| event field       | from                                                                  |
| ----------------- | --------------------------------------------------------------------- |
| type              | label `alertname` (else `alertmanager`)                               |
| severity          | label `severity` (see `alert_severity`), MEDIUM when missing/unknown |
| title             | annotation `summary`, else the alertname                              |
| description       | annotation `description`, else `message`                              |
| runbook_url       | annotation `runbook_url` (an http(s) URL)                             |
| source_url        | `generatorURL` (dropped when not an http(s) URL of ≤ 1000 characters) |
| client/site codes | labels `client` / `site` (else the integration key's defaults)        |
| entity            | label `instance` → entity type `instance`                             |
| occurred_at       | `startsAt`                                                            |
| fingerprint       | the webhook alert's `fingerprint`, else Alertmanager's label-set hash |

Alertmanager is a machine sender that retries or drops whole groups, so these parsers are lenient
about content (an unknown severity is MEDIUM, a long summary is cut) and strict only about shape.
Unknown fields are ignored: newer Alertmanager versions add some.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from watchfloor.alerts.events import BatchInvalid, Event, EventAction, parse_severity
from watchfloor.alerts.fingerprints import content_hash
from watchfloor.alerts.integrations.native import (
    MAX_ENTITY_ID,
    MAX_FINGERPRINT,
    MAX_TITLE,
    MAX_TYPE,
    Problems,
    check_batch_size,
    clip,
    is_http_url,
    parse_time,
    string_map,
)
from watchfloor.alerts.models import Severity
from watchfloor.alerts.staging import encode_fields

# FNV-1a, 64 bit (the hash prometheus/common's model.LabelSet.Fingerprint uses).
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
# 0xff (a byte that never occurs in UTF-8) follows every name and every value.
# The label sets whose fingerprints a process remembers (~300 bytes each: ~10 MB).
FINGERPRINTS_REMEMBERED = 32_768

DEFAULT_TYPE = "alertmanager"
DEFAULT_SEVERITY = Severity.MEDIUM
# Priority-style values some rule sets use instead of a severity name (Opsgenie's P1…P5).
_PRIORITIES = {
    "p1": Severity.CRITICAL,
    "p2": Severity.HIGH,
    "p3": Severity.MEDIUM,
    "p4": Severity.LOW,
    "p5": Severity.INFO,
}


def label_set_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as the 16 lowercase hex digits it shows.

    FNV-1a 64 over the labels sorted by name, each fed as name, 0xff, value, 0xff (UTF-8). The
    empty set hashes to the FNV offset basis.
    """
    return _fingerprint_of_sorted(tuple(sorted(labels.items())))


@lru_cache(maxsize=FINGERPRINTS_REMEMBERED)
def _fingerprint_of_sorted(items: tuple[tuple[str, str], ...]) -> str:
    """The hash of the (name, value) pairs sorted by name, a byte at a time in Python (~10 µs
    for a typical label set): remembered, since Prometheus re-sends every firing alert each
    evaluation interval, so nearly every label set a server sees it has seen before. Keyed by
    the pairs themselves, so a hit can only return that label set's own fingerprint; a hit
    costs the sort and the tuple's hash, not the bytes the hash would be fed (1.0 against
    1.9 µs a 7-label set, timeit)."""
    fed = b"".join(b"%s\xff%s\xff" % (name.encode(), value.encode()) for name, value in items)
    h = _FNV_OFFSET
    for byte in fed:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def alert_severity(value: object) -> Severity:
    """The `severity` label as a Watchfloor severity: a known name, P1…P5, else MEDIUM."""
    parsed = parse_severity(value)
    if parsed is not None:
        return parsed
    if isinstance(value, str):
        return _PRIORITIES.get(value.strip().lower(), DEFAULT_SEVERITY)
    return DEFAULT_SEVERITY


def parse_webhook(data: object) -> list[Event]:
    """Events of an Alertmanager webhook notification (payload version 4).

    Each alert's own `status` decides: `resolved` closes, anything else fires. Locations of
    problems read `alerts.<index>.<field>`.
    """
    if not isinstance(data, dict):
        raise BatchInvalid({"body": "Expected an Alertmanager webhook object."})
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise BatchInvalid({"alerts": "This field is required and must be a list."})
    check_batch_size(len(alerts))
    group_status = data.get("status")
    problems = Problems()
    events = []
    for index, alert in enumerate(alerts):
        where = f"alerts.{index}"
        if not isinstance(alert, dict):
            problems.add(where, "Must be an alert object.")
            continue
        status = alert.get("status", group_status)
        event = _alert_event(alert, where, problems, resolved=status == "resolved")
        if event is not None:
            events.append(event)
    problems.raise_if_any()
    return events


def parse_v2_alerts(data: object, *, now: datetime) -> list[Event]:
    """Events of a `POST /api/v2/alerts` body (what Prometheus sends to an Alertmanager).

    An alert whose `endsAt` is at or before `now` is resolved; a missing or future `endsAt` means
    firing (Prometheus re-sends firing alerts with an `endsAt` a few minutes ahead).
    """
    if not isinstance(data, list):
        raise BatchInvalid({"body": "Expected a list of alerts."})
    check_batch_size(len(data))
    problems = Problems()
    events = []
    for index, alert in enumerate(data):
        where = str(index)
        if not isinstance(alert, dict):
            problems.add(where, "Must be an alert object.")
            continue
        try:
            ends_at = parse_time(alert.get("endsAt"))
        except ValueError as exc:
            problems.add(f"{where}.endsAt", str(exc))
            continue
        resolved = ends_at is not None and ends_at <= now
        event = _alert_event(alert, where, problems, resolved=resolved)
        if event is not None:
            events.append(event)
    problems.raise_if_any()
    return events


# The alerts whose events a process remembers, by what they said (~4 KB each with their
# fingerprints and staged columns, tracemalloc: ~64 MB when full).
EVENTS_REMEMBERED = 16_384


class _NotRemembered(Exception):
    """The alert has a problem: parsed again where its location can be named."""


def _alert_event(alert: dict, where: str, problems: Problems, *, resolved: bool) -> Event | None:
    """The alert's event: the one remembered for an alert that said exactly the same, else
    parsed (and remembered when valid)."""
    labels, annotations = alert.get("labels"), alert.get("annotations")
    if type(labels) is dict and (annotations is None or type(annotations) is dict):
        said = (
            tuple(labels.items()),
            tuple(annotations.items()) if annotations else (),
            alert.get("startsAt"),
            alert.get("generatorURL", ""),
            alert.get("fingerprint"),
            resolved,
        )
        try:
            return _remembered_event(said)
        except (_NotRemembered, TypeError):  # a problem, or a value no key can hold
            pass
    return _parse_alert_event(alert, where, problems, resolved=resolved)


@lru_cache(maxsize=EVENTS_REMEMBERED)
def _remembered_event(said: tuple) -> Event:
    """The event of a valid alert that said `said` (`_alert_event`'s key), with a trigger's
    content hash: Prometheus re-sends every firing alert each evaluation interval with the
    same labels, annotations, startsAt and generatorURL (its endsAt moves, and decides
    `resolved` outside), so a server parses and hashes each alert once instead of at every
    resend. A key only equals another whose values are equal: a valid alert's labels and
    annotations are text, and only text equals text; the other values are read alike when
    equal (1 and True are no URL and no fingerprint either way). The event is shared by every
    request that sent it: nothing changes an Event once parsed."""
    labels, annotations, starts_at, generator, own, resolved = said
    alert = {
        "labels": dict(labels),
        "annotations": dict(annotations),
        "startsAt": starts_at,
        "generatorURL": generator,
        "fingerprint": own,
    }
    problems = Problems()
    event = _parse_alert_event(alert, "", problems, resolved=resolved)
    if event is None:
        raise _NotRemembered
    if event.action == EventAction.TRIGGER:
        event.digest = content_hash(event)
    event.staged = encode_fields(event)
    return event


def _parse_alert_event(
    alert: dict, where: str, problems: Problems, *, resolved: bool
) -> Event | None:
    before = len(problems.fields)
    try:
        labels = string_map(alert.get("labels"), coerce=False)
    except ValueError as exc:
        problems.add(f"{where}.labels", str(exc))
        labels = {}
    else:
        if not labels:
            problems.add(f"{where}.labels", "At least one label is required.")
    try:
        annotations = string_map(alert.get("annotations"), coerce=False)
    except ValueError as exc:
        problems.add(f"{where}.annotations", str(exc))
        annotations = {}
    try:
        starts_at = parse_time(alert.get("startsAt"))
    except ValueError as exc:
        problems.add(f"{where}.startsAt", str(exc))
        starts_at = None
    if len(problems.fields) > before:
        return None

    own = alert.get("fingerprint")
    if isinstance(own, str) and 0 < len(own.strip()) <= MAX_FINGERPRINT:
        fingerprint = own.strip()
    else:
        fingerprint = label_set_fingerprint(labels)

    alertname = labels.get("alertname", "").strip()
    title = annotations.get("summary", "").strip() or alertname or DEFAULT_TYPE
    runbook = annotations.get("runbook_url", "")
    generator = alert.get("generatorURL", "")
    instance = labels.get("instance", "").strip()
    return Event(
        action=EventAction.RESOLVE if resolved else EventAction.TRIGGER,
        type=clip(alertname, MAX_TYPE) or DEFAULT_TYPE,
        severity=alert_severity(labels.get("severity")),
        title=clip(title, MAX_TITLE),
        description=annotations.get("description") or annotations.get("message") or "",
        fingerprint=fingerprint,
        client_code=labels.get("client", "").strip(),
        site_code=labels.get("site", "").strip(),
        entity_type="instance" if instance else "",
        entity_id=clip(instance, MAX_ENTITY_ID),
        labels=labels,
        annotations=annotations,
        source_url=generator if is_http_url(generator) else "",
        runbook_url=runbook if is_http_url(runbook) else "",
        occurred_at=starts_at,
    )
