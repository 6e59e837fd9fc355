"""Read side of the reports (DESIGN.md "Reports"): MTTA and MTTR, alert frequency by type with a
daily trend, SLA compliance and the noisiest sites, over a date range, for a user's scope and the
overview's filters (client codes, city, state, officer in charge, site).

Every figure is a grouped query in the database (date-truncated there for the trend), never a
Python loop over alerts; a whole report is a fixed number of queries whatever the range or the
estate (tests/reports/test_report_queries.py counts them). The alerts read are the user's
(`alerts_for`, i.e. `Alert.objects.restrict(scope)`) through `overview_queries.filtered_alerts`,
so a client code outside the scope (another tenant's) matches nothing, as on the overview.

Each report reads the daily rollup (reports/models.py, filled by the `reports.rollup` job) for
the whole rolled days of its range, and the alerts only for the rest: the partial edge days,
the days not rolled yet (today), and — for the figures by first-seen day — the alerts still
active or resolved after the tenant's watermark (few, in the active and resolved indexes). Both
paths give the same figures (tests/reports/test_rollup.py compares them); the rollup's rows carry
client and site, so the scope and the filters apply to them alike.

Which alerts each figure reads:

- MTTA: alerts acknowledged within the range (`acknowledged_at`), mean `time_to_acknowledge`;
- MTTR: alerts resolved within the range (`resolved_at`), mean `time_to_resolve`;
- frequency, SLA compliance and noisy sites: alerts first seen within the range.

SLA compliance measures alerts against the tenant's incident SLA targets (the incident policy's
`sla_minutes`: acknowledge and resolve minutes per severity, edited on the incident policy
page). An alert meets the acknowledge target when it was acknowledged — or resolved without an
acknowledgement — within the target; it breaches it when that took longer or when it is still
unanswered past the target; otherwise it is pending. Likewise for resolve. Suppressed alerts
(maintenance, back-pressure) are nobody's work and are left out of SLA compliance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_label
from watchfloor.access.scope import has_capability, scope_of
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.overview_queries import OverviewFilters, _matching_sites, filtered_alerts
from watchfloor.incidents.models import IncidentPolicy, default_sla_minutes
from watchfloor.reports.models import AlertDayRollup, Grain, ResponseDayRollup, RollupState
from watchfloor.tenancy.models import Client, Site

SEVERITIES = tuple(s.value for s in Severity)  # worst first
MAX_SPAN = timedelta(days=366)
PRESETS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PRESET = "7d"
TOP_TYPES = 8  # the trend draws the most frequent types, the rest summed as "other"
TOP_SITES = 20
OTHER = "other"
SLA_SOURCE = "incident policy SLA targets (acknowledge and resolve minutes per severity)"


class RangeError(ValueError):
    """A date range a report cannot take; `field` names the parameter at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportRange:
    """[since, until): aware UTC datetimes, since < until, at most MAX_SPAN apart."""

    since: datetime
    until: datetime
    preset: str = ""  # "24h", "7d", "30d", or "" for a custom range

    @classmethod
    def build(
        cls,
        *,
        preset: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
    ) -> ReportRange:
        """A preset ending now, or a custom range (`since` given; `until` defaults to now)."""
        now = now or timezone.now()
        if since is None and until is None:
            preset = preset or DEFAULT_PRESET
            if preset not in PRESETS:
                raise RangeError("range", f"Use one of {', '.join(PRESETS)}.")
            return cls(since=now - PRESETS[preset], until=now, preset=preset)
        if since is None:
            raise RangeError("since", "Give the start of the range with its end.")
        until = until or now
        if since >= until:
            raise RangeError("until", "The end of the range must be after its start.")
        if until - since > MAX_SPAN:
            raise RangeError("until", "A report covers at most 366 days.")
        return cls(since=since.astimezone(UTC), until=until.astimezone(UTC), preset="")

    @property
    def days(self) -> list[datetime]:
        """Midnight UTC of each day the range touches (the trend's x axis)."""
        day = self.since.replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        while day < self.until:
            out.append(day)
            day += timedelta(days=1)
        return out


