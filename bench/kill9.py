"""kill -9 of the web node under ingestion load: alerts answered, stored, lost (must be 0).

One `watchfloor serve` node, a Celery worker and beat on a scratch PostgreSQL database and a
Redis database (tests/platform/support_cluster.py, the same harness as test_kill9.py). Four
threads post native batches (5 new fingerprints and 5 repeats each) for `--kills` rounds: let
the load run `--every` seconds, SIGKILL the node's process group, start it again. Prints one
JSON line with the figures and, with --record, appends a section to docs/benchmarks.md.

    uv run python bench/kill9.py --kills 3 --every 4 --record
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "tests"), str(BENCH.parent / "tests" / "platform")]

from support_cluster import (  # noqa: E402
    Cluster,
    Load,
    staging_drained,
    stored_occurrences,
    verify,
)

import harness as h  # noqa: E402
from support_databases import scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--every", type=float, default=4.0, help="seconds of load per round")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{h.BENCH_DB}"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", f"redis://127.0.0.1:6379/{h.REDIS_DB}")
    )
    parser.add_argument("--record", action="store_true", help="append to docs/benchmarks.md")
    args = parser.parse_args()

    restarts = []
    with (
        scratch_database(args.database_url, "kill9") as (database, conninfo),
        tempfile.TemporaryDirectory(prefix="wf-kill9-") as home,
    ):
        cluster = Cluster(database, args.redis_url, Path(home))
        h.log("migrate and seed")
        cluster.prepare()
        try:
            web = cluster.web("web")
            cluster.job("worker")
            cluster.job("beat")
            started = time.monotonic()
            with Load(web, cluster.key, threads=args.threads) as load:
                for round_ in range(args.kills):
                    time.sleep(args.every)
                    web.kill9()
                    down = time.monotonic()
                    web.start_and_wait()
                    restarts.append(time.monotonic() - down)
                    h.log(f"kill {round_ + 1}: restarted in {restarts[-1]:.1f} s")
                time.sleep(args.every)
            elapsed = time.monotonic() - started
            answered, unanswered = load.counts()
            staging_drained(conninfo)  # a 2xx means staged: read alerts once all are folded
            report = verify(stored_occurrences(conninfo), answered, unanswered)
        finally:
            cluster.stop()
    requests = len(load.sent)
    failed = [s for s in load.sent if not (isinstance(s.status, int) and s.status < 300)]
    # refused: the node was down (nothing sent); cut off: in flight when the node was killed
    refused = [s for s in failed if s.status == "URLError"]
    figure = {
        "kills": args.kills,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_refused_while_down": len(refused),
        "requests_cut_off": len(failed) - len(refused),
        "unanswered_kinds": sorted({str(s.status) for s in failed}),
        "alerts_answered": report["occurrences_answered"],
        "fingerprints_answered": report["fingerprints_answered"],
        "alerts_stored": report["occurrences_stored"],
        "lost": len(report["lost"]),
        "wrong_counts": len(report["wrong_counts"]),
        "more_than_sent": len(report["more_than_sent"]),
        "occurrences_committed_unanswered": report["occurrences_stored"]
        - report["occurrences_answered"],
        "restart_s": [round(r, 1) for r in restarts],
    }
    print(json.dumps(figure), flush=True)
    if args.record:
        load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        h.append_docs(
            "\n".join(
                [
                    f"## kill -9 under ingestion load ({h.now_utc()}, commit {h.git_commit()})",
                    "",
                    f"`{h.command_line()}` — {os.cpu_count()} cores, load average {load_avg} "
                    "(shared machine). One `watchfloor serve` node, a Celery worker and beat on "
                    f"PostgreSQL + Redis; {args.threads} threads post native batches (5 new "
                    "fingerprints + 5 repeats) while the node's process group is SIGKILLed "
                    f"{args.kills} times, {args.every:g} s apart, and started again.",
                    "",
                    "| requests | refused while down | cut off by a kill | alerts answered 2xx "
                    "| alerts stored | lost | wrong counts | restart s |",
                    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
                    f"| {requests} | {len(refused)} | {figure['requests_cut_off']} | "
                    f"{figure['alerts_answered']} | {figure['alerts_stored']} | {figure['lost']} "
                    f"| {figure['wrong_counts']} | {', '.join(map(str, figure['restart_s']))} |",
                    "",
                    "Alerts stored can exceed alerts answered: a request the kill cut off after "
                    "its commit is stored without an answer (its sender retries; the repeat "
                    "counts as an occurrence): "
                    f"{figure['occurrences_committed_unanswered']} occurrences here. Lost (an "
                    "alert answered 2xx and not stored, or stored with fewer occurrences than "
                    "answered) must be 0.",
                ]
            )
        )


if __name__ == "__main__":
    main()
