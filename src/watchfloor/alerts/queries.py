"""Read side of alerts, always through the user's scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import DataError
from django.db.models import Count, Q, QuerySet, Sum, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import audience, holds, scope_of
from watchfloor.alerts.escalation import overdue_condition
from watchfloor.alerts.label_sql import sql_regex
from watchfloor.alerts.list_rows import NOT_LISTED, RELATED_COLUMNS, PlainRow
from watchfloor.alerts.listing import DEFAULT_SORT, InvalidListQuery, Page, page_of
from watchfloor.alerts.models import (
    OPEN_STATUSES,
    Alert,
    AlertComment,
    AlertQuerySet,
    Severity,
    Status,
)
from watchfloor.maintenance.label_matchers import Matcher, MatchOp

# What a list row shows besides the alert itself: one JOIN each, never a query per row.
LIST_RELATED = tuple(RELATED_COLUMNS)
# The people a row names come in one more query (`attach_people`), not as three more JOINs: with
# six relations PostgreSQL's planner spent ~2 ms on every page, the query itself 0.2 ms (four
# relations: 0.2 ms to plan; docs/benchmarks.md, "the alerts list's CPU").
LIST_PEOPLE = ("assignee", "acknowledged_by", "resolved_by")
DETAIL_PEOPLE = (*LIST_PEOPLE, "escalated_by", "assigned_by")
_PERSON = ("id", "username", "first_name", "last_name")
# The columns a list row reads (labels, annotations, description… are the detail's): fewer
# columns fetched and decoded per row (profiled: JSON and timestamps dominated a 50-row page).
# A page reads them through `list_rows`; the CSV export and the window's paginator through these.
LIST_ONLY = (
    *(f.name for f in Alert._meta.concrete_fields if f.name not in NOT_LISTED),
    *(f"{relation}__{name}" for relation, names in RELATED_COLUMNS.items() for name in names),
)
# For reads of many pages at once (the CSV export, the window's paginator): joined.
_PEOPLE_ONLY = tuple(f"{rel}__{col}" for rel in LIST_PEOPLE for col in _PERSON)


def alerts_for(user) -> AlertQuerySet:
    """Alerts the user may see (`access.scope`): all of the tenant's; their clients' (with the
    alerts of those clients that have no site); or those on their sites (an alert without a
    site is not on any site, so site-scoped users do not see it)."""
    return Alert.objects.restrict(scope_of(user))


def access_alert(user, alert_id) -> Alert:
    """The alert, or the same 404 whether it is missing, another tenant's or out of scope."""
    try:
        alert = alerts_for(user).select_related(*LIST_RELATED).get(pk=alert_id)
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
    attach_people([alert], DETAIL_PEOPLE)
    return alert


def attach_people(alerts: list[Alert], fields: tuple[str, ...] = LIST_PEOPLE) -> list[Alert]:
    """Set the people `fields` name on each alert (as `select_related` would; on a plain row,
    as attributes), read in one query (none when no alert names anyone)."""
    relations = [Alert._meta.get_field(name) for name in fields]
    ids = {getattr(a, relation.attname) for a in alerts for relation in relations} - {None}
    people = (
        {p.pk: p for p in get_user_model().objects.filter(pk__in=ids).only(*_PERSON)} if ids else {}
    )
    plain = bool(alerts) and isinstance(alerts[0], PlainRow)  # a page is one kind or the other
    for alert in alerts:
        for relation in relations:
            person = people.get(getattr(alert, relation.attname))
            if plain:
                alert.__dict__[relation.name] = person
            else:
                relation.set_cached_value(alert, person)
    return alerts


@dataclass
class AlertFilters:
    """What the alert list (API and page) narrows by; every field empty means everything."""

    status: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    client: list[int] = field(default_factory=list)
    site: list[int] = field(default_factory=list)
    city: str = ""
    state: str = ""
    officer: int | None = None
    assignee: list[int] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    maintenance_window: int | None = None
    correlation_id: str = ""
    active: bool | None = None
    overdue: bool = False  # unacknowledged past its severity's escalation delay
    labels: list[Matcher] = field(default_factory=list)


