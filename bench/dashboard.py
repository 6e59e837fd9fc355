"""The overview's data endpoints under 100 concurrent users, 1,000 sites and 1,000,000 alerts
stored; and the overview page's first load in headless Chromium.

Data (bench/load_dashboard_data.py): 20 clients, 1,000 sites in 50 US cities, 1,000,000 alerts
over 30 days (~97 % resolved, ~26,000 active), in the database `watchfloor_bench_dash` (dropped
and rebuilt unless `--reuse` finds it loaded), then "settled" as a day of ingestion leaves it
(active alerts bumped once like repeats, today's acknowledged/resolved rows rewritten, no
VACUUM): index-only scans must visit those heap pages, as in production.

Load: wrk, 100 connections, for each endpoint (`GET /api/v1/overview/kpis`, `/sites`,
`/feed?limit=200`, the page's own calls) in two modes:

- `users`: each connection waits 0.75–2.25 s (`--think-ms`, mean 1.5 s) after each answer: 100
  people with the page open while alerts keep changing (the page re-reads tiles and map 1.5 s
  after a change, coalesced, and on its refresh interval, 30 s by default); latency excludes
  the wait;
- `burst`: closed loop, each connection sends its next request the moment an answer arrives
  (every open page re-reading at once, with no pause): the saturation point.

Requests cycle through `--people` (100) people, each with its own filters for the whole run (40 %
none; one or two clients, a city, a state, a time range, one site), 3 in 4 a supervisor (every
client, sees PII), 1 in 4 an operator assigned three clients. Each run: warm-up, then
`--duration` s measured; then 5 s from
one connection (service time without queueing). Servers: `watchfloor serve` (uvicorn, ASGI) and
`watchfloor serve --wsgi` (gunicorn sync workers), production settings, one after the other.

`--first-load`: `watchfloor serve`, the supervisor signs in through the form in a browser context,
then a fresh context with that session cookie (empty HTTP cache) opens `/` and the time until
the page marks `data-tiles-ready`, `data-map-ready` and `data-feed-ready` is read from the page's
own clock (performance.now(), from navigation start); then the same page reloaded (warm cache).

Prints the figures, writes bench/results/dashboard.json, appends to docs/benchmarks.md (unless
--no-record). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil

import harness as h
import ingest
import load_dashboard_data as data

LUA = h.BENCH / "wrk" / "overview.lua"
ENDPOINTS = {
    "kpis": "/api/v1/overview/kpis",
    "sites": "/api/v1/overview/sites",
    "feed": "/api/v1/overview/feed",
}
FEED_LIMIT = 200  # what the overview page asks for
USERS = ("bench-supervisor", "bench-operator")  # user 1, user 2 in the requests files
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_FLAGS = ("tilesReady", "mapReady", "feedReady")
# Records, in the page's own clock, when each flag first reads "1" (set before any page script).
READY_OBSERVER = (
    "window.__wfReady = {};"
    "new MutationObserver(() => {"
    "  const body = document.body;"
    "  if (!body) return;"
    f"  for (const key of {json.dumps(list(READY_FLAGS))}) {{"
    "    if (body.dataset[key] === '1' && !(key in window.__wfReady)) {"
    "      window.__wfReady[key] = performance.now();"
    "    }"
    "  }"
    "}).observe(document, {subtree: true, attributes: true, childList: true});"
)
# What the page loaded by the time all three were ready: the navigation's marks, how many requests
# and bytes (transfer size: 0 from the cache), when the last script and stylesheet arrived, and
# when each overview answer arrived (responseEnd, ms from navigation start) and how long the
# server took for it (responseStart - requestStart).
PAGE_MARKS = r"""() => {
  const n = performance.getEntriesByType('navigation')[0];
  const all = performance.getEntriesByType('resource');
  const upTo = Math.max(...Object.values(window.__wfReady));
  const before = all.filter((r) => r.startTime <= upTo);
  const last = (kind) => Math.max(0, ...before.filter((r) => r.initiatorType === kind
    || (kind === 'script' && r.name.endsWith('.js'))).map((r) => r.responseEnd));
  const api = {};
  for (const r of before) {
    const m = r.name.match(/\/api\/v1\/overview\/(\w+)/);
    if (m) api[m[1]] = [Math.round(r.responseEnd), Math.round(r.responseStart - r.requestStart)];
  }
  return {
    ready: window.__wfReady,
    nav: {response_end: n.responseEnd, dom_content_loaded: n.domContentLoadedEventEnd,
          server: n.responseStart - n.requestStart},
    markers: document.querySelectorAll('.leaflet-marker-icon, .leaflet-interactive').length,
    sites_drawn: document.querySelectorAll('path.site-marker').length
      + [...document.querySelectorAll('.site-cluster__count')]
          .reduce((t, l) => t + Number(l.dataset.count), 0),
    feed_rows: document.querySelectorAll('.alert-row').length,
    resources: {
      requests: 1 + before.length,
      kib: Math.round((n.transferSize + before.reduce((t, r) => t + r.transferSize, 0)) / 1024),
      scripts_done_ms: Math.round(last('script')),
      css_done_ms: Math.round(last('link')),
      api_end_and_server_ms: api,
    },
  };
}"""
ALL_READY = " && ".join(f"document.body?.dataset.{k} === '1'" for k in READY_FLAGS)


# --- data ----------------------------------------------------------------------------------------


def loaded_rows() -> int:
    """Alerts of the bench tenant already in the database, or 0 (no database, no tenant)."""
    names = h.psql_value("SELECT datname FROM pg_database", db="postgres").split()
    if data.BENCH_DB not in names:
        return 0
    count = h.psql_value(
        "SELECT count(*) FROM alerts_alert a JOIN tenancy_tenant t ON t.id = a.tenant_id "
        "WHERE t.slug = 'bench'",
        db=data.BENCH_DB,
    )
    return int(count or 0)


_SIGN_IN_SNIPPET = """
from watchfloor.tenancy.models import User
for name in {users!r}:
    user = User.objects.get(username=name)
    user.set_password({password!r})
    user.save(update_fields=["password"])
