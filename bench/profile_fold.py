"""Where the fold's time goes: staged Alertmanager batches folded in process, timed and profiled.

The companion of ingest.py for the fold (issue 14): ingest.py's figure is the fold's rate (the
2xx only stages a batch), so this isolates the fold from HTTP. It prepares the bench database
like ingest.py (production settings: PostgreSQL, Redis publisher, incident rules' hook on), then
in a child process with those settings and the in-process fold worker off, stages ingest.py's
bodies through the real endpoint (Django's test client) and folds them with
`staging.drain_pending()` — the drainer's own function — in two kinds:

- `first_pass`: the pool's 10,000 fingerprints, every one new (100 batches of 100);
- `repeats`: `--batches` random 100-alert samples of the pool (nearly every event a repeat).

Each kind is folded once without a profiler (the wall time and alerts/s of one drainer on one
core, the database round trips included) and, for the repeats, once more under cProfile (top
functions by own and cumulative time). Not the bench figure (no HTTP, no concurrency, one
process): a breakdown, and a before/after for the fold's own cost. Writes
bench/results/profile_fold.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness as h
import ingest


def _inner(args) -> None:
    """Runs with the bench database's settings in the environment."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    django.setup()
    if os.environ.get("BENCH_GC_THRESHOLD"):  # an experiment: gc.set_threshold(a, b, c)
        import gc

        gc.set_threshold(*(int(x) for x in os.environ["BENCH_GC_THRESHOLD"].split(",")))
        gc.freeze()
    from django.db import connection
    from django.test import Client

    timers = _wrap_timed(args.time)
    gc_time = _gc_timer()

    from watchfloor import events as live_events
    from watchfloor.alerts import staging

    def background():
        """The fold worker's publishing (`--background`), or the caller's thread's."""
        if args.background:
            return live_events.publishing_in_background()
        return contextlib.nullcontext()

    key = os.environ["BENCH_KEY"]
    sites = [(f"C{c:03d}", f"C{c:03d}-S{s:02d}") for c in range(20) for s in range(10)]
    pool = ingest.alert_pool(sites, datetime.now(UTC))
    batches = ingest.request_bodies(
        pool, batch=ingest.BATCH, count=100 + 3 * args.batches, seed=args.seed
    )
    first = batches[: ingest.FINGERPRINTS // ingest.BATCH]
    rest = batches[len(first) :]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")

    for statement in args.sql_before:  # an experiment on the schema, before anything is staged
        with connection.cursor() as cursor:
            cursor.execute(statement)

    def stage(bodies: list[str]) -> int:
        for body in bodies:
            r = client.post("/api/v2/alerts", data=body, content_type="application/json")
            if r.status_code != 200:
                raise SystemExit(f"answered {r.status_code}: {r.content[:300]!r}")
        return sum(b.count('"labels"') for b in bodies)

    def stored_alerts() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM alerts_alert")
            return int(cursor.fetchone()[0])

    def fold(name: str, bodies: list[str], profile: bool) -> dict[str, Any]:
        # --chunk N: stage and fold N requests at a time on a drainer's thread, as the server's
        # fold workers do under load, so the incident rules run inline after each fold
        chunk = args.chunk or len(bodies)
        prof = cProfile.Profile() if profile else None
        alerts = folded = 0
        wall = 0.0
        for start in range(0, len(bodies), chunk):
            alerts += stage(bodies[start : start + chunk])
            staging.forget_lag()
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            with background():
                if args.chunk:
                    with staging.drainer_thread():
                        folded += staging.drain_pending()
                else:
                    folded += staging.drain_pending()
            if args.background:  # the fold's chain ends when its last events are out
                live_events.flush_background(30)
            if prof:
                prof.disable()
            wall += time.perf_counter() - t0
        assert folded == alerts, (folded, alerts)
        row: dict[str, Any] = {
            "alerts": alerts,
            "batches": len(bodies),
            "wall_s": round(wall, 3),
            "alerts_per_s": round(alerts / wall, 1),
            "us_per_alert": round(1e6 * wall / alerts, 1),
            "profiled": profile,
        }
        print(
            f"== {name}{' (cProfile)' if profile else ''}: {alerts:,} alerts in "
            f"{len(bodies)} batches folded in {wall:.3f} s = {alerts / wall:,.0f} alerts/s "
            f"({1e6 * wall / alerts:.0f} us an alert); alerts stored: {stored_alerts():,}",
            flush=True,
        )
        report_timers(name)
        print(f"   {name}: gc collections (generation: [count, s]): {gc_time}", flush=True)
        row["gc"] = {str(k): v for k, v in gc_time.items()}
        gc_time.clear()
        if prof:
            if args.dump:
                prof.dump_stats(f"{args.dump}.{name}")
            stats = pstats.Stats(prof)
            db = sum(
                v[3]
                for k, v in stats.stats.items()
                if k[2] in ("execute", "commit", "executemany")
                and ("psycopg/cursor.py" in k[0] or "psycopg/connection.py" in k[0])
            )
            row["postgres_roundtrips_s"] = round(db, 3)
            for sort in ("tottime", "cumulative"):
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(args.top)
                row[f"top_by_{sort}"] = buf.getvalue()
                print(buf.getvalue()[-7000:], flush=True)
            print(f"   psycopg execute/commit: {db:.3f} s of {wall:.3f} s", flush=True)
        return row

    def report_timers(name: str) -> None:
        for path, acc in timers.items():
            print(f"   {name}: {path}: {acc[1]} calls, {acc[0]:.3f} s", flush=True)
            acc[0], acc[1] = 0.0, 0

    out = {
        "first_pass": fold("first_pass", first, args.profile_first),
        "repeats": fold("repeats", rest[: args.batches], False),
        "repeats_profiled": fold("repeats", rest[args.batches : 2 * args.batches], True),
    }
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out, indent=2))


