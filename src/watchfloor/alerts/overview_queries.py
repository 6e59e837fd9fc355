"""Read side of the overview page: KPI tiles, the sites of the map, the live feed (served by
`dashboard/api.py` and the WebSocket's `metrics` message).

Everything goes through the user's scope (`alerts_for`, `sites_for`, `visible_clients`) and the
same filters (client codes, city, state, officer in charge, one site, a time range), and every
function runs a fixed number of grouped queries whatever the size of the estate:

- `kpis`: three aggregates (active alerts; acknowledged today; resolved today);
- `site_health`: the sites, their clients, and the open alerts grouped by site and severity;
- `feed`: one query (alerts with client, site and assignee joined).

On PostgreSQL each aggregate reads a partial index (migration alerts 0004): active alerts are a
small share of the table, and "today" is a small slice of `acknowledged_at` / `resolved_at`.
Still, without filters they visit every active alert in scope (tens of thousands in a large
estate, about one heap page each once repeats have touched them: last_seen_at, which orders the
feed, may not be indexed or repeats stop being HOT updates), and the page re-reads tiles and map
shortly after every change, and the feed after every reconnect, for every open browser:
`shared_answer` computes one answer per scope and filters and lets every caller share it,
renewed at once by any create, acknowledge, assign, escalate or resolve (see its docstring).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Final

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import (
    Avg,
    BigIntegerField,
    Case,
    Count,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import display_name, mask_text, person_label, shown_name
from watchfloor.access.scope import (
    ScopeKind,
    has_capability,
    scope_kind,
    scope_of,
    visible_clients,
)
from watchfloor.alerts.broadcast import alert_payload, place_fields
from watchfloor.alerts.escalation import overdue_condition
from watchfloor.alerts.models import OPEN_STATUSES, Alert, Severity, Status, SuppressionReason
from watchfloor.alerts.queries import alerts_for
from watchfloor.alerts.writes import FEED_FIELDS
from watchfloor.circuit import guarded_call
from watchfloor.tenancy.models import Client, Site
from watchfloor.tenancy.queries import sites_for
from watchfloor.ttl import TtlCache

logger = logging.getLogger(__name__)

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
SEVERITIES = tuple(s.value for s in Severity)  # worst first
FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 500
# The feed's orders (the alerts page's `sort` names); each ends with the id, so it is total.
# "severity": most severe first, then the longest open (first seen earliest): what must be
# handled first is at the top and never cut off by a stream of newer, lesser alerts.
SEVERITY_RANK = Case(
    *(When(severity=s, then=Value(rank)) for rank, s in enumerate(SEVERITIES)),
    default=Value(len(SEVERITIES)),
    output_field=IntegerField(),
)
FEED_ORDERS: dict[str, tuple] = {
    "severity": (SEVERITY_RANK.asc(), "first_seen_at", "id"),
    "-last_seen": ("-last_seen_at", "-id"),
    "-first_seen": ("-first_seen_at", "-id"),
}
FEED_DEFAULT_ORDER: Final = "severity"


@dataclass(frozen=True)
class OverviewFilters:
    """The overview's filters (also the page URL's parameters).

    `clients` are client codes: unknown codes and codes outside the user's scope match nothing,
    alike. `city`/`state` match case-insensitively; `officer` is the user id of a site's officer
    in charge; `site` is one site code; `range` keeps alerts last seen within it ("" = any time).
    A site-level filter (city, state, officer, site) leaves out alerts that have no site.
    """

    clients: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    officer: int | None = None
    site: str = ""
    range: str = ""

    @property
    def site_level(self) -> bool:
        return bool(self.city or self.state or self.officer is not None or self.site)

    def since(self, now: datetime) -> datetime | None:
        return now - RANGES[self.range] if self.range else None


def filtered_sites(user, f: OverviewFilters):
    """The user's sites that match the filters (`range` does not apply to sites)."""
    qs = sites_for(user, city=f.city or None, state=f.state or None)
    if f.clients:
        qs = qs.filter(client__code__in=f.clients)
    if f.officer is not None:
        qs = qs.filter(officer_in_charge_id=f.officer)
    if f.site:
        qs = qs.filter(code=f.site)
    return qs


def _matching_sites(tenant_id: int, f: OverviewFilters) -> QuerySet[Site]:
    sites = Site.objects.for_tenant(tenant_id)
    if f.city:
        sites = sites.filter(city__iexact=f.city)
    if f.state:
        sites = sites.filter(state__iexact=f.state)
    if f.officer is not None:
        sites = sites.filter(officer_in_charge_id=f.officer)
    if f.site:
        sites = sites.filter(code=f.site)
    return sites


