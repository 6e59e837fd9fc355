"""The feed rules: field records in, alerts out through the ingestion pipeline, and resolved when
the condition clears.

Each rule judges a record (or a site) against its tenant's `OperationsPolicy` and names the
condition with an explicit dedup key, `ops:<kind>:<tenant>:<record id>:<rule>` (a site's rules:
`ops:site:<tenant>:<site id>:<rule>`), so the pipeline keeps one alert per condition: dedup,
maintenance suppression, correlation, escalation and incidents all apply as to any alert.

A condition raises once:
- while its alert is active (any status but RESOLVED), nothing is sent again (no repeat noise);
- an alert a person resolved while the condition still holds is not raised again for the same
  condition (one whose alert was first seen after the condition began, `Verdict.since`);
- an alert the rules resolved (the condition cleared) leaves the way open: the next time the
  condition holds it is a new condition and a new alert.

Two ways in, both set-based (a bounded number of queries per batch of `BATCH` records, never one
per record):
- `run_feed_rules()`, the `operations.feed_rules` job (every minute), over all tenants. Its
  steady run judges only what can have changed since the tenant's last run (`FeedRulesMark`):
  records written since, conditions that began or ended with time in between (a due time, a
  deadline, a silence threshold, a grace period, a shift's end: index range queries), and the
  site rules (grouped queries). A tenant's first run, a changed policy and a daily
  reconciliation are full passes: every record that may hold (a coarse SQL filter) with no
  active alert, then every active rule alert judged again;
- `on_records_changed(kind, tenant_id, ids)`, called by the feed upserts after they commit: the
  changed records judged at once (a ticket escalated or closed, a breach event, a new position).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Alert, BuiltinType, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.operations.models import (
    TICKET_OPEN_STATUSES,
    WORK_ORDER_OPEN_STATUSES,
    AttendanceRecord,
    AttendanceStatus,
    Device,
    DeviceStatus,
    FeedRulesMark,
    GeofenceEvent,
    GeofenceEventKind,
    OperationsPolicy,
    Priority,
    Ticket,
    WorkOrder,
)
from watchfloor.tenancy.models import Client, Site, Tenant

log = logging.getLogger(__name__)

SOURCE = "operations"
BATCH = 500  # records judged per round of queries

# the kinds `on_records_changed` takes
TICKET = "ticket"
WORK_ORDER = "work_order"
DEVICE = "device"
ATTENDANCE = "attendance"
GEOFENCE_EVENT = "geofence_event"
KINDS = (TICKET, WORK_ORDER, DEVICE, ATTENDANCE, GEOFENCE_EVENT)

# a breach event older than this is no longer looked for by the job (the hook raises it at once)
GEOFENCE_LOOKBACK = timedelta(days=1)
# the job looks again at moves reported this recently in case a hook call was lost
SPOOF_LOOKBACK = timedelta(hours=1)

_OPEN_DEVICE = ~Q(status__in=(DeviceStatus.MAINTENANCE, DeviceStatus.RETIRED))


@dataclass(frozen=True)
class RulesKey:
    """What the pipeline reads of an integration key, for alerts the rules raise themselves."""

    tenant_id: int
    id: int | None = None
    source: str = SOURCE
    default_client_id: int | None = None
    default_site_id: int | None = None


@dataclass
class Verdict:
    """A condition that holds: what its alert says. `since`: when the condition began."""

    since: datetime
    severity: str
    title: str
    labels: dict[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass
class Finding:
    tenant_id: int
    fingerprint: str
    type: str
    client_id: int | None
    site_id: int | None
    entity_type: str
    entity_id: str
    verdict: Verdict


class Policies:
    """Every tenant's thresholds, read once per run (defaults for a tenant with no row)."""

    def __init__(self, tenant_ids: Iterable[int] | None = None):
        rows = OperationsPolicy.objects.all()
        if tenant_ids is not None:
            rows = rows.filter(tenant_id__in=list(tenant_ids))
        self.rows = {p.tenant_id: p for p in rows}
        self.default = OperationsPolicy()

    def of(self, tenant_id: int) -> OperationsPolicy:
        return self.rows.get(tenant_id, self.default)

    def all(self) -> list[OperationsPolicy]:
        return [*self.rows.values(), self.default]

    def least(self, read: Callable[[OperationsPolicy], int]) -> int:
        return min(read(p) for p in self.all())


Judge = Callable[[list, Policies, datetime], dict[int, Verdict]]


# a condition that may have begun or ended with time in (since, now], for these tenants
Window = Callable[[datetime, datetime, Policies, list[int]], Q]