"""


def prepare(args, env: dict[str, str]) -> dict[str, Any]:
    """Load (or reuse) the data, settle it; fresh API tokens and a sign-in password."""
    password = "bench-" + os.urandom(12).hex()
    reused = bool(args.reuse and loaded_rows() == args.rows)
    if reused:
        h.log(f"reusing {data.BENCH_DB} ({args.rows:,} alerts): migrate, settle")
        h.watchfloor(["migrate", "--noinput"], env)
        load = {"rows": args.rows, "reused": True}
    else:
        h.reset_database()
        data.build_estate(env, password)
        load = data.load_alerts(args.rows)
    load["settled"] = data.settle()
    h.watchfloor(["shell", "-c", _SIGN_IN_SNIPPET.format(users=USERS, password=password)], env)
    tokens = [
        h.last_line(h.watchfloor(["token", "create", "--user", u, "--name", "bench"], env))
        for u in USERS
    ]
    return {"load": load, "holds": data.describe(), "tokens": tokens, "password": password}


# Run inside `watchfloor shell`: EXPLAIN ANALYZE of every alerts query the three endpoints run
# (as the supervisor: all clients; and one city), with the overview indexes and, inside a
# transaction rolled back afterwards, without them.
_EXPLAIN_SNIPPET = """
import json, statistics
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from watchfloor.alerts import overview_queries as ov
from watchfloor.tenancy.models import User

INDEXES = {indexes!r}
user = User.objects.get(username={user!r})
cases = {{"all clients": ov.OverviewFilters(), "one city": ov.OverviewFilters(city={city!r})}}
calls = {{
    "kpis": lambda f: ov.kpis(user, f),
    "sites": lambda f: ov.site_health(user, f),
    "feed": lambda f: ov.feed(user, f, limit={limit}),  # the default order: severity
    "feed total": lambda f: ov.feed_total(user, f),  # asked when the feed fills its limit
}}

def walk(node, found):
    if "Index Name" in node:
        found["scans"].append(node["Node Type"] + " " + node["Index Name"])
    elif node["Node Type"] in ("Seq Scan", "Parallel Seq Scan") and node.get(
        "Relation Name"
    ) == "alerts_alert":
        found["scans"].append(node["Node Type"] + " alerts_alert")
    found["heap_fetches"] += node.get("Heap Fetches", 0)
    for child in node.get("Plans", []):
        walk(child, found)