def _gc_timer() -> dict[int, list]:
    """generation -> [collections, seconds] from gc.callbacks (the caller resets it per kind;
    collections while staging count too)."""
    import gc

    out: dict[int, list] = {}
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        row = out.setdefault(info["generation"], [0, 0.0])
        row[0] += 1
        row[1] = round(row[1] + time.perf_counter() - started[0], 4)

    gc.callbacks.append(callback)
    return out


def _wrap_timed(paths: list[str]) -> dict[str, list]:
    """Wrap each dotted `module.function` (or `module.Class.method`) to add up its wall time
    (--time): unprofiled figures for a few functions, where cProfile's own cost and its GC
    attribution mislead. Wraps the name where it is looked up (a caller that imported it by
    name elsewhere keeps the original)."""
    import functools
    import importlib

    timers: dict[str, list] = {}
    for path in paths:
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # the longest importable prefix: a module
            try:
                module = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for name in parts[cut:-1]:  # then attributes: a class's method
            module = getattr(module, name)
        attr = parts[-1]
        original = getattr(module, attr)
        acc = timers[path] = [0.0, 0]

        @functools.wraps(original)
        def timed(*a, _original=original, _acc=acc, **kw):
            t0 = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                _acc[0] += time.perf_counter() - t0
                _acc[1] += 1

        setattr(module, attr, timed)
    return timers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=100, help="repeat batches per kind")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile-first", action="store_true", help="profile the first pass too (not timed)"
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="fold this many staged requests at a time on a drainer's thread (the incident "
        "rules then run after each fold, as in the server); default: all at once, rules queued",
    )
    parser.add_argument(
        "--background",
        action="store_true",
        help="publish the live events on the publisher thread, as the server's fold worker does",
    )
    parser.add_argument(
        "--rules-off", action="store_true", help="the incident rules' hook off (ingest.py's arm)"
    )
    parser.add_argument(
        "--time",
        action="append",
        default=[],
        metavar="MODULE.FUNCTION",
        help="add up this function's wall time per kind (repeatable; unprofiled)",
    )
    parser.add_argument(
        "--dump", help="also write each profile's raw stats to DUMP.<kind> (pstats, snakeviz)"
    )
    parser.add_argument(
        "--sql-before",
        action="append",
        default=[],
        metavar="SQL",
        help="run this statement on the bench database before staging (repeatable; an "
        "experiment on the schema, such as dropping an index)",
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args)
        return
    with h.workdir("wf-bench-profile-fold-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        estate = h.setup_watchfloor(env, key_sources=["alertmanager"])
        env["BENCH_KEY"] = estate.secrets["key_alertmanager"]
        env["WATCHFLOOR_FOLD_IN_PROCESS"] = "false"  # this process folds, when told
        # it stages everything before it folds: the flow control would hold, then refuse, the
        # requests once the staged batches' age passed its bounds
        env["WATCHFLOOR_STAGING_HOLD_LAG"] = "1e9"
        env["WATCHFLOOR_STAGING_MAX_LAG"] = "1e9"
        h.RESULTS.mkdir(exist_ok=True)
        env["BENCH_OUT"] = str(h.RESULTS / "profile_fold.json")
        if args.rules_off:
            env["WATCHFLOOR_ALERT_CHANGE_HOOKS"] = ""
        if args.chunk:
            # no scheduler in this process takes a queued task: the rules run on the drainer
            env["WATCHFLOOR_JOBS_BACKEND"] = "embedded"
        cmd = [
            "uv",
            "run",
            "--frozen",
            "python",
            str(Path(__file__).resolve()),
            "--inner",
            f"--batches={args.batches}",
            f"--top={args.top}",
            f"--seed={args.seed}",
            *(["--profile-first"] if args.profile_first else []),
            f"--chunk={args.chunk}",
            *(["--background"] if args.background else []),
            *(f"--time={t}" for t in args.time),
            *(f"--sql-before={q}" for q in args.sql_before),
            *([f"--dump={Path(args.dump).resolve()}"] if args.dump else []),
        ]
        h.log(f"load average before: {os.getloadavg()}")
        subprocess.run(cmd, env=env, cwd=h.ROOT, check=True)  # noqa: S603
        h.log(f"load average after: {os.getloadavg()}; commit {h.git_commit()}")
    h.log(f"wrote {env['BENCH_OUT']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
