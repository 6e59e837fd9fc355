"""The jobs runtime's state: `GET /api/v1/jobs` (each periodic job, stale or not) and
`GET /api/v1/jobs/runs` (every recorded run, newest first).

Needs `noc:configure`. Jobs run across tenants, so what a run returned (`result`), its error and
the node that ran it are never in the API, which serves tenants' accounts only: a tenant's admin
sees names, times, outcomes, durations and staleness. Platform operators (superusers without a
tenant, never a tenant's admin) read the details on the /jobs/ page.
"""

from __future__ import annotations

from ninja import Query, Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.api.pagination import paginate
from watchfloor.jobs import queries
from watchfloor.jobs.schemas import JobsOut, RunFilters, RunPage

router = Router(tags=["jobs"])


def _last_run(run) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "outcome": run.outcome,
        "error": None,
    }


def _run_out(run) -> dict:
    return {**(_last_run(run) or {}), "job": run.job, "result": None, "node": None}


@router.get("/jobs", response=JobsOut)
def list_jobs(request):
    """Each periodic job of the schedule: interval, last run, last success, stale or not."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    states = queries.job_states()
    items = [
        {
            "name": s.name,
            "every_seconds": s.job.every.total_seconds(),
            "stale_after_seconds": s.job.stale_period.total_seconds(),
            "stale": s.stale,
            "running": s.running,
            "last_run": _last_run(s.last_run),
            "last_success_at": s.last_ok_at,
            "next_expected_at": s.next_expected_at,
            "failures_24h": s.failures,
        }
        for s in states
    ]
    return {"items": items, "stale": [s.name for s in states if s.stale]}


@router.get("/jobs/runs", response=RunPage)
def list_runs(request, filters: Query[RunFilters]):
    """Recorded runs, newest first (cursor-paginated); `job` and `outcome` narrow them. A
    failed task is recorded under its dotted path."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    qs = queries.runs(job=filters.job, outcome=filters.outcome)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, descending=True)
    return {
        "items": [_run_out(run) for run in page.items],
        "next_cursor": page.next_cursor,
    }