def filtered_alerts(
    user,
    f: OverviewFilters,
    now: datetime,
    *,
    client_ids: list[int] | None = None,
    site_ids: list[int] | None = None,
) -> QuerySet[Alert]:
    """The user's alerts that match the filters, every status.

    Client codes and places become lists of ids first (one small query each, unless the caller
    has them), so the alerts query says `client_id IN (3, 7)` / `site_id IN (…)`: PostgreSQL
    checks those inside the partial indexes (alerts 0004–0006) and reads only the matching
    alerts, instead of every active alert of the tenant before a join.
    """
    qs = alerts_for(user)
    if f.clients:
        if client_ids is None:
            codes = Client.objects.for_tenant(user.tenant_id).filter(code__in=f.clients)
            client_ids = list(codes.values_list("id", flat=True))
        qs = qs.filter(client_id__in=client_ids)
    if f.site_level:
        if site_ids is None:
            site_ids = list(_matching_sites(user.tenant_id, f).values_list("id", flat=True))
        qs = qs.filter(site_id__in=site_ids)
    since = f.since(now)
    if since is not None:
        qs = qs.filter(last_seen_at__gte=since)
    return qs


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def start_of_day(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: "today" for the MTTA/MTTR tiles."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# --- KPI tiles --------------------------------------------------------------------------------


def kpis(user, f: OverviewFilters, *, now: datetime | None = None, summary: bool = True) -> dict:
    """The tiles: from the tenant's summary (TenantSummary), or with `summary=False` the same
    figures by SQL (which tests compare)."""
    now = now or timezone.now()
    if summary:
        return _kpis_from_summary(user, f, now)
    alerts = filtered_alerts(user, f, now)
    is_open = Q(status__in=OPEN_STATUSES)
    # COUNT(status), not COUNT(id): every column read is in the partial indexes of migration
    # alerts 0004, so PostgreSQL can answer from the index alone (no NULLs: same count)
    active = alerts.exclude(status=Status.RESOLVED).aggregate(
        **{f"open_{s}": Count("status", filter=is_open & Q(severity=s)) for s in SEVERITIES},
        overdue=Count("status", filter=overdue_condition(now)),
        suppressed_maintenance=Count(
            "status",
            filter=Q(status=Status.SUPPRESSED, suppression_reason=SuppressionReason.MAINTENANCE),
        ),
        sites_with_critical=Count(
            "site_id", distinct=True, filter=is_open & Q(severity=Severity.CRITICAL)
        ),
    )
    midnight = start_of_day(now)
    acknowledged = alerts.filter(acknowledged_at__gte=midnight).aggregate(
        n=Count("acknowledged_at"), mean=Avg("time_to_acknowledge")
    )
    resolved = alerts.filter(resolved_at__gte=midnight).aggregate(
        n=Count("resolved_at"), mean=Avg("time_to_resolve")
    )
    by_severity = {s: active[f"open_{s}"] for s in SEVERITIES}
    return {
        "open": {"total": sum(by_severity.values()), "by_severity": by_severity},
        "unacknowledged_overdue": active["overdue"],
        "suppressed_maintenance": active["suppressed_maintenance"],
        "sites_with_critical": active["sites_with_critical"],
        "mtta_today_seconds": _seconds(acknowledged["mean"]),
        "mttr_today_seconds": _seconds(resolved["mean"]),
        "acknowledged_today": acknowledged["n"],
        "resolved_today": resolved["n"],
        "generated_at": now.isoformat(),
    }


# --- the map and the drill-down ----------------------------------------------------------------


def _worst(by_severity: dict[str, int]) -> str | None:
    return next((s for s in SEVERITIES if by_severity[s]), None)


def site_health(
    user, f: OverviewFilters, *, now: datetime | None = None, summary: bool = True
) -> dict:
    """Every site in scope that matches the filters (healthy ones too), with its open alerts,
    and the clients of the drill-down with their totals; ordered by client code, site code.
    The counts come from the tenant's summary (or by SQL with `summary=False`)."""
    now = now or timezone.now()
    pii = has_capability(user, Capability.VIEW_PII)
    site_rows = list(
        filtered_sites(user, f)
        .order_by("client__code", "code")
        .values_list(
            "id",
            "code",
            "name",
            "client_id",
            "client__code",
            "client__name",
            "city",
            "state",
            "latitude",
            "longitude",
            "active",
            "officer_in_charge__first_name",
            "officer_in_charge__last_name",
            "officer_in_charge__username",
        )
    )
    clients_qs = visible_clients(user)
    if f.clients:
        clients_qs = clients_qs.filter(code__in=f.clients)
    clients = list(clients_qs.order_by("code").values_list("id", "code", "name"))
    per_site: dict[int, dict[str, int]] = {}
    per_client: dict[int, dict[str, int]] = {}
    if summary:  # from the tenant's summary of active alerts
        client_ids = {client_id for client_id, _, _ in clients}
        site_ids = {row[0] for row in site_rows} if f.site_level else None
        admits = _admits(user, client_ids, site_ids)
        held = tenant_summary(user.tenant_id, now).active[f.range]
        for (client_id, site_id), counters in held.items():
            if not admits(client_id, site_id):
                continue
            open_by_severity = counters[: len(SEVERITIES)]
            if site_id is not None:
                _add(per_site.setdefault(site_id, dict.fromkeys(SEVERITIES, 0)), open_by_severity)
            if client_id is not None:
                mix = per_client.setdefault(client_id, dict.fromkeys(SEVERITIES, 0))
                _add(mix, open_by_severity)
        counts: Iterable[tuple] = ()
    else:
        # open alerts by (client, site, severity): alerts without a site count for their
        # client (unless a site-level filter is on, which leaves them out)
        counts = _open_counts(user, f, now, clients, site_rows)
    for client_id, site_id, severity, n in counts:
        if site_id is not None:
            per_site.setdefault(site_id, dict.fromkeys(SEVERITIES, 0))[severity] += n
        if client_id is not None:
            per_client.setdefault(client_id, dict.fromkeys(SEVERITIES, 0))[severity] += n
    empty = dict.fromkeys(SEVERITIES, 0)
    sites = []
    site_count: dict[int, int] = {}
    for (
        site_id,
        code,
        name,
        client_id,
        client_code,
        client_name,
        city,
        state,
        lat,
        lon,
        active,
        first,
        last,
        username,
    ) in site_rows:
        mix = per_site.get(site_id, empty)
        site_count[client_id] = site_count.get(client_id, 0) + 1
        sites.append(
            {
                "id": site_id,
                "code": code,
                "name": name,
                "client_code": client_code,
                "client_name": client_name,
                "city": city,
                "state": state,
                "lat": lat,
                "lon": lon,
                "officer": shown_name(
                    display_name(first, last, username) if username is not None else None, pii
                ),
                "worst": _worst(mix),
                "open": sum(mix.values()),
                "critical": mix[Severity.CRITICAL.value],
                "active": active,
            }
        )
    client_out = []
    for client_id, code, name in clients:
        if f.site_level and client_id not in site_count:
            continue  # the filters leave none of its sites
        mix = per_client.get(client_id, empty)
        client_out.append(
            {
                "code": code,
                "name": name,
                "sites": site_count.get(client_id, 0),
                "open": sum(mix.values()),
                "worst": _worst(mix),
                "by_severity": dict(mix),
            }
        )
    return {"sites": sites, "clients": client_out, "generated_at": now.isoformat()}


def _add(mix: dict[str, int], open_by_severity) -> None:
    for severity, n in zip(SEVERITIES, open_by_severity, strict=True):
        mix[severity] += n


def _open_counts(user, f: OverviewFilters, now: datetime, clients: list, site_rows: list):
    return (
        filtered_alerts(
            user,
            f,
            now,
            client_ids=[client_id for client_id, _, _ in clients],
            site_ids=[row[0] for row in site_rows],
        )
        .filter(status__in=OPEN_STATUSES)
        .values("client_id", "site_id", "severity")
        .annotate(n=Count("status"))
        .values_list("client_id", "site_id", "severity", "n")
        .order_by()
    )


# --- the tenant's active alerts, summarised once and shared by every filter ------------------


# The summary's time buckets: an alert last seen within RANGES[RANGE_ORDER[i]] but not within
# the range before it is in bucket i; older ones in bucket len(RANGE_ORDER). A time range
# filter (`last_seen_at >= now - range`) is then the sum of buckets 0..i.
RANGE_ORDER: Final = tuple(sorted(RANGES, key=RANGES.__getitem__))

Place = tuple[int | None, int | None]  # (client id, site id)

# One open alert as the feed filters and orders it: (severity rank (SEVERITIES, then any other
# value), first seen, id, client id, site id, status, last seen), times in microseconds since
# the epoch (exact, compared as ints).
OpenRow = tuple[int, int, int, int | None, int | None, str, int]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


# the feed's orders over OpenRow (FEED_ORDERS' columns, each ending with the id)
_OPEN_ORDER_KEYS: dict[str, Callable[[OpenRow], tuple]] = {
    "severity": lambda r: (r[0], r[1], r[2]),
    "-last_seen": lambda r: (-r[6], -r[2]),
    "-first_seen": lambda r: (-r[1], -r[2]),
}
# per process: the other orders of the summary last asked for them (TenantSummary.open_in_order)
_ORDERED: dict[int, tuple[object, dict[str, tuple[OpenRow, ...]]]] = {}


@dataclass(frozen=True)
class TenantSummary:
    """A tenant's active alerts folded per (client id, site id) — at most one row per site and
    one per client for its site-less alerts — and today's acknowledgements and resolutions,
    each for any time ("") and for every time range of RANGES (last seen within it, as of `at`).

    `active[range][(client_id, site_id)]` = open alerts per severity (SEVERITIES order), then
    unacknowledged past their escalation delay, then suppressed by maintenance;
    `acknowledged` / `resolved`[range][(client_id, site_id)] = (count, durations counted,
    summed duration in seconds). Three grouped queries (by place and time bucket) over the
    partial indexes the tiles already read; every scope and filter (client codes, city, state,
    officer, site, a time range) is then answered in memory from at most ~1,000 rows, so the
    people of a tenant with sixty different filter sets cost one computation per renewal, not
    sixty. Figures are as of `at` (when it was computed, at most OVERVIEW_SUMMARY_SECONDS old).
    """

    at: datetime
    active: dict[str, dict[Place, tuple[int, ...]]]
    acknowledged: dict[str, dict[Place, tuple[int, int, float]]]
    resolved: dict[str, dict[Place, tuple[int, int, float]]]
    # the open alerts (OPEN_STATUSES) in the feed's severity order, one OpenRow each
    open_alerts: tuple[OpenRow, ...] = ()

    def open_in_order(self, order: str) -> tuple[OpenRow, ...]:
        """`open_alerts` in one of FEED_ORDERS (sorted once per summary and process)."""
        if order == FEED_DEFAULT_ORDER:
            return self.open_alerts
        held = _ORDERED.get(id(self))
        if held is None or held[0] is not self:
            held = (self, {})
            _ORDERED.clear()  # one summary per tenant is current: older orders are dropped
            _ORDERED[id(self)] = held
        ordered = held[1].get(order)
        if ordered is None:
            ordered = held[1][order] = tuple(sorted(self.open_alerts, key=_OPEN_ORDER_KEYS[order]))
        return ordered


def _bucket(now: datetime) -> Case:
    """The time bucket of an alert's last_seen_at (RANGE_ORDER) as of `now`."""
    return Case(
        *(
            When(last_seen_at__gte=now - RANGES[name], then=Value(i))
            for i, name in enumerate(RANGE_ORDER)
        ),
        default=Value(len(RANGE_ORDER)),
        output_field=IntegerField(),
    )


def _by_range(rows: Iterable[tuple], width: int) -> dict[str, dict[Place, tuple]]:
    """(client id, site id, bucket, *counters) rows summed per place for any time ("") and for
    each range (the buckets up to its own)."""
    out: dict[str, dict[Place, list]] = {name: {} for name in ("", *RANGE_ORDER)}
    for client_id, site_id, bucket, *counters in rows:
        place = (client_id, site_id)
        for name in ("", *RANGE_ORDER[bucket:]):
            held = out[name].get(place)
            if held is None:
                out[name][place] = list(counters)
            else:
                for i in range(width):
                    held[i] += counters[i]
    return {name: {k: tuple(v) for k, v in rows_.items()} for name, rows_ in out.items()}


def _load_summary(tenant_id: int, now: datetime) -> TenantSummary:
    alerts = Alert.objects.filter(tenant_id=tenant_id).annotate(bucket=_bucket(now))
    is_open = Q(status__in=OPEN_STATUSES)
    rows = (
        alerts.exclude(status=Status.RESOLVED)
        .values("client_id", "site_id", "bucket")
        .annotate(
            **{f"open_{s}": Count("status", filter=is_open & Q(severity=s)) for s in SEVERITIES},
            overdue=Count("status", filter=overdue_condition(now)),
            maintenance=Count(
                "status",
                filter=Q(
                    status=Status.SUPPRESSED, suppression_reason=SuppressionReason.MAINTENANCE
                ),
            ),
        )
        .values_list(
            "client_id",
            "site_id",
            "bucket",
            *(f"open_{s}" for s in SEVERITIES),
            "overdue",
            "maintenance",
        )
        .order_by()
    )
    active = _by_range(rows, len(SEVERITIES) + 2)
    midnight = start_of_day(now)

    def today(column: str, duration: str) -> dict:
        grouped = (
            alerts.filter(**{f"{column}__gte": midnight})
            .values("client_id", "site_id", "bucket")
            .annotate(n=Count(column), timed=Count(duration), total=Sum(duration))
            .values_list("client_id", "site_id", "bucket", "n", "timed", "total")
            .order_by()
        )
        return _by_range(
            (
                (client_id, site_id, bucket, n, timed, _total_seconds(total))
                for client_id, site_id, bucket, n, timed, total in grouped
            ),
            3,
        )

    return TenantSummary(
        at=now,
        active=active,
        acknowledged=today("acknowledged_at", "time_to_acknowledge"),
        resolved=today("resolved_at", "time_to_resolve"),
        open_alerts=_open_alerts(tenant_id),
    )


class EpochMicros(Func):
    """A timestamp as whole microseconds since the epoch, computed by PostgreSQL (EXTRACT gives
    an exact numeric there): psycopg turning 2 × 26,000 timestamptz values into aware datetimes
    cost ~170 ms of CPU, during which a gevent worker serves nobody else."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint"
    output_field = BigIntegerField()

    def get_db_converters(self, connection):
        return []  # psycopg gives an int already; int() again per value cost ~20 ms per list


def _open_alerts(tenant_id: int) -> tuple[OpenRow, ...]:
    """The tenant's open alerts in the feed's severity order (OpenRow): one query over the
    partial index of active alerts, the heap rows the active aggregate above reads too."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    other = len(SEVERITIES)
    columns = ("id", "client_id", "site_id", "severity", "status")
    alerts = Alert.objects.filter(tenant_id=tenant_id, status__in=OPEN_STATUSES).order_by()
    if connection.vendor == "postgresql":
        rows: Iterable[tuple] = alerts.annotate(
            first_us=EpochMicros("first_seen_at"), last_us=EpochMicros("last_seen_at")
        ).values_list(*columns, "first_us", "last_us")
    else:  # SQLite (embedded): datetimes, turned into microseconds here
        rows = (
            (*row[:5], _micros(row[5]), _micros(row[6]))
            for row in alerts.values_list(*columns, "first_seen_at", "last_seen_at")
        )
    out: list[OpenRow] = []
    for n, (pk, client_id, site_id, severity, status, first_us, last_us) in enumerate(rows, 1):
        out.append((rank.get(severity, other), first_us, pk, client_id, site_id, status, last_us))
        if n % 2000 == 0:
            time.sleep(0)  # gevent: the worker's waiting requests run between 2,000 rows
    out.sort(key=_OPEN_ORDER_KEYS[FEED_DEFAULT_ORDER])
    return tuple(out)


def _total_seconds(total: timedelta | float | None) -> float:
    if total is None:
        return 0.0
    return total.total_seconds() if isinstance(total, timedelta) else float(total)


# per process, one entry per tenant: (watermark and day, time.time() when stored, summary)
SUMMARIES = TtlCache("overview-summaries", ttl=3600, max_entries=1024)
_renewing: dict[int, threading.Lock] = {}
_renewing_guard = threading.Lock()


def tenant_summary(tenant_id: int, now: datetime) -> TenantSummary:
    """The tenant's TenantSummary (see held_summary)."""
    return held_summary(tenant_id, now)[1]


def held_summary(
    tenant_id: int, now: datetime, tenant_watermark: tuple | None = None
) -> tuple[float, TenantSummary]:
    """(when it was stored, the tenant's TenantSummary), renewed after
    OVERVIEW_SUMMARY_SECONDS (at least OVERVIEW_CACHE_SECONDS), at once when the watermark
    moves (anything created, acknowledged, assigned, escalated, resolved) and at midnight UTC;
    computed for every call when OVERVIEW_CACHE_SECONDS is 0.

    Held per process, and shared between processes through the cache (Redis in production):
    a process whose copy grew old takes the shared one when another process renewed it, so a
    tenant costs one computation per renewal, not one per process. One request of a process
    renews it; meanwhile the others of that process wait for it, or, when only its age is
    against it (same watermark), use the one held. Its age counts from when it was stored, so
    a renewal slower than the setting (a loaded machine) is still used. With the cache down,
    each process computes its own (degrade: logged once). `tenant_watermark`: the tenant's
    watermark when the caller has just read it."""
    if settings.OVERVIEW_CACHE_SECONDS <= 0:
        return time.time(), _load_summary(tenant_id, now)
    # a renewal is one unfiltered aggregate (~0.15 s quiet, ~1 s on a loaded 2-core machine):
    # renewed every second it kept a process busy (bench/dashboard.py, 2026-12-04 15:31)
    ttl = max(settings.OVERVIEW_CACHE_SECONDS, settings.OVERVIEW_SUMMARY_SECONDS)
    if tenant_watermark is None:
        tenant_watermark = watermark(tenant_id)
    mark = (tenant_watermark, start_of_day(now))

    def held(fresh: bool) -> tuple[float, TenantSummary] | None:
        entry = SUMMARIES.get_or_load(tenant_id, lambda: None)
        if entry is None or entry[0] != mark:
            return None
        return entry[1:] if not fresh or time.time() - entry[1] < ttl else None

    def hold(stored_at: float, summary: TenantSummary) -> None:
        entry = (mark, stored_at, summary)
        SUMMARIES.invalidate(tenant_id)
        SUMMARIES.get_or_load(tenant_id, lambda: entry)

    found = held(fresh=True)
    if found is not None:
        return found
    later = _after_response.get()
    if later is not None:
        grown_old = held(fresh=False)
        if grown_old is not None and time.time() - grown_old[0] < STALE_RENEWALS * ttl:
            # only grew old (same watermark, not long ago): it answers, and the renewal runs
            # once the response is sent (renewals_after_response)
            later.setdefault(tenant_id, lambda: held_summary(tenant_id, timezone.now()))
            return grown_old
    with _renewing_guard:
        lock = _renewing.setdefault(tenant_id, threading.Lock())
    if not lock.acquire(blocking=False):
        found = held(fresh=False)  # only grew old: use it while another request renews
        if found is not None:
            return found
        lock.acquire()  # the watermark moved: wait for the renewal under way
    try:
        found = held(fresh=True)  # renewed while this one waited
        if found is None:

            def compute() -> tuple[float, TenantSummary]:
                return time.time(), _load_summary(tenant_id, now)

            stored_at, summary = guarded_call(
                "aggregation",
                "cache",
                lambda: _shared_summary(tenant_id, mark, ttl, compute, held(fresh=False)),
                compute,
            )
            hold(stored_at, summary)
            found = (stored_at, summary)
        return found
    finally:
        lock.release()


# A summary that grew old by less than this many renewal periods, with the same watermark,
# answers a request inside renewals_after_response() while its renewal waits for the response.
STALE_RENEWALS = 3
_after_response: ContextVar[dict[Hashable, Callable[[], object]] | None] = ContextVar(
    "overview_renewals_after_response", default=None
)


@contextmanager
def renewals_after_response() -> Iterator[dict[Hashable, Callable[[], object]]]:
    """Within it, a tenant summary that only grew old (same watermark, less than STALE_RENEWALS
    periods) answers as it is, and its renewal is collected (one per tenant) instead of run on
    the request: pass what it yields to `renew_after(response, …)`, which runs them once the
    response is sent. The request that finds the summary old no longer waits its ~0.5 s
    renewal (1,000,000 alerts); the answers it gets are at most that much older."""
    renewals: dict[Hashable, Callable[[], object]] = {}
    token = _after_response.set(renewals)
    try:
        yield renewals
    finally:
        _after_response.reset(token)


def renew_after(response, renewals: dict[Hashable, Callable[[], object]]):
    """`response`, made to run `renewals` when the server closes it (after sending it: WSGI and
    ASGI servers and the test client call close() then), before Django's own close (which ends
    the request: its database connection is handled after)."""
    if not renewals:
        return response
    close = response.close

    def renew_then_close() -> None:
        try:
            _run_renewals(renewals)
        finally:
            close()

    response.close = renew_then_close
    return response


# This process's renewals not yet run (one per key, in order) and whether a request is running
# them: one at a time per process (_run_renewals).
_pending: dict[Hashable, Callable[[], object]] = {}
_pending_guard = threading.Lock()
_draining = False


def _run_renewals(renewals: dict[Hashable, Callable[[], object]]) -> None:
    """Run `renewals`, one renewal at a time in this process: when some are already running,
    they are handed over and this call returns at once; under gevent they run in a greenlet of
    their own (the response's connection is not held), else on this thread. Right after a summary,
    every filter set's answer is due; run side by side in a gevent worker, forty of them took
    turns with the requests waiting there, so one request waited for all forty's Python
    (0.5 s); one after the other, with a yield between two, a request waits for at most one."""
    global _draining
    with _pending_guard:
        for key, renew in renewals.items():
            _pending.setdefault(key, renew)
        if _draining:
            return
        _draining = True
    if _under_gevent():
        # a greenlet of its own: the connection whose response ran them is free for its next
        # request (the drain of forty renewals took ~0.5 s, which that connection waited)
        threading.Thread(target=_drain_then_close, name="overview-renewals", daemon=True).start()
    else:
        _drain()


def _under_gevent() -> bool:
    """Whether gevent patched the standard library (`serve`'s gunicorn workers): a thread is
    then a greenlet of this worker."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def _drain_then_close() -> None:
    try:
        _drain()
    finally:
        connections.close_all()  # this greenlet's database connection goes back to the pool


def _drain() -> None:
    global _draining
    try:
        while True:
            with _pending_guard:
                if not _pending:  # done: said under the guard, so nothing is left behind
                    _draining = False
                    return
                key = next(iter(_pending))
                renew = _pending.pop(key)
            try:
                renew()
            except Exception:  # a failed renewal: the next request renews on its own
                logger.exception("overview: renewing %s failed", key)
            time.sleep(0)  # gevent: requests that are ready run before the next renewal
    except BaseException:
        with _pending_guard:
            _draining = False
        raise


def _shared_summary(
    tenant_id: int,
    mark: tuple,
    ttl: float,
    compute: Callable[[], tuple[float, TenantSummary]],
    held: tuple[float, TenantSummary] | None,
) -> tuple[float, TenantSummary]:
    """(stored at, summary): the copy another process put in the cache if it has this `mark`
    and is younger than `ttl`; else computed here (one process at a time) and put there. While
    another process renews a summary that only grew old, the one `held` here answers."""
    key = f"overview:summary:{tenant_id}"
    deadline = time.monotonic() + SHARED_WAIT_SECONDS
    pause = 0.005
    while True:
        stamp = cache.get(f"{key}:stamp")
        if stamp is not None and stamp[0] == mark and time.time() - stamp[1] < ttl:
            shared = cache.get(key)
            if isinstance(shared, tuple) and shared[0] == stamp:
                return stamp[1], shared[1]
        if cache.add(f"{key}:computing", 1, timeout=max(10, int(SHARED_WAIT_SECONDS * 2))):
            try:
                stored_at, summary = compute()
                keep = max(60, int(ttl * 10))
                stamp = (mark, stored_at)
                cache.set(key, (stamp, summary), timeout=keep)
                cache.set(f"{key}:stamp", stamp, timeout=keep)
            finally:
                cache.delete(f"{key}:computing")
            return stored_at, summary
        if held is not None:  # another process renews one that only grew old: keep ours
            return held
        if time.monotonic() > deadline:
            return compute()
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _admits(
    user, client_ids: set[int] | None, site_ids: set[int] | None
) -> Callable[[int | None, int | None], bool]:
    """Whether a summary row (client id, site id) is in the user's scope and the filters:
    `client_ids` the clients filtered on (None = any), `site_ids` the sites a site-level filter
    leaves (None = no such filter; then site-less rows are left out too). The scope is decided
    in memory as the WebSocket decides it (`Reach.admits`, tests/access/test_scope.py)."""
    kind = scope_kind(user)
    reach = None if kind == ScopeKind.ALL_CLIENTS else scope_of(user).reach()
    placement = Alert.placement

    def admits(client_id: int | None, site_id: int | None) -> bool:
        if client_ids is not None and client_id not in client_ids:
            return False
        if site_ids is not None and (site_id is None or site_id not in site_ids):
            return False
        return reach is None or reach.admits(placement, client_id, site_id)

    return admits


def _filter_admits(user, f: OverviewFilters) -> Callable[[int | None, int | None], bool]:
    """`_admits` for the user's scope and the filters' client codes and places."""
    client_ids = None
    if f.clients:
        codes = Client.objects.for_tenant(user.tenant_id).filter(code__in=f.clients)
        client_ids = set(codes.values_list("id", flat=True))
    site_ids = None
    if f.site_level:
        site_ids = set(_matching_sites(user.tenant_id, f).values_list("id", flat=True))
    return _admits(user, client_ids, site_ids)


def _kpis_from_summary(
    user,
    f: OverviewFilters,
    now: datetime,
    *,
    summary: TenantSummary | None = None,
    admits: Callable[[int | None, int | None], bool] | None = None,
) -> dict:
    if admits is None:
        admits = _filter_admits(user, f)
    if summary is None:
        summary = tenant_summary(user.tenant_id, now)
    width = len(SEVERITIES)
    totals = [0] * (width + 2)
    critical_sites = 0
    for (client_id, site_id), counters in summary.active[f.range].items():
        if not admits(client_id, site_id):
            continue
        for i, n in enumerate(counters):
            totals[i] += n
        if site_id is not None and counters[0]:  # SEVERITIES[0] is CRITICAL
            critical_sites += 1

    def today(rows: dict) -> tuple[int, float | None]:
        n = timed = 0
        total = 0.0
        for (client_id, site_id), (count, with_duration, seconds) in rows.items():
            if admits(client_id, site_id):
                n, timed, total = n + count, timed + with_duration, total + seconds
        return n, (total / timed if timed else None)

    acknowledged, mtta = today(summary.acknowledged[f.range])
    resolved, mttr = today(summary.resolved[f.range])
    by_severity = dict(zip(SEVERITIES, totals[:width], strict=True))
    return {
        "open": {"total": sum(by_severity.values()), "by_severity": by_severity},
        "unacknowledged_overdue": totals[width],
        "suppressed_maintenance": totals[width + 1],
        "sites_with_critical": critical_sites,
        "mtta_today_seconds": mtta,
        "mttr_today_seconds": mttr,
        "acknowledged_today": acknowledged,
        "resolved_today": resolved,
        "generated_at": now.isoformat(),
    }


# --- the live feed -----------------------------------------------------------------------------

# The columns alert_payload reads (`writes.FEED_FIELDS`, one list for both paths), and the names a
# row shows: one query, no deferred loads.
FEED_ONLY = (
    *(Alert._meta.get_field(name).attname for name in FEED_FIELDS),
    "client__code",
    "client__name",
    "site__code",
    "site__name",
    "site__city",
    "site__state",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
)


# FEED_ONLY's alert columns (attribute names), then the names it reads through the relations
_ALERT_NAMES = tuple(Alert._meta.get_field(name).attname for name in FEED_FIELDS)


def feed_row(alert: Alert | SimpleNamespace, pii: bool) -> dict:
    """alert_payload(alert) plus the client, site and assignee names, masked for the reader."""
    row = alert_payload(alert)
    client, site, assignee = alert.client, alert.site, alert.assignee
    if not pii:
        row["title"] = mask_text(alert.title)
    row.update(
        place_fields(site, client),
        assignee_name=person_label(assignee, pii),
    )
    return row


def _feed_alerts(user, f: OverviewFilters, statuses: tuple[str, ...], now: datetime):
    return filtered_alerts(user, f, now).filter(status__in=statuses or OPEN_STATUSES)


def feed(
    user,
    f: OverviewFilters,
    *,
    statuses: tuple[str, ...] = (),
    order: str = FEED_DEFAULT_ORDER,
    limit: int = FEED_DEFAULT_LIMIT,
    now: datetime | None = None,
    summary: bool = True,
) -> list[dict]:
    """The first `limit` alerts in `order` (FEED_ORDERS); open alerts unless `statuses` says
    otherwise. Open alerts (any of OPEN_STATUSES) are chosen from the tenant's summary
    (`open_alerts`, see feed_with_total), others (or with `summary=False`) by SQL."""
    return feed_with_total(
        user, f, statuses=statuses, order=order, limit=limit, now=now, summary=summary
    )[0]


def feed_with_total(
    user,
    f: OverviewFilters,
    *,
    statuses: tuple[str, ...] = (),
    order: str = FEED_DEFAULT_ORDER,
    limit: int = FEED_DEFAULT_LIMIT,
    now: datetime | None = None,
    summary: bool = True,
) -> tuple[list[dict], int]:
    """(feed rows, how many alerts match in all, never fewer than the rows).

    For open alerts the ids come from the tenant's summary: its `open_alerts`, already in the
    severity order (the other orders sorted once per summary), filtered in memory by scope
    (`_admits`, as tiles and map) and filters, the first `limit` taken; then one query reads
    those rows through the user's scope (`alerts_for`: an id the memory let through by mistake
    would still not be shown) and the total comes from the same summary. Sixty filter sets
    then cost no SQL beyond the 200 rows each shows, where each read the tenant's active alerts
    by index until `limit` matched (60–400 ms with a time range or a city at 1,000,000
    alerts, docs/benchmarks.md). The rows are as current as the summary (renewed every
    OVERVIEW_SUMMARY_SECONDS, and at once on a create, acknowledgement, assignment,
    escalation or resolution), as the feed's shared answers were before."""
    now = now or timezone.now()
    if summary:
        choice = feed_choice(user, f, statuses=statuses, order=order, limit=limit, now=now)
        if choice is not None:
            found = feed_rows(user, choice.ids, has_capability(user, Capability.VIEW_PII))
            rows = [found[pk] for pk in choice.ids if pk in found]
            if len(choice.ids) < limit:
                return rows, len(rows)
            return rows, max(len(rows), choice.total)
    rows = _feed_by_sql(user, f, statuses, order, limit, now)
    if len(rows) < limit:  # everything fits: no need to count
        return rows, len(rows)
    return rows, max(len(rows), feed_total(user, f, statuses=statuses, now=now))