def filter_alerts(qs: QuerySet[Alert], f: AlertFilters) -> QuerySet[Alert]:
    """`since`/`until` bound when the alert was last seen (so a long-running alert still shows)."""
    if f.status:
        qs = qs.filter(status__in=f.status)
    if f.active is not None:
        qs = qs.exclude(status=Status.RESOLVED) if f.active else qs.filter(status=Status.RESOLVED)
    if f.severity:
        qs = qs.filter(severity__in=f.severity)
    if f.type:
        qs = qs.filter(type__in=f.type)
    if f.source:
        qs = qs.filter(source__in=f.source)
    if f.client:
        qs = qs.filter(client_id__in=f.client)
    if f.site:
        qs = qs.filter(site_id__in=f.site)
    if f.city:
        qs = qs.filter(site__city__iexact=f.city)
    if f.state:
        qs = qs.filter(site__state__iexact=f.state)
    if f.officer is not None:
        qs = qs.filter(site__officer_in_charge_id=f.officer)
    if f.assignee:
        qs = qs.filter(assignee_id__in=f.assignee)
    if f.overdue:
        qs = qs.filter(overdue_condition(timezone.now()))
    if f.since is not None:
        qs = qs.filter(last_seen_at__gte=f.since)
    if f.until is not None:
        qs = qs.filter(last_seen_at__lt=f.until)
    if f.q:
        qs = qs.filter(
            Q(title__icontains=f.q) | Q(type__icontains=f.q) | Q(fingerprint=f.q) | Q(entity_id=f.q)
        )
    if f.maintenance_window is not None:
        qs = qs.filter(maintenance_window_id=f.maintenance_window)
    if f.correlation_id:
        qs = qs.filter(correlation_id=f.correlation_id)
    if f.labels:
        qs = filter_by_matchers(qs, f.labels)
    return qs


def filter_by_matchers(qs: QuerySet[Alert], matchers: list[Matcher]) -> QuerySet[Alert]:
    """Alerts whose stored labels satisfy every matcher, in SQL (Alertmanager semantics).

    A label the alert does not carry reads as "" (COALESCE), so `env!="dev"` keeps alerts with
    no `env` and `env=""` keeps only those; regexes are fully anchored (see label_sql).
    The label names are passed as key lookups, never split on `__`.
    """
    for n, m in enumerate(matchers):
        alias = f"_label_{n}"
        qs = qs.alias(
            **{
                alias: Coalesce(
                    KeyTextTransform(m.name, "labels"), Value(""), output_field=TextField()
                )
            }
        )
        if m.op in (MatchOp.EQUAL, MatchOp.NOT_EQUAL):
            condition = Q(**{alias: m.value})
        else:
            pattern, ignore_case = sql_regex(m.value, qs.db)
            condition = Q(**{f"{alias}__{'iregex' if ignore_case else 'regex'}": pattern})
        qs = qs.exclude(condition) if m.op.is_negative else qs.filter(condition)
    return qs


def alert_list(user, filters: AlertFilters) -> QuerySet[Alert]:
    """The filtered alerts with what a list row shows and the people it names, joined (reads of
    many pages: the CSV export, the window's paginator; one page reads through `alert_page`)."""
    qs = filter_alerts(alerts_for(user), filters)
    return qs.select_related(*LIST_RELATED, *LIST_PEOPLE).only(*LIST_ONLY, *_PEOPLE_ONLY)


