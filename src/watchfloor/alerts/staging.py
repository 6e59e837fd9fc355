"""Durable staging of ingestion requests and the fold that drains it (issue 14).

An ingestion request is validated synchronously (`pipeline.prepare`: a bad batch is a 422 naming
index and field, nothing stored), then appended to `alerts_stagedbatch` in ONE autocommitted
INSERT: when `stage` returns, the raw batch is committed (it survives kill -9 of every Watchfloor
process and a database restart), and the request is answered. On PostgreSQL the same statement
calls `pg_notify`, delivered at its commit.

The fold (`drain_once`) takes the pending batches of one tenant in arrival order, applies them
with the pipeline's fold (`pipeline.fold`: dedup, suppression, correlation, resolve, exact
occurrence counts, trigger-then-resolve order kept) and deletes them, all in one transaction. The
more is pending, the more one fold takes (group commit): at low load an alert goes through in
milliseconds, under load batches grow by themselves.

Several drainers may run at once (threads, processes, nodes): on PostgreSQL each fold takes its
tenant's advisory lock (`pg_try_advisory_xact_lock`), so a tenant's batches are folded by one
drainer at a time, in order (a sender's resolve never overtakes its trigger), while other tenants'
batches go to the other drainers; drainers never wait on each other's alert rows (no deadlock
between them). On SQLite, BEGIN IMMEDIATE serializes them.

`FoldWorker` drains continuously: it folds while anything is pending, then sleeps until woken
(LISTEN on PostgreSQL; an in-process event for batches staged in this process) or for at most
`ALERT_FOLD_POLL` seconds (batches staged by a process that cannot wake it). After a small fold
that took everything pending it waits `ALERT_FOLD_GATHER` (20 ms) before the next, so that a
stream of single alerts folds in fewer, larger folds (`gathers_after`). A web process starts
one on its first staged batch (`ALERT_FOLD_IN_PROCESS`), `watchfloor serve` at start (pending
batches of a killed node are folded without waiting for new traffic), and `watchfloor pipeline`
runs drainers by themselves for scale-out. In the split server (`serve` with Redis) the
WebSocket process's drainer folds and the gevent workers' drainers stand by (`stand_by`).

Back-pressure: when the oldest pending batch is older than `ALERT_STAGING_MAX_LAG` seconds or more
than `ALERT_STAGING_MAX_EVENTS` events are pending, `stage` raises `Backlogged` and the endpoints
answer 503 with Retry-After, instead of letting the table grow without limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.utils import timezone

from watchfloor import degrade
from watchfloor.alerts import hooks, metrics, upkeep
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Severity, StagedBatch
from watchfloor.alerts.pipeline import (
    IngestResult,
    Located,
    Prepared,
    Sender,
    fold,
    prepare,
    sender_of,
    with_deadlock_retries,
)
from watchfloor.events import flush_background, publishing_in_background
from watchfloor.sql_rows import pg_execute

log = logging.getLogger(__name__)

CHANNEL = "watchfloor_staging"  # the PostgreSQL NOTIFY channel
DRAIN_LOCK_CLASS = 0x57F2  # first key of the advisory lock a drainer holds on a tenant
FOLD_COMPONENT = "ingestion fold"


@dataclass(frozen=True)
class Staged:
    """What is known when a request is answered: how many events were taken, their identities."""

    accepted: int
    fingerprints: tuple[str, ...] = ()


class Backlogged(Exception):
    """Staging is past its bound: the request is refused (503), nothing stored."""

    def __init__(self, retry_after: int, reason: str):
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason


# --- encoding -----------------------------------------------------------------------------------
# One event = one JSON list, columns in this order; located, fingerprinted and hashed already.


def _encode_one(p: Prepared) -> list:
    return [*_event_columns(p.event), p.where.client_id, p.where.site_id, p.fingerprint, p.digest]


def _event_columns(e: Event) -> list:
    return [
        e.action.value,
        e.type,
        e.severity.value if hasattr(e.severity, "value") else e.severity,
        e.title,
        e.description,
        e.fingerprint,
        e.client_code,
        e.site_code,
        e.entity_type,
        e.entity_id,
        e.labels,
        e.annotations,
        e.source_url,
        e.runbook_url,
        e.occurred_at.isoformat() if e.occurred_at else None,
    ]


def encode_fields(event: Event) -> bytes:
    """The event's own columns as they are staged, without the row's brackets: kept by an
    event a parser remembers (`Event.staged`), so each resend of it costs `encode` one small
    dump instead of its labels' and annotations'."""
    return orjson.dumps(_event_columns(event))[1:-1]


def encode(prepared: list[Prepared]) -> str:
    """Compact JSON, by orjson (json's encoder was 12.7 % of a batch request's samples).
    Everything in it passed the edge's checks, so orjson's refusals (a lone surrogate, an
    integer past 64 bits) cannot occur. A row whose event knows its columns (`staged`) is
    joined from them: the same bytes."""
    if not any(p.event.staged for p in prepared):
        return orjson.dumps([_encode_one(p) for p in prepared]).decode()
    dumps = orjson.dumps
    rows = []
    for p in prepared:
        own = p.event.staged
        if own is None:
            rows.append(dumps(_encode_one(p)))
        else:
            where = dumps([p.where.client_id, p.where.site_id, p.fingerprint, p.digest])
            rows.append(b"[" + own + b"," + where[1:])
    return (b"[" + b",".join(rows) + b"]").decode()


# The first 15 staged columns are Event's fields in its own order, so `decode` builds it from
# them positionally (keywords cost a third more of the fold's decode); a test holds the two
# orders together.
_EVENT_FIELDS = (
    "action", "type", "severity", "title", "description", "fingerprint", "client_code",
    "site_code", "entity_type", "entity_id", "labels", "annotations", "source_url",
    "runbook_url", "occurred_at",
)  # fmt: skip
_ACTIONS = {action.value: action for action in EventAction}
_SEVERITIES = {severity.value: severity for severity in Severity}


def decode(text: str) -> list[Prepared]:
    """The staged rows back as Prepared events. The fold's decode of a 100-event batch: 186 µs
    against 342 µs with keywords and enum calls (timeit, docs/decisions.md)."""
    out = []
    parse_time = datetime.fromisoformat
    for row in orjson.loads(text):
        (action, type_, severity, title, description, own_fp, client_code, site_code) = row[:8]
        (entity_type, entity_id, labels, annotations, source_url, runbook_url, at) = row[8:15]
        client_id, site_id, fp = row[15:18]
        digest = row[18] if len(row) > 18 else None  # staged before the hash was
        event = Event(
            _ACTIONS.get(action) or EventAction(action),
            type_,
            _SEVERITIES.get(severity) or Severity(severity),
            title,
            description,
            own_fp,
            client_code,
            site_code,
            entity_type,
            entity_id,
            labels,
            annotations,
            source_url,
            runbook_url,
            parse_time(at) if at else None,
        )
        out.append(Prepared(event, Located(client_id, site_id), fp, digest))
    return out


# --- staging ------------------------------------------------------------------------------------

_wake = threading.Event()
_staged_here = 0  # batches this process staged (tests drain after a request that staged one)


def staged_count() -> int:
    return _staged_here


def _table() -> str:
    return connection.ops.quote_name(StagedBatch._meta.db_table)


_COLUMNS = "(tenant_id, integration_key_id, source, received_at, event_count, events)"


def _row(sender: Sender, payload: str, count: int, now: datetime) -> list:
    stamp = StagedBatch._meta.get_field("received_at").get_db_prep_save(now, connection)
    return [sender.tenant_id, sender.id, sender.source, stamp, count, payload]


def _insert(rows: list[list]) -> None:
    """One statement, autocommitted (outside an atomic block): every row is committed when this
    returns. On PostgreSQL the same statement wakes the drainers (one NOTIFY, at its commit).
    Outside a transaction on PostgreSQL it goes through the process's staging connection
    (`_StagingConnection`); inside one, through the caller's."""
    table = _table()
    params = [value for row in rows for value in row]
    if connection.vendor == "postgresql":
        # bound by the server (sql_rows.pg_execute): the events text (~57 KB a 100-alert
        # batch) is sent as it is, not quoted into the SQL in Python (7 % of a batch request)
        marks = ", ".join(
            ["(%s::bigint, %s::bigint, %s::text, %s::timestamptz, %s::int, %s::text)"] * len(rows)
        )
        sql = (
            f"WITH staged AS (INSERT INTO {table} {_COLUMNS} VALUES {marks} RETURNING id)"  # noqa: S608
            " SELECT pg_notify(%s::text, '') WHERE EXISTS (SELECT 1 FROM staged)"
        )
        if connection.in_atomic_block:
            pg_execute(sql, [*params, CHANNEL])
        else:
            _staging_connection.execute(sql, [*params, CHANNEL])
        return
    marks = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} {_COLUMNS} VALUES {marks}", params)  # noqa: S608