@dataclass(frozen=True)
class FeedChoice:
    """The feed's alerts chosen from the tenant's summary (feed_choice): their `ids` in order,
    how many match in all (`total`; the shown rows count when `ids` did not fill the limit),
    and the summary's time (`basis`): rows read for one choice stay right for every other
    choice made from the same summary."""

    ids: list[int]
    total: int
    basis: datetime


def feed_choice(
    user,
    f: OverviewFilters,
    *,
    statuses: tuple[str, ...] = (),
    order: str = FEED_DEFAULT_ORDER,
    limit: int = FEED_DEFAULT_LIMIT,
    now: datetime | None = None,
) -> FeedChoice | None:
    """The first `limit` open alerts (any of `statuses`, all of OPEN_STATUSES by default) in
    `order` from the tenant's summary, filtered in memory by scope (`_admits`, as tiles and
    map) and filters; None for a status outside OPEN_STATUSES (the feed reads those by SQL).
    The ids are a choice, not a permission: rows are read through the scope (`feed_rows`,
    `visible_ids`)."""
    now = now or timezone.now()
    wanted = frozenset(statuses or OPEN_STATUSES)
    if not wanted <= frozenset(OPEN_STATUSES):
        return None
    every_open = wanted == frozenset(OPEN_STATUSES)
    admits = _filter_admits(user, f)
    held = tenant_summary(user.tenant_id, now)
    since = f.since(now)
    since_us = _micros(since) if since is not None else None
    ids: list[int] = []
    matched = 0
    for _rank, _first, pk, client_id, site_id, status, last_seen in held.open_in_order(order):
        if status not in wanted or (since_us is not None and last_seen < since_us):
            continue
        if not admits(client_id, site_id):
            continue
        matched += 1
        if len(ids) < limit:
            ids.append(pk)
        elif every_open:
            break  # the open total comes from the tiles' figures below
    if len(ids) < limit:
        total = len(ids)
    elif every_open:
        total = _kpis_from_summary(user, f, now, summary=held, admits=admits)["open"]["total"]
    else:
        total = matched
    return FeedChoice(ids=ids, total=total, basis=held.at)


