"""A page's rows from `list_rows` (one statement around the ORM's query of ids) are the rows the
ORM itself reads with `select_related` and `only`: the same alerts in the same order, the same
values, the client and site cached, the other columns deferred."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from support_incidents import make_alert
from watchfloor.alerts import list_rows as list_rows_module
from watchfloor.alerts.list_rows import ALERT_COLUMNS, RELATED_COLUMNS, PlainRow, list_rows
from watchfloor.alerts.listing import SORTS, page_of, sorted_alerts
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.queries import (
    LIST_ONLY,
    LIST_RELATED,
    AlertFilters,
    alert_page,
    alerts_for,
    attach_people,
    filter_alerts,
)
from watchfloor.maintenance.label_matchers import Matcher, MatchOp

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["direct", "around"])
def form(request, monkeypatch):
    """Both statements: the ORM's text with the row's SELECT list (what runs), and the rows
    read around the query of ids (what runs should that text ever start otherwise)."""
    if request.param == "around":
        shape = list_rows_module._shape

        def no_head(ops):
            return dataclasses.replace(shape(ops), head="(a text no query starts with)")

        monkeypatch.setattr(list_rows_module, "_shape", no_head)
    return request.param


@pytest.fixture
def alerts(estate):
    """Alerts with ties on every sort key, without a client or a site, with every kind of
    value a converter handles (timestamps, a UUID, nulls)."""
    base = timezone.now().replace(microsecond=123456)
    made = []
    for n in range(14):
        kw = {}
        if n % 5 == 0:
            kw.update(site=None, client=None)
        alert = make_alert(
            estate,
            n,
            severity=list(Severity)[n % len(Severity)],
            status=Status.ACKNOWLEDGED if n % 3 == 0 else Status.NEW,
            **kw,
        )
        if n % 5 == 0:  # make_alert puts every alert on a site: this one has neither
            Alert.objects.filter(pk=alert.pk).update(site=None, client=None)
        moment = base - timedelta(minutes=n // 3)  # three alerts share each moment
        Alert.objects.filter(pk=alert.pk).update(
            first_seen_at=moment,
            last_seen_at=base - timedelta(seconds=n % 4),
            acknowledged_at=moment if n % 3 == 0 else None,
            correlation_id="2f1b9a1e-5c55-4bcb-9a9c-8a0b5e0d7f6a" if n % 2 else None,
        )
        made.append(alert)
    return made


def _orm(qs, order, count):
    by = [f"-{c}" if d else c for c, d in order]
    return list(qs.select_related(*LIST_RELATED).only(*LIST_ONLY).order_by(*by)[:count])


def _read(alert) -> dict:
    out = {name: getattr(alert, name) for name in ALERT_COLUMNS}
    for relation, columns in RELATED_COLUMNS.items():
        target = getattr(alert, relation)
        out[relation] = target and {c: getattr(target, c) for c in columns}
    return out


ORDERS = [
    [*((column, descending) for column, descending in keys), ("id", keys[-1][1])]
    for keys in SORTS.values()
    if "severity_rank" not in dict(keys)
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: ",".join(f"{c}:{d}" for c, d in o))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("count", [1, 5, 50])
@pytest.mark.parametrize("plain", [False, True], ids=["instances", "plain"])
def test_rows_are_the_orms_in_its_order(estate, alerts, form, order, reverse, count, plain):
    if reverse:
        order = [(column, not descending) for column, descending in order]
    qs = Alert.objects.filter(tenant=estate.tenant)
    expected = _orm(qs, order, count)
    got = list_rows(qs, order, count, plain=plain)
    assert all(isinstance(a, PlainRow if plain else Alert) for a in got)
    assert [a.id for a in got] == [a.pk for a in expected]
    assert [_read(a) for a in got] == [_read(a) for a in expected]


def test_plain_rows_share_their_client_and_site_and_take_people(estate, alerts, form):
    admin = estate.user("admin")
    Alert.objects.filter(pk=alerts[1].pk).update(assignee=admin, acknowledged_by=admin)
    qs = Alert.objects.filter(tenant=estate.tenant)
    with CaptureQueriesContext(connection) as queries:
        rows = attach_people(list_rows(qs, [("first_seen_at", True), ("id", True)], 50, plain=True))
    assert len(queries) == 2  # the rows, then the people
    sites = [a.site for a in rows if a.site is not None]
    assert len({id(s) for s in sites}) == len({s.id for s in sites}) < len(sites)
    assert all(isinstance(s, PlainRow) for s in sites)
    by_id = {a.id: a for a in rows}
    assert by_id[alerts[1].pk].assignee.username == admin.username
    assert by_id[alerts[1].pk].resolved_by is None
    assert by_id[alerts[2].pk].assignee is None
    with pytest.raises(AttributeError):
        rows[0].labels  # noqa: B018  # a plain row holds what a row shows, nothing loads


def test_a_row_holds_its_client_and_site_and_defers_the_rest(estate, alerts, form):
    qs = Alert.objects.filter(tenant=estate.tenant)
    with CaptureQueriesContext(connection) as queries:
        rows = list_rows(qs, [("first_seen_at", True), ("id", True)], 50)
        seen = [(a.client and a.client.name, a.site and a.site.city) for a in rows]
    assert len(queries) == 1  # the client and site came with the row
    assert (" IN (SELECT" in queries[0]["sql"]) == (form == "around")
    assert len(rows) == len(alerts)
    assert any(c is None for c, _s in seen) and any(c is not None for c, _s in seen)
    alert = rows[0]
    assert alert._state.adding is False and alert._state.db == "default"
    assert "labels" not in alert.__dict__  # deferred, as `only` leaves it
    with CaptureQueriesContext(connection) as queries:
        assert alert.labels == Alert.objects.get(pk=alert.pk).labels
    assert len(queries) == 2  # the deferred column loaded on access, then the check's own read


def test_a_page_builds_each_client_and_site_once(estate, alerts, form):
    qs = Alert.objects.filter(tenant=estate.tenant)
    rows = list_rows(qs, [("first_seen_at", True), ("id", True)], 50)
    for relation in RELATED_COLUMNS:
        targets = [getattr(a, relation) for a in rows if getattr(a, relation) is not None]
        by_id = {t.pk: t for t in targets}
        assert len(by_id) < len(targets)  # the fixture puts several alerts on one site
        assert all(t is by_id[t.pk] for t in targets)  # one instance per client and site
    # a second page builds its own: nothing is shared between pages (or requests)
    again = list_rows(qs, [("first_seen_at", True), ("id", True)], 50)
    assert not {id(a.site) for a in rows if a.site} & {id(a.site) for a in again if a.site}


def test_the_filters_and_scope_of_the_queryset_hold(estate, other_estate, alerts, form):
    make_alert(other_estate, 99)
    qs = Alert.objects.filter(tenant=estate.tenant, status=Status.ACKNOWLEDGED, site__isnull=False)
    rows = list_rows(qs, [("last_seen_at", False), ("id", False)], 50)
    assert sorted(a.pk for a in rows) == sorted(a.pk for a in qs)
    assert rows and all(a.tenant_id == estate.tenant.id for a in rows)


def test_pages_walk_every_row_once_both_ways(estate, alerts, form):
    qs = Alert.objects.filter(tenant=estate.tenant)
    for sort in SORTS:
        seen, cursor = [], None
        while True:
            page = page_of(qs, sort=sort, cursor=cursor, limit=4)
            seen += [a.pk for a in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert sorted(seen) == sorted(a.pk for a in alerts), sort
        assert len(seen) == len(set(seen)), sort
        last = [a.pk for a in page.items]
        back, cursor = [], page.prev_cursor
        while cursor:
            page = page_of(qs, sort=sort, cursor=cursor, limit=4)
            back = [a.pk for a in page.items] + back
            cursor = page.prev_cursor
        assert back == seen[: len(seen) - len(last)], sort


FILTERS = [
    AlertFilters(),
    AlertFilters(active=True, severity=["CRITICAL", "HIGH"]),
    AlertFilters(city="x", state="y", officer=1, q="alert 1"),
    AlertFilters(overdue=True, since=timezone.now() - timedelta(days=1)),
    AlertFilters(
        labels=[Matcher.build("env", MatchOp.REGEX, "pro.*"), Matcher.build("a", MatchOp.EQUAL, "")]
    ),
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("sort", list(SORTS))
def test_every_filter_and_sort_takes_the_direct_statement(estate, alerts, filters, sort):
    user = estate.user("admin")
    with CaptureQueriesContext(connection) as queries:
        page = alert_page(user, filters, sort=sort, cursor=None, limit=3)
    reads = [q["sql"] for q in queries.captured_queries if "wf_r0" in q["sql"]]
    assert reads, [q["sql"] for q in queries.captured_queries]
    assert not any(" IN (SELECT" in sql for sql in reads), reads
    expected = list(sorted_alerts(filter_alerts(alerts_for(user), filters), sort)[:3])
    assert [a.pk for a in page.items] == [a.pk for a in expected]