def explain(sql):
    runs = []
    for _ in range(3):
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            runs.append(cur.fetchone()[0][0])
    found = {{"scans": [], "heap_fetches": 0}}
    walk(runs[-1]["Plan"], found)
    return {{
        "ms": round(statistics.median(r["Execution Time"] for r in runs), 2),
        "scans": sorted(set(found["scans"])),
        "heap_fetches": found["heap_fetches"],
        "rows": runs[-1]["Plan"].get("Actual Rows"),
    }}

with_indexes, without = [], []
with transaction.atomic():
    for case, f in cases.items():
        for endpoint, call in calls.items():
            with CaptureQueriesContext(connection) as ctx:
                call(f)
            alert_queries = [x["sql"] for x in ctx.captured_queries if "alerts_alert" in x["sql"]]
            for n, sql in enumerate(alert_queries):
                key = {{"view": case, "endpoint": endpoint, "query": n + 1}}
                # one after the other, so both see the same machine: with the indexes, then
                # without them (dropped in a savepoint, rolled back: nothing is rebuilt)
                with_indexes.append({{**key, **explain(sql)}})
                sid = transaction.savepoint()
                with connection.cursor() as cur:
                    for name in INDEXES:
                        cur.execute("DROP INDEX " + name)
                without.append({{**key, **explain(sql)}})
                transaction.savepoint_rollback(sid)
    transaction.set_rollback(True)
print(json.dumps({{"with": with_indexes, "without": without}}))
"""
OVERVIEW_INDEXES = [
    "alert_active_overview",
    "alert_active_site",
    "alert_acknowledged_day",
    "alert_resolved_day",
]


def explain(env: dict[str, str]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the endpoints' alert queries, with and without the overview indexes
    (migrations alerts 0004–0006), on the settled data, before any load."""
    city = h.psql(
        "SELECT city FROM tenancy_site GROUP BY city ORDER BY count(*) DESC, city LIMIT 1",
        db=data.BENCH_DB,
    )
    snippet = _EXPLAIN_SNIPPET.format(
        indexes=OVERVIEW_INDEXES, user=USERS[0], city=city, limit=FEED_LIMIT
    )
    h.log(f"EXPLAIN ANALYZE with and without {', '.join(OVERVIEW_INDEXES)}")
    out = json.loads(h.last_line(h.watchfloor(["shell", "-c", snippet], env, timeout=1800)))
    out["city"] = city
    return out


def filter_mix(n: int, seed: int = 7) -> list[tuple[int, dict[str, Any]]]:
    """`n` people at their screens, each (user number, filters) with its own filters for the
    whole run: what a room of operators has on screen."""
    rng = random.Random(seed)
    places = [
        tuple(line.split("|"))
        for line in h.psql(
            "SELECT DISTINCT city, state FROM tenancy_site ORDER BY 1, 2", db=data.BENCH_DB
        ).splitlines()
    ]
    site_codes = h.psql("SELECT code FROM tenancy_site ORDER BY code", db=data.BENCH_DB).split()
    clients = [code for code, _ in data.CLIENTS]
    mine = list(data.OPERATOR_CLIENTS)
    choices: list[tuple[int, Any]] = [
        (40, lambda own: {}),
        (12, lambda own: {"client": [rng.choice(own)]}),
        (5, lambda own: {"client": rng.sample(own, 2)}),
        (10, lambda own: {"city": rng.choice(places)[0]}),
        (5, lambda own: {"state": rng.choice(places)[1]}),
        (8, lambda own: {"range": "24h"}),
        (5, lambda own: {"range": "1h"}),
        (5, lambda own: {"site": rng.choice(site_codes)}),
        (5, lambda own: {"client": [rng.choice(own)], "range": "7d"}),
        (5, lambda own: {"city": rng.choice(places)[0], "range": "24h"}),
    ]
    weights = [w for w, _ in choices]
    out = []
    for _ in range(n):
        user = 1 if rng.random() < 0.75 else 2
        make = rng.choices([f for _, f in choices], weights)[0]
        out.append((user, make(clients if user == 1 else mine)))
    return out


