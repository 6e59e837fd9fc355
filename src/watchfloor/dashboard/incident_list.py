"""Read side of the incidents page and the overview's SLA tile: the user's incidents, filtered,
sorted and paged, and how many open ones are at risk of or past their SLA.

Scope and filters are `incidents.queries` (`incidents_visible`, `filter_incidents`, the SLA
states in SQL with `filter_sla`); this module parses the page's query string into its
`IncidentFilters`, sorts (newest first, or most severe first), pages by page number and shapes
the rows, PII-masked for the reader. A fixed number of queries per page whatever the number of
rows: the count, the page's rows (client, site and commander joined) and the alert counts of
the page's incidents in one grouped query (not a GROUP BY over every matching incident).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from watchfloor.access.masking import mask_text, person_label
from watchfloor.access.scope import ScopeKind, scope_of, visible_clients, visible_sites
from watchfloor.alerts.models import Severity
from watchfloor.bounds import text_problem
from watchfloor.incidents import queries
from watchfloor.incidents.models import (
    OPEN_INCIDENT_STATUSES,
    Incident,
    IncidentAlert,
    IncidentStatus,
)
from watchfloor.incidents.queries import filter_incidents, filter_sla, incidents_visible, sla_state
from watchfloor.tenancy.models import Client, Site
from watchfloor.ttl import TtlCache

PAGE_SIZE = 50
Q_MAX = 200
SORTS = {"newest": "Newest first", "severity": "Most severe first"}
SLA_STATES = {"at_risk": "At risk", "breached": "Breached", "ok": "On track"}
# the page's own words for the filter's `open` values
OPEN_CHOICES = {"": "Open and closed", "true": "Open", "false": "Resolved or closed"}
LIST_PARAMS = ("status", "severity", "client", "site")
PARAMS = (*LIST_PARAMS, "sla", "q", "open", "sort", "page")


class FilterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class IncidentFilters:
    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    client: tuple[int, ...] = ()
    site: tuple[int, ...] = ()
    sla: str = ""
    q: str = ""
    open: bool | None = None
    sort: str = "newest"
    page: int = 1

    @classmethod
    def parse(cls, source: QueryDict) -> IncidentFilters:
        """The filters of a query string; FilterError names each field that cannot be used."""
        errors: dict[str, str] = {}

        def values(name: str) -> list[str]:
            out: list[str] = []
            for raw in source.getlist(name):
                out.extend(v.strip() for v in raw.split(",") if v.strip())
            return out

        def choices(name: str, allowed) -> tuple[str, ...]:
            got = values(name)
            bad = [v for v in got if v not in allowed]
            if bad:
                errors[name] = f"unknown value {bad[0][:40]!r}; one of {', '.join(allowed)}"
            return tuple(dict.fromkeys(got))

        def ids(name: str) -> tuple[int, ...]:
            out: list[int] = []
            for v in values(name):
                if not v.isdigit() or not 1 <= int(v) <= 2**63 - 1 or len(v) > 19:
                    errors[name] = f"{v[:40]!r} is not an id"
                    break
                out.append(int(v))
            if len(out) > 100:
                errors[name] = "at most 100 ids"
            return tuple(dict.fromkeys(out))

        def one(name: str) -> str:
            got = [v for v in source.getlist(name) if v.strip()]
            return got[-1].strip() if got else ""

        status = choices("status", [s.value for s in IncidentStatus])
        severity = choices("severity", [s.value for s in Severity])
        client, site = ids("client"), ids("site")
        sla = one("sla")
        if sla and sla not in SLA_STATES:
            errors["sla"] = f"one of {', '.join(SLA_STATES)}"
        q = one("q")
        if len(q) > Q_MAX:
            errors["q"] = f"at most {Q_MAX} characters"
        elif problem := text_problem(q):
            errors["q"] = problem
        open_text = one("open")
        if open_text not in OPEN_CHOICES:
            errors["open"] = "true or false"
        sort = one("sort") or "newest"
        if sort not in SORTS:
            errors["sort"] = f"one of {', '.join(SORTS)}"
        page_text = one("page") or "1"
        if not page_text.isdigit() or not 1 <= int(page_text[:7]) <= 1_000_000:
            errors["page"] = "a page number from 1"
        if errors:
            raise FilterError(errors)
        return cls(
            status=status,
            severity=severity,
            client=client,
            site=site,
            sla=sla,
            q=q,
            open={"": None, "true": True, "false": False}[open_text],
            sort=sort,
            page=int(page_text),
        )

    @property
    def params(self) -> dict[str, str]:
        """The filters as the page's query parameters (no page number), blanks left out."""
        out = {
            "status": ",".join(self.status),
            "severity": ",".join(self.severity),
            "client": ",".join(map(str, self.client)),
            "site": ",".join(map(str, self.site)),
            "sla": self.sla,
            "q": self.q,
            "open": "" if self.open is None else str(self.open).lower(),
            "sort": "" if self.sort == "newest" else self.sort,
        }
        return {k: v for k, v in out.items() if v}