@dataclass(frozen=True)
class RecordRule:
    """A rule over one kind of record. `coarse` is the job's SQL pre-filter (a superset of the
    records that hold); `judge` decides, for a batch of records, which hold and how.

    For the steady run (records judged only when something can have changed): `holds` is a
    superset of the records that hold with no look-back (a changed record outside it and without
    an active alert has nothing to settle; None: `coarse`); `begins` finds the records whose
    condition may have begun with time in (since, now] (a due time passed, a silence grew past
    its threshold); `ends` those whose condition may have ended with time (a shift ended). A
    condition that begins or ends only when its record changes needs neither."""

    type: str
    kind: str
    model: Any  # the record's model class
    code: str  # the fingerprint's kind part
    suffix: str  # the fingerprint's rule part
    entity_type: str
    judge: Judge
    coarse: Callable[[datetime, Policies], Q] | None  # None: not scanned by the job
    related: tuple[str, ...] = ()
    holds: Callable[[datetime, Policies], Q] | None = None
    begins: Window | None = None
    ends: Window | None = None

    def holds_sql(self, now: datetime, policies: Policies) -> Q:
        if self.holds is not None:
            return self.holds(now, policies)
        return self.coarse(now, policies) if self.coarse is not None else Q()

    def prefix(self, tenant_id: int) -> str:
        return f"ops:{self.code}:{tenant_id}:"

    def fingerprint(self, tenant_id: int, pk: int) -> str:
        return f"{self.prefix(tenant_id)}{pk}:{self.suffix}"

    def fingerprint_sql(self):
        return Concat(
            Value(f"ops:{self.code}:"),
            Cast("tenant_id", CharField()),
            Value(":"),
            Cast("id", CharField()),
            Value(f":{self.suffix}"),
            output_field=CharField(),
        )

    def pk_of(self, fingerprint: str) -> int | None:
        parts = fingerprint.split(":")
        if len(parts) != 5 or parts[0] != "ops" or parts[1] != self.code:
            return None
        try:
            return int(parts[3])
        except ValueError:
            return None


# --- judges -------------------------------------------------------------------------------------


def _within(name: str, since: datetime, now: datetime, offset: timedelta = timedelta(0)) -> Q:
    """`name + offset` in (since, now]: a time that passed between two runs."""
    return Q(**{f"{name}__gt": since - offset, f"{name}__lte": now - offset})