def requests_lines(endpoint: str, mix: list[tuple[int, dict[str, Any]]]) -> list[str]:
    lines = []
    for user, params in mix:
        query = dict(params)
        if endpoint == "feed":
            query["limit"] = FEED_LIMIT
        qs = urlencode(query, doseq=True)
        lines.append(f"{user}\t{ENDPOINTS[endpoint]}" + (f"?{qs}" if qs else ""))
    return lines


# --- wrk -----------------------------------------------------------------------------------------


def run_wrk(
    server: h.Server,
    *,
    requests_file: Path,
    tokens: list[str],
    seconds: float,
    connections: int,
    think_ms: int,
    threads: int = 2,
    quiet: bool = True,
    quiet_timeout: float = 60.0,
) -> h.WrkResult:
    """wrk with bench/wrk/overview.lua (several users, optional think time), measured like
    harness.wrk: CPU of the server, PostgreSQL, wrk and the rest; PostgreSQL sessions."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout=10s",
        "-s",
        str(LUA),
        server.base_url + "/",
        "--",
        str(requests_file),
        str(threads),
        *tokens,
    ]
    shown = f"WRK_THINK_MS={think_ms} " + " ".join("<token>" if c in tokens else c for c in cmd)
    busy_before = h.wait_quiet(timeout=quiet_timeout) if quiet else None
    meter = h.CpuMeter(server)
    meter.start()
    env = {**os.environ, "WRK_THINK_MS": str(think_ms)}
    proc = subprocess.Popen(  # noqa: S603 — fixed argument list
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    ps = psutil.Process(proc.pid)
    wrk_cpu = 0.0
    pg = h.PgActivity()
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            t = ps.cpu_times()
            wrk_cpu = t.user + t.system
        pg.sample()
        time.sleep(0.25)
    pg.close()
    out, err = proc.communicate()
    cpu = meter.stop(wrk_cpu)
    cpu["machine_busy_before_pct"] = busy_before
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")
    res = json.loads(line.removeprefix("WRK_JSON "))
    secs = res["duration_us"] / 1e6
    return h.WrkResult(
        requests=res["requests"],
        seconds=secs,
        rps=res["requests"] / secs if secs else 0.0,
        errors=res["errors"],
        latency_ms={k: round(v / 1000, 2) for k, v in res["latency_us"].items()},
        cpu=cpu,
        command=shown,
        pg_sessions=pg.summary(),
    )


def drain(server: h.Server, timeout: float = 180.0) -> float:
    """Wait (bounded) until the server has worked off what the last run left queued: a sync
    view keeps running after wrk closed its connection, so a closed-loop run leaves up to one
    request per connection behind. Done when `/api/health/` (which queues behind them) answers
    within 100 ms twice in a row. Returns the seconds waited."""
    t0 = time.monotonic()
    fast = 0
    while time.monotonic() - t0 < timeout and fast < 2:
        started = time.monotonic()
        with contextlib.suppress(OSError):
            h.http("GET", server.base_url + "/api/health/", timeout=timeout)
        fast = fast + 1 if time.monotonic() - started < 0.1 else 0
        time.sleep(0.2)
    return round(time.monotonic() - t0, 1)


def measure(server, args, requests_file: Path, tokens: list[str], think_ms: int):
    """Warm-up, then the measured run; repeated (at most twice more) when other processes took
    more than --max-other % of a core during it. Keeps the least disturbed run."""
    tried = []
    for _attempt in range(3):
        run_wrk(
            server,
            requests_file=requests_file,
            tokens=tokens,
            seconds=args.warmup,
            connections=args.connections,
            think_ms=think_ms,
            quiet_timeout=args.quiet_timeout,
        )
        # no drain here: the measured run starts on the warm-up's steady state
        res = run_wrk(
            server,
            requests_file=requests_file,
            tokens=tokens,
            seconds=args.duration,
            connections=args.connections,
            think_ms=think_ms,
            quiet=False,
        )
        tried.append(res)
        res.cpu["drained_after_s"] = drain(server)
        if res.cpu["other_pct"] <= args.max_other:
            break
        h.log(f"other processes used {res.cpu['other_pct']:.0f} % of a core: repeating")
    best = min(tried, key=lambda r: r.cpu["other_pct"])
    return best, [{"rps": round(r.rps, 1), "other_pct": r.cpu["other_pct"]} for r in tried]


def check_answers(server: h.Server, tokens: list[str]) -> dict[str, Any]:
    """Each endpoint once per user with no filter: status, size, what it holds."""
    out = {}
    for name in ENDPOINTS:
        for number, token in enumerate(tokens, start=1):
            line = requests_lines(name, [(number, {})])[0]
            path = line.split("\t", 1)[1]
            t0 = time.perf_counter()
            status, body = h.http(
                "GET", server.base_url + path, headers={"Authorization": f"Bearer {token}"}
            )
            info: dict[str, Any] = {
                "status": status,
                "bytes": len(body),
                "first_ms": round((time.perf_counter() - t0) * 1000, 1),
            }
            if status == 200:
                doc = json.loads(body)
                if name == "kpis":
                    info["open"] = doc["open"]["total"]
                    info["resolved_today"] = doc["resolved_today"]
                elif name == "sites":
                    info["sites"] = len(doc["sites"])
                    info["clients"] = len(doc["clients"])
                else:
                    info["rows"] = len(doc["alerts"])
            else:
                info["body"] = body[:300].decode(errors="replace")
            out[f"{name}/{USERS[number - 1]}"] = info
            h.log(f"check {name} as {USERS[number - 1]}: {info}")
    return out


# --- the page's first load -----------------------------------------------------------------------


def first_load(base_url: str, password: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            signin = browser.new_context()
            page = signin.new_page()
            page.goto(f"{base_url}/login/")
            page.get_by_label("Username").fill(USERS[0])
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base_url}/", timeout=30_000)
            cookies = signin.storage_state()["cookies"]
            signin.close()
            for run in range(runs):
                context = browser.new_context(
                    viewport={"width": 1440, "height": 900},
                    storage_state={"cookies": cookies, "origins": []},
                )
                context.add_init_script(READY_OBSERVER)
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                row: dict[str, Any] = {"run": run + 1}
                for label, go in (
                    ("cold", lambda page=page: page.goto(f"{base_url}/", wait_until="commit")),
                    ("reload", lambda page=page: page.reload(wait_until="commit")),
                ):
                    go()
                    page.wait_for_function(ALL_READY, timeout=60_000, polling=10)
                    marks = page.evaluate(PAGE_MARKS)
                    ready = {k: round(v, 1) for k, v in marks["ready"].items()}
                    row[label] = {
                        "all_ready_ms": max(ready.values()),
                        **{f"{k}_ms": ready[k] for k in READY_FLAGS},
                        "html_ms": round(marks["nav"]["response_end"], 1),
                        "html_server_ms": round(marks["nav"]["server"], 1),
                        "dom_content_loaded_ms": round(marks["nav"]["dom_content_loaded"], 1),
                        "map_markers": marks["markers"],  # a site's marker or a cluster
                        "map_sites": marks["sites_drawn"],
                        "feed_rows": marks["feed_rows"],
                        **marks["resources"],
                    }
                row["page_errors"] = errors
                results.append(row)
                h.log(f"first load {run + 1}: {row}")
                context.close()
        finally:
            browser.close()
    summary = {}
    for label in ("cold", "reload"):
        alls = [r[label]["all_ready_ms"] for r in results]
        summary[label] = {
            "median_all_ready_ms": round(statistics.median(alls), 1),
            "max_all_ready_ms": max(alls),
            **{
                f"median_{k}_ms": round(statistics.median(r[label][f"{k}_ms"] for r in results), 1)
                for k in READY_FLAGS
            },
        }
    return {"runs": results, "summary": summary}


def overview_page_commit() -> str:
    """The commit that brought the overview page, or "" (the first-load step needs it)."""
    out = h.run(
        [
            "git",
            "-C",
            str(h.ROOT),
            "log",
            "--format=%h %s",
            "-n",
            "1",
            "--",
            "src/watchfloor/dashboard/static/watchfloor/js/overview.js",
        ],
        check=False,
    )
    return out.stdout.strip()


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="reuse the loaded database")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--think-ms", type=int, default=1500, help="mean wait in `users` mode")
    parser.add_argument(
        "--people", type=int, default=100, help="distinct users (filter sets) cycled through"
    )
    parser.add_argument("--modes", default="users,burst")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--variants", default="serve,serve-wsgi")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--first-load", action="store_true", help="also the page in Chromium")
    parser.add_argument("--first-load-runs", type=int, default=5)
    parser.add_argument("--only-first-load", action="store_true", help="skip the wrk runs")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN ANALYZE step")
    parser.add_argument("--max-other", type=float, default=25.0)
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=60,
        help="seconds to wait for an idle machine before each warm-up (then measure anyway)",
    )
    parser.add_argument("--quick", action="store_true", help="100,000 alerts, 5 s runs")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.duration, args.warmup = min(args.rows, 100_000), 5, 1
    modes = {"users": args.think_ms, "burst": 0}
    modes = {m: modes[m] for m in args.modes.split(",")}
    endpoints = args.endpoints.split(",")

    h.ensure_debian_package("wrk", "wrk")
    machine = h.machine_facts({"chromium": [str(CHROMIUM), "--version"]})
    report: dict[str, Any] = {
        "benchmark": "dashboard",
        "date": h.now_utc(),
        "command": h.command_line(),
        "machine": machine,
        "args": {k: v for k, v in vars(args).items() if k != "no_record"},
        "servers": {},
        "results": {},
    }
    with h.workdir("wf-bench-dash-") as work:
        env = h.watchfloor_env(work / "home")
        prepared = prepare(args, env)
        tokens = prepared["tokens"]
        report["data"] = {"load": prepared["load"], "holds": prepared["holds"]}
        h.log(f"data: {json.dumps(report['data'])}")
        if not args.no_explain:
            h.wait_quiet(timeout=args.quiet_timeout)
            report["explain"] = explain(env)
        mix = filter_mix(args.people)
        files = {}
        for name in endpoints:
            files[name] = work / f"{name}.requests"
            files[name].write_text("\n".join(requests_lines(name, mix)) + "\n")
        report["filter_mix_example"] = requests_lines("kpis", mix)[:12]
        variants = [] if args.only_first_load else args.variants.split(",")
        for spec in variants:
            variant, _, n = spec.partition(":")
            workers = int(n) if n else args.workers
            port = h.free_port()
            cmd = ingest.watchfloor_command(variant, port, workers)
            label = "serve" + (" --wsgi" if variant == "serve-wsgi" else "") + f" ×{workers}"
            with h.Server(
                f"watchfloor[{spec}]",
                cmd,
                port=port,
                log_path=work / f"wf-{variant}.log",
                env=env,
                cwd=h.ROOT,
            ) as wf:
                wf.wait_ready("/api/health/", timeout=90)
                answers = check_answers(wf, tokens)
                report["servers"][spec] = {
                    "label": label,
                    "command": " ".join(cmd),
                    "answers": answers,
                }
                bad = {k: v for k, v in answers.items() if v["status"] != 200}
                if bad:
                    raise SystemExit(f"an overview endpoint failed: {bad}\n{wf.tail()}")
                for name in endpoints:
                    for mode, think in modes.items():
                        res, attempts = measure(wf, args, files[name], tokens, think)
                        row = res.as_dict()
                        row.update(server=spec, label=label, endpoint=name, mode=mode)
                        row["attempts"] = attempts
                        report["results"][f"{spec}/{name}/{mode}"] = row
                        h.log(
                            f"{spec} {name} {mode}: {res.rps:,.0f} req/s, p50 "
                            f"{res.latency_ms['p50']} ms, p95 {res.latency_ms['p95']} ms, p99 "
                            f"{res.latency_ms['p99']} ms, errors {res.errors}"
                        )
                    one = run_wrk(
                        wf,
                        requests_file=files[name],
                        tokens=tokens,
                        seconds=min(5, args.duration),
                        connections=1,
                        think_ms=0,
                        threads=1,
                        quiet=False,
                    )
                    report["results"][f"{spec}/{name}/one"] = {
                        **one.as_dict(),
                        "server": spec,
                        "label": label,
                        "endpoint": name,
                        "mode": "one connection",
                    }
                    h.log(f"{spec} {name} one connection: p50 {one.latency_ms['p50']} ms")
        if args.first_load or args.only_first_load:
            page_commit = overview_page_commit()
            if not page_commit:
                h.log("first load skipped: the overview page (overview.js) is not in git yet")
                report["first_load"] = {"skipped": "the overview page is not committed yet"}
            else:
                port = h.free_port()
                cmd = ingest.watchfloor_command("serve", port, args.workers)
                with h.Server(
                    "watchfloor[first-load]",
                    cmd,
                    port=port,
                    log_path=work / "wf-first-load.log",
                    env=env,
                    cwd=h.ROOT,
                ) as wf:
                    wf.wait_ready("/api/health/", timeout=90)
                    h.wait_quiet(timeout=args.quiet_timeout)
                    report["first_load"] = {
                        "page_commit": page_commit,
                        "server": " ".join(cmd),
                        **first_load(wf.base_url, prepared["password"], args.first_load_runs),
                    }

    console, md = summarise(report)
    print(console)
    h.write_json("dashboard", report)
    if args.no_record:
        print("\n--- the section --no-record kept out of docs/benchmarks.md ---\n" + md)
    else:
        h.append_docs(md)


def summarise(report: dict[str, Any]) -> tuple[str, str]:
    rows = []
    verdicts = []
    for r in report["results"].values():
        e = r["errors"]
        errors = e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]
        cpu = r["cpu_pct_of_one_core"]
        p95 = r["latency_ms"]["p95"]
        mode = r["mode"]
        rows.append(
            f"| {r['label']} | `{r['endpoint']}` | {mode} | {r['requests_per_s']:,.0f} "
            f"| {r['latency_ms']['p50']} | **{p95}** | {r['latency_ms']['p99']} | {errors} "
            f"| {cpu['server_pct']:.0f} / {cpu['postgres_pct']:.0f} / {cpu['redis_pct']:.0f} "
            f"/ {cpu['wrk_pct']:.0f} / {cpu['other_pct']:.0f} |"
        )
        if mode in ("users", "burst"):
            ok = "met" if p95 < 50 and errors == 0 else "NOT met"
            verdicts.append(f"{r['label']} `{r['endpoint']}` {mode}: {ok} (p95 {p95} ms)")
    table = "\n".join(
        [
            "| server | endpoint | load | requests/s | p50 ms | p95 ms | p99 ms | errors "
            "| CPU % server / PG / Redis / wrk / other |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
            *rows,
        ]
    )
    fl = report.get("first_load")
    first = ""
    if fl and "summary" in fl:
        s = fl["summary"]
        runs = ", ".join(str(r["cold"]["all_ready_ms"]) for r in fl["runs"])
        one = fl["runs"][0]["cold"]
        first = (
            f"\nFirst load of `/` in headless Chromium ({len(fl['runs'])} runs, page from "
            f"`{fl['page_commit'].split(' ')[0]}`, as the supervisor: "
            f"{one.get('map_sites', '?')} sites on the map as {one['map_markers']} markers and "
            f"clusters, {one['feed_rows']} feed rows): time from navigation start until tiles, "
            f"map and feed are all ready — empty cache: median **{s['cold']['median_all_ready_ms']}"
            f" ms** (runs: {runs}; tiles {s['cold']['median_tilesReady_ms']}, map "
            f"{s['cold']['median_mapReady_ms']}, feed {s['cold']['median_feedReady_ms']} ms); "
            f"reload with a warm cache: median {s['reload']['median_all_ready_ms']} ms. "
            f"Target under 1,000 ms: "
            f"{'met' if s['cold']['max_all_ready_ms'] < 1000 else 'NOT met'} "
            f"(slowest empty-cache run {s['cold']['max_all_ready_ms']} ms).\n"
        )
        cold = sorted((r["cold"] for r in fl["runs"]), key=lambda c: c["all_ready_ms"])
        mid = cold[len(cold) // 2]
        if "requests" in mid:
            answers = ", ".join(
                f"{name} at {end} ms (server {server} ms)"
                for name, (end, server) in sorted(mid["api_end_and_server_ms"].items())
            )
            first += (
                f"\nWhere the median empty-cache run's time went: {mid['requests']} requests, "
                f"{mid['kib']} KiB transferred; the HTML answered at {mid['html_ms']} ms (server "
                f"{mid['html_server_ms']} ms), stylesheets done at {mid['css_done_ms']} ms, "
                f"scripts at {mid['scripts_done_ms']} ms, DOMContentLoaded "
                f"{mid['dom_content_loaded_ms']} ms; answers: {answers}; tiles "
                f"{mid['tilesReady_ms']}, map {mid['mapReady_ms']}, feed {mid['feedReady_ms']} ms."
                "\n"
            )
    elif fl:
        first = f"\nFirst load: skipped ({fl['skipped']}).\n"
    explained = ""
    if report.get("explain"):
        ex = report["explain"]
        without = {(r["view"], r["endpoint"], r["query"]): r for r in ex["without"]}
        lines = [
            "| view | endpoint, query | with the indexes: ms, heap fetches, scans "
            "| without: ms, scans |",
            "| --- | --- | --- | --- |",
        ]
        for r in ex["with"]:
            w = without.get((r["view"], r["endpoint"], r["query"]), {})
            view = r["view"] if r["view"] == "all clients" else f"city = {ex['city']}"
            lines.append(
                f"| {view} | `{r['endpoint']}` #{r['query']} | {r['ms']} ms, "
                f"{r['heap_fetches']:,}, {'; '.join(r['scans'])} | {w.get('ms')} ms, "
                f"{'; '.join(w.get('scans', []))} |"
            )
        explained = (
            "\nEXPLAIN ANALYZE of each endpoint's alert queries on the settled data (median of "
            "3, as the supervisor), with the overview indexes (alerts 0004–0006) and without "
            "them (dropped inside a rolled-back transaction):\n\n" + "\n".join(lines) + "\n"
        )
    m, a, d = report["machine"], report["args"], report["data"]
    holds = d["holds"]
    servers = "; ".join(f"`{v['command']}`" for v in report["servers"].values())
    load = d["load"]
    loaded = (
        "reused from an earlier run"
        if load.get("reused")
        else f"loaded by one INSERT … SELECT in {load.get('load_seconds')} s"
    )
    md = f"""
