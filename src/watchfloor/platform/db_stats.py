"""The database as its operator sees it: PostgreSQL's statistics views, or SQLite's file and
pragmas, and every table's size and rows next to how long its rows are kept.

PostgreSQL: version, size, connections by state (pg_stat_activity), commits and rollbacks,
cache hit ratio and tuples (pg_stat_database, since the statistics were last reset), the largest
tables (pg_class with pg_stat_user_tables), and the slowest statements from pg_stat_statements
when the extension is installed and loaded — said plainly when it is not, with how to enable it.
Rows are counted exactly for tables under `EXACT_COUNT_BYTES` (cheap) and estimated from the
planner's statistics above that.

SQLite: version, file and WAL size, page size, page and freelist counts, journal mode, and the
exact row count and (where SQLite has the dbstat table) the size of the largest tables.

Statement texts from pg_stat_statements are normalised by PostgreSQL (constants become $1, $2…)
and go through the PII masking besides, so no person's data reaches the page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from watchfloor.access.masking import mask_text
from watchfloor.jobs.models import JobRun
from watchfloor.platform import sampling
from watchfloor.platform.database import describe_database
from watchfloor.platform.models import PlatformSample
from watchfloor.snapshots.retention import table_retention

TOP_TABLES = 100
EXACT_COUNT_BYTES = 1024 * 1024  # count(*) below this heap size (cheap); estimate above
SLOW_QUERIES = 10
QUERY_TEXT_MAX = 600

# a table nobody said how long it keeps: a defect (tests/snapshots/test_retention_tables.py)
NOT_STATED = "no retention stated (add it to snapshots/retention.py table_retention)"
PG_STAT_STATEMENTS_HOWTO = (
    "Add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart PostgreSQL, "
    "then run CREATE EXTENSION pg_stat_statements; in this database."
)


def retention_of(table: str) -> str:
    """How long the rows of `table` are kept, as the code enforces it today."""
    if table == JobRun._meta.db_table:
        days = settings.JOBS_RUN_RETENTION_DAYS
        return f"{days} days (daily job jobs.prune_runs, WATCHFLOOR_JOBS_RUN_RETENTION_DAYS)"
    if table == PlatformSample._meta.db_table:
        hours = int(sampling.KEEP.total_seconds() // 3600)
        return f"{hours} hours (pruned by the platform.sample job)"
    return table_retention().get(table, NOT_STATED)


def _model_tables() -> dict[str, str]:
    """db_table → `app.Model`, to name what a table holds."""
    return {m._meta.db_table: m._meta.label for m in apps.get_models(include_auto_created=True)}


@dataclass(frozen=True)
class Table:
    name: str
    model: str  # `app.Model`, or "" for a table Django does not manage
    rows: int | None
    rows_exact: bool
    size_bytes: int | None  # with its indexes and TOAST (PostgreSQL); pages (SQLite dbstat)
    retention: str


@dataclass(frozen=True)
class SlowQuery:
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int


@dataclass(frozen=True)
class StatementsState:
    available: bool
    message: str  # why not, and how to enable it, when not available
    queries: list[SlowQuery] = field(default_factory=list)


@dataclass(frozen=True)
class PostgresStats:
    version: str
    database: str
    size_bytes: int
    max_connections: int
    connections_total: int  # every database of the server
    connections_by_state: dict[str, int]  # this database
    commits: int
    rollbacks: int
    blocks_read: int
    blocks_hit: int
    cache_hit_ratio: float | None  # percent
    tuples_returned: int
    tuples_fetched: int
    tuples_inserted: int
    tuples_updated: int
    tuples_deleted: int
    deadlocks: int
    temp_bytes: int
    stats_reset: str | None
    statements: StatementsState


@dataclass(frozen=True)
class SqliteStats:
    version: str
    path: str
    in_memory: bool
    file_bytes: int | None
    wal_bytes: int | None
    page_size: int
    page_count: int
    freelist_count: int
    journal_mode: str


@dataclass(frozen=True)
class DatabaseStats:
    vendor: str
    description: str
    tables: list[Table]
    tables_shown: int
    tables_total: int
    postgres: PostgresStats | None = None
    sqlite: SqliteStats | None = None


PG_TABLE_COUNT = """
SELECT count(*)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""
# The same tables, largest first: a partitioned table sums its partitions; a plain table counts
# its heap, indexes and TOAST.
PG_TABLES = """
SELECT c.relname,
  CASE WHEN c.relkind = 'p'
    THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t)
    ELSE pg_total_relation_size(c.oid) END AS total,
  CASE WHEN c.relkind = 'p'
    THEN (SELECT coalesce(sum(pg_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t)
    ELSE pg_relation_size(c.oid) END AS heap,
  CASE WHEN c.relkind = 'p'
    THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), 0)
          FROM pg_partition_tree(c.oid) t JOIN pg_class p ON p.oid = t.relid)
    ELSE c.reltuples END AS estimate,
  (SELECT s.n_live_tup FROM pg_stat_user_tables s WHERE s.relid = c.oid) AS live
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY total DESC, c.relname
LIMIT %s
"""


