"""Scale-out on PostgreSQL + Redis (#12 §5): two web nodes, one Celery worker and one beat, the
production topology (docs/operations.md "Scale out"). A periodic job runs once per period, not
once per node: the web nodes run no jobs (JOBS_BACKEND is celery), beat sends one message per
period and the worker runs it. The WebSocket half (node B hears what node A ingested) is
tests/browser/test_two_nodes.py. Skipped without PostgreSQL and Redis (mandatory in CI's
PostgreSQL run).
"""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from chaos_jobs import TICK_EVERY
from support_cluster import Cluster, Load, require_postgres_and_redis

from support_databases import scratch_database

PERIODS = 6


def ticks(conninfo: dict) -> list[tuple]:
    import psycopg

    with psycopg.connect(**conninfo) as connection:
        return connection.execute(
            "SELECT started_at, node, outcome FROM jobs_jobrun WHERE job = 'chaos.tick' "
            "ORDER BY started_at"
        ).fetchall()


def test_a_periodic_job_runs_once_per_period_with_two_web_nodes(tmp_path):
    url, redis = require_postgres_and_redis(pytest)
    with scratch_database(url, "scaleout") as (database, conninfo):
        cluster = Cluster(database, redis, tmp_path, schedule="chaos_jobs.TICK_ONLY")
        cluster.prepare()
        try:
            node_a, node_b = cluster.web("web-a"), cluster.web("web-b")
            worker, beat = cluster.job("worker"), cluster.job("beat")
            deadline = time.monotonic() + 90  # a bound on a hang: workers start slowly here
            while not [r for r in ticks(conninfo) if r[2] == "ok"]:
                assert time.monotonic() < deadline, worker.log()[-3000:] + beat.log()[-3000:]
                time.sleep(0.2)
            # both nodes take ingestion meanwhile, as in production
            with Load(node_a, cluster.key, threads=1), Load(node_b, cluster.key, threads=1):
                time.sleep(TICK_EVERY.total_seconds() * PERIODS)
            runs = ticks(conninfo)
        finally:
            cluster.stop()

    ok = [r for r in runs if r[2] == "ok"]
    first, last = ok[0][0], ok[-1][0]
    periods = (last - first) / TICK_EVERY
    # one run per period, not one per node (two nodes running it would double the count and
    # put runs a fraction of a period apart); beat's cadence jitters by a few milliseconds and
    # stretches on a loaded machine, so the bound leaves one run of slack
    shown = [(r[0].isoformat(), r[1]) for r in ok]
    assert len(ok) <= periods + 2, shown
    assert len(ok) >= 3
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(ok)]
    assert min(gaps) >= TICK_EVERY / 2, shown
    # run by the worker's pool, never by a web node
    web_pids = {str(pid) for web in (node_a, node_b) for pid in web.pids}
    assert not {r[1].rsplit(":", 1)[-1] for r in runs} & web_pids
    assert not [r for r in runs if r[2] == "skipped"]  # nobody raced for the lease either
    assert timedelta(0) < last - first
