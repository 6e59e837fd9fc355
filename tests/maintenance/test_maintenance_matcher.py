"""The suppression matcher: which windows suppress which alerts, in one query per batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from watchfloor.maintenance.matcher import SuppressionMatcher


def _matcher(estate, at=None):
    return SuppressionMatcher.for_tenant(estate.tenant.id, at or timezone.now())


def _match(matcher, site, alert_type="DEVICE_OFFLINE"):
    return matcher.match(client_id=site.client_id, site_id=site.id, alert_type=alert_type)


def test_a_client_wide_window_covers_every_site_of_its_client_only(estate, make_window):
    window = make_window(estate, client=estate.clients[0])
    matcher = _matcher(estate)
    assert _match(matcher, estate.sites[0]) == window
    assert _match(matcher, estate.sites[1]) == window
    assert _match(matcher, estate.sites[2]) is None  # another client
    # an alert with a client but no site is covered by a client-wide window
    assert matcher.match(client_id=estate.clients[0].id, site_id=None, alert_type="X") == window
    assert matcher.match(client_id=None, site_id=None, alert_type="X") is None


def test_a_site_window_covers_only_its_site(estate, make_window):
    window = make_window(estate, site=estate.sites[1])
    matcher = _matcher(estate)
    assert _match(matcher, estate.sites[1]) == window
    assert _match(matcher, estate.sites[0]) is None
    assert matcher.match(client_id=estate.clients[0].id, site_id=None, alert_type="X") is None


def test_listed_types_or_all_types(estate, make_window):
    listed = make_window(estate, site=estate.sites[0], alert_types=["DEVICE_OFFLINE", "HighCPU"])
    make_window(estate, site=estate.sites[2])  # all types
    matcher = _matcher(estate)
    assert _match(matcher, estate.sites[0], "DEVICE_OFFLINE") == listed
    assert _match(matcher, estate.sites[0], "HighCPU") == listed
    assert _match(matcher, estate.sites[0], "highcpu") is None  # types are exact
    assert _match(matcher, estate.sites[0], "SLA_BREACH") is None
    assert _match(matcher, estate.sites[2], "ANYTHING_AT_ALL") is not None


@pytest.mark.parametrize(
    "state",
    [
        {"cancelled": True},
        {"offset": -3, "length": 2},  # ended an hour ago
        {"offset": 1, "length": 2},  # starts in an hour
    ],
    ids=["cancelled", "ended", "upcoming"],
)
def test_windows_that_are_not_active_do_not_match(estate, make_window, state):
    make_window(estate, **state)
    matcher = _matcher(estate)
    assert not matcher
    assert _match(matcher, estate.sites[0]) is None


def test_bounds_start_inclusive_end_exclusive(estate, make_window):
    window = make_window(estate, offset=1, length=1)
    assert _match(_matcher(estate, window.starts_at), estate.sites[0]) == window
    assert _match(_matcher(estate, window.ends_at - timedelta(microseconds=1)), estate.sites[0])
    assert _match(_matcher(estate, window.ends_at), estate.sites[0]) is None


def test_another_tenants_window_never_matches(estate, other_estate, make_window):
    make_window(other_estate)
    assert not _matcher(estate)
    # even asked with the other tenant's ids, this tenant's matcher has nothing
    assert _match(_matcher(estate), other_estate.sites[0]) is None
    assert _match(
        SuppressionMatcher.for_tenant(other_estate.tenant.id, timezone.now()), other_estate.sites[0]
    )


def test_the_lowest_id_wins_and_one_query_serves_the_batch(
    estate, make_window, django_assert_num_queries
):
    first = make_window(estate, site=estate.sites[0])
    make_window(estate)  # client-wide, covers the same site
    with django_assert_num_queries(1):
        matcher = _matcher(estate)
        results = [_match(matcher, site) for site in estate.sites * 50]
    assert results[0] == first
    assert results[1].site_id is None  # the client-wide one covers the second site
    assert results[2] is None
