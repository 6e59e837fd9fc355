"""The alert list's filters, sorts and keyset pages (alerts.queries / alerts.listing), and the
same parameters on the list API: source, assignee, overdue, label matchers, every sort paged
without repeats or gaps, cursors tied to their sort, 422s naming the field."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from support_alerts import key_for, trigger
from support_api import V1, error_fields
from watchfloor.alerts.listing import SORTS, page_of
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.alerts.queries import AlertFilters, alert_list, filter_by_matchers
from watchfloor.maintenance.label_matchers import parse_matchers

__all__ = ["key_for"]

LABEL_SETS = [
    {"team": "db", "env": "prod-eu"},
    {"team": "db", "env": "staging"},
    {"team": "web", "env": "prod-us", "__name__": "up"},
    {"team": "Web"},
    {},
    {"team": "db", "env": "prod\nx"},
    {"team": "a.b", "env": "dev"},
]


@pytest.fixture
def labelled(estate, key_for):
    """One alert per label set on the estate's first site."""
    ingest(
        [
            trigger("DEVICE_OFFLINE", site=estate.sites[0].code, entity_id=f"e{n}", labels=labels)
            for n, labels in enumerate(LABEL_SETS)
        ],
        key=key_for(estate),
    )
    alerts = list(Alert.objects.order_by("id"))
    for alert, labels in zip(alerts, LABEL_SETS, strict=True):
        # the pipeline may add labels of its own; store exactly the set under test
        Alert.objects.filter(pk=alert.pk).update(labels=labels)
    return estate


MATCHER_CASES = [
    'team="db"',
    'team!="db"',
    'env=""',
    'env!=""',
    "env=~prod.*",
    'env!~"prod.*"',
    'team=~"(?i)web"',
    'team=~"a.b"',
    'team=~"a\\\\.b"',
    'env=~"prod.x"',
    'env=~"prod[^-]x"',
    'team=~"db|web"',
    '__name__="up"',
    '{team="db", env=~"prod.*"}',
    'env=~".*"',
    'env=~".+"',
    'team=~"\\\\bdb\\\\b"',
    'team=~"(?P<t>db)"',
    'team=~"d{,2}b"',
    'team=~"x{"',
    'env=~"(?s)prod.x"',
    'team=~"[]a]|db"',
]