@dataclass(frozen=True)
class Ids:
    """The filters' client and site ids (None: not filtered), resolved once per report so the
    alerts and the rollup filter on the same lists."""

    clients: list[int] | None
    sites: list[int] | None

    @classmethod
    def of(cls, user, f: OverviewFilters) -> Ids:
        clients = sites = None
        if f.clients:
            codes = Client.objects.for_tenant(user.tenant_id).filter(code__in=f.clients)
            clients = list(codes.values_list("id", flat=True))
        if f.site_level:
            sites = list(_matching_sites(user.tenant_id, f).values_list("id", flat=True))
        return cls(clients, sites)


def _alerts(user, f: OverviewFilters, now: datetime, ids: Ids | None = None) -> QuerySet[Alert]:
    # the overview's filters without its "last seen within" range: the report has its own
    ids = ids or Ids.of(user, f)
    return filtered_alerts(
        user,
        OverviewFilters(**{**f.__dict__, "range": ""}),
        now,
        client_ids=ids.clients,
        site_ids=ids.sites,
    )


def _rollup(model, user, ids: Ids) -> QuerySet:
    """The rollup rows the user may see that match the filters (as `filtered_alerts`)."""
    qs = model.objects.restrict(scope_of(user))
    if ids.clients is not None:
        qs = qs.filter(client_id__in=ids.clients)
    if ids.sites is not None:
        qs = qs.filter(site_id__in=ids.sites)
    return qs


def _midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Rolled:
    """The whole rolled days inside a range, [start, end) (empty when start == end), the
    tenant's watermark and the SLA targets the rollup counted with."""

    start: datetime
    end: datetime
    watermark: datetime | None = None
    sla_minutes: dict | None = None

    @property
    def empty(self) -> bool:
        return self.start >= self.end

    @classmethod
    def of(cls, tenant_id: int, r: ReportRange) -> Rolled:
        state = (
            RollupState.objects.filter(tenant_id=tenant_id)
            .values("first_day", "end_day", "watermark", "sla_minutes")
            .first()
        )
        if not state:
            return cls(r.since, r.since)
        first_day, end_day = state["first_day"], state["end_day"]
        if first_day is None or end_day is None or state["watermark"] is None:
            return cls(r.since, r.since)
        first = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
        last = datetime.combine(end_day, datetime.min.time(), tzinfo=UTC)
        since = _midnight(r.since)
        start = max(since if since == r.since else since + timedelta(days=1), first)
        end = min(_midnight(r.until), last)
        if start >= end:
            return cls(r.since, r.since)
        return cls(start, end, state["watermark"], state["sla_minutes"])

    def live(self, at: str, r: ReportRange) -> Q:
        """Events (`at`: acknowledged_at, resolved_at) in the range outside the rolled days."""
        q = Q(**{f"{at}__gte": r.since, f"{at}__lt": r.until})
        if self.empty:
            return q
        return q & (Q(**{f"{at}__lt": self.start}) | Q(**{f"{at}__gte": self.end}))

    def live_first_seen(self, r: ReportRange) -> Q:
        """Alerts first seen in the range that the rollup does not hold: outside the rolled
        days, or on them but active or resolved after the watermark. Written as an OR of
        indexable branches (first_seen, the active partial indexes, the resolved index)."""
        if self.empty:
            return Q(first_seen_at__gte=r.since, first_seen_at__lt=r.until)
        on_rolled = Q(first_seen_at__gte=self.start, first_seen_at__lt=self.end)
        return (
            Q(first_seen_at__gte=r.since, first_seen_at__lt=self.start)
            | Q(first_seen_at__gte=self.end, first_seen_at__lt=r.until)
            | (on_rolled & ~Q(status=Status.RESOLVED))
            | (on_rolled & Q(resolved_at__gte=self.watermark))
        )


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 1) if value is not None else None


def sla_targets(tenant_id: int) -> dict[str, dict[str, int]]:
    """The tenant's SLA minutes per severity (acknowledge, resolve): the incident policy's, or
    its defaults when the tenant never saved one (read only: a report creates nothing)."""
    row = IncidentPolicy.objects.filter(tenant_id=tenant_id).values_list("sla_minutes", flat=True)
    saved = next(iter(row), None) or {}
    targets = default_sla_minutes()
    for severity, values in saved.items():
        if severity in targets and isinstance(values, dict):
            targets[severity] = {**targets[severity], **values}
    return targets


