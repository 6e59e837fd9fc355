"""The alerts page: every alert in scope, filtered by the list API's own parameters (so a URL
is a bookmark and a link from the overview), sorted, in keyset pages; bulk acknowledge/resolve
after one confirmation; the current view as CSV for `noc:export`.

Thin: parameters are parsed by `alerts.schemas.AlertListQuery`, rows come from
`alerts.queries.alert_page`, writes go through `alerts.services.bulk_*`. A fixed number of
queries per page, whatever the number of rows.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from pydantic import ValidationError

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, person_view
from watchfloor.access.scope import has_capability, visible_clients, visible_sites
from watchfloor.alerts import services
from watchfloor.alerts.listing import DEFAULT_SORT, SORT_LABELS, InvalidListQuery, sorted_alerts
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.queries import alert_list, alert_page
from watchfloor.alerts.schemas import AlertListQuery
from watchfloor.api.schemas import INT64_MAX
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.dashboard.alerts_rows import options_html, rows_html
from watchfloor.dashboard.denied import forbidden

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000
# the URL parameters the page keeps (a form may send a list field several times)
PARAMS = tuple(AlertListQuery.model_fields)
LIST_PARAMS = ("status", "severity", "type", "source", "client", "site", "assignee")
# never copied into the audit entry as typed: free text may carry personal data
FREE_TEXT = ("q", "labels", "city", "state", "type", "source")


@dataclass(frozen=True)
class Row:
    alert: Alert
    title: str
    place: str
    assignee: str
    age: str
    last_seen: str


def _query_params(source: QueryDict) -> dict[str, str]:
    """The list parameters present in a query string, lists joined with commas; blanks dropped."""
    params = {}
    for name in PARAMS:
        values = [v for v in source.getlist(name) if v.strip()]
        if values:
            params[name] = ",".join(values) if name in LIST_PARAMS else values[-1]
    return params


def _parse(params: dict[str, str]) -> tuple[AlertListQuery | None, dict[str, str]]:
    try:
        query = AlertListQuery.model_validate(params)
        query.to_filters()
        return query, {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "query"
            errors.setdefault(name, err["msg"].removeprefix("Value error, "))
        return None, errors
    except ValueError as exc:
        return None, {"labels": str(exc)}


def _person(user, pii: bool) -> str:
    """A person's name as the one masking function shows it to this reader."""
    shown = person_view(user, pii)
    return (shown["full_name"] or shown["username"]) if shown else ""


def _age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _row(alert: Alert, *, now: datetime, pii: bool) -> Row:
    site, client = alert.site, alert.client
    if site is not None:
        place = f"{client.name if client else ''} · {site.name}"
    else:
        place = client.name if client else "—"
    return Row(
        alert=alert,
        title=alert.title if pii else mask_text(alert.title),
        place=place,
        assignee=_person(alert.assignee, pii),
        age=_age(now - alert.first_seen_at),
        last_seen=f"{timezone.localtime(alert.last_seen_at):%Y-%m-%d %H:%M}",
    )


def _choices(user, pii: bool, selected: dict[str, set[str]], params: dict[str, str]) -> dict:
    """What the filter form offers: the user's clients and sites and the people of the tenant."""
    people = [
        (p.id, _person(p, pii))
        for p in get_user_model()
        .objects.filter(tenant_id=user.tenant_id, is_active=True)
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")[:500]
    ]
    clients = visible_clients(user).order_by("name").values_list("id", "name")
    sites = visible_sites(user).order_by("name").values_list("id", "name")
    return {
        "client_options": options_html(list(clients), selected["client"]),
        "site_options": options_html(list(sites), selected["site"]),
        "officer_options": options_html(people, {params.get("officer", "")}),
        "assignee_options": options_html(people, selected["assignee"]),
        "statuses": [s.value for s in Status],
        "severities": [s.value for s in Severity],
        "sorts": list(SORT_LABELS.items()),
    }


def _selected(params: dict[str, str]) -> dict[str, set[str]]:
    return {name: set(params.get(name, "").split(",")) - {""} for name in LIST_PARAMS}


@require_safe
@login_required
def alerts_page(request):
    user = request.user
    if not has_capability(user, Capability.VIEW):
        return forbidden(request, Capability.VIEW)
    params = _query_params(request.GET)
    query, errors = _parse(params)
    page = None
    if query is not None:
        try:
            page = alert_page(
                user,
                query.to_filters(),
                sort=query.sort or DEFAULT_SORT,
                cursor=query.cursor,
                limit=query.limit or PAGE_SIZE,
            )
        except InvalidListQuery as exc:
            errors[exc.field] = str(exc)
    pii = has_capability(user, Capability.VIEW_PII)
    now = timezone.now()
    kept = {k: v for k, v in params.items() if k != "cursor"}
    view = QueryDict(mutable=True)
    view.update(kept)
    selected = _selected(params)
    rows = [_row(a, now=now, pii=pii) for a in page.items] if page else []
    can_pick = has_capability(user, Capability.ACK_ALERTS) or has_capability(
        user, Capability.ASSIGN_INCIDENTS
    )
    context = {
        "nav": "alerts",
        "params": params,
        "selected": selected,
        "errors": errors,
        "rows": rows,
        "rows_html": rows_html(rows, can_pick=can_pick),
        "page": page,
        "paged": "cursor" in params,
        "view_query": view.urlencode(),
        "can_ack": has_capability(user, Capability.ACK_ALERTS),
        "can_open_incident": has_capability(user, Capability.ASSIGN_INCIDENTS),
        "can_pick": can_pick,
        "can_export": has_capability(user, Capability.EXPORT),
        "can_view_pii": pii,
        "sort": params.get("sort", DEFAULT_SORT),
        "zone": timezone.get_current_timezone_name(),
        **_choices(user, pii, selected, params),
    }
    return render(request, "dashboard/alerts.html", context, status=400 if errors else 200)


