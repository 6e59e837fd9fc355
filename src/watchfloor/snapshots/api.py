"""KPI snapshots: `GET /api/v1/snapshots/latest`, `/snapshots/series`, `/snapshots/health`.

All need `noc:view` and answer within the caller's scope (a site-scoped user gets sums of their
sites, never a client's total row); the filters are the overview's. No personal data is served
(the officer in charge is an id).
"""

from __future__ import annotations

from ninja import Query, Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.snapshots import queries
from watchfloor.snapshots.schemas import (
    HealthListOut,
    LatestOut,
    LatestQuery,
    SeriesOut,
    SeriesQuery,
    SnapshotQuery,
)

router = Router(tags=["snapshots"])


def _ref(id_, code, name) -> dict | None:
    return None if id_ is None else {"id": id_, "code": code, "name": name}


@router.get("/snapshots/latest", response=LatestOut)
def latest(request, filters: Query[LatestQuery]):
    """The newest 5-minute window of the last day: one row per client (`level=client`) or per
    site (`level=site`) with every measure; client rows carry the health score."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    found = queries.latest(user, filters.filters(), filters.level)
    return {
        "window_end": found.window_end,
        "level": found.level,
        "items": [
            {
                "client": _ref(r.client_id, r.client_code, r.client_name),
                "site": _ref(r.site_id, r.site_code, r.site_name),
                "city": r.city,
                "state": r.state,
                "officer_in_charge_id": r.officer_in_charge_id,
                "measures": r.measures,
                "health_score": r.health_score,
            }
            for r in found.rows
        ],
    }


@router.get("/snapshots/series", response=SeriesOut)
def series(request, filters: Query[SeriesQuery]):
    """One measure over the last hour (12 five-minute points, `at` = window end) or 7 days (168
    hourly points, `at` = hour start; levels averaged over the hour, geofence counts summed),
    summed over the matching clients or sites; null where no snapshot exists."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    found = queries.series(user, filters.measure, filters.range, filters.filters())
    return {
        "measure": found.measure,
        "range": found.range,
        "step_seconds": found.step_seconds,
        "points": [{"at": p.at, "value": p.value} for p in found.points],
    }


@router.get("/snapshots/health", response=HealthListOut)
def health(request, filters: Query[SnapshotQuery]):
    """Each client's newest health score (0–100), worst first."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    rows = queries.client_health(user, filters.filters())
    return {
        "items": [
            {
                "client": _ref(r.client_id, r.client_code, r.client_name),
                "window_end": r.window_end,
                "score": r.score,
                "sync_health": r.sync_health,
            }
            for r in rows
        ]
    }
