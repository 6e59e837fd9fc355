"""Not a figure: where an overview request's time goes, one request at a time, in process.

Runs against the database that bench/dashboard.py (load_dashboard_data.py) leaves,
`watchfloor_bench_dash` (build it first): the full Django stack through the test client, as the
bench supervisor (API token). Prints the median time of an unknown /api/ path (the framework
alone), the token lookup, the capability lookup, the overview watermark, each endpoint served
from the shared answer cache, tiles and map computed from a held tenant summary and the summary
itself, and each endpoint computed (cache off), without and with filters.
Writes bench/results/profile_overview.json.

    uv run python bench/profile_overview.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    # the database load_dashboard_data.py builds: BENCH_DB + "_dash", Redis db BENCH_REDIS_DB
    dash_db = os.environ.get("BENCH_DB", "watchfloor_bench") + "_dash"
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{dash_db}")
    os.environ.setdefault(
        "REDIS_URL", f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '12')}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "watchfloor.settings")
    os.environ.setdefault("WATCHFLOOR_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from watchfloor.access.scope import capabilities_of
    from watchfloor.access.services import authenticate_api_token, create_api_token
    from watchfloor.alerts import overview_queries
    from watchfloor.tenancy.models import User

    user = User.objects.get(username="bench-supervisor")
    plain = create_api_token(user, name="profile_overview").plain
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}

    def median_ms(fn, n: int = 40) -> float:
        for _ in range(5):
            fn()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        return round(statistics.median(times), 2)

    def capabilities():
        capabilities_of(User.objects.get(pk=user.pk))  # a fresh user, as each request has

    out: dict[str, float] = {
        "unknown /api/ path (framework only)": median_ms(lambda: client.get("/api/v1/nope")),
        "token lookup": median_ms(lambda: authenticate_api_token(plain)),
        "user + capabilities (permission queries)": median_ms(capabilities),
        "watermark": median_ms(lambda: overview_queries.watermark(user.tenant_id)),
    }
    paths = [
        "/api/v1/overview/kpis",
        "/api/v1/overview/sites",
        "/api/v1/overview/feed?limit=200",
        "/api/v1/overview/kpis?city=Austin",
        "/api/v1/overview/kpis?client=northwind",
        "/api/v1/overview/sites?city=Austin",
        "/api/v1/overview/feed?city=Austin&limit=200",
    ]
    settings.OVERVIEW_CACHE_SECONDS = 3600
    for path in paths:
        out[f"shared answer {path}"] = median_ms(lambda path=path: client.get(path, **auth))
    # the tiles and map computed for one filter set while the tenant summary is held (the
    # common case: sixty filter sets share one summary per renewal), and the summary itself
    from django.utils import timezone

    from watchfloor.alerts.overview_queries import OverviewFilters as F

    held = {
        "kpis": lambda f: overview_queries.kpis(user, f),
        "sites": lambda f: overview_queries.site_health(user, f),
    }
    for kind, compute in held.items():
        for label, f in (("", F()), ("?city=Austin", F(city="Austin"))):
            out[f"computed from the held tenant summary {kind}{label}"] = median_ms(
                lambda compute=compute, f=f: compute(f)
            )
    out["tenant summary (three grouped queries)"] = median_ms(
        lambda: overview_queries._load_summary(user.tenant_id, timezone.now()), n=10
    )
    settings.OVERVIEW_CACHE_SECONDS = 0
    for path in paths:
        out[f"computed {path}"] = median_ms(lambda path=path: client.get(path, **auth), n=10)
    for name, ms in out.items():
        print(f"{ms:8.2f} ms  {name}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "profile_overview.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
