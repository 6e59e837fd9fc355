"""The fold's tables kept plannable when autovacuum has not got to them yet (issue 14).

The fold's statements look alerts up by key (`writes.bump_repeats`: one index probe per
fingerprint). PostgreSQL's planner only picks that plan when `alerts_alert` has statistics:
on a table never analyzed it estimates one row for any filtered scan and hash-joins a tenant's
every active alert instead (measured: 16.6 ms a fold of 50 single alerts, 0.4 ms once
analyzed; docs/decisions.md). The staging table is a queue: every row is deleted within
milliseconds, so without a vacuum each look for pending batches walks what was deleted.

Autovacuum does both, but only after its nap (a minute by default) and its thresholds: the
first storm of a fresh install, or a tenant's first, runs on no statistics, and a server run
with autovacuum off never gets them. So the drainers look, at most every `CHECK_EVERY`
seconds per process, at `pg_stat_user_tables` and do what is due: ANALYZE `alerts_alert` when
it was never analyzed or its row count moved by more than 50 rows + 10 % since (autovacuum's
default thresholds, applied to the rows' number only: a repeat's counter bump changes no
statistic the plans use, and counting those re-analyzed a 10,000-alert table every second
under single-alert load, 193 ms each), VACUUM the staging table (more than
`STAGING_DEAD_ROWS` dead rows). One process at a
time (a session advisory lock); a failure (no privilege, say) is logged once and stops the
upkeep in that process. With autovacuum keeping up, nothing is due and a look is one read of
the statistics view. PostgreSQL only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError, OperationalError, connection

from watchfloor.alerts.models import Alert, StagedBatch

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0  # seconds between looks at the statistics, per process
ANALYZE_BASE, ANALYZE_SHARE = 50, 0.1  # autovacuum's autovacuum_analyze_* defaults
STAGING_DEAD_ROWS = 5_000
LOCK_KEY = (0x57F2, -1)  # staging's advisory lock class; -1 is no tenant's id

_last_look = float("-inf")
_disabled = False
_thread: threading.Thread | None = None


@dataclass(frozen=True)
class TableState:
    name: str
    analyzed_rows: float  # pg_class.reltuples: the rows at the last ANALYZE, -1 when never
    live_rows: int  # the statistics collector's count now
    dead_rows: int


def analyze_due(state: TableState) -> bool:
    if state.analyzed_rows < 0:  # never analyzed: due once anything is in it
        return state.live_rows >= ANALYZE_BASE
    moved = abs(state.live_rows - state.analyzed_rows)
    return moved > ANALYZE_BASE + ANALYZE_SHARE * state.analyzed_rows


def vacuum_due(state: TableState) -> bool:
    return state.dead_rows > STAGING_DEAD_ROWS


def _states(cursor, names: list[str]) -> dict[str, TableState]:
    cursor.execute(
        "SELECT s.relname, c.reltuples, s.n_live_tup, s.n_dead_tup"
        " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
        " WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)",
        [names],
    )
    return {row[0]: TableState(*row) for row in cursor.fetchall()}


def tend(*, force: bool = False) -> list[str]:
    """Analyze or vacuum what is due (at most every CHECK_EVERY s unless `force`); returns the
    statements run. Call outside any transaction (VACUUM cannot run in one)."""
    global _last_look, _disabled
    if connection.vendor != "postgresql" or _disabled or connection.in_atomic_block:
        return []
    now = time.monotonic()
    if not force and now - _last_look < CHECK_EVERY:
        return []
    _last_look = now
    alerts, staging = Alert._meta.db_table, StagedBatch._meta.db_table
    done: list[str] = []
    try:
        with connection.cursor() as cursor:
            states = _states(cursor, [alerts, staging])
            due = []
            if alerts in states and analyze_due(states[alerts]):
                due.append(f"ANALYZE {connection.ops.quote_name(alerts)}")
            if staging in states and vacuum_due(states[staging]):
                due.append(f"VACUUM {connection.ops.quote_name(staging)}")
            if not due:
                return []
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", list(LOCK_KEY))
            if not cursor.fetchone()[0]:  # another process is at it
                return []
            try:
                for statement in due:
                    cursor.execute(statement)
                    done.append(statement)
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", list(LOCK_KEY))
    except OperationalError:  # the database is away: the fold's own retries report it
        return done
    except DatabaseError as exc:  # no privilege, say: autovacuum stays the only keeper
        _disabled = True
        log.warning(
            "fold upkeep stopped in this process (%s: %s); autovacuum keeps the tables alone",
            type(exc).__name__,
            exc,
        )
        return done
    if done:
        log.info("fold upkeep: %s", "; ".join(done))
    return done


def tend_in_background() -> bool:
    """`tend` on a thread of its own, when a look is due and none is running; True when one
    started. The fold's thread called `tend` itself and waited: a first pass's ANALYZE of
    `alerts_alert` held the fold 0.42 s of its ~2.7 s (py-spy, docs/decisions.md). ANALYZE
    takes a lock that lets inserts and updates through, so the fold goes on meanwhile, on the
    statistics it had."""
    global _thread
    if connection.vendor != "postgresql" or _disabled:
        return False
    if time.monotonic() - _last_look < CHECK_EVERY:
        return False
    if _thread is not None and _thread.is_alive():
        return False
    _thread = threading.Thread(target=_tend_and_close, name="watchfloor-upkeep", daemon=True)
    _thread.start()
    return True


def _tend_and_close() -> None:
    try:
        tend()
    except Exception as exc:  # tend contains database errors; this is a bug
        log.exception("fold upkeep failed: %s", type(exc).__name__)
    finally:
        connection.close()  # this thread's own connection, back to the pool


def reset() -> None:
    """Look again at the next call, and after a failure (tests)."""
    global _last_look, _disabled
    _last_look, _disabled = float("-inf"), False