def scoped_incidents(user) -> QuerySet[Incident]:
    """Every incident the user may see (the one scope)."""
    return incidents_visible(user)


def _matching(user, f: IncidentFilters) -> QuerySet[Incident]:
    return filter_incidents(
        scoped_incidents(user),
        queries.IncidentFilters(
            status=list(f.status),
            severity=list(f.severity),
            client=list(f.client),
            site=list(f.site),
            sla=[f.sla] if f.sla else [],
            open=f.open,
            # "#123" finds incident 123 (as the pages write it)
            q=f.q[1:] if f.q[1:].isdigit() and f.q.startswith("#") else f.q,
        ),
    )


def overall(state: dict) -> str:
    """The worst of an incident's per-target SLA states."""
    return state["state"]


def sla_counts(user, now: datetime) -> dict[str, int]:
    """The overview's SLA tile: open incidents in scope, how many at risk, how many breached
    (one query: three counts over the open incidents, the SLA states as `filter_sla` says)."""
    open_ = scoped_incidents(user).filter(status__in=OPEN_INCIDENT_STATUSES)

    def of(state: str) -> Count:
        return Count("id", filter=Q(pk__in=filter_sla(open_, state, now).values("pk")))

    return open_.aggregate(open=Count("id"), at_risk=of("at_risk"), breached=of("breached"))


@dataclass(frozen=True)
class Row:
    """One incident of the page, ready to print: `html` is its table row (the template's
    per-row work was most of the page's CPU, docs/decisions.md "Incidents page")."""

    id: int
    severity: str
    status: str
    title: str
    external_ref: str
    place: str
    commander: str
    alert_count: int
    sla: str  # ok / at_risk / breached; "" once it is resolved or closed
    opened: datetime
    url: str = ""
    status_label: str = ""
    opened_iso: str = ""
    opened_text: str = ""


SLA_BADGES = {
    "breached": mark_safe('<span class="sla sla--breached">Breached</span>'),
    "at_risk": mark_safe('<span class="sla sla--at_risk">At risk</span>'),
    "ok": mark_safe('<span class="sla sla--ok">On track</span>'),
    "": mark_safe('<span class="muted">—</span>'),
}
# one row of the incidents table (dashboard/_incidents_body.html prints `listing.rows_html`)
ROW_HTML = (
    '<tr data-incident-id="{id}">'
    '<td><span class="sev sev--{sev_class}">{severity}</span></td>'
    '<td class="break"><a href="{url}">#{id} {title}</a>{ref}'
    '<span class="sub narrow-only">{place}</span></td>'
    '<td class="wide-only">{place}</td>'
    '<td><span class="status status--{status_class}">{status_label}</span></td>'
    "<td>{sla}</td>"
    '<td class="num wide-only">{alert_count}</td>'
    '<td class="wide-only">{commander}</td>'
    '<td class="num wide-only"><time datetime="{opened_iso}">{opened_text}</time></td>'
    "</tr>"
)