class _StagingConnection:
    """The staging append's own PostgreSQL connection, one per process, in autocommit.

    Only a group's leader writes, one group at a time (`GroupWriter`), so one connection serves
    every request of the process; a request on the ingestion road then never checks a
    connection out of the pool and back (Django's per-request connection handling: ~0.14 ms of
    a 0.5 ms request's CPU, profiled in `bench/profile_ingest.py --roads`). Its statements are
    prepared on the server after a few runs (one text per group size; Django's connections
    prepare nothing, for the sake of poolers).

    Opened on first use, in the process that uses it: a connection inherited across a fork is
    left alone (closing it would end the parent's session). Any error closes it, the group's
    requests answer 503 (Django's error classes, as before), and the next group opens a new
    one."""

    PREPARE_THRESHOLD = 2

    def __init__(self) -> None:
        self._conn: Any = None
        self._pid = 0
        self._inherited: list[Any] = []  # kept referenced: never finalized in this process

    def execute(self, sql: str, params: list) -> None:
        db = connections["default"]
        with db.wrap_database_errors:  # a failed connect as Django's error (the 503 path)
            conn = self._open(db)
        try:
            pg_execute(sql, params, on=conn)
        except BaseException:  # a failed or interrupted statement: start afresh
            self.close()
            raise

    def _open(self, db) -> Any:
        if self._conn is not None and self._pid != os.getpid():
            self._inherited.append(self._conn)
            self._conn = None
        if self._conn is None or self._conn.closed:
            import psycopg

            params = db.get_connection_params()
            params.update(autocommit=True, prepare_threshold=self.PREPARE_THRESHOLD)
            self._conn = psycopg.Connection.connect(**params)
            self._pid = os.getpid()
        return self._conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()