### {report["date"]} — overview endpoints, 1,000 sites, {a["rows"]:,} alerts (`bench/dashboard.py`)

- Commit measured: `{m["commit"]}`
- Command: `{report["command"]}`
- Machine: {h.machine_line(m)}; {m.get("chromium", "")}. wrk (2 threads) shares the machine.
  Load average before the run: {m["loadavg_before"]}.
- Servers: {servers or "none (first load only)"}, production settings (PostgreSQL, Redis, debug
  off), `WATCHFLOOR_OVERVIEW_CACHE_SECONDS` at its default (1 s).
- Data: {holds["clients"]} clients, {holds["sites"]} sites, {a["rows"]:,} alerts ({loaded});
  statuses {json.dumps(holds["by_status"])}; open by severity
  {json.dumps(holds["open_by_severity"])}; acknowledged today {holds["acknowledged_today"]:,},
  resolved today {holds["resolved_today"]:,}; table with indexes {holds["table_size"]}. Settled
  as ingestion leaves it: {json.dumps(load["settled"])} (no VACUUM since).
- Load: {a["connections"]} connections per run, {a["warmup"]:.0f} s warm-up then
  {a["duration"]:.0f} s measured; `users` = each connection waits 0.5–1.5 × {a["think_ms"]} ms
  after each answer, `burst` = closed loop (no wait), `one connection` =
  5 s closed loop from one connection (service time). Requests cycle through {a["people"]}
  people, each with its own filters (40 % none; one or two clients, a city, a state,
  1 h / 24 h / 7 d ranges, one site), 3 in 4 a supervisor (all clients, PII), 1 in 4 an operator
  (3 clients); the feed with `limit={FEED_LIMIT}` as the page asks. CPU columns: percent of one core
  ({m["nproc"]} cores = {100 * m["nproc"]} %).

{table}

Target p95 < 50 ms: {"; ".join(verdicts) or "no wrk runs"}.
{first}{explained}"""
    return table, md


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
