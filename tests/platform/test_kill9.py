"""kill -9 under ingestion load loses no alert that was answered 2xx, and no job (#12 §5).

Real processes on PostgreSQL + Redis (a scratch database, a Celery queue of their own): one web
node, a Celery worker and beat. Four threads post native batches (new fingerprints and repeats)
while the web node is SIGKILLed and started again; every fingerprint answered 2xx must be
stored with its occurrences counted exactly (support_cluster.verify). A 2xx means the batch is
staged (alerts.staging): batches the killed node staged and had not folded are folded by the
restarted node's fold worker (and by a `watchfloor pipeline` drainer, SIGKILLed too in the middle
of the load), so the check waits for the staging table to be empty. The worker is SIGKILLed
in the middle of a run of a slow job: the run it left is never finished, and after the restart
the job's lease is taken over and the job runs again. Skipped without PostgreSQL and Redis
(mandatory in CI's PostgreSQL run). The figure comes from bench/kill9.py.
"""

from __future__ import annotations

import time

import pytest
from support_cluster import (
    Cluster,
    Load,
    require_postgres_and_redis,
    staging_drained,
    stored_occurrences,
    verify,
)

from support_databases import scratch_database


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout  # a bound on a hang, not a timing assertion
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def sql(conninfo: dict, query: str, *params):
    import psycopg

    with psycopg.connect(**conninfo) as connection:
        return connection.execute(query, params).fetchall()


def test_kill9_of_the_web_node_and_the_worker_loses_nothing(tmp_path):
    url, redis = require_postgres_and_redis(pytest)
    with scratch_database(url, "kill9") as (database, conninfo):
        cluster = Cluster(database, redis, tmp_path)
        cluster.prepare()
        try:
            web = cluster.web("web")
            worker, _beat = cluster.job("worker"), cluster.job("beat")
            drainer = cluster.job("pipeline", "--drainers", "2")
            with Load(web, cluster.key) as load:
                wait_for(lambda: len(load.sent) >= 20, 60, "20 requests answered")
                drainer.kill9()
                web.kill9()
                killed_at = len(load.sent)
                web.start_and_wait()
                drainer.start()
                wait_for(lambda: len(load.sent) >= killed_at + 20, 60, "20 more requests")

                # the worker dies in the middle of a run of chaos.slow (it sleeps 4 s)
                running = wait_for(
                    lambda: sql(
                        conninfo,
                        "SELECT id, node FROM jobs_jobrun WHERE job = 'chaos.slow' "
                        "AND outcome = 'running'",
                    ),
                    60,
                    "a run of chaos.slow",
                )
                worker.kill9()
                dead_run = running[0][0]
                worker.start()
            answered, unanswered = load.counts()
            # every batch answered 2xx is folded: by the restarted node or the drainer
            staging_drained(conninfo)
            report = verify(stored_occurrences(conninfo), answered, unanswered)
            assert report["lost"] == {}, report
            assert report["wrong_counts"] == {}, report
            assert report["more_than_sent"] == {}, report
            # the kill really happened under load: some requests went unanswered
            assert sum(unanswered.values()) > 0 and report["occurrences_answered"] > 0

            # the job runs again after the lease (6 s) is taken over by the restarted worker,
            # and that run closes the one the dead worker left as abandoned
            wait_for(
                lambda: sql(
                    conninfo,
                    "SELECT 1 FROM jobs_jobrun WHERE job = 'chaos.slow' AND outcome = 'ok' "
                    "AND id > %s",
                    dead_run,
                ),
                60,
                "chaos.slow run by the restarted worker",
            )
            [(outcome, error)] = sql(
                conninfo, "SELECT outcome, error FROM jobs_jobrun WHERE id = %s", dead_run
            )
            assert (outcome, error.split(":")[0]) == ("failed", "Abandoned")
            assert "Traceback" not in web.log(), web.log()[-3000:]
        finally:
            cluster.stop()