_staging_connection = _StagingConnection()


def close_staging_connection() -> None:
    _staging_connection.close()


class _Waiting:
    """One request's row in the group writer's queue, and how its write ended."""

    __slots__ = ("done", "error", "lead", "row")

    def __init__(self, row: list):
        self.row = row
        self.done = threading.Event()
        self.lead = False  # woken to write the next group instead of being written
        self.error: BaseException | None = None


class GroupWriter:
    """Group commit of concurrent requests in one process (leader and followers, no thread of
    its own): a request that finds no write under way writes every row queued at that moment in
    ONE multi-row INSERT and commit on its own connection, then sets each waiter's event;
    requests that arrive meanwhile queue and wait, and the first of them writes the next group.
    Each request is answered only after the commit that holds its row (durable), and a failed
    write is every waiter's error (their requests answer 503, nothing claimed stored).

    Under gunicorn's gevent workers the requests are greenlets and the lock and events are
    gevent's (the standard library is patched): while a group's INSERT waits on PostgreSQL the
    other greenlets parse and validate, and queue. Under one thread (uvicorn's sync views, the
    test client) every group is one row, as before."""

    def __init__(self, max_rows: int = 500):
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False
        self.groups = 0  # groups written by this process (tests, the bench's figures)
        self.rows = 0

    def write(self, row: list) -> None:
        me = _Waiting(row)
        with self._lock:
            self._queue.append(me)
            lead = not self._writing
            self._writing = True
        if not lead:
            _release_pooled_connection()
            try:
                me.done.wait()
            except BaseException:  # this request's greenlet or thread is being killed
                self._abandon(me)
                raise
            if not me.lead:
                if me.error is not None:
                    raise me.error
                return
        self._lead(me)

    def _abandon(self, me: _Waiting) -> None:
        """A waiter that will never write: out of the queue (if its row is in a group under way,
        that group writes it), and if it was woken to lead, the next one leads instead."""
        with self._lock:
            if me in self._queue:
                self._queue.remove(me)
            if me.lead:
                if self._queue:
                    nxt = self._queue[0]
                    nxt.lead = True
                    nxt.done.set()
                else:
                    self._writing = False

    def _lead(self, me: _Waiting) -> None:
        with self._lock:
            group, self._queue = self._queue[: self.max_rows], self._queue[self.max_rows :]
        stopped: BaseException | None = None
        try:
            _insert([w.row for w in group])
        except Exception as exc:  # the database refused or is gone: each request's 503
            for waiting in group:
                waiting.error = exc
        except BaseException as exc:  # this greenlet or thread is being killed mid-write
            stopped = exc
            for waiting in group:
                waiting.error = OperationalError("The staging write was interrupted.")
        self.groups += 1
        self.rows += len(group)
        with self._lock:
            if self._queue:  # arrived during this write: the first of them writes the next
                nxt = self._queue[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._writing = False
        for waiting in group:
            if waiting is not me:
                waiting.done.set()
        if stopped is not None:
            raise stopped
        if me.error is not None:
            raise me.error


def _release_pooled_connection() -> None:
    """Give this request's pooled database connection back while it waits for its group's
    leader (it takes one again if it leads or queries later). A waiting request that kept one
    could starve the leader: with as many waiters holding connections as the pool's
    `max_size`, the leader's INSERT waits out the pool's timeout (10 s) and its group answers
    503 (tests/alerts/test_staging.py; the likely cause of a 10 s stall with three 503s seen
    once in `bench/ingest.py`'s first pass). Inside a transaction, or without a pool, it keeps
    its connection."""
    if (
        connection.vendor == "postgresql"
        and connection.connection is not None
        and not connection.in_atomic_block
        and getattr(connection, "pool", None) is not None
    ):
        connection.close()


_writer = GroupWriter()


def _append(sender: Sender, payload: str, count: int, now: datetime) -> None:
    """The request's batch, committed when this returns: through the process's group writer
    (`ALERT_STAGE_GROUP_COMMIT`), or alone in one statement inside a caller's transaction."""
    row = _row(sender, payload, count, now)
    if settings.ALERT_STAGE_GROUP_COMMIT and not connection.in_atomic_block:
        _writer.write(row)
    else:
        _insert([row])


def stage(events: list[Event], *, key, strict_codes: bool = True) -> Staged:
    """Validate a request's events and append them to staging; raises BatchInvalid (422) or
    Backlogged (503) with nothing stored. When this returns, the batch is durable."""
    prepared = prepare(events, key=key, strict_codes=strict_codes)
    if not prepared:
        return Staged(0)
    refuse_when_backlogged()
    _append(sender_of(key), encode(prepared), len(prepared), timezone.now())
    global _staged_here
    _staged_here += 1
    if not connection.in_atomic_block:
        _wake.set()
    ensure_in_process_worker()
    return Staged(len(prepared), tuple(p.fingerprint for p in prepared))


# --- lag and back-pressure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Lag:
    seconds: float  # age of the oldest pending batch (0 when none)
    batches: int
    events: int


def lag(now: datetime | None = None) -> Lag:
    """One aggregate over the staging table (it holds only what is pending)."""
    table = _table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(received_at), COUNT(*), COALESCE(SUM(event_count), 0) FROM {table}"  # noqa: S608
        )
        oldest, batches, events = cursor.fetchone()
    if oldest is None:
        return Lag(0.0, 0, 0)
    if isinstance(oldest, str):  # SQLite hands back text for an aggregate
        oldest = datetime.fromisoformat(oldest)
    if timezone.is_naive(oldest):
        oldest = oldest.replace(tzinfo=UTC)
    age = max(0.0, ((now or timezone.now()) - oldest).total_seconds())
    return Lag(age, int(batches), int(events))