def visible_ids(user, ids: Iterable[int]) -> set[int]:
    """Which of `ids` the user's scope lets them see (one query through `alerts_for`)."""
    return set(alerts_for(user).filter(pk__in=list(ids)).values_list("pk", flat=True))


def feed_rows(user, ids: Iterable[int], pii: bool) -> dict[int, dict]:
    """The feed rows (feed_row) of those of `ids` in the user's scope, read through
    `alerts_for`, masked unless `pii`. Read as plain values into namespaces with the names
    feed_row reads: 200 `Alert` instances with their client, site and assignee cost ~20 ms of
    Python per answer, in a gevent worker that serves nobody meanwhile."""
    out: dict[int, dict] = {}
    for values in alerts_for(user).filter(pk__in=list(ids)).values_list(*FEED_ONLY).order_by():
        alert = SimpleNamespace(**dict(zip(_ALERT_NAMES, values[: len(_ALERT_NAMES)], strict=True)))
        client_code, client_name, site_code, site_name, city, state, *person = values[
            len(_ALERT_NAMES) :
        ]
        alert.client = (
            SimpleNamespace(code=client_code, name=client_name)
            if alert.client_id is not None
            else None
        )
        alert.site = (
            SimpleNamespace(code=site_code, name=site_name, city=city, state=state)
            if alert.site_id is not None
            else None
        )
        username, first_name, last_name = person
        alert.assignee = (
            SimpleNamespace(username=username, first_name=first_name, last_name=last_name)
            if alert.assignee_id is not None
            else None
        )
        out[alert.id] = feed_row(alert, pii)
    return out


