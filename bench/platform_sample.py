"""What one `platform.sample` run costs on a large database: milliseconds and statements of
`platform.sampling.take_sample()` over the overview benchmark's estate (1,000 sites, 1,000,000
alerts over 30 days, ~3 % active), PostgreSQL + Redis, in its own database
`watchfloor_bench_platform` and Redis db 4.

Each measured sample follows a batch of 100 new alerts ingested through the pipeline (not timed),
so it counts new rows since the previous sample by primary key as it does live; the first sample
(no previous marks) is reported apart. The job runs every 30 s: the figure to compare is the
sample's time against that period.

    uv run python bench/platform_sample.py [--rows 1000000] [--samples 20] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import harness as h
import load_dashboard_data as dash

BENCH_DB = "watchfloor_bench_platform"
REDIS_DB = 4
h.BENCH_DB = dash.BENCH_DB = BENCH_DB
h.REDIS_DB = dash.REDIS_DB = REDIS_DB

MEASURE = r"""
import json, statistics, sys, time
import django
django.setup()
from django.db import connection
from django.test.utils import CaptureQueriesContext
from watchfloor.access.services import create_integration_key
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Severity
from watchfloor.alerts.pipeline import ingest
from watchfloor.platform import sampling
from watchfloor.tenancy.models import Site, Tenant

samples = int(sys.argv[1])
tenant = Tenant.objects.get(slug="bench")
site = Site.objects.filter(tenant=tenant).order_by("id").first()
key = create_integration_key(tenant, actor=None, name="bench", source="native").obj

def timed():
    with CaptureQueriesContext(connection) as q:
        started = time.perf_counter()
        row = sampling.take_sample()
        ms = (time.perf_counter() - started) * 1000
    return ms, len(q), row

first_ms, first_q, _ = timed()
times, queries = [], []
for i in range(samples):
    ingest(
        [
            Event(action=EventAction.TRIGGER, type="DEVICE_OFFLINE", severity=Severity.LOW,
                  site_code=site.code, title=f"bench {i}.{j}", entity_id=f"bench-{i}-{j}")
            for j in range(100)
        ],
        key=key,
    )
    ms, n, row = timed()
    times.append(ms)
    queries.append(n)
print(json.dumps({
    "first_sample_ms": round(first_ms, 1), "first_sample_statements": first_q,
    "p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
    "min_ms": round(min(times), 1), "statements": max(queries),
    "last_figures": {
        k: v for k, v in row.figures.items() if k not in ("marks", "last_event_by_source")
    },
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    machine = h.machine_facts()
    with h.workdir("wf-bench-platform-") as work:
        h.reset_database()
        env = h.watchfloor_env(work / "home")
        dash.build_estate(env, password="bench-" + os.urandom(12).hex())
        load = dash.load_alerts(args.rows)
        dash.settle()
        holds = dash.describe()
        h.log(f"measure {args.samples} samples")
        env["DJANGO_SETTINGS_MODULE"] = "watchfloor.settings"
        out = subprocess.run(  # noqa: S603 (our interpreter, our snippet)
            [sys.executable, "-c", MEASURE, str(args.samples)],
            env=env,
            cwd=h.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    active = sum(n for s, n in holds["by_status"].items() if s != "RESOLVED")
    data = {"rows": args.rows, "active": active, "load": load, **result, "machine": machine}
    print(json.dumps(data, indent=2, default=str))
    h.write_json("platform_sample", data)
    if not args.no_record:
        h.append_docs(
            f"""## {h.now_utc()} — platform.sample: one sample on a large database

`{h.command_line()}` · {h.machine_line(machine)} · commit {h.git_commit()}

One `take_sample()` (the `platform.sample` job, every 30 s) over {args.rows:,} alerts
({active:,} active), PostgreSQL + Redis, each after 100 new alerts ingested:
**p50 {result["p50_ms"]} ms**, min {result["min_ms"]} ms, max {result["max_ms"]} ms,
{result["statements"]} statements (the first sample, with no previous marks:
{result["first_sample_ms"]} ms, {result["first_sample_statements"]} statements, including psutil's
0.2 s first CPU reading).
"""
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