_lag_seen: tuple[float, Lag] | None = None
LAG_CHECK_EVERY = 0.25  # seconds: how stale the back-pressure check may be in one process
HOLD_POLL = 0.05  # seconds between a held request's looks at the lag


def _current_lag(max_age: float | None = None) -> Lag:
    """The lag, read at most every `max_age` seconds per process (one aggregate; by default
    LAG_CHECK_EVERY)."""
    global _lag_seen
    now = time.monotonic()
    if _lag_seen is None or now - _lag_seen[0] > (LAG_CHECK_EVERY if max_age is None else max_age):
        _lag_seen = (now, lag())
    return _lag_seen[1]


def admit() -> None:
    """Let a request in: at once while the fold keeps up; held while it is more than
    `ALERT_STAGING_HOLD_LAG` seconds behind, until it catches up (at most
    `ALERT_STAGING_HOLD_SECONDS`, then Backlogged); Backlogged at once past the hard bounds.

    Flow control instead of refusal: senders with N connections are slowed to the fold's pace,
    so what was answered 2xx is on the screens within about the hold bound, the first pass of
    a storm gets no 503, and the CPU goes to the fold instead of to requests that would be
    refused after their parse (bench/live_under_load.py, docs/decisions.md). A held request
    reads nothing, holds no pooled connection and sleeps (a gevent worker's greenlet, a thread
    under uvicorn); the endpoints call this before reading the body. Held requests look at a
    lag at most HOLD_POLL old (one read per process for all of them), so they go on as soon as
    the fold has caught up: with the LAG_CHECK_EVERY reading they slept up to 0.25 s past it,
    and the fold, its backlog done, waited for them (measured: batched 15,378 → 18,729
    alerts/s in the next run, docs/decisions.md)."""
    if refuse_when_backlogged().seconds <= settings.ALERT_STAGING_HOLD_LAG:
        return
    deadline = time.monotonic() + settings.ALERT_STAGING_HOLD_SECONDS
    while True:
        _release_pooled_connection()
        time.sleep(HOLD_POLL)
        current = refuse_when_backlogged(max_age=HOLD_POLL)
        if current.seconds <= settings.ALERT_STAGING_HOLD_LAG:
            return
        if time.monotonic() >= deadline:
            raise Backlogged(1, f"The fold is {current.seconds:.1f} s behind.")