def _feed_by_sql(
    user, f: OverviewFilters, statuses: tuple[str, ...], order: str, limit: int, now: datetime
) -> list[dict]:
    pii = has_capability(user, Capability.VIEW_PII)
    matching = _feed_alerts(user, f, statuses, now)
    if order == "severity":
        ids = _ids_by_severity(matching, limit)
        found = {
            a.pk: a
            for a in Alert.objects.filter(pk__in=ids)
            .select_related("client", "site", "assignee")
            .only(*FEED_ONLY)
            .order_by()
        }
        alerts = [found[pk] for pk in ids if pk in found]
    else:
        alerts = list(
            matching.select_related("client", "site", "assignee")
            .only(*FEED_ONLY)
            .order_by(*FEED_ORDERS[order])[:limit]
        )
    return [feed_row(a, pii) for a in alerts]


def _ids_by_severity(matching: QuerySet[Alert], limit: int) -> list[int]:
    """The ids of the first `limit` alerts of `matching` in the severity order, in one
    statement: per severity (and one part for any other value) the first `limit` by first seen
    and id — which the index alert_active_severity_age (tenant, severity, first_seen_at, id)
    reads in order, stopping at `limit` — put together and cut to `limit`. Sorting every
    matching row by a CASE instead read the heap row of each of a large tenant's ~26,000 active
    alerts (docs/benchmarks.md, 2026-12-04 overview)."""
    parts: list[str] = []
    params: list = []
    known = list(SEVERITIES)
    for rank in range(len(known) + 1):
        only = Q(severity=known[rank]) if rank < len(known) else ~Q(severity__in=known)
        sub = (
            matching.filter(only)
            .order_by("first_seen_at", "id")
            .values_list("first_seen_at", "id")[:limit]
        )
        try:
            sql, sub_params = sub.query.sql_with_params()
        except EmptyResultSet:  # e.g. no client matched the filter's codes: nothing to read
            continue
        # the ORM's own SQL with its parameters kept apart; rank is an int of this loop
        parts.append(f"SELECT {rank} AS r, p{rank}.* FROM ({sql}) p{rank}")  # noqa: S608
        params.extend(sub_params)
    if not parts:
        return []
    union = " UNION ALL ".join(parts)
    statement = f"SELECT u.* FROM ({union}) u ORDER BY 1, 2, 3 LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, limit])
        return [row[2] for row in cursor.fetchall()]


