"""Correlation reads a bounded number of each (client, type) pair's alerts per batch, and the
whole pair only when those rows leave its storm undecided (alerts.correlation)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support_alerts import key_for, resolve, trigger
from watchfloor.alerts import correlation
from watchfloor.alerts.models import Alert, CorrelationReason
from watchfloor.alerts.pipeline import ingest

__all__ = ["key_for"]


@pytest.fixture
def key(estate, key_for):
    return key_for(estate)


@pytest.fixture
def reads(monkeypatch):
    """The limit of each `_pair_rows` call and the most rows it returned for one pair."""
    calls: list[tuple[int | None, int]] = []
    original = correlation.Correlator._pair_rows

    def spy(self, pairs, limit):
        rows = original(self, pairs, limit)
        calls.append((limit, max((len(r) for r in rows.values()), default=0)))
        return rows

    monkeypatch.setattr(correlation.Correlator, "_pair_rows", spy)
    return calls


def _at(site, count: int, type_="DEVICE_OFFLINE", prefix="d"):
    return [trigger(type_, site=site.code, entity_id=f"{prefix}{i}") for i in range(count)]


def test_a_running_storm_is_decided_by_its_first_rows(estate, key, settings, reads):
    settings.ALERT_STORM_SITES = 2
    first, second = estate.sites[:2]  # the first client's two sites
    many = 3 * correlation.SCAN_ROWS
    ingest(_at(first, many) + _at(second, many, prefix="e"), key=key)
    storm = Alert.objects.filter(type="DEVICE_OFFLINE")
    root = storm.get(parent=None)
    assert {a.correlation_id for a in storm} == {root.correlation_id}
    reads.clear()

    ingest(_at(first, 1, prefix="late"), key=key)

    late = Alert.objects.get(entity_id="late0")
    assert late.correlation_id == root.correlation_id
    assert late.correlation_reason == CorrelationReason.STORM and late.parent_id == root.id
    # one bounded read of the pair, whatever the storm's size
    assert reads == [(correlation.SCAN_ROWS, correlation.SCAN_ROWS)]


def test_a_storm_past_the_first_rows_is_found_by_reading_the_pair_whole(
    estate, key, settings, reads
):
    """The pair's first rows are one site's alerts outside the storm (its regrouping has not run:
    on-commit work does not run in this test's transaction); the storm's first member comes
    after them. Those rows cannot decide the pair, so it is read whole and the alert joins."""
    settings.ALERT_STORM_SITES = 2
    first, second = estate.sites[:2]
    ingest(_at(first, correlation.SCAN_ROWS), key=key)  # one site: a site group, no storm
    ingest(_at(second, 1, prefix="storm"), key=key)  # two sites: the storm forms
    storm_member = Alert.objects.get(entity_id="storm0")
    assert storm_member.correlation_reason == CorrelationReason.STORM
    assert Alert.objects.filter(correlation_reason=CorrelationReason.STORM).count() == 1
    reads.clear()

    ingest(_at(first, 1, prefix="late"), key=key)

    late = Alert.objects.get(entity_id="late0")
    assert late.correlation_id == storm_member.correlation_id
    assert late.correlation_reason == CorrelationReason.STORM
    assert late.parent_id == storm_member.parent_id  # the pair's earliest alert roots the storm
    assert [limit for limit, _ in reads] == [correlation.SCAN_ROWS, None]


def test_below_the_threshold_a_pair_with_few_alerts_is_decided_at_once(
    estate, key, settings, reads
):
    settings.ALERT_STORM_SITES = 3
    first = estate.sites[0]
    ingest(_at(first, 2), key=key)
    reads.clear()
    ingest(_at(first, 1, prefix="late"), key=key)
    late = Alert.objects.get(entity_id="late0")
    assert late.correlation_reason == CorrelationReason.SITE  # the site's group, no storm
    assert [limit for limit, _ in reads] == [correlation.SCAN_ROWS]


def test_a_formed_storm_takes_in_new_alerts_while_a_member_is_active(estate, key, settings):
    """Once formed, the storm is the pair's group while one of its members is active, even
    when fewer sites than the threshold still have one."""
    settings.ALERT_STORM_SITES = 2
    first, second = estate.sites[:2]
    ingest(_at(first, 1, prefix="a") + _at(second, 1, prefix="b"), key=key)
    storm = Alert.objects.get(entity_id="a0").correlation_id
    ingest([resolve(Alert.objects.get(entity_id="b0").fingerprint)], key=key)  # one site left

    ingest(_at(first, 1, prefix="late"), key=key)

    late = Alert.objects.get(entity_id="late0")
    assert late.correlation_id == storm and late.correlation_reason == CorrelationReason.STORM


def test_the_earliest_alert_is_the_first_seen_not_the_lowest_id(estate, key):
    """A site's group is the one of its alert first seen earliest; the id breaks ties only."""
    site = estate.sites[0]
    ingest(_at(site, 1, type_="A", prefix="x"), key=key)
    ingest(_at(estate.sites[1], 1, type_="B", prefix="y"), key=key)
    older, newer = Alert.objects.get(entity_id="x0"), Alert.objects.get(entity_id="y0")
    # the higher id moved to the site and seen earlier: it heads the site from now on
    Alert.objects.filter(pk=newer.pk).update(
        site=site, first_seen_at=older.first_seen_at - timedelta(seconds=1)
    )

    ingest(_at(site, 1, type_="C", prefix="z"), key=key)

    joined = Alert.objects.get(entity_id="z0")
    assert newer.pk > older.pk
    assert joined.correlation_id == newer.correlation_id and joined.parent_id == newer.pk