def refuse_when_backlogged(max_age: float | None = None) -> Lag:
    """Raise Backlogged past the hard bounds (the lag read at most every `max_age` s, by default
    LAG_CHECK_EVERY); the lag it checked."""
    current = _current_lag(max_age)
    if current.seconds > settings.ALERT_STAGING_MAX_LAG:
        raise Backlogged(
            max(1, int(settings.ALERT_STAGING_MAX_LAG / 2)),
            f"The oldest pending batch waits {current.seconds:.0f} s.",
        )
    if current.events > settings.ALERT_STAGING_MAX_EVENTS:
        raise Backlogged(5, f"{current.events} events wait to be folded.")
    return current


def forget_lag() -> None:
    global _lag_seen
    _lag_seen = None


# --- the fold -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    id: int
    integration_key_id: int | None
    source: str
    event_count: int
    events: str


def _head(cursor) -> list[tuple[int, int, int]]:
    """The oldest pending batches, (id, tenant, events) each, up to ALERT_FOLD_MAX_BATCHES.

    Read through the primary key in order: the table churns (every row is deleted once folded),
    and until its next VACUUM its pages are mostly dead rows. An ordered index scan skips the
    index entries marked dead by earlier scans; the per-tenant read it replaced was planned as
    a bitmap scan, which visits every dead row's page at every fold (1.3 ms a fold with 6,000
    dead rows, 14 % of PostgreSQL's time under single-alert load; docs/decisions.md)."""
    table = _table()
    cursor.execute(
        f"SELECT id, tenant_id, event_count FROM {table} ORDER BY id LIMIT %s",  # noqa: S608
        [settings.ALERT_FOLD_MAX_BATCHES],
    )
    return cursor.fetchall()


def _pick_tenant(cursor, head: list[tuple[int, int, int]]) -> int | None:
    """The tenant of the oldest pending batch this drainer may fold now (PostgreSQL: whose
    advisory lock it got without waiting), or None."""
    tenants = list(dict.fromkeys(tenant_id for _, tenant_id, _ in head))
    if connection.vendor != "postgresql":
        return tenants[0] if tenants else None
    for tenant_id in tenants:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [DRAIN_LOCK_CLASS, tenant_id])
        if cursor.fetchone()[0]:
            return tenant_id
    return None


def _bounded(head: list[tuple[int, int, int]], tenant_id: int) -> list[int]:
    """The ids of the tenant's batches in the head, oldest first, up to ALERT_FOLD_MAX_EVENTS
    events (always at least one). The head is the oldest pending batches of every tenant, so
    the tenant's among them are its oldest: a fold never skips one of its batches."""
    ids: list[int] = []
    running = 0
    for batch_id, tenant, count in head:
        if tenant != tenant_id:
            continue
        running += count
        if ids and running > settings.ALERT_FOLD_MAX_EVENTS:
            break
        ids.append(batch_id)
    return ids