def _one(cur, sql: str, params=()):
    cur.execute(sql, params)
    return cur.fetchone()


def _count(cur, conn, table: str) -> int:
    """Exact rows of a table named by the catalogue (quoted), never by a request."""
    return _one(cur, f"SELECT count(*) FROM {conn.ops.quote_name(table)}")[0]  # noqa: S608


def _statements(conn) -> StatementsState:
    with conn.cursor() as cur:
        installed = _one(cur, "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if not installed:
            return StatementsState(
                False, "pg_stat_statements is not installed. " + PG_STAT_STATEMENTS_HOWTO
            )
        try:
            with transaction.atomic(
                using=conn.alias
            ):  # a savepoint: the error must not break the page
                cur.execute(
                    "SELECT query, calls, total_exec_time, mean_exec_time, rows "
                    "FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY mean_exec_time DESC LIMIT %s",
                    [SLOW_QUERIES],
                )
                found = cur.fetchall()
        except DatabaseError:
            return StatementsState(
                False,
                "pg_stat_statements is installed in this database but not loaded by the server. "
                + PG_STAT_STATEMENTS_HOWTO,
            )
    return StatementsState(
        True,
        "",
        [slow_query(*row) for row in found],
    )


def slow_query(text: str, calls, total_ms, mean_ms, rows) -> SlowQuery:
    """One row of pg_stat_statements for the page: the text shortened and PII-masked."""
    return SlowQuery(
        query=mask_text(text[:QUERY_TEXT_MAX]),
        calls=int(calls),
        total_ms=round(float(total_ms), 2),
        mean_ms=round(float(mean_ms), 3),
        rows=int(rows),
    )


def _postgres(conn) -> tuple[PostgresStats, list[Table], int]:
    with conn.cursor() as cur:
        version = _one(cur, "SHOW server_version")[0]
        database, size = _one(
            cur, "SELECT current_database(), pg_database_size(current_database())"
        )
        max_connections = int(_one(cur, "SHOW max_connections")[0])
        total = _one(
            cur, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )[0]
        cur.execute(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' "
            "GROUP BY 1 ORDER BY 1"
        )
        by_state = {state: int(n) for state, n in cur.fetchall()}
        row = _one(
            cur,
            "SELECT xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched, "
            "tup_inserted, tup_updated, tup_deleted, deadlocks, temp_bytes, stats_reset "
            "FROM pg_stat_database WHERE datname = current_database()",
        )
        (
            commits,
            rollbacks,
            blks_read,
            blks_hit,
            returned,
            fetched,
            inserted,
            updated,
            deleted,
            deadlocks,
            temp_bytes,
            stats_reset,
        ) = row
        tables_total = _one(cur, PG_TABLE_COUNT)[0]
        cur.execute(PG_TABLES, [TOP_TABLES])
        found = cur.fetchall()
        models = _model_tables()
        tables = []
        for name, total_size, heap, estimate, live in found:
            if heap < EXACT_COUNT_BYTES:
                rows = _count(cur, conn, name)
                exact = True
            else:
                # reltuples is -1 until the table was first analysed (PostgreSQL 14+)
                rows = int(estimate) if estimate is not None and estimate >= 0 else live
                exact = False
            tables.append(
                Table(name, models.get(name, ""), rows, exact, int(total_size), retention_of(name))
            )
    lookups = blks_read + blks_hit
    stats = PostgresStats(
        version=version,
        database=database,
        size_bytes=int(size),
        max_connections=max_connections,
        connections_total=int(total),
        connections_by_state=by_state,
        commits=int(commits),
        rollbacks=int(rollbacks),
        blocks_read=int(blks_read),
        blocks_hit=int(blks_hit),
        cache_hit_ratio=round(blks_hit / lookups * 100, 2) if lookups else None,
        tuples_returned=int(returned),
        tuples_fetched=int(fetched),
        tuples_inserted=int(inserted),
        tuples_updated=int(updated),
        tuples_deleted=int(deleted),
        deadlocks=int(deadlocks),
        temp_bytes=int(temp_bytes),
        stats_reset=stats_reset.isoformat() if stats_reset else None,
        statements=_statements(conn),
    )
    return stats, tables, int(tables_total)


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _sqlite(conn) -> tuple[SqliteStats, list[Table], int]:
    with conn.cursor() as cur:
        version = _one(cur, "SELECT sqlite_version()")[0]
        page_size = _one(cur, "PRAGMA page_size")[0]
        page_count = _one(cur, "PRAGMA page_count")[0]
        freelist = _one(cur, "PRAGMA freelist_count")[0]
        journal = _one(cur, "PRAGMA journal_mode")[0]
        # the file actually open (a test database is not settings' NAME)
        cur.execute("PRAGMA database_list")
        path = next((file for _seq, name, file in cur.fetchall() if name == "main"), "") or ""
        cur.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        names = [r[0] for r in cur.fetchall()]
        sizes: dict[str, int] = {}
        try:  # a table's pages and its indexes' (dbstat reads the b-trees: fine at SQLite's scale)
            cur.execute(
                "SELECT m.tbl_name, sum(d.pgsize) FROM dbstat d "
                "JOIN sqlite_master m ON m.name = d.name GROUP BY m.tbl_name"
            )
            sizes = {name: int(total) for name, total in cur.fetchall()}
        except DatabaseError:  # SQLite built without the dbstat table
            sizes = {}
        names.sort(key=lambda name: (-sizes.get(name, 0), name))
        models = _model_tables()
        tables = [
            Table(
                name,
                models.get(name, ""),
                _count(cur, conn, name),
                True,
                sizes.get(name),
                retention_of(name),
            )
            for name in names[:TOP_TABLES]
        ]
    in_memory = not path
    stats = SqliteStats(
        version=version,
        path=path,
        in_memory=in_memory,
        file_bytes=None if in_memory else _size(path),
        wal_bytes=None if in_memory else _size(path + "-wal"),
        page_size=int(page_size),
        page_count=int(page_count),
        freelist_count=int(freelist),
        journal_mode=str(journal),
    )
    return stats, tables, len(names)


def collect(alias: str = DEFAULT_DB_ALIAS) -> DatabaseStats:
    conn = connections[alias]
    if conn.vendor == "postgresql":
        pg, tables, total = _postgres(conn)
        return DatabaseStats(
            conn.vendor, describe_database(alias), tables, len(tables), total, postgres=pg
        )
    if conn.vendor == "sqlite":
        lite, tables, total = _sqlite(conn)
        return DatabaseStats(
            conn.vendor, describe_database(alias), tables, len(tables), total, sqlite=lite
        )
    return DatabaseStats(conn.vendor, describe_database(alias), [], 0, 0)