def _ids(values: list[str]) -> list[int] | None:
    try:
        ids = [int(v) for v in values]
    except ValueError:
        return None
    if not ids or len(ids) > services.BULK_MAX or any(not 1 <= i <= INT64_MAX for i in ids):
        return None
    return ids


def _back(request) -> str:
    """The alerts page with the view the form came from (only list parameters: no open
    redirect, whatever `next` says)."""
    params = _query_params(QueryDict(request.POST.get("next", "")))
    view = QueryDict(mutable=True)
    view.update(params)
    url = reverse("dashboard:alerts")
    return f"{url}?{view.urlencode()}" if params else url


BULK_ACTIONS = {"acknowledge": "Acknowledge", "resolve": "Resolve"}


@require_POST
@login_required
def alerts_bulk(request):
    """Acknowledge or resolve the selected alerts. Without `confirmed` it asks first (the page's
    script asks in a dialog and sends `confirmed` itself, so there is one confirmation)."""
    user = request.user
    if not has_capability(user, Capability.ACK_ALERTS):
        return forbidden(request, Capability.ACK_ALERTS)
    action = request.POST.get("action", "")
    ids = _ids(request.POST.getlist("ids"))
    note = request.POST.get("note", "").strip()
    problem = ""
    if action not in BULK_ACTIONS:
        problem = "Choose acknowledge or resolve."
    elif ids is None:
        problem = f"Select between 1 and {services.BULK_MAX} alerts."
    elif request.POST.get("confirmed") == "1" and action == "resolve" and not note:
        problem = "Say how they were resolved."
    if problem or request.POST.get("confirmed") != "1":
        context = {
            "nav": "alerts",
            "action": action,
            "verb": BULK_ACTIONS.get(action, ""),
            "ids": ids or [],
            "note": note,
            "problem": problem,
            "next": request.POST.get("next", ""),
            "back": _back(request),
        }
        return render(
            request, "dashboard/alerts_confirm.html", context, status=422 if problem else 200
        )
    try:
        if action == "acknowledge":
            outcome = services.bulk_acknowledge(ids, actor=user)
        else:
            outcome = services.bulk_resolve(ids, actor=user, note=note)
    except ValueError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(_back(request))
    done = {"acknowledge": "Acknowledged", "resolve": "Resolved"}[action]
    messages.success(request, f"{done} {len(outcome.done)} alert(s).")
    if outcome.skipped:
        reasons = sorted(set(outcome.skipped.values()))
        messages.warning(request, f"Skipped {len(outcome.skipped)}: {'; '.join(reasons)}"[:500])
    return HttpResponseRedirect(_back(request))


CSV_COLUMNS = (
    "id",
    "severity",
    "status",
    "type",
    "source",
    "title",
    "client",
    "site",
    "city",
    "state",
    "assignee",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_at",
    "resolved_at",
    "occurrence_count",
    "fingerprint",
)


class _Echo:
    def write(self, value):
        return value


def _csv_row(alert: Alert, pii: bool) -> list:
    def when(value):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""

    site, client = alert.site, alert.client
    return [
        alert.id,
        alert.severity,
        alert.status,
        alert.type,
        alert.source,
        _csv_safe(alert.title if pii else mask_text(alert.title)),
        client.code if client else "",
        site.code if site else "",
        site.city if site else "",
        site.state if site else "",
        _person(alert.assignee, pii),
        when(alert.first_seen_at),
        when(alert.last_seen_at),
        when(alert.acknowledged_at),
        when(alert.resolved_at),
        alert.occurrence_count,
        alert.fingerprint,
    ]


def _csv_safe(text: str) -> str:
    """Text a spreadsheet would run as a formula starts with a quote instead."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _audited_filters(params: dict[str, str]) -> dict[str, str]:
    return {
        k: (mask_text(v) if k in FREE_TEXT else v)
        for k, v in params.items()
        if k not in ("cursor", "limit")
    }


@require_safe
@login_required
def alerts_export(request):
    """The page's current view (filters and sort, every page of it) as CSV, streamed."""
    user = request.user
    for capability in (Capability.VIEW, Capability.EXPORT):
        if not has_capability(user, capability):
            return forbidden(request, capability)
    params = _query_params(request.GET)
    query, errors = _parse(params)
    if query is None:
        return render(
            request,
            "dashboard/alerts.html",
            {"nav": "alerts", "errors": errors, "params": params},
            status=400,
        )
    sort = query.sort or DEFAULT_SORT
    rows = sorted_alerts(alert_list(user, query.to_filters()), sort)
    record(
        Action.EXPORT,
        actor=user,
        entity_type="alerts",
        details={"what": "alerts", "sort": sort, "filters": _audited_filters(params)},
    )
    pii = has_capability(user, Capability.VIEW_PII)
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for n, alert in enumerate(rows[: EXPORT_MAX_ROWS + 1].iterator(chunk_size=2000)):
            if n == EXPORT_MAX_ROWS:
                yield writer.writerow([f"# stopped at {EXPORT_MAX_ROWS} rows: narrow the filter"])
                break
            yield writer.writerow(_csv_row(alert, pii))

    stamp = f"{timezone.now():%Y%m%d-%H%M%S}"
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="alerts-{stamp}.csv"'
    return response