def feed_total(
    user, f: OverviewFilters, *, statuses: tuple[str, ...] = (), now: datetime | None = None
) -> int:
    """How many alerts the feed's filters match, shown or not: for the open alerts (no
    `statuses`) the tiles' total from the tenant's summary, else one COUNT over the partial
    indexes the tiles read."""
    now = now or timezone.now()
    if not statuses or set(statuses) == set(OPEN_STATUSES):
        return _kpis_from_summary(user, f, now)["open"]["total"]
    return _feed_alerts(user, f, statuses, now).count()


# --- one answer per scope and filters, shared ----------------------------------------------------

# How long a caller waits for the answer another request is computing before it computes its own.
SHARED_WAIT_SECONDS = 5.0


WATERMARK_COLUMNS = ("acknowledged_at", "assigned_at", "escalated_at", "resolved_at")


# WATERMARK_COLUMNS' maxima and the newest id (quoted names: PostgreSQL and SQLite alike)
_WATERMARK_SQL = (
    'SELECT MAX("id"), MAX("acknowledged_at"), MAX("assigned_at"), MAX("escalated_at"), '
    'MAX("resolved_at") FROM "alerts_alert" WHERE "tenant_id" = %s'
)


def watermark(tenant_id: int) -> tuple:
    """The tenant's newest alert id, acknowledgement, assignment, escalation and resolution:
    one statement of five index probes (the primary key and alerts 0006/0007's partial
    indexes), ~0.3 ms in PostgreSQL with 1M alerts. It moves whenever one of those happens
    anywhere in the tenant. Sent as raw SQL: the same statement through the ORM's aggregate()
    cost ~3 ms of Python per request (bench/profile_overview.py); the times are only compared
    with each other, so they stay as the driver gives them (as text)."""
    with connection.cursor() as cursor:
        cursor.execute(_WATERMARK_SQL, [tenant_id])
        last_id, *times = cursor.fetchone()
    return (last_id, *(t if t is None else str(t) for t in times))