# --- MTTA / MTTR -------------------------------------------------------------------------------


def _mean_of(groups: list[dict]) -> dict:
    n = sum(g["n"] for g in groups)
    total = sum(g["mean"] * g["n"] for g in groups if g["mean"] is not None)
    return {"count": n, "mean_seconds": round(total / n, 1) if n else None}


def response_times(
    user,
    f: OverviewFilters,
    r: ReportRange,
    *,
    now: datetime | None = None,
    ids: Ids | None = None,
    rolled: Rolled | None = None,
):
    """MTTA and MTTR overall, by severity and by client: the rolled days' acknowledgements and
    resolutions (one grouped query on the rollup), the rest from the alerts (acknowledged in
    the range, resolved in the range, each grouped by severity and client) and one query for
    the clients' names."""
    now = now or timezone.now()
    ids = ids or Ids.of(user, f)
    rolled = rolled or Rolled.of(user.tenant_id, r)
    alerts = _alerts(user, f, now, ids)
    out: dict = {}
    client_ids: set[int] = set()
    grouped: dict[str, list[dict]] = {}
    # (severity, client) -> [count, timed, total seconds] per kind
    sums: dict[str, dict[tuple, list[float]]] = {"mtta": {}, "mttr": {}}
    if not rolled.empty:
        for row in (
            _rollup(ResponseDayRollup, user, ids)
            .filter(day__gte=rolled.start.date(), day__lt=rolled.end.date())
            .values("kind", "severity", "client_id")
            .annotate(n=Sum("count"), timed=Sum("timed"), total=Sum("total_us"))
            .order_by()
        ):
            name = "mtta" if row["kind"] == "ack" else "mttr"
            acc = sums[name].setdefault((row["severity"], row["client_id"]), [0, 0, 0.0])
            acc[0] += row["n"] or 0
            acc[1] += row["timed"] or 0
            acc[2] += (row["total"] or 0) / 1_000_000
    for name, at, took in (
        ("mtta", "acknowledged_at", "time_to_acknowledge"),
        ("mttr", "resolved_at", "time_to_resolve"),
    ):
        for row in (
            alerts.filter(rolled.live(at, r))
            .values("severity", "client_id")
            .annotate(n=Count(at), timed=Count(took), mean=Avg(took))
            .order_by()
        ):
            acc = sums[name].setdefault((row["severity"], row["client_id"]), [0, 0, 0.0])
            acc[0] += row["n"]
            acc[1] += row["timed"]
            if row["mean"] is not None:
                acc[2] += row["mean"].total_seconds() * row["timed"]
        groups: list[dict] = [
            {
                "severity": severity,
                "client_id": client_id,
                "n": n,
                "mean": total / timed if timed else None,
            }
            for (severity, client_id), (n, timed, total) in sums[name].items()
            if n
        ]
        grouped[name] = groups
        client_ids.update(g["client_id"] for g in groups if g["client_id"] is not None)
    names = dict(
        Client.objects.for_tenant(user.tenant_id)
        .filter(pk__in=client_ids)
        .values_list("id", "code")
    )
    for name, groups in grouped.items():
        by_severity = []
        for severity in SEVERITIES:
            of = [g for g in groups if g["severity"] == severity]
            by_severity.append({"severity": severity, **_mean_of(of)})
        clients: dict = {}
        for g in groups:
            clients.setdefault(g["client_id"], []).append(g)
        by_client = sorted(
            (
                {"client": names.get(cid, "") if cid is not None else "", **_mean_of(of)}
                for cid, of in clients.items()
            ),
            key=lambda row: (-(row["mean_seconds"] or 0), row["client"]),
        )
        out[name] = {
            "overall": _mean_of(groups),
            "by_severity": by_severity,
            "by_client": by_client,
        }
    return out


# --- frequency by type, daily trend --------------------------------------------------------------


