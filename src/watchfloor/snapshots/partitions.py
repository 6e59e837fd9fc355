"""PostgreSQL storage of the KPI snapshots: monthly partitions.

- `ensure_partitions(at)`: the partition of `at`'s month and the next `AHEAD` months exist
  (the `snapshots.compute` job calls it before every insert; one catalog query when nothing
  is missing). There is no default partition: a row outside every partition is an error, never
  a silent pile-up that blocks creating its month later.
- `drop_partitions_before(cutoff)`: retention by `DROP TABLE` of whole months that end on or
  before `cutoff` (helper F's retention job calls it with the longest snapshot period of any
  tenant; rows of shorter periods are deleted by row, see snapshots/retention*).

On SQLite every function here does nothing (there are no partitions). The hourly rollup, the
tenant totals and the client health are plain tables on both databases (snapshots/rollups.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from watchfloor.snapshots.models import SNAPSHOT_TABLE

log = logging.getLogger(__name__)

AHEAD = 2  # months created ahead of the current one
_NAME = re.compile(rf"^{SNAPSHOT_TABLE}_p(\d{{4}})(\d{{2}})$")


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"{SNAPSHOT_TABLE}_p{start:%Y%m}"


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # inclusive
    end: datetime  # exclusive


def partitions() -> list[Partition]:
    """The snapshot table's partitions, oldest first (PostgreSQL; [] on SQLite)."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [SNAPSHOT_TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:
            start = month_start(int(match[1]), int(match[2]))
            found.append(Partition(name, start, month_start(start.year, start.month + 1)))
    return sorted(found, key=lambda p: p.start)


def ensure_partitions(at: datetime, ahead: int = AHEAD) -> list[str]:
    """Create the missing partitions from `at`'s month to `ahead` months later; their names."""
    if not is_partitioned():
        return []
    at = at.astimezone(UTC)
    have = {p.name for p in partitions()}
    created = []
    for offset in range(ahead + 1):
        start = month_start(at.year, at.month + offset)
        name = partition_name(start)
        if name in have:
            continue
        end = month_start(start.year, start.month + 1)
        with connection.cursor() as cursor:
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{SNAPSHOT_TABLE}" '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        created.append(name)
    if created:
        log.info("snapshot partitions created: %s", ", ".join(created))
    return created


def drop_partitions_before(cutoff: datetime) -> list[str]:
    """Drop every partition whose whole month ends on or before `cutoff`; their names.

    A month that straddles the cutoff stays (its older rows are removed with it a month later,
    or by row by the retention job). On SQLite: nothing, [] (the retention job deletes rows).
    """
    if not is_partitioned():
        return []
    dropped = []
    for part in partitions():
        if part.end <= cutoff:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{part.name}"')
            dropped.append(part.name)
    if dropped:
        log.info("snapshot partitions dropped: %s", ", ".join(dropped))
    return dropped
