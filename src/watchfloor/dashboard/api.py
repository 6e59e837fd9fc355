"""The overview page's data: KPI tiles, the sites of the map, the live feed.

All three take the same filters (the page URL's parameters) and need `noc:view`; the answers are
limited to the caller's scope and PII-masked for callers without `noc:view_pii`. Answers are
shared by the callers of one scope and filters for up to a second, renewed at once by any
create, acknowledge, assign, escalate or resolve (overview_queries.shared_answer).
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime

from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from ninja import Query, Router
from pydantic import BaseModel

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.alerts import overview_queries
from watchfloor.alerts.overview_queries import OverviewFilters
from watchfloor.alerts.overview_schemas import (
    FeedOut,
    FeedQuery,
    FeedRowOut,
    KpisOut,
    OverviewQuery,
    SitesOut,
)
from watchfloor.dashboard.incident_list import sla_counts
from watchfloor.snapshots.tiles import field_tiles
from watchfloor.snapshots.tiles_schemas import FieldTilesOut, FieldTilesQuery

router = Router(tags=["overview"])


def _encode(model: type[BaseModel], data: dict) -> bytes:
    """Validated against the documented shape, encoded by pydantic (the map's 1,000 sites in
    ~4 ms, a third of the time of ninja's default validate-dump-encode path)."""
    return model.model_validate(data).model_dump_json().encode()


# the moment an answer was computed is not part of what it says: left out of its ETag
_GENERATED_AT = re.compile(rb'"generated_at":"[^"]*"')


def _json(request, body: bytes) -> HttpResponse:
    """The answer with a weak ETag (a hash of the body without `generated_at`) and
    `Cache-Control: private, no-cache`: a browser keeps it and asks again with If-None-Match,
    and an answer that says the same (the page's re-reads every refresh interval and after
    each change) comes back as an empty 304."""
    digest = hashlib.blake2b(_GENERATED_AT.sub(b"", body), digest_size=16).hexdigest()
    etag = f'W/"{digest}"'
    response: HttpResponse
    if digest in _etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def _etags(header: str) -> set[str]:
    """The opaque tags of an If-None-Match header, weak or strong alike (RFC 9110's weak
    comparison, the one GET uses)."""
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


# The encoded answers, for the endpoints below and for the overview page, which carries the
# unfiltered ones in its HTML (views.home): the same bytes, shared the same way.


def kpis_answer(user, f: OverviewFilters) -> bytes:
    return overview_queries.shared_answer(
        "kpis",
        user,
        f,
        lambda: _encode(KpisOut, overview_queries.kpis(user, f)),
        summarised=True,
    )


def sites_answer(user, f: OverviewFilters) -> bytes:
    return overview_queries.shared_answer(
        "sites",
        user,
        f,
        lambda: _encode(SitesOut, overview_queries.site_health(user, f)),
        summarised=True,
    )


# per process, per tenant and PII view: the feed rows, encoded, read for the tenant summary of
# that time (FeedChoice.basis) — every filter set and scope chosen from that summary shares them
_FEED_ROWS: dict[tuple[int, bool], tuple[datetime, dict[int, bytes]]] = {}
_FEED_ROWS_LOCK = threading.Lock()


def _feed_body(user, choice: overview_queries.FeedChoice, limit: int) -> bytes:
    """FeedOut's encoding of the chosen rows, built from rows encoded once per summary.

    Sixty filter sets renewed with each summary read and encoded ~31 ms of rows each (200 Alert
    instances with their client, site and assignee, then pydantic), in a gevent worker that
    serves nobody meanwhile; their rows overlap. Only rows not yet encoded for this summary are
    read. Rows depend on the alert and the PII view alone (feed_row); who may see which is
    decided for each caller: the ids come from the scope in memory and are checked through
    `alerts_for` (visible_ids) before a held row is used."""
    pii = has_capability(user, Capability.VIEW_PII)
    key = (user.tenant_id, pii)
    with _FEED_ROWS_LOCK:
        held = _FEED_ROWS.get(key)
        if held is None or held[0] != choice.basis:
            held = _FEED_ROWS[key] = (choice.basis, {})
    encoded = held[1]
    missing = [pk for pk in choice.ids if pk not in encoded]
    if missing:
        for pk, row in overview_queries.feed_rows(user, missing, pii).items():
            encoded[pk] = _encode(FeedRowOut, row)
    seen = overview_queries.visible_ids(user, [pk for pk in choice.ids if pk in encoded])
    parts = [encoded[pk] for pk in choice.ids if pk in seen]
    total = max(len(parts), choice.total) if len(choice.ids) == limit else len(parts)
    return b'{"alerts":[' + b",".join(parts) + b'],"total":' + str(total).encode() + b"}"


def feed_answer(
    user, f: OverviewFilters, statuses: tuple[str, ...], limit: int, order: str
) -> bytes:
    def compute() -> bytes:
        # the open alerts' rows and total come from the tenant's summary (at most a few
        # seconds old); the total is never fewer than the rows shown
        choice = overview_queries.feed_choice(user, f, statuses=statuses, order=order, limit=limit)
        if choice is not None:
            return _feed_body(user, choice, limit)
        rows, total = overview_queries.feed_with_total(
            user, f, statuses=statuses, order=order, limit=limit
        )
        return _encode(FeedOut, {"alerts": rows, "total": total})

    # renewed with the tenant summary (its total comes from it): every step at once, repeats
    # (occurrence counts, last seen) within OVERVIEW_SUMMARY_SECONDS; the open page gets
    # those live over the WebSocket, the feed's answer is its first load and resyncs
    return overview_queries.shared_answer(
        "feed", user, f, compute, extra=(statuses, limit, order), summarised=True
    )


@router.get("/overview/kpis", response=KpisOut)
def overview_kpis(request, filters: Query[OverviewQuery]):
    """Open alerts by severity, unacknowledged past their escalation delay, suppressed by
    maintenance, sites with a critical alert, MTTA/MTTR and counts since midnight UTC."""
    user, f = request.auth, filters.filters()
    require_capability(user, Capability.VIEW)
    with overview_queries.renewals_after_response() as later:
        body = kpis_answer(user, f)
    return overview_queries.renew_after(_json(request, body), later)


@router.get("/overview/sites", response=SitesOut)
def overview_sites(request, filters: Query[OverviewQuery]):
    """Every site matching the filters with its worst open alert, and the clients' totals."""
    user, f = request.auth, filters.filters()
    require_capability(user, Capability.VIEW)
    with overview_queries.renewals_after_response() as later:
        body = sites_answer(user, f)
    return overview_queries.renew_after(_json(request, body), later)


@router.get("/overview/feed", response=FeedOut)
def overview_feed(request, filters: Query[FeedQuery]):
    """The first `limit` open alerts (or the `status` values given) in `sort` order — by default
    most severe first, then longest open — and `total`, how many match in all."""
    user, f = request.auth, filters.filters()
    require_capability(user, Capability.VIEW)
    statuses = tuple(sorted(set(filters.status)))
    with overview_queries.renewals_after_response() as later:
        body = feed_answer(user, f, statuses, filters.limit, filters.sort)
    return overview_queries.renew_after(_json(request, body), later)


class IncidentTileOut(BaseModel):
    open: int
    at_risk: int
    breached: int


@router.get("/overview/incidents", response=IncidentTileOut)
def overview_incidents(request):
    """The overview's SLA tile: open incidents in the caller's scope, how many are past 75 % of
    an SLA target ("at risk") and how many past a target ("breached")."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    return sla_counts(user, timezone.now())


@router.get("/overview/field", response=FieldTilesOut)
def overview_field(request, filters: Query[FieldTilesQuery]):
    """The field tiles: open and overdue tickets, SLA breaches (tickets past their SLA),
    attendance (present of expected, late, missing), open and overdue work orders, offline
    devices, from the newest KPI snapshot of the last day in the caller's scope and filters
    (`figures` null when there is none), and a trend per tile over the last hour (12 points)
    or, for a `range` longer than an hour, the last 7 days (168 hourly points)."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    found = field_tiles(user, filters.filters(), filters.range)
    return {
        "window_end": found.window_end,
        "figures": found.figures,
        "range": found.range,
        "step_seconds": found.step_seconds,
        "points": found.points,
        "trends": found.trends,
    }