def _take(cursor, ids: list[int]) -> list[_Row]:
    """Those batches, read by the primary key (a batch folded meanwhile by a drainer that held
    the tenant before this one is simply gone)."""
    table = _table()
    columns = "id, integration_key_id, source, event_count, events"
    if connection.vendor == "postgresql":
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE id = ANY(%s) ORDER BY id",  # noqa: S608
            [ids],
        )
    else:
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE id IN ({marks}) ORDER BY id",  # noqa: S608
            ids,
        )
    return [_Row(*row) for row in cursor.fetchall()]


def _segments(tenant_id: int, rows: list[_Row]) -> list[tuple[Sender, list[Prepared]]]:
    """Consecutive batches of one sender fold as one segment; order is kept across senders."""
    segments: list[tuple[Sender, list[Prepared]]] = []
    for row in rows:
        sender = Sender(tenant_id=tenant_id, id=row.integration_key_id, source=row.source)
        if segments and segments[-1][0] == sender:
            segments[-1][1].extend(decode(row.events))
        else:
            segments.append((sender, decode(row.events)))
    return segments


def _delete(cursor, ids: list[int]) -> None:
    """Delete the folded batches. On PostgreSQL, when batches are still pending (more than one
    fold's bounds, or staged meanwhile), the same statement wakes the drainers at this fold's
    commit: one that found the tenant locked by this fold went back to sleep, and would
    otherwise sleep out its poll while this drainer runs the hooks (the incident rules) after
    the commit. Measured: up to `ALERT_FOLD_POLL` idle per fold of a backlog with the rules on."""
    table = _table()
    if connection.vendor == "postgresql":
        # "another batch is pending": one of the first len(ids) + 1 rows by id is not one of
        # these, read through the primary key. The table churns (every row is deleted once
        # folded), and a scan of it reads every dead row's page until the next VACUUM: 0.3 ms
        # with 4,000 dead rows, twice per fold of a single alert (docs/decisions.md).
        cursor.execute(
            f"WITH folded AS (DELETE FROM {table} WHERE id = ANY(%s) RETURNING 1)"  # noqa: S608
            f" SELECT pg_notify(%s, '') WHERE EXISTS (SELECT 1 FROM (SELECT id FROM {table}"
            " ORDER BY id LIMIT %s) head WHERE NOT (id = ANY(%s)))",
            [ids, CHANNEL, len(ids) + 1, ids],
        )
        return
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks})", chunk)  # noqa: S608


@dataclass
class Folded:
    tenant_id: int | None = None
    batches: int = 0
    events: int = 0
    results: tuple[IngestResult, ...] = ()
    # the head it was taken from held batches it did not take (another tenant's, past the
    # fold's bounds) or was full: more is pending now
    left_pending: bool = False


def drain_once() -> Folded:
    """Fold the pending batches of one tenant (up to the fold's bounds) in one transaction.

    The head is read before the transaction, in autocommit: an idle drainer never takes a
    write lock (SQLite's BEGIN IMMEDIATE) or opens a transaction to find nothing, and a busy one
    saves the round trip of a separate "anything pending?" read (5 % of the fold worker's busy
    samples under 100-alert batches, docs/decisions.md). It is what the transaction's first
    statement would have read: on PostgreSQL each statement sees what was committed when it
    began, and the tenant's lock is taken after the head either way. A batch of the head folded
    meanwhile by another drainer is simply not taken; when none of the tenant's is left, the
    head is read again."""
    for _ in range(STALE_HEAD_READS):
        with connection.cursor() as cursor:
            head = _head(cursor)
        if not head:
            return Folded()
        taken = with_deadlock_retries(0, lambda head=head: _fold_head(head))
        if taken is None:  # another drainer folded this tenant's batches first
            continue
        folded, batches = taken
        for batch in batches:  # counters move for committed folds only
            batch.count_metrics()
        head_full = len(head) >= settings.ALERT_FOLD_MAX_BATCHES
        folded.left_pending = head_full or folded.batches < len(head)
        return folded
    return Folded()


STALE_HEAD_READS = 3  # a drainer racing others gives up after this many stale heads