def frequency(
    user,
    f: OverviewFilters,
    r: ReportRange,
    *,
    now: datetime | None = None,
    ids: Ids | None = None,
    rolled: Rolled | None = None,
) -> dict:
    """Alerts first seen in the range by type (alerts and occurrences), and per UTC day for the
    most frequent types (the rest as "other"): the rolled days' rows by day and type (one
    grouped query on the rollup) plus one grouped query by day (truncated by the database) and
    type over the alerts the rollup does not hold; the per-type totals are summed from those
    rows (at most days × types, never one per alert)."""
    now = now or timezone.now()
    ids = ids or Ids.of(user, f)
    rolled = rolled or Rolled.of(user.tenant_id, r)
    merged: dict[tuple, list[int]] = {}
    if not rolled.empty:
        for row in (
            _rollup(AlertDayRollup, user, ids)
            .filter(grain=Grain.TYPE, day__gte=rolled.start.date(), day__lt=rolled.end.date())
            .values("day", "type")
            .annotate(n=Sum("alerts"), occurrences=Sum("occurrences"))
            .order_by()
        ):
            acc = merged.setdefault((row["day"], row["type"]), [0, 0])
            acc[0] += row["n"] or 0
            acc[1] += row["occurrences"] or 0
    for row in (
        _alerts(user, f, now, ids)
        .filter(rolled.live_first_seen(r))
        .annotate(day=Trunc("first_seen_at", "day", tzinfo=UTC))
        .values("day", "type")
        .annotate(n=Count("id"), occurrences=Sum("occurrence_count"))
        .order_by()
    ):
        day = row["day"]
        acc = merged.setdefault(
            ((day.astimezone(UTC) if day.tzinfo else day).date(), row["type"]), [0, 0]
        )
        acc[0] += row["n"]
        acc[1] += row["occurrences"] or 0
    daily = [
        {"day": day, "type": t, "n": n, "occurrences": occ} for (day, t), (n, occ) in merged.items()
    ]
    totals_by_type: dict[str, list[int]] = {}
    for row in daily:
        total = totals_by_type.setdefault(row["type"], [0, 0])
        total[0] += row["n"]
        total[1] += row["occurrences"] or 0
    ranked = sorted(totals_by_type.items(), key=lambda item: (-item[1][0], item[0]))
    by_type = [{"type": t, "alerts": n, "occurrences": occ} for t, (n, occ) in ranked]
    top = [row["type"] for row in by_type[:TOP_TYPES]]
    days = r.days
    index = {day.date(): i for i, day in enumerate(days)}
    series = {t: [0] * len(days) for t in top}
    totals = [0] * len(days)
    for row in daily:
        i = index.get(row["day"])
        if i is None:
            continue
        totals[i] += row["n"]
        key = row["type"] if row["type"] in series else OTHER
        series.setdefault(key, [0] * len(days))[i] += row["n"]
    return {
        "by_type": by_type,
        "trend": {
            "days": [d.date().isoformat() for d in days],
            "total": totals,
            "series": [{"type": t, "counts": counts} for t, counts in series.items()],
        },
    }


# --- SLA compliance ------------------------------------------------------------------------------


def _within(took: str, fallback: str | None, targets: dict[str, timedelta]) -> Q:
    """Answered within its severity's target (`took`, else `fallback` when `took` is empty)."""
    q = Q(pk__in=[])
    for severity, target in targets.items():
        done = Q(**{f"{took}__lte": target})
        if fallback:
            done |= Q(**{f"{took}__isnull": True, f"{fallback}__lte": target})
        q |= Q(severity=severity) & done
    return q


def _late(took: str, fallback: str | None, targets: dict[str, timedelta], now: datetime) -> Q:
    """Answered after its target, or still unanswered with the target passed."""
    q = Q(pk__in=[])
    for severity, target in targets.items():
        late = Q(**{f"{took}__gt": target})
        unanswered = Q(**{f"{took}__isnull": True})
        if fallback:
            late |= Q(**{f"{took}__isnull": True, f"{fallback}__gt": target})
            unanswered &= Q(**{f"{fallback}__isnull": True})
        q |= Q(severity=severity) & (late | (unanswered & Q(first_seen_at__lt=now - target)))
    return q


