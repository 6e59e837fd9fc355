"""The snapshot rollups (snapshots/rollups.py): the tenant totals, the hourly table and the
client health the job keeps give the answers the raw snapshots give, for every kind of scope and
filter; only a user who sees every client reads the totals; a window computed again replaces
what it rolled; rebuild() writes what the job wrote; prune() keeps KEEP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from watchfloor.operations.models import AttendanceRecord, Device, GeofenceEvent, Ticket
from watchfloor.snapshots import compute, health, queries, rollups
from watchfloor.snapshots.models import (
    COUNT_MEASURES,
    MEASURES,
    ClientHealth,
    KpiHourly,
    KpiSnapshot,
    KpiTotal,
)
from watchfloor.snapshots.queries import SnapshotFilters

pytestmark = pytest.mark.django_db

END = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
# 10:55 … 12:10: windows closing hours 10, 11 and 12 (11:00 closes hour 10, 12:00 hour 11)
WINDOWS = [END - timedelta(minutes=65) + timedelta(minutes=5 * i) for i in range(16)]
NOW = WINDOWS[-1] + timedelta(minutes=1)
SINCE = END - timedelta(hours=3)
_ids = count(1)


def _common(estate, site, at):
    return {
        "tenant": estate.tenant,
        "client": site.client,
        "site": site,
        "external_id": f"r{next(_ids)}",
        "received_at": at,
        "created_at": at,
    }


def _feed(estate, i: int, at: datetime) -> None:
    """Records that change from window to window, on every site in turn."""
    site = estate.sites[i % 4]
    Ticket.objects.create(
        **_common(estate, site, at),
        title="t",
        priority=f"P{1 + i % 4}",
        status="OPEN",
        opened_at=at - timedelta(hours=2),
        sla_due_at=at - timedelta(minutes=1) if i % 3 == 0 else at + timedelta(hours=4),
    )
    Device.objects.create(
        **_common(estate, estate.sites[(i + 1) % 4], at),
        name="d",
        device_type="camera",
        status="OFFLINE" if i % 5 == 0 else "ONLINE",
        last_seen_at=at,
        last_sync_at=at - timedelta(minutes=30 * (i % 3)),
    )
    AttendanceRecord.objects.create(
        **_common(estate, estate.sites[(i + 2) % 4], at),
        person_ref=f"p{i}",
        shift_start=at - timedelta(minutes=1),
        shift_end=at + timedelta(hours=8),
        status=["PRESENT", "LATE", "MISSING"][i % 3],
    )
    GeofenceEvent.objects.create(
        **_common(estate, site, at),
        kind="BREACH" if i % 2 else "ENTER",
        occurred_at=at - timedelta(minutes=2),
    )


def _history(estate) -> None:
    for i, end in enumerate(WINDOWS):
        _feed(estate, i, end)
        compute.compute_window(end)


FILTERS = [
    SnapshotFilters(),
    SnapshotFilters(city="austin"),
    SnapshotFilters(city="DENVER"),
    SnapshotFilters(state="tx"),
    SnapshotFilters(clients=("acme-c2",)),
    SnapshotFilters(site="acme-c1-s1"),
    SnapshotFilters(city="Austin", state="TX"),
]
ROLES = ("admin", "operator", "viewer")


def _approx(d: dict) -> dict:
    return {k: pytest.approx(float(v or 0)) for k, v in d.items() if k in COUNT_MEASURES}


def _assert_like_raw(estate) -> None:
    for role in ROLES:
        user = estate.user(role)
        for f in FILTERS:
            rolled = queries.window_sums(user, f, COUNT_MEASURES, SINCE)
            raw = queries.window_sums(user, f, COUNT_MEASURES, SINCE, raw=True)
            assert set(rolled) == set(raw), (role, f)
            for end, sums in raw.items():
                assert _approx(rolled[end]) == _approx(sums), (role, f, end)
            hourly = queries._hourly(user, f, COUNT_MEASURES, SINCE)
            expected = queries.by_hour(raw, COUNT_MEASURES)
            assert set(hourly) == set(expected), (role, f)
            for hour, values in expected.items():
                assert _approx(hourly[hour]) == _approx(values), (role, f, hour)
            for measure in ("tickets_overdue_p1", "sync_health", "geofence_breaches"):
                found = queries.series(user, measure, "1h", f, now=NOW)
                assert [p.value for p in found.points] == [
                    queries._value(measure, raw[p.at]) if p.at in raw else None
                    for p in found.points
                ], (role, f, measure)


def test_rollups_answer_as_the_raw_snapshots(estate, other_estate):
    _history(estate)
    _feed(other_estate, 0, END)
    compute.compute_window(END)  # both tenants now; acme's window is computed again
    assert {h for h in KpiHourly.objects.values_list("hour", flat=True)} == {
        END - timedelta(hours=2),
        END - timedelta(hours=1),
        END,
    }
    _assert_like_raw(estate)
    # a window of the past computed again over changed records: its hour and totals follow
    _feed(estate, 7, WINDOWS[5])
    compute.compute_window(WINDOWS[5])
    _assert_like_raw(estate)
    # the 7-day series: the 11:00 hour holds 12 windows, averaged; breaches summed
    week = queries.series(estate.user("admin"), "geofence_breaches", "7d", FILTERS[0], now=NOW)
    raw = queries.by_hour(
        queries.window_sums(
            estate.user("admin"), FILTERS[0], ("geofence_breaches",), SINCE, raw=True
        ),
        ("geofence_breaches",),
    )
    assert week.points[-2].value == raw[END - timedelta(hours=1)]["geofence_breaches"] > 0


def test_only_a_user_who_sees_every_client_reads_the_totals(estate):
    _history(estate)
    admin, operator, viewer = (estate.user(r) for r in ROLES)
    assert queries._totals(admin, SnapshotFilters()) is not None
    assert queries._totals(admin, SnapshotFilters(city="Austin")) is not None
    for user, f in (
        (operator, SnapshotFilters()),
        (viewer, SnapshotFilters()),
        (admin, SnapshotFilters(clients=("acme-c1",))),
        (admin, SnapshotFilters(officer=1)),
        (admin, SnapshotFilters(site="acme-c1-s1")),
        (admin, SnapshotFilters(city="Austin", state="TX")),
    ):
        assert queries._totals(user, f) is None, (user.username, f)
    # a planted total shows whose figures come from it: the admin's, never the scoped users'
    KpiTotal.objects.filter(tenant=estate.tenant, dimension="", window_end=END).update(
        tickets_open_p1=999
    )
    at_end = {
        p.at: p.value
        for p in queries.series(admin, "tickets_open_p1", "1h", SnapshotFilters(), now=END).points
    }
    assert at_end[END] == 999.0
    for user in (operator, viewer):
        mine = queries.series(user, "tickets_open_p1", "1h", SnapshotFilters(), now=END)
        raw = queries.window_sums(
            user, SnapshotFilters(), ("tickets_open_p1",), END - timedelta(hours=1), raw=True
        )
        assert mine.points[-1].value == float(raw[END]["tickets_open_p1"]) < 999


def test_a_city_total_matches_the_rows_iexact_matches(estate):
    _history(estate)
    keys = set(
        KpiTotal.objects.filter(tenant=estate.tenant, window_end=END).values_list(
            "dimension", "key"
        )
    )
    assert keys == {
        ("", ""),
        ("city", "AUSTIN"),
        ("city", "DENVER"),
        ("state", "TX"),
        ("state", "CO"),
    }
    total = KpiTotal.objects.get(
        tenant=estate.tenant, window_end=END, dimension="city", key="AUSTIN"
    )
    rows = KpiSnapshot.objects.filter(
        tenant=estate.tenant, window_end=END, site__isnull=False, city__iexact="aUsTiN"
    )
    assert total.summed_rows == rows.count() == 2
    for m in COUNT_MEASURES:
        assert getattr(total, m) == sum(getattr(r, m) for r in rows), m


def test_rebuild_writes_what_the_job_wrote(estate):
    _history(estate)

    def tables():
        return (
            sorted(
                KpiTotal.objects.values_list(
                    "tenant_id", "window_end", "dimension", "key", *COUNT_MEASURES
                )
            ),
            sorted(
                KpiHourly.objects.values_list(
                    "tenant_id", "client_id", "site_key", "hour", "points", *MEASURES
                )
            ),
            sorted(
                ClientHealth.objects.values_list("tenant_id", "client_id", "window_end", "score")
            ),
        )

    before = tables()
    assert all(before)
    for model in (KpiTotal, KpiHourly, ClientHealth):
        model.objects.all().delete()
    result = rollups.rebuild(WINDOWS[0] - timedelta(minutes=5), WINDOWS[-1])
    assert result["hourly"] == len(before[1]) and result["totals"] == len(before[0])
    after = tables()
    assert after[0] == before[0] and after[2] == before[2]
    assert [r[:5] for r in after[1]] == [r[:5] for r in before[1]]
    for a, b in zip(after[1], before[1], strict=True):
        assert list(a[5:]) == pytest.approx(list(b[5:]))


def test_health_keeps_the_newest_row_and_scores_as_python(estate):
    _history(estate)
    newest = {h.client_id: h for h in ClientHealth.objects.filter(tenant=estate.tenant)}
    assert {h.window_end for h in newest.values()} == {WINDOWS[-1]}
    for h in newest.values():
        row = KpiSnapshot.objects.get(window_end=WINDOWS[-1], client_id=h.client_id, site=None)
        assert h.score == health.score({m: getattr(row, m) for m in MEASURES})
    compute.compute_window(WINDOWS[2])  # an older window again: the newest rows stay
    assert {h.window_end for h in ClientHealth.objects.filter(tenant=estate.tenant)} == {
        WINDOWS[-1]
    }


def test_health_sql_is_the_python_score_on_this_database(estate):
    """Every penalty at its edges, scored by health.sql on this database and by score()."""
    from django.db import connection

    cases = [
        {},
        {"tickets_overdue_p1": 5, "attendance_expected": 3, "attendance_late": 1},
        {"work_orders_overdue": 9, "devices_total": 7, "devices_offline": 3},
        {"alerts_open_critical": 1, "alerts_open_high": 3, "security_anomalies": 1},
        {"attendance_expected": 1, "attendance_missing": 5, "tickets_overdue_p3": 30},
    ]
    for case in cases:
        values = {m: case.get(m, 0) for m in COUNT_MEASURES}
        select = ", ".join(f"%s AS {m}" for m in COUNT_MEASURES)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {health.sql(connection.vendor)} FROM (SELECT {select}) AS s",  # noqa: S608
                [values[m] for m in COUNT_MEASURES],
            )
            assert cursor.fetchone()[0] == health.score(values), case


def test_prune_keeps_the_last_days(estate):
    _history(estate)
    n = KpiHourly.objects.count(), KpiTotal.objects.count(), ClientHealth.objects.count()
    assert rollups.prune(END - timedelta(hours=2) + rollups.KEEP) == {
        "totals": 0,
        "hourly": 0,
        "health": 0,
    }
    assert (KpiHourly.objects.count(), KpiTotal.objects.count(), ClientHealth.objects.count()) == n
    pruned = rollups.prune(END + rollups.KEEP + timedelta(minutes=1))
    assert pruned["hourly"] == n[0] - KpiHourly.objects.count() > 0
    assert pruned["totals"] == n[1] - KpiTotal.objects.count() > 0
    assert not KpiHourly.objects.filter(hour__lt=END + timedelta(minutes=1)).exists()
    assert not KpiTotal.objects.filter(window_end__lt=END + timedelta(minutes=1)).exists()
    assert KpiTotal.objects.filter(window_end=WINDOWS[-1]).exists()
    assert ClientHealth.objects.count() == n[2]  # the newest rows are 12:10's
