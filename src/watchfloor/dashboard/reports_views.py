"""The reports page (`/reports/`) and its CSV export (`/reports/export.csv`).

The page renders the figures of `reports.queries.full_report` and, from the KPI snapshots,
`reports.availability.availability` (attendance and device availability) as tables, and hands
the trends and the per-severity series to `js/reports.js`, which draws them with the vendored
uPlot. The export streams `reports.export.csv_rows` (needs `noc:export`; audited by
`reports.services.record_export`)."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe
from pydantic import ValidationError

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.dashboard.denied import forbidden
from watchfloor.dashboard.queries import overview_choices
from watchfloor.reports import availability, queries
from watchfloor.reports.export import csv_rows
from watchfloor.reports.queries import PRESETS, RangeError
from watchfloor.reports.schemas import ReportQuery
from watchfloor.reports.services import record_export

PARAMS = ("client", "city", "state", "officer", "site", "range", "since", "until")


def _params(source: QueryDict) -> dict:
    params: dict = {}
    for name in PARAMS:
        values = [v for v in source.getlist(name) if v.strip()]
        if values:
            params[name] = values if name == "client" else values[-1]
    if source.get("range") == "custom":  # the form's custom choice: since/until say it
        params.pop("range", None)
    elif "range" in params:  # a preset wins over leftover custom dates
        params.pop("since", None)
        params.pop("until", None)
    return params


def _parse(params: dict, now):
    """(query, range, {}) or (None, None, errors by field)."""
    try:
        query = ReportQuery.model_validate(params)
        return query, query.report_range(now), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "query"
            errors.setdefault(name, err["msg"].removeprefix("Value error, "))
        return None, None, errors
    except RangeError as exc:
        return None, None, {exc.field: exc.message}


def _chart_data(report: dict) -> dict:
    trend = report["frequency"]["trend"]
    return {
        "trend": trend,
        "mtta": [
            [r["severity"], r["mean_seconds"]]
            for r in report["response_times"]["mtta"]["by_severity"]
        ],
        "mttr": [
            [r["severity"], r["mean_seconds"]]
            for r in report["response_times"]["mttr"]["by_severity"]
        ],
    }


def _availability_chart(avail: dict) -> dict:
    """The daily present share (attendance) and online share (devices), in percent."""
    return {
        "days": [d["day"] for d in avail["attendance"]["daily"]],
        "present": [d["present_percent"] for d in avail["attendance"]["daily"]],
        "online": [d["online_percent"] for d in avail["devices"]["daily"]],
    }


@require_safe
@login_required
def reports_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    now = timezone.now()
    params = _params(request.GET)
    query, r, errors = _parse(params, now)
    context = {
        "nav": "reports",
        "params": params,
        "choices": overview_choices(user),
        "presets": list(PRESETS),
        "errors": errors,
        "can_export": has_capability(user, Capability.EXPORT),
        "query_string": request.GET.urlencode(),
    }
    if query is None or r is None:
        return render(request, "dashboard/reports.html", context, status=400)
    report = queries.full_report(user, query.filters(), r, now=now)
    avail = availability.availability(user, query.filters(), r)
    chart = {**_chart_data(report), "availability": _availability_chart(avail)}
    # one row per client: both lists come from the same grouped query, in client order
    att, dev = avail["attendance"]["by_client"], avail["devices"]["by_client"]
    clients = list(zip(att, dev, strict=True))
    context.update(
        report=report, availability=avail, availability_clients=clients, range=r, chart=chart
    )
    return render(request, "dashboard/reports.html", context)


class _Echo:
    def write(self, value):
        return value


@require_safe
@login_required
def reports_export(request):
    """The page's range and filters as CSV, streamed section by section; audited."""
    user = request.user
    for capability in (Capability.VIEW, Capability.EXPORT):
        if not has_capability(user, capability):
            return forbidden(request, capability)
    now = timezone.now()
    params = _params(request.GET)
    query, r, errors = _parse(params, now)
    if query is None or r is None:
        context = {
            "nav": "reports",
            "params": params,
            "choices": overview_choices(user),
            "presets": list(PRESETS),
            "errors": errors,
            "can_export": True,
        }
        return render(request, "dashboard/reports.html", context, status=400)
    f = query.filters()
    record_export(f, r, actor=user)
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in csv_rows(user, f, r, now=now))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stamp = f"{now:%Y%m%d-%H%M%S}"
    response["Content-Disposition"] = f'attachment; filename="reports-{stamp}.csv"'
    return response