@pytest.mark.parametrize("text", MATCHER_CASES)
def test_label_matchers_in_sql_agree_with_the_matcher_itself(labelled, text):
    """The SQL filter selects exactly the alerts Matcher.matches accepts (Alertmanager's
    semantics: absent label = "", anchored regexes, `.` not matching a newline)."""
    matchers = parse_matchers(text)
    everything = list(Alert.objects.order_by("id"))
    expected = [a.id for a in everything if all(m.matches(a.labels) for m in matchers)]
    got = list(
        filter_by_matchers(Alert.objects.all(), matchers)
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert got == expected


def _ids(user, **filters) -> set[int]:
    return set(alert_list(user, AlertFilters(**filters)).values_list("id", flat=True))


def test_source_assignee_and_overdue(estate, key_for):
    key = key_for(estate)
    ingest(
        [
            trigger("T", site=estate.sites[0].code, severity=Severity.CRITICAL, entity_id=str(n))
            for n in range(4)
        ],
        key=key,
    )
    a, b, c, d = Alert.objects.order_by("id")
    admin = estate.user("admin")
    Alert.objects.filter(pk=a.pk).update(source="alertmanager")
    Alert.objects.filter(pk=b.pk).update(assignee=estate.user("operator"))
    # overdue: CRITICAL waits 15 minutes; a is old and NEW, c is old but acknowledged,
    # d is old and escalated by the engine without anyone acknowledging it
    old = timezone.now() - timedelta(hours=2)
    Alert.objects.filter(pk=a.pk).update(first_seen_at=old)
    Alert.objects.filter(pk=c.pk).update(
        first_seen_at=old, status=Status.ACKNOWLEDGED, acknowledged_at=timezone.now()
    )
    Alert.objects.filter(pk=d.pk).update(first_seen_at=old, status=Status.ESCALATED)
    assert _ids(admin, source=["alertmanager"]) == {a.id}
    assert _ids(admin, assignee=[estate.user("operator").id]) == {b.id}
    assert _ids(admin, overdue=True) == {a.id, d.id}
    assert _ids(admin, overdue=True, source=["native"]) == {d.id}


def _walk(qs, sort, limit=3):
    """Every page forward, then every page back from the last one."""
    forward, cursor, pages = [], None, 0
    while True:
        page = page_of(qs, sort=sort, cursor=cursor, limit=limit)
        forward.append([a.id for a in page.items])
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    backward, cursor = [forward[-1]], page.prev_cursor
    while cursor:
        page = page_of(qs, sort=sort, cursor=cursor, limit=limit)
        backward.insert(0, [a.id for a in page.items])
        cursor = page.prev_cursor
    return forward, backward


@pytest.mark.parametrize("sort", list(SORTS))
def test_every_sort_pages_every_row_once_both_ways(estate, key_for, sort):
    key = key_for(estate)
    ingest(
        [
            trigger(
                "T", site=estate.sites[n % 4].code, severity=list(Severity)[n % 5], entity_id=str(n)
            )
            for n in range(11)
        ],
        key=key,
    )
    base = timezone.now() - timedelta(days=1)
    for n, alert in enumerate(Alert.objects.order_by("id")):
        # ties on purpose: pairs share first/last seen, so the id must break them
        Alert.objects.filter(pk=alert.pk).update(
            first_seen_at=base + timedelta(minutes=n // 2),
            last_seen_at=base + timedelta(minutes=10 - n // 2),
        )
    admin = estate.user("admin")
    qs = alert_list(admin, AlertFilters())
    forward, backward = _walk(qs, sort)
    flat = [i for page in forward for i in page]
    rank = {s.value: s.rank for s in Severity}
    rows = {a.id: a for a in Alert.objects.all()}
    key_of = {
        "-last_seen": lambda a: (-a.last_seen_at.timestamp(), -a.id),
        "last_seen": lambda a: (a.last_seen_at.timestamp(), a.id),
        "-first_seen": lambda a: (-a.first_seen_at.timestamp(), -a.id),
        "first_seen": lambda a: (a.first_seen_at.timestamp(), a.id),
        "severity": lambda a: (rank[a.severity], a.first_seen_at.timestamp(), a.id),
    }[sort]
    assert flat == sorted(rows, key=lambda i: key_of(rows[i]))
    assert backward == forward
    assert all(len(page) == 3 for page in forward[:-1])


def test_list_api_takes_the_new_parameters_and_names_bad_ones(labelled, api):
    admin = api(labelled.user("admin"))
    response = admin.get(f"{V1}/alerts", labels='{team="db", env=~"prod.*"}', sort="severity")
    assert response.status_code == 200, response.content
    titles = {a["id"] for a in response.json()["items"]}
    expected = {
        a.id
        for a in Alert.objects.all()
        if a.labels.get("team") == "db" and a.labels.get("env") == "prod-eu"
    }
    assert titles == expected
    for params, field in (
        ({"labels": 'team=~"(a+)+"'}, "labels"),
        ({"labels": "team"}, "labels"),
        ({"sort": "title"}, "sort"),
        ({"assignee": "x"}, "assignee"),
        ({"cursor": "garbage"}, "cursor"),
        ({"officer": str(10**23)}, "officer"),
        ({"limit": "0"}, "limit"),
    ):
        response = admin.get(f"{V1}/alerts", **params)
        assert response.status_code == 422, (params, response.content)
        assert field in error_fields(response), (params, response.content)


def test_a_cursor_only_works_for_its_own_sort(labelled, api):
    admin = api(labelled.user("admin"))
    first = admin.get(f"{V1}/alerts", limit=2).json()
    assert first["next_cursor"] and first["prev_cursor"] is None
    response = admin.get(f"{V1}/alerts", limit=2, cursor=first["next_cursor"], sort="severity")
    assert response.status_code == 422
    assert "cursor" in error_fields(response)
    for values in (["2026-01-01T00:00:00", 5], ["9999-12-31T23:59:59-05:00", 5], ["x", 5], [1]):
        forged = base64.urlsafe_b64encode(json.dumps(["-first_seen", "after", values]).encode())
        response = admin.get(f"{V1}/alerts", cursor=forged.decode())
        assert response.status_code == 422, values
        assert "cursor" in error_fields(response)
    second = admin.get(f"{V1}/alerts", limit=2, cursor=first["next_cursor"]).json()
    back = admin.get(f"{V1}/alerts", limit=2, cursor=second["prev_cursor"]).json()
    assert [a["id"] for a in back["items"]] == [a["id"] for a in first["items"]]