def _fold_head(head: list[tuple[int, int, int]]) -> tuple[Folded, list] | None:
    """In the fold's transaction: lock a tenant of the head, take its batches, fold, delete.
    None when the tenant's batches of the head are gone (folded by another drainer)."""
    with connection.cursor() as cursor:
        tenant_id = _pick_tenant(cursor, head)
        if tenant_id is None:
            return Folded(), []
        rows = _take(cursor, _bounded(head, tenant_id))
    if not rows:
        return None
    batches = fold(_segments(tenant_id, rows))
    with connection.cursor() as cursor:
        _delete(cursor, [r.id for r in rows])
    folded = Folded(
        tenant_id,
        len(rows),
        sum(r.event_count for r in rows),
        tuple(b.result for b in batches),
    )
    return folded, batches


def drain_pending(max_rounds: int = 10_000) -> int:
    """Fold everything pending now (every tenant); returns the events folded. Tests call it
    after an ingestion request; `watchfloor pipeline --once` too."""
    total = 0
    for _ in range(max_rounds):
        folded = drain_once()
        if not folded.batches:
            break
        total += folded.events
    return total


# --- the worker ---------------------------------------------------------------------------------


_drainer = threading.local()


def draining_here() -> bool:
    """Whether this thread is a fold worker's (`FoldWorker.run`): the hooks a fold calls after
    its commit run on it, off any request (alerts.hooks; the incident rules ask)."""
    return getattr(_drainer, "active", False)


@contextlib.contextmanager
def drainer_thread():
    """Mark the current thread as a drainer's for the block (`draining_here`)."""
    before = draining_here()
    _drainer.active = True
    try:
        yield
    finally:
        _drainer.active = before


_standby = False
STANDBY_POLL = 0.25  # seconds between a standby drainer's looks at the lag


def stand_by(on: bool = True) -> None:
    """Make this process's fold worker a standby: it folds only while the oldest pending batch
    is older than `ALERT_FOLD_STANDBY_LAG`, and it is not woken by each staged batch.

    For the split server's gevent workers: a gevent worker is one thread, and a fold greenlet
    there runs its Python (tens of ms for a fold of thousands of events) between database
    waits with every request of the worker waiting, the group writer's leader included (a
    staging INSERT of 2 ms in isolation took 14-18 ms there). The WebSocket process's drainer,
    a thread of its own beside an idle event loop, folds instead; the standbys take over when
    that process is gone (restarting) or behind. Measured in docs/decisions.md."""
    global _standby
    _standby = on