def alert_page(
    user,
    filters: AlertFilters,
    *,
    sort: str = DEFAULT_SORT,
    cursor: str | None,
    limit: int | None,
    plain: bool = False,
) -> Page:
    """One sorted keyset page of the alerts the user may see (the API's and the page's list);
    `plain` rows (`list_rows.PlainRow`) for a caller that only reads what a row shows."""
    try:
        page = page_of(
            filter_alerts(alerts_for(user), filters),
            sort=sort,
            cursor=cursor,
            limit=limit,
            plain=plain,
        )
    except DataError:
        if not any(m.op.is_regex for m in filters.labels):
            raise
        # a regex Python accepts that the database's engine refuses (label_sql rewrites the
        # known differences): the caller's input, so a 422 on `labels`, not a 500
        raise InvalidListQuery("labels", "The database cannot run this regex.") from None
    attach_people(page.items)
    return page


def correlation_group(user, alert: Alert, *, limit: int = 100) -> list[Alert]:
    """The other alerts of the alert's correlation group that the user may see, oldest first."""
    if alert.correlation_id is None:
        return []
    return attach_people(
        list(
            alerts_for(user)
            .filter(correlation_id=alert.correlation_id)
            .exclude(pk=alert.pk)
            .select_related(*LIST_RELATED)
            .only(*LIST_ONLY)
            .order_by("id")[:limit]
        )
    )


def alert_counts(user, filters: AlertFilters | None = None) -> dict:
    """Active alerts by status, and open ones by severity, in the user's scope (one query)."""
    qs: QuerySet[Alert] = alerts_for(user).exclude(status=Status.RESOLVED)
    if filters is not None:
        qs = filter_alerts(qs, filters)
    by_status = {s.value: 0 for s in Status if s != Status.RESOLVED}
    by_severity = {s.value: 0 for s in Severity}
    for status, severity, n in (
        qs.values("status", "severity")
        .annotate(n=Count("id"))
        .values_list("status", "severity", "n")
        .order_by()
    ):
        by_status[status] += n
        if status in OPEN_STATUSES:
            by_severity[severity] += n
    return {
        "open": sum(by_severity.values()),
        "by_status": by_status,
        "by_severity": by_severity,
    }


@dataclass(frozen=True)
class Suppressed:
    alerts: int = 0  # alerts stored as SUPPRESSED by the window (Alert.maintenance_window)
    still: int = 0  # of those, still suppressed now
    repeats: int = 0  # the sum of their suppressed_count


def suppressed_by(user, window_ids: list[int]) -> dict[int, Suppressed]:
    """What each window suppressed, counting only the alerts the user may see (one query)."""
    if not window_ids:
        return {}
    rows = (
        alerts_for(user)
        .filter(maintenance_window_id__in=window_ids)
        .order_by()
        .values("maintenance_window_id")
        .annotate(
            alerts=Count("id"),
            still=Count("id", filter=Q(status=Status.SUPPRESSED)),
            repeats=Sum("suppressed_count"),
        )
    )
    return {
        r["maintenance_window_id"]: Suppressed(r["alerts"], r["still"], r["repeats"] or 0)
        for r in rows
    }


def assignable_users(alert: Alert) -> QuerySet:
    """Who the alert may be given to, in one query: the active users of its tenant who can see
    it (`access.scope.audience`, the scope rule read over users) and can act on it (hold
    `noc:ack_alerts`: acknowledge and resolve what they are given). `assign_alert` accepts
    exactly these, and the overview and the detail page both offer this list."""
    return (
        get_user_model()
        .objects.filter(
            audience(
                Alert.placement,
                tenant_id=alert.tenant_id,
                client_id=alert.client_id,
                site_id=alert.site_id,
            )
            & holds(Capability.ACK_ALERTS)
        )
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    )


COMMENT_LIMIT = 500


def alert_comments(alert: Alert, limit: int = COMMENT_LIMIT) -> list[AlertComment]:
    """The alert's comments, oldest first (the newest `limit`), authors joined: one query.
    `alert` is one the caller has already read through the user's scope (`access_alert`)."""
    rows = list(
        AlertComment.objects.for_tenant(alert.tenant_id)
        .filter(alert_id=alert.pk)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    return rows[::-1]