def _scope_key(user) -> str:
    """Users who see every client of a tenant see the same answers; others get their own."""
    return "all" if scope_kind(user) == ScopeKind.ALL_CLIENTS else f"user{user.pk}"


def _answer_key(kind: str, user, f: OverviewFilters, extra: tuple = ()) -> str:
    filters = hashlib.sha256(
        json.dumps([asdict(f), extra], sort_keys=True, default=str).encode()
    ).hexdigest()[:24]
    pii = int(has_capability(user, Capability.VIEW_PII))
    return f"overview:{kind}:{user.tenant_id}:{_scope_key(user)}:{pii}:{filters}"


# How old a held answer the overview page's HTML may carry (held_answer): it then re-reads the
# tiles and map at once (cheap: shared answers, and 304s for what did not change).
HELD_ANSWER_SECONDS = 60.0


def held_answer(
    kind: str, user, f: OverviewFilters, *, extra: tuple = (), tenant_watermark: tuple | None = None
) -> bytes | None:
    """The shared answer (see shared_answer) some caller already computed for this `kind`,
    filters, scope and PII view, if nothing was created, acknowledged, assigned, escalated or
    resolved in the tenant since (`watermark`) and it is younger than HELD_ANSWER_SECONDS;
    else None. Never computes: the overview page's HTML carries what is held, and the page
    asks for the rest."""
    if settings.OVERVIEW_CACHE_SECONDS <= 0:
        return None

    def read() -> bytes | None:
        key = _answer_key(kind, user, f, extra)
        stamp = cache.get(f"{key}:stamp")
        mark = tenant_watermark if tenant_watermark is not None else watermark(user.tenant_id)
        if stamp is None or stamp[0] != mark or time.time() - stamp[1] > HELD_ANSWER_SECONDS:
            return None
        return _body(key, stamp)

    return guarded_call("aggregation", "cache", read, lambda: None)