class FoldWorker:
    """A thread that drains staging continuously (see the module's docstring)."""

    def __init__(self, name: str = "fold", poll: float | None = None):
        self.name = name
        self.poll = settings.ALERT_FOLD_POLL if poll is None else poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None
        self.pid = os.getpid()

    def start(self) -> FoldWorker:
        self._thread = threading.Thread(
            target=self.run, name=f"watchfloor-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        _wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        hooks.preload()  # inherited from a server that preloaded them before forking: no cost
        with drainer_thread(), hooks.coalescing(), publishing_in_background():
            self._run()

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    if self._idle_standby():
                        self._flush_hooks(force=True)  # what this standby's own folds changed
                        self._stop.wait(STANDBY_POLL)
                        continue
                    started = time.perf_counter()
                    folded = drain_once()
                    if folded.batches:
                        metrics.record_fold(folded.events, time.perf_counter() - started)
                except Exception as exc:  # the database is down, say: degrade, retry
                    degrade.record_failure(FOLD_COMPONENT, exc)
                    failures += 1
                    connection.close()
                    self._close_listener()
                    self._stop.wait(min(5.0, 0.1 * 2 ** min(failures, 6)))
                    continue
                degrade.record_success(FOLD_COMPONENT)
                failures = 0
                # the hooks (incident rules) get the folds' changes merged: now when nothing
                # is left to fold, else once they are due (alerts.hooks.coalescing)
                self._flush_hooks(force=not folded.batches)
                self._tend()
                if not folded.batches:
                    self._wait()
                elif gathers_after(folded):
                    self._stop.wait(settings.ALERT_FOLD_GATHER)
        finally:
            self._flush_hooks(force=True)  # what the last folds committed
            flush_background()  # and their live events
            self._close_listener()
            connection.close()

    def _idle_standby(self) -> bool:
        """A standby (`stand_by`) while the fold keeps up: the lag is the one the requests'
        back-pressure reads (one aggregate per process at most every STANDBY_POLL)."""
        if not _standby:
            return False
        return _current_lag(max_age=STANDBY_POLL).seconds <= settings.ALERT_FOLD_STANDBY_LAG

    def _flush_hooks(self, *, force: bool) -> None:
        try:
            hooks.flush(force=force)
        except Exception as exc:  # call_hooks contains its hooks' failures; this is a bug
            log.exception("fold worker: flushing the alert hooks failed: %s", type(exc).__name__)
            connection.close()

    def _tend(self) -> None:
        """Statistics and dead rows autovacuum has not seen to yet (alerts.upkeep), on a
        thread of their own: the fold goes on meanwhile."""
        try:
            upkeep.tend_in_background()
        except Exception as exc:  # starting a thread failed; the next look tries again
            log.exception("fold worker: the table upkeep failed: %s", type(exc).__name__)

    def _wait(self) -> None:
        # a standby never LISTENs: it would leave notifications unread while it stands by, and
        # a listener that reads none holds PostgreSQL's notification queue back
        if connection.vendor == "postgresql" and not _standby and self._listen():
            try:
                for _ in self._listener.notifies(timeout=self.poll, stop_after=1):
                    pass
                return
            except Exception:  # the listening connection broke: poll until it is back
                self._close_listener()
        _wake.wait(self.poll)
        _wake.clear()

    def _listen(self) -> bool:
        if self._listener is not None:
            return True
        try:
            self._listener = listening_connection()
        except Exception as exc:
            log.info("fold worker: LISTEN unavailable (%s); polling", type(exc).__name__)
            self._listener = None
            return False
        return True

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                self._listener.close()
            self._listener = None


def gathers_after(folded: Folded) -> bool:
    """Whether a drainer waits `ALERT_FOLD_GATHER` before its next fold: after a small fold
    (fewer than `ALERT_FOLD_GATHER_BELOW` events) that took everything pending.

    A fold costs about 1.2 ms of CPU and eight round trips whatever its size (`bench/
    profile_ingest.py --roads --fold-sizes`), and under a stream of single-alert requests the
    next one found ~12 events each time: the fold's fixed cost was paid per dozen alerts. The
    pause lets a stream gather into one fold (group commit's commit_delay, for the fold). It
    never delays the first fold after an idle spell (the drainer is woken and folds at once,
    the pause comes after), and never a backlog: a fold that left batches pending, another
    tenant's included, goes straight on. Measured: docs/decisions.md (2026-12-07, the fold's
    gather pause)."""
    return (
        settings.ALERT_FOLD_GATHER > 0
        and not folded.left_pending
        and 0 < folded.events < settings.ALERT_FOLD_GATHER_BELOW
    )


def listening_connection():
    """A connection of its own (outside Django's pool, autocommit) that LISTENs on `CHANNEL`:
    how a drainer on PostgreSQL is woken when batches are staged or left pending."""
    import psycopg

    params = connections["default"].get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(name, None)
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {CHANNEL}")
    return listener


_in_process: FoldWorker | None = None
_start_lock = threading.Lock()


def ensure_in_process_worker() -> FoldWorker | None:
    """Start this process's fold worker if `ALERT_FOLD_IN_PROCESS` and none runs (a forked
    child gets its own)."""
    global _in_process
    if not settings.ALERT_FOLD_IN_PROCESS:
        return None
    worker = _in_process
    if worker is not None and worker.pid == os.getpid() and worker.alive():
        return worker
    with _start_lock:
        worker = _in_process
        if worker is None or worker.pid != os.getpid() or not worker.alive():
            _in_process = worker = FoldWorker().start()
    return worker


def stop_in_process_worker() -> None:
    global _in_process
    if _in_process is not None:
        _in_process.stop()
        _in_process = None


def start_for_server(*, forking: bool) -> FoldWorker | None:
    """What `serve` and `demo` call before serving: a fold worker in the serving process, so
    batches a killed node left staged are folded without waiting for new traffic. When the
    server forks its workers (gunicorn), no thread here (its connection would be shared by every
    child; each child starts its own worker on its first staged batch): what is pending is
    folded once, now, before serving (the server closes this connection before it forks)."""
    if not settings.ALERT_FOLD_IN_PROCESS:
        return None
    if forking:
        hooks.preload()  # every worker inherits them (a worker of its own preloads in `run`)
        try:
            folded = drain_pending()
        except Exception as exc:  # the database is down: the children's workers catch up
            degrade.record_failure(FOLD_COMPONENT, exc)
        else:
            if folded:
                log.info("folded %d staged events left by the last run", folded)
        return None
    return ensure_in_process_worker()