def _tenants_by(
    policies: Policies, tenants: list[int], read: Callable[[OperationsPolicy], Any]
) -> dict[Any, list[int]]:
    """The tenants grouped by a policy value: one term per distinct value, not per tenant."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for tenant_id in tenants:
        groups[read(policies.of(tenant_id))].append(tenant_id)
    return groups


def _any(terms: list[Q]) -> Q:
    found = Q(pk__in=[])
    for term in terms:
        found |= term
    return found


SLA_SEVERITY: dict[str, str] = {
    Priority.P1: Severity.CRITICAL,
    Priority.P2: Severity.HIGH,
    Priority.P3: Severity.MEDIUM,
    Priority.P4: Severity.LOW,
}
OVERDUE_SEVERITY: dict[str, str] = {
    Priority.P1: Severity.HIGH,
    Priority.P2: Severity.MEDIUM,
    Priority.P3: Severity.MEDIUM,
    Priority.P4: Severity.LOW,
}


def _utc(at: datetime) -> str:
    return timezone.localtime(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sla_due(ticket: Ticket, policy: OperationsPolicy) -> datetime:
    if ticket.sla_due_at is not None:
        return ticket.sla_due_at
    return ticket.opened_at + timedelta(hours=policy.sla_hours(ticket.priority))


def judge_sla(tickets: list[Ticket], policies: Policies, now: datetime) -> dict[int, Verdict]:
    found = {}
    for t in tickets:
        if t.status not in TICKET_OPEN_STATUSES:
            continue
        due = _sla_due(t, policies.of(t.tenant_id))
        if due > now:
            continue
        found[t.pk] = Verdict(
            since=due,
            severity=SLA_SEVERITY.get(t.priority, Severity.MEDIUM),
            title=f"Ticket {t.external_id} ({t.priority}) past its SLA",
            description=f"SLA due {_utc(due)}; status {t.status}.",
            labels={"external_id": t.external_id, "priority": t.priority},
        )
    return found


def coarse_sla(now: datetime, policies: Policies) -> Q:
    earliest = policies.least(lambda p: min(p.sla_hours(x) for x in Priority.values))
    return Q(status__in=TICKET_OPEN_STATUSES) & (
        Q(sla_due_at__lte=now)
        | Q(sla_due_at__isnull=True, opened_at__lte=now - timedelta(hours=earliest))
    )


def begins_sla(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    # a due time from the policy only for tickets stored without one (the upsert sets it)
    hours = {policies.of(t).sla_hours(x) for t in tenants for x in Priority.values}
    return Q(status__in=TICKET_OPEN_STATUSES) & (
        _within("sla_due_at", since, now)
        | Q(
            sla_due_at__isnull=True,
            opened_at__gt=since - timedelta(hours=max(hours)),
            opened_at__lte=now - timedelta(hours=min(hours)),
        )
    )


def judge_escalated(tickets: list[Ticket], policies: Policies, now: datetime) -> dict[int, Verdict]:
    found = {}
    for t in tickets:
        if t.status not in TICKET_OPEN_STATUSES or t.escalation_level <= 0:
            continue
        found[t.pk] = Verdict(
            since=t.opened_at,
            severity=Severity.HIGH if t.priority in (Priority.P1, Priority.P2) else Severity.MEDIUM,
            title=f"Ticket {t.external_id} ({t.priority}) escalated",
            description=f"Escalation level {t.escalation_level} in the source system.",
            labels={"external_id": t.external_id, "priority": t.priority},
        )
    return found


def coarse_escalated(now: datetime, policies: Policies) -> Q:
    return Q(status__in=TICKET_OPEN_STATUSES, escalation_level__gt=0)


def judge_overdue(orders: list[WorkOrder], policies: Policies, now: datetime) -> dict[int, Verdict]:
    found = {}
    for w in orders:
        if w.status not in WORK_ORDER_OPEN_STATUSES or w.deadline_at is None:
            continue
        if w.deadline_at > now:
            continue
        found[w.pk] = Verdict(
            since=w.deadline_at,
            severity=OVERDUE_SEVERITY.get(w.priority, Severity.MEDIUM),
            title=f"Work order {w.external_id} ({w.priority}) past its deadline",
            description=f"Deadline {_utc(w.deadline_at)}; status {w.status}.",
            labels={"external_id": w.external_id, "priority": w.priority},
        )
    return found


def coarse_overdue(now: datetime, policies: Policies) -> Q:
    return Q(status__in=WORK_ORDER_OPEN_STATUSES, deadline_at__lte=now)


def begins_overdue(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    return Q(status__in=WORK_ORDER_OPEN_STATUSES) & _within("deadline_at", since, now)


def _shortest_silence(p: OperationsPolicy) -> int:
    by_type = [v for v in (p.device_silence_by_type or {}).values() if isinstance(v, int) and v > 0]
    return min([p.device_silence_minutes, *by_type])


def judge_offline(devices: list[Device], policies: Policies, now: datetime) -> dict[int, Verdict]:
    found = {}
    for d in devices:
        if d.status in (DeviceStatus.MAINTENANCE, DeviceStatus.RETIRED) or d.last_seen_at is None:
            continue
        minutes = policies.of(d.tenant_id).silence_minutes(d.device_type)
        since = d.last_seen_at + timedelta(minutes=minutes)
        if since > now:
            continue
        found[d.pk] = Verdict(
            since=since,
            severity=Severity.HIGH,
            title=f"Device {d.external_id} ({d.device_type}) silent for over {minutes} min",
            description=f"Last seen {_utc(d.last_seen_at)}.",
            labels={"external_id": d.external_id, "device_type": d.device_type},
        )
    return found


def coarse_offline(now: datetime, policies: Policies) -> Q:
    shortest = policies.least(_shortest_silence)
    return _OPEN_DEVICE & Q(last_seen_at__lte=now - timedelta(minutes=shortest))


def _silences(p: OperationsPolicy) -> tuple[int, tuple[tuple[str, int], ...]]:
    """(default minutes, (type, minutes)…): what `OperationsPolicy.silence_minutes` reads."""
    by_type = p.device_silence_by_type or {}
    typed = ((k, v) for k, v in by_type.items() if isinstance(v, int) and v > 0)
    return p.device_silence_minutes, tuple(sorted(typed))


def begins_offline(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    """Devices whose last sighting plus their type's silence passed in (since, now]: one term
    per distinct silence setting (tenants sharing one share the term)."""
    terms = []
    for (minutes, typed), group in _tenants_by(policies, tenants, _silences).items():
        other_types = Q(tenant_id__in=group)
        if typed:
            other_types &= ~Q(device_type__in=[k for k, _ in typed])
        terms.append(other_types & _within("last_seen_at", since, now, timedelta(minutes=minutes)))
        for device_type, type_minutes in typed:
            terms.append(
                Q(tenant_id__in=group, device_type=device_type)
                & _within("last_seen_at", since, now, timedelta(minutes=type_minutes))
            )
    return _OPEN_DEVICE & _any(terms)


EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def move_speed_kmh(d: Device) -> float | None:
    """Speed of the move between the previous and the latest position, or None without both."""
    lat, lon, at = d.latitude, d.longitude, d.located_at
    plat, plon, pat = d.previous_latitude, d.previous_longitude, d.previously_located_at
    if lat is None or lon is None or at is None or plat is None or plon is None or pat is None:
        return None
    km = distance_km(plat, plon, lat, lon)
    # two fixes in the same second: judged as if one second apart
    hours = max((at - pat).total_seconds(), 1.0) / 3600
    return km / hours


def judge_spoof(devices: list[Device], policies: Policies, now: datetime) -> dict[int, Verdict]:
    found = {}
    for d in devices:
        speed = move_speed_kmh(d)
        limit = policies.of(d.tenant_id).max_device_speed_kmh
        if speed is None or speed <= limit:
            continue
        located = d.located_at or now
        found[d.pk] = Verdict(
            since=located,
            severity=Severity.HIGH,
            title=f"Device {d.external_id} reported an impossible move ({speed:,.0f} km/h)",
            description=f"Faster than the {limit} km/h any device can move; latest position "
            f"at {_utc(located)}.",
            labels={"external_id": d.external_id, "device_type": d.device_type},
        )
    return found


def coarse_spoof(now: datetime, policies: Policies) -> Q:
    return Q(previously_located_at__isnull=False, located_at__gte=now - SPOOF_LOOKBACK)


def holds_spoof(now: datetime, policies: Policies) -> Q:
    return Q(previously_located_at__isnull=False, located_at__isnull=False)


def judge_missing(
    records: list[AttendanceRecord], policies: Policies, now: datetime
) -> dict[int, Verdict]:
    found = {}
    for r in records:
        if r.checked_in_at is not None or r.shift_end <= now:
            continue
        grace = timedelta(minutes=policies.of(r.tenant_id).attendance_grace_minutes)
        if r.status == AttendanceStatus.MISSING:
            since = min(r.shift_start + grace, now)
        elif r.status == AttendanceStatus.EXPECTED and r.shift_start + grace <= now:
            since = r.shift_start + grace
        else:
            continue
        found[r.pk] = Verdict(
            since=since,
            severity=Severity.HIGH,
            title=f"Guard {r.person_ref} not checked in for the shift from {_utc(r.shift_start)}",
            labels={"external_id": r.external_id, "person_ref": r.person_ref},
        )
    return found


def coarse_missing(now: datetime, policies: Policies) -> Q:
    grace = policies.least(lambda p: p.attendance_grace_minutes)
    return Q(checked_in_at__isnull=True, shift_end__gt=now) & (
        Q(status=AttendanceStatus.MISSING)
        | Q(status=AttendanceStatus.EXPECTED, shift_start__lte=now - timedelta(minutes=grace))
    )


def begins_missing(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    """EXPECTED shifts whose start plus the tenant's grace passed in (since, now]."""
    terms = [
        Q(tenant_id__in=group) & _within("shift_start", since, now, timedelta(minutes=grace))
        for grace, group in _tenants_by(
            policies, tenants, lambda p: p.attendance_grace_minutes
        ).items()
    ]
    expected = Q(status=AttendanceStatus.EXPECTED, checked_in_at__isnull=True, shift_end__gt=now)
    return expected & _any(terms)


