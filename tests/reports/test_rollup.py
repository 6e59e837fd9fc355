"""The reports' daily rollup (reports/rollup.py, reports/models.py): every report gives the same
figures from the rollup (whole rolled days) plus the alerts (the rest) as from the alerts alone,
for every range shape, filter and scope; the job is idempotent and catches up in batches; a
resolution after the watermark re-rolls its day; other tenants' rows never count."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_incidents import make_alert
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.overview_queries import OverviewFilters
from watchfloor.incidents.services import policy_for
from watchfloor.reports import queries as q
from watchfloor.reports.models import AlertDayRollup, ResponseDayRollup, RollupState
from watchfloor.reports.rollup import roll_up

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
TYPES = ("SLA_BREACH", "DEVICE_OFFLINE", "GEOFENCE_BREACH", "T4", "T5")


def seed(estate, *, n: int = 160, seed: int = 13, start: int = 0) -> list[Alert]:
    """`n` alerts over the last 40 days on every site (and a few without a site), in every
    status: resolved (acknowledged or not, within or past their targets), acknowledged, open,
    suppressed with repeats."""
    rnd = random.Random(seed)
    made = []
    for i in range(start, start + n):
        first = NOW - timedelta(minutes=rnd.randrange(0, 40 * 24 * 60))
        site = rnd.choice([*estate.sites, None])
        alert = make_alert(
            estate,
            i,
            site=site or estate.sites[0],
            severity=rnd.choice(list(Severity)),
            type=rnd.choice(TYPES),
            occurrence_count=rnd.randrange(1, 9),
        )
        if site is None:
            alert.site = None
        alert.first_seen_at = alert.last_seen_at = alert.created_at = first
        kind = rnd.random()
        if kind < 0.6:  # resolved, maybe acknowledged first
            res = timedelta(minutes=rnd.randrange(1, 2000))
            if rnd.random() < 0.7:
                ack = timedelta(minutes=rnd.randrange(0, 60))
                alert.acknowledged_at, alert.time_to_acknowledge = first + ack, ack
                res = max(res, ack)
            if first + res < NOW:
                alert.resolved_at, alert.time_to_resolve = first + res, res
                alert.status = Status.RESOLVED
                alert.suppressed_count = rnd.randrange(0, 3)
            elif alert.acknowledged_at and alert.acknowledged_at < NOW:
                alert.status = Status.ACKNOWLEDGED
            else:
                alert.acknowledged_at = alert.time_to_acknowledge = None
        elif kind < 0.75:
            ack = timedelta(minutes=rnd.randrange(0, 90))
            if first + ack < NOW:
                alert.acknowledged_at, alert.time_to_acknowledge = first + ack, ack
                alert.status = Status.ACKNOWLEDGED
        elif kind < 0.85:
            alert.status = Status.SUPPRESSED
            alert.suppressed_count = rnd.randrange(1, 6)
        alert.save()
        made.append(alert)
    return made


def raw_report(user, f, r, now):
    none = q.Rolled(r.since, r.since)
    return {
        "response_times": q.response_times(user, f, r, now=now, rolled=none),
        "frequency": q.frequency(user, f, r, now=now, rolled=none),
        "sla": q.sla_compliance(user, f, r, now=now, rolled=none),
        "noisy_sites": q.noisy_sites(user, f, r, now=now, rolled=none),
    }


def report(user, f, r, now):
    full = q.full_report(user, f, r, now=now)
    full.pop("range")
    return full


def approx(value):
    """Means are sums divided on either path: equal up to float rounding."""
    if isinstance(value, dict):
        return {k: approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [approx(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, abs=0.11)
    return value


RANGES = {
    "7d": dict(preset="7d"),
    "30d": dict(preset="30d"),
    "24h": dict(preset="24h"),
    "whole days": dict(
        since=datetime(2026, 10, 20, tzinfo=UTC), until=datetime(2026, 11, 15, tzinfo=UTC)
    ),
    "partial edges": dict(
        since=datetime(2026, 10, 25, 7, 13, tzinfo=UTC),
        until=datetime(2026, 11, 19, 16, 2, tzinfo=UTC),
    ),
    "into today": dict(since=datetime(2026, 11, 1, 3, 0, tzinfo=UTC)),
}
FILTERS = {
    "none": OverviewFilters(),
    "client": OverviewFilters(clients=("acme-c1",)),
    "city": OverviewFilters(city="austin"),
    "site": OverviewFilters(site="acme-c2-s1"),
}


def assert_same(estate, now, *, roles=("admin", "operator", "viewer")):
    checked = 0
    for role in roles:
        user = estate.user(role)
        for f in FILTERS.values():
            for spec in RANGES.values():
                r = q.ReportRange.build(now=now, **spec)
                assert report(user, f, r, now) == approx(raw_report(user, f, r, now)), (
                    role,
                    f,
                    spec,
                )
                checked += 1
    return checked


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


@pytest.fixture
def data(estate, other_estate, frozen):
    seed(estate)
    seed(other_estate, n=60, seed=7)
    return estate


def test_client_codes_used_by_the_filters_exist(data):
    assert {c.code for c in data.clients} >= {"acme-c1", "acme-c2"}
    assert {s.code for s in data.sites} >= {"acme-c2-s1"}


def test_rollup_and_alerts_give_the_same_figures(data):
    before = {
        role: report(
            data.user(role), OverviewFilters(), q.ReportRange.build(preset="30d", now=NOW), NOW
        )
        for role in ("admin", "viewer")
    }
    counts = roll_up(now=NOW, batch_days=400)
    assert counts["days_rolled"] >= 39 and counts["days_behind"] == 0
    assert AlertDayRollup.objects.filter(tenant=data.tenant).exists()
    assert ResponseDayRollup.objects.filter(tenant=data.tenant).exists()
    state = RollupState.objects.get(tenant=data.tenant)
    assert state.end_day == NOW.date()  # today is read live
    assert state.watermark == NOW - timedelta(minutes=10)
    # the rollup is in use: the figures are the same as before it existed and as the alerts'
    for role, figures in before.items():
        r = q.ReportRange.build(preset="30d", now=NOW)
        assert not q.Rolled.of(data.tenant.id, r).empty
        assert report(data.user(role), OverviewFilters(), r, NOW) == approx(figures)
    assert assert_same(data, NOW) == 3 * len(FILTERS) * len(RANGES)


def test_changes_after_the_rollup_are_read_live_then_rolled(data, monkeypatch):
    roll_up(now=NOW, batch_days=400)
    # a week-old open alert resolved now, an old one acknowledged, a repeat on a suppressed one
    old_open = (
        Alert.objects.filter(tenant=data.tenant, first_seen_at__lt=NOW - timedelta(days=5))
        .exclude(status__in=[Status.RESOLVED, Status.SUPPRESSED])
        .order_by("first_seen_at")
    )
    later = NOW + timedelta(hours=2)
    for alert in old_open[:3]:
        alert.status = Status.RESOLVED
        alert.resolved_at, alert.time_to_resolve = (
            later - timedelta(minutes=1),
            later - alert.first_seen_at,
        )
        alert.save()
    suppressed = Alert.objects.filter(tenant=data.tenant, status=Status.SUPPRESSED).first()
    suppressed.occurrence_count += 5
    suppressed.suppressed_count += 5
    suppressed.save()
    for i in range(5):  # new alerts, first seen today
        alert = make_alert(data, 500 + i, site=data.sites[i % 4], type=TYPES[i])
        alert.first_seen_at = alert.last_seen_at = later - timedelta(minutes=i)
        alert.save()
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert assert_same(data, later, roles=("admin", "viewer")) > 0
    # the next run re-rolls the days of those resolutions once they are behind the watermark
    counts = roll_up(now=later + timedelta(minutes=30))
    assert counts["days_rerolled"] >= 1
    assert assert_same(data, later + timedelta(minutes=30), roles=("admin", "operator")) > 0


def rows(tenant):
    return (
        sorted(
            AlertDayRollup.objects.filter(tenant=tenant).values_list(
                "day",
                "grain",
                "client_id",
                "site_id",
                "type",
                "severity",
                "alerts",
                "occurrences",
                "suppressed_repeats",
                "ack_met",
                "ack_breached",
                "resolve_met",
                "resolve_breached",
            ),
            key=str,
        ),
        sorted(
            ResponseDayRollup.objects.filter(tenant=tenant).values_list(
                "day", "kind", "client_id", "site_id", "severity", "count", "timed", "total_us"
            ),
            key=str,
        ),
    )


def test_the_job_is_idempotent_and_catches_up_in_bounded_batches(data):
    first = roll_up(now=NOW, batch_days=10)
    assert first["days_rolled"] == 20  # 10 per tenant
    assert first["days_behind"] > 0
    partial = RollupState.objects.get(tenant=data.tenant)
    assert (partial.end_day - partial.first_day).days == 10
    # half rolled: the reports already agree with the alerts
    assert assert_same(data, NOW, roles=("admin",)) > 0
    call_command("rollup_reports", batch_days=7)
    once = rows(data.tenant)
    assert RollupState.objects.get(tenant=data.tenant).end_day == NOW.date()
    again = roll_up(now=NOW)
    assert again == {"days_rolled": 0, "days_rerolled": 0, "rows": 0, "days_behind": 0}
    assert rows(data.tenant) == once
    # rolled again from scratch: the same rows
    RollupState.objects.all().delete()
    roll_up(now=NOW, batch_days=400)
    assert rows(data.tenant) == once


def test_other_tenants_rows_never_count(data, other_estate):
    roll_up(now=NOW, batch_days=400)
    assert AlertDayRollup.objects.filter(tenant=other_estate.tenant).exists()
    # same names of clients in the other tenant's rollup do not leak: figures equal the alerts'
    assert assert_same(data, NOW, roles=("admin",)) > 0
    # another tenant's client code filters to nothing
    other = OverviewFilters(clients=(other_estate.clients[0].code,))
    r = q.ReportRange.build(preset="30d", now=NOW)
    full = report(data.user("admin"), other, r, NOW)
    assert full["frequency"]["by_type"] == []
    assert full["noisy_sites"] == []
    assert full["response_times"]["mtta"]["overall"]["count"] == 0


def test_changed_sla_targets_read_the_alerts_until_rolled_again(data):
    roll_up(now=NOW, batch_days=400)
    policy = policy_for(data.tenant)
    policy.sla_minutes = {"CRITICAL": {"acknowledge": 1, "resolve": 30}, "LOW": {"resolve": 5}}
    policy.save()
    r = q.ReportRange.build(preset="30d", now=NOW)
    admin = data.user("admin")
    assert q.sla_compliance(admin, OverviewFilters(), r, now=NOW) == approx(
        raw_report(admin, OverviewFilters(), r, NOW)["sla"]
    )
    counts = roll_up(now=NOW + timedelta(minutes=5), batch_days=400)
    assert counts["days_rolled"] >= 39  # started again with the new targets
    assert assert_same(data, NOW + timedelta(minutes=5), roles=("admin",)) > 0


def test_the_report_reads_a_fixed_number_of_queries_with_the_rollup(data):
    roll_up(now=NOW, batch_days=400)
    admin = data.user("admin")
    r = q.ReportRange.build(preset="30d", now=NOW)
    f = OverviewFilters(clients=("acme-c1",), city="austin")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            q.full_report(admin, f, r, now=NOW)
        return len(ctx.captured_queries)

    count()  # warm the scope and capability caches
    before = count()
    seed(data, n=40, seed=5, start=900)
    roll_up(now=NOW + timedelta(minutes=1), batch_days=400)
    assert count() == before


def test_the_scheduled_job_runs_the_rollup(data):
    from django.utils.module_loading import import_string

    from watchfloor.jobs.schedule import job_named

    job = job_named("reports.rollup")
    assert job is not None
    counts = import_string(job.target)()
    assert counts["days_rolled"] == 2 * 31  # one batch per tenant
    assert counts["days_behind"] > 0
    assert assert_same(data, NOW, roles=("viewer",)) > 0


def test_each_grain_holds_every_rolled_alert_once(data):
    from django.db.models import Sum

    from watchfloor.reports.models import Grain

    roll_up(now=NOW, batch_days=400)
    rolled = Alert.objects.filter(
        tenant=data.tenant, status=Status.RESOLVED, resolved_at__lt=NOW - timedelta(minutes=10)
    ).count()
    assert rolled > 0
    for grain in Grain:
        total = AlertDayRollup.objects.filter(tenant=data.tenant, grain=grain).aggregate(
            n=Sum("alerts")
        )["n"]
        assert total == rolled, grain