def row_html(r: Row) -> SafeString:
    """The row's `<tr>`, every value escaped (the standard library's html.escape, which is what
    Django's `escape` calls, without its lazy-string wrapper: ~700 calls a page)."""
    return mark_safe(  # every value below is escaped, or a fixed badge
        ROW_HTML.format(
            id=r.id,
            sev_class=_esc(r.severity.lower()),
            severity=_esc(r.severity),
            url=_esc(r.url),
            title=_esc(r.title),
            ref=f'<span class="sub">{_esc(r.external_ref)}</span>' if r.external_ref else "",
            place=_esc(r.place),
            status_class=_esc(r.status.lower()),
            status_label=_esc(r.status_label),
            sla=SLA_BADGES.get(r.sla, SLA_BADGES["ok"]),
            alert_count=int(r.alert_count),
            commander=_esc(r.commander or "—"),
            opened_iso=_esc(r.opened_iso),
            opened_text=_esc(r.opened_text),
        )
    )


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class ListPage:
    rows: list[Row]
    page: PageInfo
    total: int

    @property
    def rows_html(self) -> SafeString:
        return mark_safe("".join(row_html(r) for r in self.rows))  # each row escaped


def _place(client_name: str | None, site_name: str | None) -> str:
    if client_name is None:
        return "Several clients"
    if site_name is None:
        return client_name
    return f"{client_name} · {site_name}"


NEWEST = ("-opened_at", "-id")


@dataclass(frozen=True)
class PageInfo:
    """Where a page sits (what the template's pager needs)."""

    number: int
    num_pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _by_severity(matching: QuerySet, qs: QuerySet, start: int) -> tuple[list[dict], int]:
    """One page most severe first: the counts per severity (one grouped query over `matching`,
    without the row's joins), then only the severities the page spans, each newest first from
    the tenant's opened_at index — never a sort of every matching row by a computed rank."""
    counts = dict(matching.order_by().values_list("severity").annotate(n=Count("id")))
    total = sum(counts.values())
    known = [s.value for s in Severity]
    rows: list[dict] = []
    order = [*known, *sorted(set(counts) - set(known))]
    for severity in order:
        n = counts.get(severity, 0)
        if len(rows) == PAGE_SIZE:
            break
        if start >= n:
            start -= n
            continue
        need = PAGE_SIZE - len(rows)
        rows += list(qs.filter(severity=severity).order_by(*NEWEST)[start : start + need])
        start = 0
    return rows, total


def alert_counts(ids: list[int]) -> dict[int, int]:
    """How many alerts each incident holds now (members that have not left), one query."""
    rows = (
        IncidentAlert.objects.filter(incident_id__in=ids, left_at__isnull=True)
        .values("incident_id")
        .annotate(n=Count("id"))
        .values_list("incident_id", "n")
    )
    return dict(rows)


# what a row reads: fewer columns (and foreign keys, each a descriptor per row) to fetch and build
ROW_FIELDS = (
    "id",
    "title",
    "external_ref",
    "severity",
    "status",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "ack_due_at",
    "ack_risk_at",
    "ack_breached_at",
    "resolve_due_at",
    "resolve_risk_at",
    "resolve_breached_at",
    "client__name",
    "site__name",
    "commander__first_name",
    "commander__last_name",
    "commander__username",
)
OPEN = frozenset(OPEN_INCIDENT_STATUSES)


