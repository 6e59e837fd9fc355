"""The drainers' upkeep of the fold's tables: ANALYZE and VACUUM where autovacuum's default
thresholds say they are due and it has not run (alerts.upkeep)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.utils import timezone

from support_alerts import key_for, trigger  # noqa: F401 (a fixture)
from watchfloor.alerts import upkeep
from watchfloor.alerts.models import StagedBatch
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.upkeep import TableState, analyze_due, vacuum_due


@pytest.fixture(autouse=True)
def _fresh():
    upkeep.reset()
    yield
    upkeep.reset()


def test_analyze_is_due_when_the_rows_number_moved_past_autovacuums_thresholds():
    assert not analyze_due(TableState("alerts_alert", -1, 49, 0))
    assert analyze_due(TableState("alerts_alert", -1, 50, 0))  # never analyzed, 50 rows in
    assert not analyze_due(TableState("alerts_alert", 10_000, 11_050, 0))
    assert analyze_due(TableState("alerts_alert", 10_000, 11_051, 0))
    assert analyze_due(TableState("alerts_alert", 10_000, 8_949, 0))  # fewer counts too
    # updates in place (repeats) move no row count: never due by themselves
    assert not analyze_due(TableState("alerts_alert", 10_000, 10_000, 50_000))


def test_vacuum_is_due_past_the_dead_rows_bound():
    assert not vacuum_due(TableState("alerts_stagedbatch", 0, 0, upkeep.STAGING_DEAD_ROWS))
    assert vacuum_due(TableState("alerts_stagedbatch", 0, 0, upkeep.STAGING_DEAD_ROWS + 1))


@pytest.mark.django_db
def test_nothing_runs_inside_a_transaction_or_on_sqlite():
    assert upkeep.tend(force=True) == []  # the test's own transaction (and SQLite)


def _flush_statistics(cursor) -> None:
    """This session's counters into pg_stat_user_tables now (they are sent at most every
    second, at a transaction's end)."""
    cursor.execute("SELECT pg_stat_force_next_flush()")
    cursor.execute("SELECT 1")


def _table_state(cursor, table: str) -> TableState:
    return upkeep._states(cursor, [table])[table]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_drainer_vacuums_the_staging_queue_and_analyzes_the_alerts(
    estate,
    key_for,  # noqa: F811
    settings,
    monkeypatch,
):
    settings.ALERT_CHANGE_HOOKS = []
    table = StagedBatch._meta.db_table
    monkeypatch.setattr(upkeep, "STAGING_DEAD_ROWS", 100)
    monkeypatch.setattr(upkeep, "ANALYZE_BASE", 0)
    monkeypatch.setattr(upkeep, "ANALYZE_SHARE", 0.0)
    now = timezone.now()
    StagedBatch.objects.bulk_create(
        StagedBatch(
            tenant_id=estate.tenant.id, source="native", received_at=now, event_count=1, events="[]"
        )
        for _ in range(300)
    )
    StagedBatch.objects.all().delete()  # folded: 300 dead rows
    ingest([trigger(site=estate.sites[0].code, entity_id="cam-1")], key=key_for(estate))
    with connection.cursor() as cursor:
        _flush_statistics(cursor)
        assert _table_state(cursor, table).dead_rows >= 300

        done = upkeep.tend(force=True)

        assert done == ['ANALYZE "alerts_alert"', f'VACUUM "{table}"']
        _flush_statistics(cursor)
        assert _table_state(cursor, table).dead_rows == 0
        alerts = _table_state(cursor, "alerts_alert")
        assert alerts.analyzed_rows == alerts.live_rows >= 1
        assert upkeep.tend(force=True) == []  # nothing due any more
        assert upkeep.tend() == []  # and not looked at again within CHECK_EVERY


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_refused_upkeep_stops_in_this_process(monkeypatch, caplog):
    from django.db import ProgrammingError

    def refused(cursor, names):
        raise ProgrammingError("permission denied for table alerts_alert")

    monkeypatch.setattr(upkeep, "_states", refused)
    assert upkeep.tend(force=True) == []
    assert "fold upkeep stopped" in caplog.text
    monkeypatch.undo()
    assert upkeep.tend(force=True) == []  # disabled until reset


def test_the_fold_tends_on_a_thread_of_its_own_one_at_a_time(monkeypatch):
    """The fold worker's look (`tend_in_background`): `tend` runs on another thread, which
    gives its connection back; no second one starts while one runs, nor within CHECK_EVERY."""
    import threading

    upkeep.reset()
    release = threading.Event()
    ran: list[str] = []
    closed: list[str] = []

    def tend():
        ran.append(threading.current_thread().name)
        upkeep._last_look = time.monotonic()  # what tend records when it looks
        release.wait(10)
        return []

    class Connection:  # the upkeep thread's own: PostgreSQL's, given back when it is done
        vendor = "postgresql"

        def close(self):
            closed.append(threading.current_thread().name)

    monkeypatch.setattr(upkeep, "tend", tend)
    monkeypatch.setattr(upkeep, "connection", Connection())
    try:
        assert upkeep.tend_in_background()
        assert not upkeep.tend_in_background()  # one is running (and it looked just now)
        upkeep._last_look = float("-inf")  # due again, but the first one still runs
        assert not upkeep.tend_in_background()
        release.set()
        upkeep._thread.join(10)
        assert ran == closed == ["watchfloor-upkeep"]
        upkeep._last_look = time.monotonic()
        assert not upkeep.tend_in_background()  # looked within CHECK_EVERY
    finally:
        release.set()
        upkeep.reset()
