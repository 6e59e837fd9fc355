"""Fills the reports' daily rollup (reports/models.py): the `reports.rollup` job and the
`watchfloor rollup_reports` backfill.

Per tenant, in one transaction holding its `RollupState` row:

1. the watermark moves to `now - MARGIN` (never backwards): a resolution stamped before it
   whose transaction commits later than MARGIN after its stamp would be missed, so MARGIN is
   far longer than any write transaction;
2. the rolled days on which alerts were first seen that got resolved since the previous
   watermark are rolled again (their rows replaced), so every rolled day holds exactly the
   alerts resolved before the new watermark;
3. at most `batch_days` more finished days (ending before the watermark) are rolled, oldest
   first, from the tenant's first alert: a first run over a long history catches up in
   bounded batches, each run a bounded amount of work.

Rolling a day replaces its rows (delete, then insert the grouped rows), so a re-run gives the
same rows. When the tenant's SLA targets change, the rollup starts again from its first day
(the SLA counts were computed with the old targets); until it has caught up, the reports read
the days not rolled from the alerts, so their figures never change, only their speed.

This is derived data, not a user's write: there is no actor and nothing to audit.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from watchfloor.alerts.models import Alert, Status
from watchfloor.reports.models import (
    AlertDayRollup,
    Grain,
    ResponseDayRollup,
    ResponseKind,
    RollupState,
)
from watchfloor.reports.queries import SEVERITIES, _late, _within, sla_targets
from watchfloor.tenancy.models import Tenant

MARGIN = timedelta(minutes=10)
BATCH_DAYS = 31
DAY = timedelta(days=1)


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def roll_up(*, now: datetime | None = None, batch_days: int = BATCH_DAYS) -> dict:
    """`reports.rollup`: every tenant, one bounded step each. Returns counts (days rolled,
    days re-rolled, rows written, days still to catch up)."""
    now = now or timezone.now()
    totals: Counter = Counter()
    for tenant_id in Tenant.objects.order_by("id").values_list("id", flat=True):
        totals.update(roll_tenant(tenant_id, now=now, batch_days=batch_days))
    return {k: totals.get(k, 0) for k in ("days_rolled", "days_rerolled", "rows", "days_behind")}


def roll_tenant(tenant_id: int, *, now: datetime, batch_days: int = BATCH_DAYS) -> Counter:
    targets = sla_targets(tenant_id)
    out: Counter = Counter()
    with transaction.atomic():
        state, _ = RollupState.objects.select_for_update().get_or_create(tenant_id=tenant_id)
        watermark = now - MARGIN
        if state.watermark is not None:
            watermark = max(watermark, state.watermark)
        alerts = Alert.objects.filter(tenant_id=tenant_id)
        if state.end_day is not None and state.sla_minutes != targets:
            AlertDayRollup.objects.filter(tenant_id=tenant_id).delete()
            ResponseDayRollup.objects.filter(tenant_id=tenant_id).delete()
            state.end_day = state.first_day
        if state.first_day is None or state.end_day is None:
            first = alerts.order_by("first_seen_at").values_list("first_seen_at", flat=True)
            first_seen = next(iter(first[:1]), None)
            if first_seen is None:
                return out
            state.first_day = state.end_day = first_seen.astimezone(UTC).date()
        first_day, end_day = state.first_day, state.end_day
        if state.watermark is not None and end_day > first_day:
            dirty = (
                alerts.filter(
                    resolved_at__gte=state.watermark,
                    resolved_at__lt=watermark,
                    first_seen_at__gte=day_start(first_day),
                    first_seen_at__lt=day_start(end_day),
                )
                .annotate(day=Trunc("first_seen_at", "day", tzinfo=UTC))
                .values_list("day", flat=True)
                .distinct()
                .order_by()
            )
            for day in sorted({d.astimezone(UTC).date() for d in dirty}):
                AlertDayRollup.objects.filter(tenant_id=tenant_id, day=day).delete()
                out["rows"] += _roll_alerts(tenant_id, day, watermark, targets)
                out["days_rerolled"] += 1
        last = watermark.astimezone(UTC).date()  # days before it ended before the watermark
        day = end_day
        while day < last and out["days_rolled"] < batch_days:
            AlertDayRollup.objects.filter(tenant_id=tenant_id, day=day).delete()
            ResponseDayRollup.objects.filter(tenant_id=tenant_id, day=day).delete()
            out["rows"] += _roll_alerts(tenant_id, day, watermark, targets)
            out["rows"] += _roll_responses(tenant_id, day)
            out["days_rolled"] += 1
            day += DAY
        state.end_day = day
        state.watermark = watermark
        state.sla_minutes = targets
        state.save()
        out["days_behind"] += max(0, (last - day).days)
    return out


def _roll_alerts(tenant_id: int, day: date, watermark: datetime, minutes: dict) -> int:
    """The alerts first seen on `day` and resolved before the watermark, grouped."""
    ack = {s: timedelta(minutes=minutes[s]["acknowledge"]) for s in SEVERITIES}
    res = {s: timedelta(minutes=minutes[s]["resolve"]) for s in SEVERITIES}
    start = day_start(day)
    rows = (
        Alert.objects.filter(
            tenant_id=tenant_id,
            first_seen_at__gte=start,
            first_seen_at__lt=start + DAY,
            status=Status.RESOLVED,
            resolved_at__lt=watermark,
        )
        .values("client_id", "site_id", "type", "severity")
        .annotate(
            alerts=Count("id"),
            occurrences=Sum("occurrence_count"),
            suppressed_repeats=Sum("suppressed_count"),
            ack_met=Count("id", filter=_within("time_to_acknowledge", "time_to_resolve", ack)),
            ack_breached=Count(
                "id", filter=_late("time_to_acknowledge", "time_to_resolve", ack, watermark)
            ),
            resolve_met=Count("id", filter=_within("time_to_resolve", None, res)),
            resolve_breached=Count("id", filter=_late("time_to_resolve", None, res, watermark)),
        )
        .order_by()
    )
    keys = (
        "alerts",
        "occurrences",
        "suppressed_repeats",
        "ack_met",
        "ack_breached",
        "resolve_met",
        "resolve_breached",
    )
    grains: dict[tuple, dict[str, int]] = {}
    for row in rows:
        counts: dict[str, Any] = dict(row)
        place = (counts["client_id"], counts["site_id"])
        for grain, type_, severity in (
            (Grain.TYPE, counts["type"], ""),
            (Grain.SEVERITY, "", counts["severity"]),
            (Grain.SITE, "", ""),
        ):
            acc = grains.setdefault((grain, *place, type_, severity), dict.fromkeys(keys, 0))
            for k in keys:
                acc[k] += counts[k] or 0
    objs = [
        AlertDayRollup(
            tenant_id=tenant_id,
            day=day,
            grain=grain,
            client_id=client_id,
            site_id=site_id,
            type=type_,
            severity=severity,
            **acc,
        )
        for (grain, client_id, site_id, type_, severity), acc in grains.items()
    ]
    AlertDayRollup.objects.bulk_create(objs, batch_size=1000)
    return len(objs)


def _roll_responses(tenant_id: int, day: date) -> int:
    """The acknowledgements and resolutions of `day`, grouped."""
    start = day_start(day)
    objs = []
    for kind, at, took in (
        (ResponseKind.ACKNOWLEDGE, "acknowledged_at", "time_to_acknowledge"),
        (ResponseKind.RESOLVE, "resolved_at", "time_to_resolve"),
    ):
        rows = (
            Alert.objects.filter(
                tenant_id=tenant_id, **{f"{at}__gte": start, f"{at}__lt": start + DAY}
            )
            .values("client_id", "site_id", "severity")
            .annotate(count=Count(at), timed=Count(took), total=Sum(took))
            .order_by()
        )
        for row in rows:
            total = row["total"]
            objs.append(
                ResponseDayRollup(
                    tenant_id=tenant_id,
                    day=day,
                    kind=kind,
                    client_id=row["client_id"],
                    site_id=row["site_id"],
                    severity=row["severity"],
                    count=row["count"],
                    timed=row["timed"],
                    total_us=(total // timedelta(microseconds=1)) if total is not None else 0,
                )
            )
    ResponseDayRollup.objects.bulk_create(objs, batch_size=1000)
    return len(objs)