def incident_page(user, f: IncidentFilters, *, now: datetime, pii: bool) -> ListPage:
    # rows as dicts (`values`): no Incident, Client, Site and User built per row
    matching = _matching(user, f)
    qs = matching.values(*ROW_FIELDS)
    start = (f.page - 1) * PAGE_SIZE
    if f.sort == "severity":
        incidents, total = _by_severity(matching, qs, start)
    else:
        total = matching.count()  # counted without the row's joins
        incidents = list(qs.order_by(*NEWEST)[start : start + PAGE_SIZE])
    num_pages = max(1, -(-total // PAGE_SIZE))
    if f.page > num_pages and total:  # past the end: the last page, as a paginator would
        return incident_page(user, replace(f, page=num_pages), now=now, pii=pii)
    counts = alert_counts([i["id"] for i in incidents])
    prefix = reverse("dashboard:incidents")  # /incidents/: each row's link is <prefix><id>/
    labels = dict(IncidentStatus.choices)
    rows = []
    for i in incidents:
        fields = SimpleNamespace(**i)  # what sla_state reads of an incident
        commander = None
        if i["commander__username"] is not None:
            commander = SimpleNamespace(
                first_name=i["commander__first_name"],
                last_name=i["commander__last_name"],
                username=i["commander__username"],
            )
        opened = i["opened_at"]
        rows.append(
            Row(
                id=i["id"],
                severity=i["severity"],
                status=i["status"],
                title=i["title"] if pii else mask_text(i["title"]),
                external_ref=i["external_ref"] if pii else mask_text(i["external_ref"]),
                place=_place(i["client__name"], i["site__name"]),
                commander=person_label(commander, pii) or "",
                alert_count=counts.get(i["id"], 0),
                sla=overall(sla_state(fields, now)) if i["status"] in OPEN else "",
                opened=opened,
                url=f"{prefix}{i['id']}/",
                status_label=labels.get(i["status"], i["status"]),
                opened_iso=opened.isoformat(),
                opened_text=f"{timezone.localtime(opened):%Y-%m-%d %H:%M}",
            )
        )
    return ListPage(rows=rows, page=PageInfo(f.page, num_pages), total=total)


def _options(pairs, chosen: set[int]) -> str:
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((i, mark_safe(" selected") if i in chosen else "", name) for i, name in pairs),
    )


# The filter's client and site options of users who see every client of their tenant (the
# supervisors and admins of a large estate: every client and site), per tenant and per process
# for OPTIONS.ttl seconds, printed once. A client or site saved or deleted in this process
# empties it at once (`forget_options`); another process, or a bulk write (the demo data), is
# seen within the TTL. Users with assigned clients or sites read their own (shorter) lists each
# time: their assignments change without a signal (bulk writes).
OPTIONS = TtlCache("incident-filter-options", ttl=10, max_entries=1000)


@dataclass(frozen=True)
class Options:
    clients: tuple[tuple[int, str], ...]
    sites: tuple[tuple[int, str], ...]
    clients_html: str  # the <option>s with none selected
    sites_html: str


def _load_options(user) -> Options:
    clients = tuple(visible_clients(user).order_by("name").values_list("id", "name"))
    sites = tuple(visible_sites(user).order_by("name").values_list("id", "name"))
    return Options(clients, sites, _options(clients, set()), _options(sites, set()))


def filter_options(user) -> Options:
    scope = scope_of(user)
    if scope.kind != ScopeKind.ALL_CLIENTS:
        return _load_options(user)
    return OPTIONS.get_or_load(scope.tenant_id, lambda: _load_options(user))


def forget_options(**_: object) -> None:
    # now, and after the commit (a page read in between would load the uncommitted state's
    # predecessor and keep it for the TTL)
    OPTIONS.invalidate()
    transaction.on_commit(OPTIONS.invalidate)


for _model in (Client, Site):
    post_save.connect(forget_options, sender=_model, dispatch_uid=f"incident-options-{_model}")
    post_delete.connect(forget_options, sender=_model, dispatch_uid=f"incident-options-d{_model}")


def list_choices(user, f: IncidentFilters) -> dict:
    """What the filter form offers: the user's clients and sites as <option>s (the chosen ones
    selected), and the fixed choices."""
    options = filter_options(user)
    client_ids, site_ids = set(f.client), set(f.site)
    return {
        # printed here, not by a template loop: an estate has a thousand sites
        "client_options": _options(options.clients, client_ids)
        if client_ids
        else mark_safe(options.clients_html),
        "site_options": _options(options.sites, site_ids)
        if site_ids
        else mark_safe(options.sites_html),
        "statuses": STATUS_CHOICES,
        "severities": SEVERITIES,
        "sla_states": list(SLA_STATES.items()),
        "sorts": list(SORTS.items()),
        "open_choices": list(OPEN_CHOICES.items()),
    }


STATUS_CHOICES = [(s.value, s.label) for s in IncidentStatus]
SEVERITIES = [s.value for s in Severity]


def open_incident_of(user, alert_id: int) -> Incident | None:
    """The open incident an alert belongs to, if the user may see it (the alert page links to
    it), or None. One query."""
    return (
        scoped_incidents(user)
        .filter(
            memberships__alert_id=alert_id,
            memberships__open=True,
            memberships__left_at__isnull=True,
        )
        .only("id", "title")
        .first()
    )