def shared_answer(
    kind: str,
    user,
    f: OverviewFilters,
    compute: Callable[[], bytes],
    *,
    extra: tuple = (),
    summarised: bool = False,
) -> bytes:
    """`compute()` (an encoded answer), computed once and shared by every caller who asks the
    same `kind` with the same filters (and `extra` parameters), scope and PII view.

    A stored answer is used while it is younger than settings.OVERVIEW_CACHE_SECONDS (1 s by
    default) and nothing was created, acknowledged, assigned, escalated or resolved in the
    tenant since it was computed (`watermark`): those show at once. What the watermark does not
    see (a repeat moving an alert up the feed or adding to its count, a suppressed alert
    reopening, the clock passing an escalation delay, a change two concurrent writers committed
    out of id or time order) shows when the answer expires, or one computation later. One
    caller computes; after a step the others wait for its answer (at most SHARED_WAIT_SECONDS),
    so a change that makes a hundred open pages re-read costs one computation, not a hundred;
    an answer that only expired is served as it is while one caller renews it. With
    OVERVIEW_CACHE_SECONDS = 0, `compute()` runs for every call.

    `summarised`: the answer is renewed with the tenant's summary (TenantSummary), not every
    OVERVIEW_CACHE_SECONDS: one computed from the summary now held stays right whatever its
    age (tiles and map come from it alone; the feed's rows are read when it is renewed, so a
    repeat shows in them within OVERVIEW_SUMMARY_SECONDS). Sixty filter sets cost sixty
    computations per renewal of the summary (5 s, or at once on a step), not per second.
    """
    ttl = settings.OVERVIEW_CACHE_SECONDS
    if ttl <= 0:
        return compute()
    # the cache down (Redis unreachable) is no reason to fail a read: every caller computes
    # (the `aggregation` circuit, open, spares every process the try: watchfloor.circuit)
    return guarded_call(
        "aggregation",
        "cache",
        lambda: _shared_through_cache(kind, user, f, compute, extra, ttl, summarised),
        compute,
    )


# per process: the last body read or computed for each answer key, with its stamp
BODIES = TtlCache("overview-bodies", ttl=3600, max_entries=256)


def _body(key: str, stamp: tuple) -> bytes | None:
    """The body of the answer `stamp` names: this process's copy when it holds that one,
    else read from the cache (and held)."""
    held = BODIES.get_or_load(key, lambda: None)
    if held is not None and held[0] == stamp:
        return held[1]
    body = cache.get(key)
    if body is not None:
        _hold_body(key, stamp, body)
    return body


def _hold_body(key: str, stamp: tuple, body: bytes) -> None:
    BODIES.invalidate(key)
    BODIES.get_or_load(key, lambda: (stamp, body))


def _shared_through_cache(
    kind: str,
    user,
    f: OverviewFilters,
    compute: Callable[[], bytes],
    extra: tuple,
    ttl: float,
    summarised: bool = False,
) -> bytes:
    key = _answer_key(kind, user, f, extra)
    mark = watermark(user.tenant_id)
    # the summary the answer would be computed from (renewed here when due): an answer
    # computed from this very one is still right, whatever its age
    basis = held_summary(user.tenant_id, timezone.now(), mark)[0] if summarised else None
    later = _after_response.get() if summarised else None
    stale_for = STALE_RENEWALS * max(ttl, settings.OVERVIEW_SUMMARY_SECONDS)
    deadline = time.monotonic() + SHARED_WAIT_SECONDS
    pause = 0.005
    while True:
        # the small stamp first: waiters poll it, the body (up to ~300 kB) is read once per
        # process and computation (BODIES holds the last one this process read or computed)
        stamp = cache.get(f"{key}:stamp")
        if (
            stamp is not None
            and stamp[0] == mark
            and (time.time() - stamp[1] < ttl or (basis is not None and stamp[2:] == (basis,)))
        ):
            body = _body(key, stamp)
            if body is not None:
                return body
        if later is not None and stamp is not None and stamp[0] == mark and basis is not None:
            # computed from an older summary, no step since, not long ago: it answers, and it
            # is renewed once the response is sent. Sixty filter sets renewed on their requests
            # right after each summary made a burst of computations a gevent worker serves
            # nobody during (the feed's p95 of 0.5-0.9 s, docs/benchmarks.md); after the
            # response each waits only for the others' turns between their queries.
            body = _body(key, stamp) if time.time() - stamp[1] < stale_for else None
            if body is not None:
                later.setdefault(
                    ("answer", key),
                    lambda: shared_answer(
                        kind, user, f, compute, extra=extra, summarised=summarised
                    ),
                )
                return body
        if cache.add(f"{key}:computing", 1, timeout=max(10, int(SHARED_WAIT_SECONDS * 2))):
            try:
                started = time.time()
                body = compute()
                keep = max(60, int(ttl * 10))
                stamp = (mark, started, basis)
                cache.set(key, body, timeout=keep)
                cache.set(f"{key}:stamp", stamp, timeout=keep)
                _hold_body(key, stamp, body)
            finally:
                cache.delete(f"{key}:computing")
            return body
        if stamp is not None and stamp[0] == mark:
            # another request is renewing an answer that only grew old (no step since): serve
            # it meanwhile rather than hold a sync worker, which serves one request at a time
            body = _body(key, stamp)
            if body is not None:
                return body
        if time.monotonic() > deadline:
            return compute()
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
