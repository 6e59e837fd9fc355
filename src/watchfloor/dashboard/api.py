"""The overview page's data: KPI tiles, the sites of the map, the live feed.

All three take the same filters (the page URL's parameters) and need `noc:view`; the answers are
limited to the caller's scope and PII-masked for callers without `noc:view_pii`.
"""

from __future__ import annotations

from ninja import Query, Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.dashboard import overview
from watchfloor.dashboard.schemas import FeedOut, FeedQuery, KpisOut, OverviewQuery, SitesOut

router = Router(tags=["overview"])


@router.get("/overview/kpis", response=KpisOut)
def overview_kpis(request, filters: Query[OverviewQuery]):
    """Open alerts by severity, unacknowledged past their escalation delay, suppressed by
    maintenance, sites with a critical alert, MTTA/MTTR and counts since midnight UTC."""
    require_capability(request.auth, Capability.VIEW)
    return overview.kpis(request.auth, filters.filters())


@router.get("/overview/sites", response=SitesOut)
def overview_sites(request, filters: Query[OverviewQuery]):
    """Every site matching the filters with its worst open alert, and the clients' totals."""
    require_capability(request.auth, Capability.VIEW)
    return overview.site_health(request.auth, filters.filters())


@router.get("/overview/feed", response=FeedOut)
def overview_feed(request, filters: Query[FeedQuery]):
    """Newest first (last seen, then id): open alerts, or the `status` values given."""
    require_capability(request.auth, Capability.VIEW)
    alerts = overview.feed(
        request.auth, filters.filters(), statuses=tuple(filters.status), limit=filters.limit
    )
    return {"alerts": alerts}