def sla_compliance(
    user,
    f: OverviewFilters,
    r: ReportRange,
    *,
    now: datetime | None = None,
    ids: Ids | None = None,
    rolled: Rolled | None = None,
):
    """Per severity and overall: alerts first seen in the range (not suppressed) that met,
    breached or still wait for their acknowledge and resolve targets: the rolled days' counts
    (when the rollup counted with the current targets) plus one grouped query over the alerts
    the rollup does not hold (and one for the tenant's targets)."""
    now = now or timezone.now()
    ids = ids or Ids.of(user, f)
    rolled = rolled or Rolled.of(user.tenant_id, r)
    minutes = sla_targets(user.tenant_id)
    if rolled.sla_minutes != minutes:
        rolled = Rolled(r.since, r.since)  # counted with other targets: read the alerts
    ack = {s: timedelta(minutes=minutes[s]["acknowledge"]) for s in SEVERITIES}
    res = {s: timedelta(minutes=minutes[s]["resolve"]) for s in SEVERITIES}
    keys = ("total", "ack_met", "ack_breached", "resolve_met", "resolve_breached")
    rows: dict[str, dict[str, int]] = {}
    if not rolled.empty:
        for row in (
            _rollup(AlertDayRollup, user, ids)
            .filter(grain=Grain.SEVERITY, day__gte=rolled.start.date(), day__lt=rolled.end.date())
            .values("severity")
            .annotate(
                total=Sum("alerts"),
                ack_met=Sum("ack_met"),
                ack_breached=Sum("ack_breached"),
                resolve_met=Sum("resolve_met"),
                resolve_breached=Sum("resolve_breached"),
            )
            .order_by()
        ):
            acc = rows.setdefault(row["severity"], dict.fromkeys(keys, 0))
            counted: dict[str, Any] = dict(row)
            for k in keys:
                acc[k] += counted[k] or 0
    for row in (
        _alerts(user, f, now, ids)
        .filter(rolled.live_first_seen(r))
        .exclude(status=Status.SUPPRESSED)
        .values("severity")
        .annotate(
            total=Count("id"),
            ack_met=Count("id", filter=_within("time_to_acknowledge", "time_to_resolve", ack)),
            ack_breached=Count(
                "id", filter=_late("time_to_acknowledge", "time_to_resolve", ack, now)
            ),
            resolve_met=Count("id", filter=_within("time_to_resolve", None, res)),
            resolve_breached=Count("id", filter=_late("time_to_resolve", None, res, now)),
        )
        .order_by()
    ):
        acc = rows.setdefault(row["severity"], dict.fromkeys(keys, 0))
        live: dict[str, Any] = dict(row)
        for k in keys:
            acc[k] += live[k] or 0
    by_severity = []
    for severity in SEVERITIES:
        row = dict(rows.get(severity) or {})
        counts = {k: row.get(k, 0) for k in keys}
        by_severity.append(
            {
                "severity": severity,
                "ack_target_minutes": minutes[severity]["acknowledge"],
                "resolve_target_minutes": minutes[severity]["resolve"],
                **_with_rates(counts),
            }
        )
    overall = {k: sum(row[k] for row in by_severity) for k in keys}
    return {
        "targets_source": SLA_SOURCE,
        "overall": _with_rates(overall),
        "by_severity": by_severity,
    }


def _rate(met: int, breached: int) -> float | None:
    """Share met among the alerts decided (met or breached); None when none is decided."""
    decided = met + breached
    return round(100 * met / decided, 1) if decided else None


def _with_rates(counts: dict) -> dict:
    return {
        **counts,
        "ack_pending": counts["total"] - counts["ack_met"] - counts["ack_breached"],
        "resolve_pending": counts["total"] - counts["resolve_met"] - counts["resolve_breached"],
        "ack_compliance_percent": _rate(counts["ack_met"], counts["ack_breached"]),
        "resolve_compliance_percent": _rate(counts["resolve_met"], counts["resolve_breached"]),
    }


# --- noisy sites ---------------------------------------------------------------------------------


