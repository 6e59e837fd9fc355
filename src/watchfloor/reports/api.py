"""Reports API: MTTA/MTTR, alert frequency, SLA compliance and noisy sites over a date range,
for the caller's scope and the overview's filters (`noc:view`). The CSV of the same figures is
the reports page's export (`/reports/export.csv`, `noc:export`)."""

from __future__ import annotations

from django.utils import timezone
from ninja import Query, Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.api.errors import ApiError
from watchfloor.reports import availability, queries
from watchfloor.reports.availability_schemas import AttendanceOut, DevicesOut
from watchfloor.reports.schemas import (
    FrequencyOut,
    NoisySitesOut,
    ReportQuery,
    ResponseTimesOut,
    SlaOut,
)

router = Router(tags=["reports"])


def _parse(request, params: ReportQuery):
    user = request.auth
    require_capability(user, Capability.VIEW)
    now = timezone.now()
    try:
        r = params.report_range(now)
    except queries.RangeError as e:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {e.field: e.message}
        ) from e
    return user, params.filters(), r, now


def _range(r: queries.ReportRange) -> dict:
    return {"since": r.since, "until": r.until, "preset": r.preset}


@router.get("/reports/response-times", response=ResponseTimesOut)
def response_times(request, params: Query[ReportQuery]):
    """MTTA (alerts acknowledged in the range) and MTTR (alerts resolved in the range), in
    seconds, overall, by severity and by client code."""
    user, f, r, now = _parse(request, params)
    return {"range": _range(r), **queries.response_times(user, f, r, now=now)}


@router.get("/reports/frequency", response=FrequencyOut)
def frequency(request, params: Query[ReportQuery]):
    """Alerts first seen in the range by type (alerts and occurrences, most frequent first), and
    per UTC day for the most frequent types (the others summed as `other`)."""
    user, f, r, now = _parse(request, params)
    return {"range": _range(r), **queries.frequency(user, f, r, now=now)}


@router.get("/reports/sla", response=SlaOut)
def sla(request, params: Query[ReportQuery]):
    """SLA compliance of the alerts first seen in the range (not suppressed) against the
    tenant's incident policy targets: met, breached and pending for acknowledge (a resolve
    without an acknowledgement counts as the answer) and for resolve, by severity and overall;
    the percentage is met among the decided (met + breached)."""
    user, f, r, now = _parse(request, params)
    return {"range": _range(r), **queries.sla_compliance(user, f, r, now=now)}


@router.get("/reports/noisy-sites", response=NoisySitesOut)
def noisy_sites(request, params: Query[ReportQuery]):
    """The 20 sites with the most alerts first seen in the range: alerts, occurrences, alerts
    stored suppressed (maintenance, back-pressure) and repeats suppressed on them; the officer
    in charge is masked without `noc:view_pii`."""
    user, f, r, now = _parse(request, params)
    return {"range": _range(r), "sites": queries.noisy_sites(user, f, r, now=now)}


@router.get("/reports/attendance", response=AttendanceOut)
def attendance(request, params: Query[ReportQuery]):
    """Attendance availability from the KPI snapshots whose window ends in the range: present,
    late and missing as shares of expected (Σ over the 5-minute snapshots, so a shift weighs by
    how long it was expected) and mean levels, overall, by client, the 50 sites with the lowest
    present share, and per UTC day."""
    user, f, r, _now = _parse(request, params)
    return {"range": _range(r), **availability.availability(user, f, r)["attendance"]}


@router.get("/reports/devices", response=DevicesOut)
def devices(request, params: Query[ReportQuery]):
    """Device availability from the KPI snapshots whose window ends in the range: the online
    share of device-snapshots (1 − Σ offline / Σ total) and the mean fleet, overall, by client,
    the 50 sites with the lowest online share, and per UTC day."""
    user, f, r, _now = _parse(request, params)
    return {"range": _range(r), **availability.availability(user, f, r)["devices"]}