def ends_missing(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    return _within("shift_end", since, now)


def judge_breach(
    events: list[GeofenceEvent], policies: Policies, now: datetime
) -> dict[int, Verdict]:
    """A BREACH holds until the same person (or device) enters the site's fence again, or the
    shift it happened in has ended."""
    breaches = [e for e in events if e.kind == GeofenceEventKind.BREACH]
    if not breaches:
        return {}
    refs = {e.person_ref for e in breaches if e.person_ref}
    devices = {e.device_id for e in breaches if e.device_id}
    back: dict[tuple, datetime] = {}
    if refs or devices:
        who = Q()
        if refs:
            who |= Q(person_ref__in=refs)
        if devices:
            who |= Q(device_id__in=devices)
        for tenant_id, site_id, ref, device_id, at in GeofenceEvent.objects.filter(
            who,
            tenant_id__in={e.tenant_id for e in breaches},
            kind=GeofenceEventKind.ENTER,
            occurred_at__gte=min(e.occurred_at for e in breaches),
        ).values_list("tenant_id", "site_id", "person_ref", "device_id", "occurred_at"):
            for k in ((tenant_id, site_id, "p", ref), (tenant_id, site_id, "d", device_id)):
                if k[3] and (k not in back or at > back[k]):
                    back[k] = at
    found = {}
    for e in breaches:
        shift = e.attendance
        if shift is not None and shift.shift_end <= now:
            continue
        who_key = ("p", e.person_ref) if e.person_ref else ("d", e.device_id)
        returned = back.get((e.tenant_id, e.site_id, *who_key))
        if returned is not None and returned > e.occurred_at:
            continue
        label = f"guard {e.person_ref}" if e.person_ref else f"device {e.device_id}"
        distance = f" ({e.distance_m} m outside)" if e.distance_m is not None else ""
        found[e.pk] = Verdict(
            since=e.occurred_at,
            severity=Severity.HIGH,
            title=f"Geofence breach by {label}{distance}",
            description=f"Event {e.external_id} at {_utc(e.occurred_at)}.",
            labels={"external_id": e.external_id, "person_ref": e.person_ref},
        )
    return found


def coarse_breach(now: datetime, policies: Policies) -> Q:
    return Q(kind=GeofenceEventKind.BREACH, occurred_at__gte=now - GEOFENCE_LOOKBACK)


def holds_breach(now: datetime, policies: Policies) -> Q:
    return Q(kind=GeofenceEventKind.BREACH)


def ends_breach(since: datetime, now: datetime, policies: Policies, tenants: list[int]) -> Q:
    """Breaches whose shift ended in (since, now]."""
    return Q(
        kind=GeofenceEventKind.BREACH,
        attendance__shift_end__gt=since,
        attendance__shift_end__lte=now,
    )


RECORD_RULES: tuple[RecordRule, ...] = (
    RecordRule(
        BuiltinType.SLA_BREACH,
        TICKET,
        Ticket,
        "ticket",
        "sla",
        "ticket",
        judge_sla,
        coarse_sla,
        begins=begins_sla,
    ),
    RecordRule(
        BuiltinType.TICKET_ESCALATED,
        TICKET,
        Ticket,
        "ticket",
        "escalated",
        "ticket",
        judge_escalated,
        coarse_escalated,
    ),
    RecordRule(
        BuiltinType.WORK_ORDER_OVERDUE,
        WORK_ORDER,
        WorkOrder,
        "wo",
        "overdue",
        "work_order",
        judge_overdue,
        coarse_overdue,
        begins=begins_overdue,
    ),
    RecordRule(
        BuiltinType.DEVICE_OFFLINE,
        DEVICE,
        Device,
        "device",
        "offline",
        "device",
        judge_offline,
        coarse_offline,
        begins=begins_offline,
    ),
    RecordRule(
        BuiltinType.DEVICE_SPOOF,
        DEVICE,
        Device,
        "device",
        "spoof",
        "device",
        judge_spoof,
        coarse_spoof,
        holds=holds_spoof,
    ),
    RecordRule(
        BuiltinType.ATTENDANCE_MISSING,
        ATTENDANCE,
        AttendanceRecord,
        "attendance",
        "missing",
        "attendance",
        judge_missing,
        coarse_missing,
        begins=begins_missing,
        ends=ends_missing,
    ),
    RecordRule(
        BuiltinType.GEOFENCE_BREACH,
        GEOFENCE_EVENT,
        GeofenceEvent,
        "geofence",
        "breach",
        "geofence_event",
        judge_breach,
        coarse_breach,
        related=("attendance",),
        holds=holds_breach,
        ends=ends_breach,
    ),
)


# --- sending ------------------------------------------------------------------------------------


@dataclass
class Outbox:
    """Triggers and resolves collected over a run, sent per tenant in pipeline batches."""

    triggers: list[Finding] = field(default_factory=list)
    resolves: list[tuple[int, str, str]] = field(default_factory=list)  # tenant, fp, type
    # the conditions judged in this run: one record reached by two ways is judged once
    judged: set[str] = field(default_factory=set)

    def send(self, now: datetime) -> dict[str, int]:
        codes = _codes(self.triggers)
        per_tenant: dict[int, list[Event]] = defaultdict(list)
        for f in self.triggers:
            site_code, client_code = codes.get(("s", f.site_id)), codes.get(("c", f.client_id))
            v = f.verdict
            per_tenant[f.tenant_id].append(
                Event(
                    action=EventAction.TRIGGER,
                    type=f.type,
                    severity=Severity(v.severity),
                    title=v.title[:500],
                    description=v.description,
                    fingerprint=f.fingerprint,
                    client_code=client_code or "",
                    site_code=site_code or "",
                    entity_type=f.entity_type,
                    entity_id=f.entity_id,
                    labels={"rule": f.type, **v.labels},
                    occurred_at=v.since,
                )
            )
        for tenant_id, fp, type_ in self.resolves:
            per_tenant[tenant_id].append(
                Event(action=EventAction.RESOLVE, type=type_, fingerprint=fp)
            )
        counts = {"raised": 0, "resolved": 0}
        size = settings.ALERT_MAX_BATCH
        for tenant_id, events in per_tenant.items():
            for start in range(0, len(events), size):
                result = ingest(
                    events[start : start + size],
                    key=RulesKey(tenant_id),
                    strict_codes=False,
                    now=now,
                )
                counts["raised"] += result.created + result.suppressed
                counts["resolved"] += result.resolved
        return counts


def _codes(findings: list[Finding]) -> dict[tuple[str, int | None], str]:
    site_ids = {f.site_id for f in findings if f.site_id}
    client_ids = {f.client_id for f in findings if f.client_id and not f.site_id}
    found: dict[tuple[str, int | None], str] = {}
    if site_ids:
        found.update(
            (("s", i), c) for i, c in Site.objects.filter(id__in=site_ids).values_list("id", "code")
        )
    if client_ids:
        found.update(
            (("c", i), c)
            for i, c in Client.objects.filter(id__in=client_ids).values_list("id", "code")
        )
    return found


def _existing(fingerprints: dict[str, datetime], tenant_ids: set[int]) -> tuple[set[str], set[str]]:
    """(fingerprints with an active alert, those a person resolved after their condition began).

    `fingerprints` maps each to its condition's start (or to the far future when only its
    active alert matters)."""
    if not fingerprints:
        return set(), set()
    earliest = min(fingerprints.values())
    active, blocked = set(), set()
    for fp, status, first_seen in Alert.objects.filter(
        Q(tenant_id__in=tenant_ids, fingerprint__in=list(fingerprints))
        & (~Q(status=Status.RESOLVED) | Q(resolved_by__isnull=False, resolved_at__gte=earliest))
    ).values_list("fingerprint", "status", "first_seen_at"):
        if status != Status.RESOLVED:
            active.add(fp)
        elif first_seen >= fingerprints[fp]:
            blocked.add(fp)
    return active, blocked


def _settle(rule: RecordRule, records: list, policies: Policies, now: datetime, out: Outbox):
    """Judge a batch of records: trigger the conditions that hold and have no alert yet, resolve
    the active alerts of those that no longer hold."""
    records = [r for r in records if rule.fingerprint(r.tenant_id, r.pk) not in out.judged]
    if not records:
        return
    out.judged.update(rule.fingerprint(r.tenant_id, r.pk) for r in records)
    verdicts = rule.judge(records, policies, now)
    far = now + timedelta(days=1)
    wanted = {
        rule.fingerprint(r.tenant_id, r.pk): (verdicts[r.pk].since if r.pk in verdicts else far)
        for r in records
    }
    active, blocked = _existing(wanted, {r.tenant_id for r in records})
    for r in records:
        fp = rule.fingerprint(r.tenant_id, r.pk)
        verdict = verdicts.get(r.pk)
        if verdict is not None and fp not in active and fp not in blocked:
            out.triggers.append(
                Finding(
                    tenant_id=r.tenant_id,
                    fingerprint=fp,
                    type=rule.type,
                    client_id=r.client_id,
                    site_id=r.site_id,
                    entity_type=rule.entity_type,
                    entity_id=r.external_id,
                    verdict=verdict,
                )
            )
        elif verdict is None and fp in active:
            out.resolves.append((r.tenant_id, fp, rule.type))


def _chunks(queryset: QuerySet, related: tuple[str, ...] = ()) -> Iterable[list]:
    """The rows in id order, BATCH at a time (keyset: each batch one query)."""
    last = 0
    while True:
        rows = list(queryset.filter(id__gt=last).select_related(*related).order_by("id")[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1].pk
        if len(rows) < BATCH:
            return


def _active_rule_alerts(type_: str, tenant_id: int | None = None) -> QuerySet:
    rows = Alert.objects.filter(source=SOURCE, type=type_, fingerprint__startswith="ops:").exclude(
        status=Status.RESOLVED
    )
    return rows.filter(tenant_id=tenant_id) if tenant_id is not None else rows


# for `_judge_where`: the record's condition has an active alert, or has none
HAS_ALERT = Q(has_alert=True)
NO_ALERT = Q(has_alert=False)


def _judge_where(rule: RecordRule, where: Q, policies: Policies, now: datetime, out: Outbox):
    """Judge the rule's records that match `where` (which may use HAS_ALERT / NO_ALERT: the
    partial unique index on tenant + fingerprint answers it per record), BATCH at a time."""
    has_alert = Exists(
        Alert.objects.filter(tenant_id=OuterRef("tenant_id"), fingerprint=OuterRef("fp")).exclude(
            status=Status.RESOLVED
        )
    )
    rows = rule.model.objects.alias(fp=rule.fingerprint_sql(), has_alert=has_alert).filter(where)
    for chunk in _chunks(rows, rule.related):
        _settle(rule, chunk, policies, now, out)


def _scan(
    rule: RecordRule,
    policies: Policies,
    now: datetime,
    out: Outbox,
    tenants: list[int] | None = None,
) -> None:
    """The full pass for one rule (of `tenants`, None: all): raise the conditions that began,
    resolve those that ended — every active alert of the rule judged again on its record."""
    mine = Q(tenant_id__in=tenants) if tenants is not None else Q()
    if rule.coarse is not None:
        _judge_where(rule, mine & rule.coarse(now, policies) & NO_ALERT, policies, now, out)
    # every active alert of the rule, judged again on its record (gone: resolved)
    last = 0
    while True:
        alerts = list(
            _active_rule_alerts(rule.type)
            .filter(mine, id__gt=last)
            .order_by("id")
            .values_list("id", "tenant_id", "fingerprint")[:BATCH]
        )
        if not alerts:
            break
        last = alerts[-1][0]
        pks = {rule.pk_of(fp) for _, _, fp in alerts} - {None}
        records = list(rule.model.objects.filter(id__in=pks).select_related(*rule.related))
        by_key = {(r.tenant_id, r.pk): r for r in records}
        for _, tenant_id, fp in alerts:
            if rule.pk_of(fp) is None or (tenant_id, rule.pk_of(fp)) not in by_key:
                out.resolves.append((tenant_id, fp, rule.type))
        _settle(rule, records, policies, now, out)
        if len(alerts) < BATCH:
            break


# --- site rules ---------------------------------------------------------------------------------


def _site_fp(tenant_id: int, site_id: int, suffix: str) -> str:
    return f"ops:site:{tenant_id}:{site_id}:{suffix}"


def _grouped_by(policies: Policies, read: Callable[[OperationsPolicy], int]):
    """(value, tenant filter) per distinct value of a threshold: one grouped query each, never one
    per tenant. The default's filter is every tenant without a row."""
    values: dict[int, list[int]] = defaultdict(list)
    for tenant_id, p in policies.rows.items():
        values[read(p)].append(tenant_id)
    default = read(policies.default)
    for value, tenants in values.items():
        if value != default:
            yield value, Q(tenant_id__in=tenants)
    others = [t for t, p in policies.rows.items() if read(p) != default]
    yield default, ~Q(tenant_id__in=others)


def sync_health(
    policies: Policies, now: datetime, tenant_id: int | None = None
) -> dict[tuple[int, int], tuple[int, int, int | None]]:
    """(tenant, site) → (devices, synced within the tenant's sync_stale_minutes, client)."""
    health: dict[tuple[int, int], tuple[int, int, int | None]] = {}
    for minutes, tenants in _grouped_by(policies, lambda p: p.sync_stale_minutes):
        rows = Device.objects.filter(_OPEN_DEVICE, tenants, site__isnull=False)
        if tenant_id is not None:
            rows = rows.filter(tenant_id=tenant_id)
        fresh = Q(last_sync_at__gte=now - timedelta(minutes=minutes))
        for t, site, client, total, synced in (
            rows.values("tenant_id", "site_id", "client_id")
            .annotate(total=Count("id"), synced=Count("id", filter=fresh))
            .values_list("tenant_id", "site_id", "client_id", "total", "synced")
        ):
            prior = health.get((t, site))
            if prior is not None:  # devices of one site under two clients: summed
                total, synced = total + prior[0], synced + prior[1]
            health[(t, site)] = (total, synced, client)
    return health


def attendance_mix(
    policies: Policies, now: datetime, tenant_id: int | None = None
) -> dict[tuple[int, int], tuple[int, int, int | None]]:
    """(tenant, site) → (shifts begun in the window, of which late or missing, client)."""
    mix: dict[tuple[int, int], tuple[int, int, int | None]] = {}
    for days, tenants in _grouped_by(policies, lambda p: p.anomaly_window_days):
        rows = AttendanceRecord.objects.filter(
            tenants,
            site__isnull=False,
            shift_start__gte=now - timedelta(days=days),
            shift_start__lte=now,
        ).exclude(status=AttendanceStatus.EXCUSED)
        if tenant_id is not None:
            rows = rows.filter(tenant_id=tenant_id)
        bad = Q(status__in=(AttendanceStatus.LATE, AttendanceStatus.MISSING))
        for t, site, client, total, late in (
            rows.values("tenant_id", "site_id", "client_id")
            .annotate(total=Count("id"), late=Count("id", filter=bad))
            .values_list("tenant_id", "site_id", "client_id", "total", "late")
        ):
            prior = mix.get((t, site))
            if prior is not None:
                total, late = total + prior[0], late + prior[1]
            mix[(t, site)] = (total, late, client)
    return mix


def _site_verdicts(policies: Policies, now: datetime, tenant_id: int | None):
    """Yield (type, suffix, tenant, site, client, verdict) for each site rule that holds."""
    for (t, site), (total, synced, client) in sync_health(policies, now, tenant_id).items():
        p = policies.of(t)
        percent = synced * 100 / total
        if total and percent < p.sync_health_min_percent:
            yield (
                BuiltinType.SYNC_DEGRADED,
                "sync",
                t,
                site,
                client,
                Verdict(
                    since=now - timedelta(minutes=p.sync_stale_minutes),
                    severity=Severity.MEDIUM,
                    title=f"Sync health {percent:.0f}% at the site "
                    f"(below {p.sync_health_min_percent}%)",
                    description=f"{synced} of {total} devices synced within "
                    f"{p.sync_stale_minutes} min.",
                    labels={"devices": str(total), "synced": str(synced)},
                ),
            )
    for (t, site), (total, late, client) in attendance_mix(policies, now, tenant_id).items():
        p = policies.of(t)
        if total < p.anomaly_min_shifts or late * 100 < p.anomaly_late_missing_percent * total:
            continue
        yield (
            BuiltinType.ATTENDANCE_ANOMALY,
            "anomaly",
            t,
            site,
            client,
            Verdict(
                since=now - timedelta(days=p.anomaly_window_days),
                severity=Severity.MEDIUM,
                title=f"{late * 100 / total:.0f}% of shifts late or missing over "
                f"{p.anomaly_window_days} days",
                description=f"{late} of {total} shifts late or missing at the site.",
                labels={"shifts": str(total), "late_or_missing": str(late)},
            ),
        )


SITE_RULES = ((BuiltinType.SYNC_DEGRADED, "sync"), (BuiltinType.ATTENDANCE_ANOMALY, "anomaly"))


def _settle_sites(policies: Policies, now: datetime, out: Outbox, tenant_id: int | None = None):
    holding: dict[str, tuple] = {}
    for type_, suffix, t, site, client, verdict in _site_verdicts(policies, now, tenant_id):
        holding[_site_fp(t, site, suffix)] = (type_, t, site, client, verdict)
    active: dict[str, tuple[int, str]] = {}
    for type_, _ in SITE_RULES:
        for t, fp in _active_rule_alerts(type_, tenant_id).values_list("tenant_id", "fingerprint"):
            active[fp] = (t, type_)
    fresh = {fp: v[4].since for fp, v in holding.items() if fp not in active}
    _, blocked = _existing(fresh, {v[1] for v in holding.values()})
    for fp in fresh:
        if fp in blocked:
            continue
        type_, t, site, client, verdict = holding[fp]
        out.triggers.append(Finding(t, fp, type_, client, site, "site", str(site), verdict))
    for fp, (t, type_) in active.items():
        if fp not in holding:
            out.resolves.append((t, fp, type_))


# --- entry points -------------------------------------------------------------------------------


# a record written by a transaction that committed this long after its `updated_at` was set is
# still judged by the next run (a feed upsert commits within seconds; the clocks of the writers
# may differ by a little)
CHANGES_OVERLAP = timedelta(minutes=2)


def _full_pass_reason(
    mark: FeedRulesMark | None, policy: OperationsPolicy | None, now: datetime
) -> str | None:
    """Why the tenant needs every record judged (None: only what can have changed)."""
    if mark is None:
        return "first run"
    if (policy.updated_at if policy is not None else None) != mark.policy_updated_at:
        return "policy changed"
    if now < mark.checked_at:
        return "clock behind the last run"
    every = settings.OPERATIONS_RULES_FULL_PASS_HOURS
    if every > 0 and now - mark.full_at >= timedelta(hours=every):
        return "reconciliation"
    return None


def _steady(
    policies: Policies,
    tenants: list[int],
    since: datetime,
    changes_from: datetime,
    now: datetime,
    out: Outbox,
) -> None:
    """The steady run over tenants left at the same marks: only what can have changed.

    - records written since `changes_from` whose condition may hold without an alert, or that
      have an active alert (a changed record that neither may hold nor has an alert has nothing
      to settle, and is left in SQL);
    - breaches another record's change may settle: the same guard or device entered (or left)
      the site since, or the breach's shift record changed;
    - conditions that began with time in (since, now] (`RecordRule.begins`), with no alert yet;
    - conditions that ended with time in (since, now] (`RecordRule.ends`), with an active one.
    An active alert whose record did not change and whose condition cannot end with time is
    not read at all. Records deleted under an active alert (retention) are left to the
    reconciling full pass (`OPERATIONS_RULES_FULL_PASS_HOURS`)."""
    mine = Q(tenant_id__in=tenants)
    changed = mine & Q(updated_at__gte=changes_from)
    for rule in RECORD_RULES:
        may_hold = rule.holds_sql(now, policies)
        _judge_where(rule, changed & ((may_hold & NO_ALERT) | HAS_ALERT), policies, now, out)
    breach = next(r for r in RECORD_RULES if r.type == BuiltinType.GEOFENCE_BREACH)
    moves = (
        GeofenceEvent.objects.filter(changed)
        .exclude(kind=GeofenceEventKind.BREACH)
        .order_by()
        .values_list("person_ref", "device_id")
        .distinct()
    )
    refs_and_devices = list(moves)
    refs = sorted({ref for ref, _ in refs_and_devices if ref})
    devices = sorted({device for _, device in refs_and_devices if device})
    recent = Q(occurred_at__gte=now - GEOFENCE_LOOKBACK)
    settles = mine & Q(kind=GeofenceEventKind.BREACH) & (HAS_ALERT | recent)
    shift_changed = Q(attendance__updated_at__gte=changes_from)
    _judge_where(breach, settles & shift_changed, policies, now, out)
    for start in range(0, max(len(refs), len(devices)), BATCH):
        who = Q(person_ref__in=refs[start : start + BATCH])
        who |= Q(device_id__in=devices[start : start + BATCH])
        _judge_where(breach, settles & who, policies, now, out)
    for rule in RECORD_RULES:
        if rule.begins is not None:
            began = mine & rule.begins(since, now, policies, tenants) & NO_ALERT
            _judge_where(rule, began, policies, now, out)
        if rule.ends is not None:
            ended = mine & rule.ends(since, now, policies, tenants) & HAS_ALERT
            _judge_where(rule, ended, policies, now, out)


def run_feed_rules(
    now: datetime | None = None, *, full: bool = False, stats: dict | None = None
) -> dict[str, int]:
    """The `operations.feed_rules` job: every rule over every tenant.

    A tenant the job has seen before (`FeedRulesMark`) gets the steady run (`_steady`: only
    what can have changed since); a full pass (every record that may hold, every active rule
    alert judged again) on its first run, after its policy changed, when `now` is before its
    last run, every `OPERATIONS_RULES_FULL_PASS_HOURS` (reconciliation: records deleted under
    an alert), or for every tenant with `full=True`. The site rules are grouped queries over
    all sites, run in full each time. The marks advance once the run's alerts are sent: a run
    that fails is judged again, in full, by the next one.

    Returns {"raised", "resolved"}; `stats`, when given, is filled with how the run went
    (tenants in full and steady, records judged)."""
    now = now or timezone.now()
    started = timezone.now()  # the clock `updated_at` is written with (`now` may be a test's)
    policies = Policies()
    marks = {m.tenant_id: m for m in FeedRulesMark.objects.all()}
    full_tenants: dict[str, list[int]] = defaultdict(list)
    steady: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    tenant_ids = list(Tenant.objects.order_by("id").values_list("id", flat=True))
    for tenant_id in tenant_ids:
        mark = marks.get(tenant_id)
        reason = "asked" if full else _full_pass_reason(mark, policies.rows.get(tenant_id), now)
        if reason is not None or mark is None:
            full_tenants[reason or "first run"].append(tenant_id)
        else:
            steady[(mark.checked_at, mark.changes_from)].append(tenant_id)
    out = Outbox()
    in_full = [t for group in full_tenants.values() for t in group]
    if in_full:
        for rule in RECORD_RULES:
            _scan(rule, policies, now, out, in_full)
    for (since, changes_from), tenants in steady.items():
        _steady(policies, tenants, since, changes_from, now, out)
    _settle_sites(policies, now, out)
    judged = len(out.judged)
    counts = out.send(now)
    _advance(marks, tenant_ids, set(in_full), policies, now, started - CHANGES_OVERLAP)
    if stats is not None:
        stats.update(
            full={reason: len(group) for reason, group in full_tenants.items()},
            steady=sum(len(group) for group in steady.values()),
            judged=judged,
        )
    return counts


def _advance(
    marks: dict[int, FeedRulesMark],
    tenant_ids: list[int],
    in_full: set[int],
    policies: Policies,
    now: datetime,
    changes_from: datetime,
) -> None:
    """Every tenant's mark moves to this run (one upsert)."""
    rows = []
    for tenant_id in tenant_ids:
        policy = policies.rows.get(tenant_id)
        mark = marks.get(tenant_id)
        rows.append(
            FeedRulesMark(
                tenant_id=tenant_id,
                checked_at=now,
                changes_from=changes_from,
                policy_updated_at=policy.updated_at if policy is not None else None,
                full_at=now if tenant_id in in_full or mark is None else mark.full_at,
            )
        )
    FeedRulesMark.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["tenant"],
        update_fields=["checked_at", "changes_from", "policy_updated_at", "full_at"],
    )


def evaluate_records(
    kind: str, tenant_id: int, ids: list[int], *, now: datetime | None = None
) -> dict[str, int]:
    """Judge the given records of one tenant now (and, for devices and attendance, their
    tenant's site rules); returns how many alerts were raised and resolved."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; one of {', '.join(KINDS)}")
    now = now or timezone.now()
    policies = Policies([tenant_id])
    out = Outbox()
    rules = [r for r in RECORD_RULES if r.kind == kind]
    unique = sorted(set(ids))
    for start in range(0, len(unique), BATCH):
        part = unique[start : start + BATCH]
        records = list(
            rules[0]
            .model.objects.filter(tenant_id=tenant_id, id__in=part)
            .select_related(*rules[0].related)
        )
        for rule in rules:
            _settle(rule, records, policies, now, out)
    if kind in (DEVICE, ATTENDANCE):
        _settle_sites(policies, now, out, tenant_id)
    return out.send(now)


def on_records_changed(kind: str, tenant_id: int, ids: list[int]) -> None:
    """The feed upserts call this with the ids of the records they stored (`kind`: one of
    `KINDS`: "ticket", "work_order", "device", "attendance", "geofence_event").

    Runs once the upsert's transaction commits (at once outside one). A failure here never fails
    the upsert: it is logged and the `operations.feed_rules` job settles the records within a
    minute."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; one of {', '.join(KINDS)}")
    if not ids:
        return
    ids = list(ids)

    def run() -> None:
        try:
            evaluate_records(kind, tenant_id, ids)
        except Exception:
            log.exception(
                "feed rules for %d %s record(s) of tenant %d failed; the job will retry",
                len(ids),
                kind,
                tenant_id,
            )

    transaction.on_commit(run)