def noisy_sites(
    user,
    f: OverviewFilters,
    r: ReportRange,
    *,
    now: datetime | None = None,
    limit: int = TOP_SITES,
    ids: Ids | None = None,
    rolled: Rolled | None = None,
) -> list[dict]:
    """The sites with the most alerts first seen in the range: alerts, their occurrences,
    alerts stored suppressed and repeats suppressed on them, with the site's client, place and
    officer in charge (masked without `noc:view_pii`). The rolled days' rows by site, the
    alerts the rollup does not hold by site (at most one row per site each), and the sites."""
    now = now or timezone.now()
    ids = ids or Ids.of(user, f)
    rolled = rolled or Rolled.of(user.tenant_id, r)
    keys = ("alerts", "occurrences", "suppressed_alerts", "suppressed_repeats")
    merged: dict[int, dict[str, int]] = {}
    if not rolled.empty:
        for row in (
            _rollup(AlertDayRollup, user, ids)
            .filter(
                grain=Grain.SITE,
                day__gte=rolled.start.date(),
                day__lt=rolled.end.date(),
                site__isnull=False,
            )
            .values("site_id")
            .annotate(
                alerts=Sum("alerts"),
                occurrences=Sum("occurrences"),
                suppressed_repeats=Sum("suppressed_repeats"),
            )
            .order_by()
        ):
            acc = merged.setdefault(row["site_id"], dict.fromkeys(keys, 0))
            counted = dict(row)
            for k in ("alerts", "occurrences", "suppressed_repeats"):
                acc[k] += counted[k] or 0
    for row in (
        _alerts(user, f, now, ids)
        .filter(rolled.live_first_seen(r), site__isnull=False)
        .values("site_id")
        .annotate(
            alerts=Count("id"),
            occurrences=Sum("occurrence_count"),
            suppressed_alerts=Count("id", filter=Q(status=Status.SUPPRESSED)),
            suppressed_repeats=Sum("suppressed_count"),
        )
        .order_by()
    ):
        acc = merged.setdefault(row["site_id"], dict.fromkeys(keys, 0))
        live: dict[str, Any] = dict(row)
        for k in keys:
            acc[k] += live[k] or 0
    rows = [
        {"site_id": site_id, **counts}
        for site_id, counts in sorted(
            merged.items(), key=lambda item: (-item[1]["alerts"], -item[1]["occurrences"], item[0])
        )[:limit]
        if counts["alerts"]
    ]
    sites = {
        s.id: s
        for s in Site.objects.for_tenant(user.tenant_id)
        .filter(pk__in=[row["site_id"] for row in rows])
        .select_related("client", "officer_in_charge")
    }
    pii = has_capability(user, Capability.VIEW_PII)
    out = []
    for row in rows:
        site = sites.get(row["site_id"])
        if site is None:
            continue
        officer = site.officer_in_charge
        out.append(
            {
                "site": site.code,
                "site_name": site.name,
                "client": site.client.code,
                "city": site.city,
                "state": site.state,
                "officer": person_label(officer, pii) if officer is not None else None,
                "alerts": row["alerts"],
                "occurrences": row["occurrences"] or 0,
                "suppressed_alerts": row["suppressed_alerts"],
                "suppressed_repeats": row["suppressed_repeats"] or 0,
                "suppressed": row["suppressed_alerts"] + (row["suppressed_repeats"] or 0),
            }
        )
    return out


def full_report(user, f: OverviewFilters, r: ReportRange, *, now: datetime | None = None):
    """Every report of the page (and of the CSV export) for one range and filters."""
    now = now or timezone.now()
    ids = Ids.of(user, f)
    rolled = Rolled.of(user.tenant_id, r)
    return {
        "range": {"since": r.since, "until": r.until, "preset": r.preset},
        "response_times": response_times(user, f, r, now=now, ids=ids, rolled=rolled),
        "frequency": frequency(user, f, r, now=now, ids=ids, rolled=rolled),
        "sla": sla_compliance(user, f, r, now=now, ids=ids, rolled=rolled),
        "noisy_sites": noisy_sites(user, f, r, now=now, ids=ids, rolled=rolled),
    }
