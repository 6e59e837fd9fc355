"""Recurring windows: weekly occurrences in a named zone (wall-clock across DST changes), the
matcher honours only running occurrences, the transitions job announces each occurrence once,
and the API validates and shows the next occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from support_alerts import publisher
from support_api import V1, error_fields
from watchfloor.maintenance import services
from watchfloor.maintenance.matcher import SuppressionMatcher
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.maintenance.recurrence import Weekly

__all__ = ["publisher"]

URL = f"{V1}/maintenance-windows"
BERLIN = "Europe/Berlin"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_sunday_two_to_four_in_berlin_across_both_dst_changes():
    rule = Weekly.of(["sun"], time(2, 0), timedelta(hours=2), BERLIN)
    since, until = _utc(2026, 3, 21), _utc(2026, 4, 6)
    march = [(o.starts_at, o.ends_at) for o in rule.occurrences(since, until)]
    assert march == [
        (_utc(2026, 3, 22, 1), _utc(2026, 3, 22, 3)),  # CET: 02:00-04:00 is 01:00-03:00 UTC
        # 29 March: clocks jump 02:00 -> 03:00, so 02:00 does not exist: 03:00-04:00 CEST
        (_utc(2026, 3, 29, 1), _utc(2026, 3, 29, 2)),
        (_utc(2026, 4, 5, 0), _utc(2026, 4, 5, 2)),  # CEST: 00:00-02:00 UTC
    ]
    october = [
        (o.starts_at, o.ends_at) for o in rule.occurrences(_utc(2026, 10, 17), _utc(2026, 11, 2))
    ]
    assert october == [
        (_utc(2026, 10, 18, 0), _utc(2026, 10, 18, 2)),
        # 25 October: 03:00 CEST -> 02:00 CET, 02:00-04:00 on the clock is three real hours
        (_utc(2026, 10, 25, 0), _utc(2026, 10, 25, 3)),
        (_utc(2026, 11, 1, 1), _utc(2026, 11, 1, 3)),
    ]


def test_an_occurrence_spanning_midnight_and_several_days():
    rule = Weekly.of(["sat"], time(22, 0), timedelta(hours=32), "UTC")
    found = rule.covering(_utc(2026, 6, 7, 12))  # Sunday noon, inside Sat 22:00 + 32 h
    assert found is not None and found.starts_at == _utc(2026, 6, 6, 22)
    assert rule.covering(_utc(2026, 6, 8, 7)) is None  # Monday 07:00, just after


def _recurring(estate, *, site, starts_at, ends_at, days=("sun",), start=time(2), hours=2):
    return MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=site.client,
        site=site,
        title="Sunday patching",
        recurrence_days=list(days),
        recurrence_start=start,
        recurrence_duration=timedelta(hours=hours),
        timezone=BERLIN,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def test_the_matcher_suppresses_only_during_an_occurrence(estate):
    site = estate.sites[0]
    window = _recurring(estate, site=site, starts_at=_utc(2026, 3, 1), ends_at=_utc(2026, 12, 1))

    def matched(at):
        matcher = SuppressionMatcher.for_tenant(estate.tenant.id, at)
        return matcher.match(client_id=site.client_id, site_id=site.id, alert_type="X")

    with pytest.MonkeyPatch.context() as mp:  # the cache loads windows not ended "now"
        mp.setattr(timezone, "now", lambda: _utc(2026, 3, 1))
        assert matched(_utc(2026, 3, 29, 1, 30)) == window  # 03:30 CEST on the DST Sunday
        assert matched(_utc(2026, 3, 29, 0, 30)) is None  # 01:30 CET: before the occurrence
        assert matched(_utc(2026, 3, 30, 1, 30)) is None  # a Monday
        assert matched(_utc(2026, 10, 25, 2, 30)) == window  # 03:30 CET, the third hour
    assert window.state_at(_utc(2026, 3, 30, 1, 30)) == "active"  # the series runs
    assert window.occurrence_at(_utc(2026, 3, 30, 1, 30)) is None
    assert window.next_occurrence(_utc(2026, 3, 30)).starts_at == _utc(2026, 4, 5, 0)


def test_transitions_announce_each_occurrence_once(
    estate, publisher, django_capture_on_commit_callbacks
):
    site = estate.sites[0]
    window = _recurring(estate, site=site, starts_at=_utc(2026, 3, 1), ends_at=_utc(2026, 12, 1))
    seen = []
    for at in (
        _utc(2026, 3, 22, 1, 0, 30),  # just after the 22 March start
        _utc(2026, 3, 22, 1, 0, 50),  # the same start again: announced already
        _utc(2026, 3, 22, 2, 0, 20),  # mid-occurrence: nothing
        _utc(2026, 3, 22, 3, 0, 10),  # its end
        _utc(2026, 3, 29, 1, 0, 5),  # the DST Sunday starts at 03:00 CEST
        _utc(2026, 3, 29, 2, 0, 5),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.announce_transitions(now=at)
    for event in publisher.events:
        seen.append((event["type"], event["window"]["occurrence"]["starts_at"]))
        assert event["window"]["id"] == window.id
    assert seen == [
        ("maintenance.started", "2026-03-22T01:00:00Z"),
        ("maintenance.ended", "2026-03-22T01:00:00Z"),
        ("maintenance.started", "2026-03-29T01:00:00Z"),
        ("maintenance.ended", "2026-03-29T01:00:00Z"),
    ]


def _body(estate, **values):
    starts_at = timezone.now() + timedelta(hours=1)
    return {
        "client_id": estate.clients[0].id,
        "site_id": estate.sites[0].id,
        "title": "Weekly patching",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(days=90)).isoformat(),
        "recurrence": {"days": ["sun"], "start_time": "02:00", "duration_minutes": 120},
        **values,
    }


def test_api_creates_a_recurring_window_in_the_sites_zone(estate, api):
    site = estate.sites[0]
    site.timezone = BERLIN
    site.save(update_fields=["timezone"])
    response = api(estate.user("supervisor")).post(URL, _body(estate))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["recurrence"] == {
        "days": ["sun"],
        "start_time": "02:00",
        "duration_minutes": 120,
        "timezone": BERLIN,
    }
    nxt = body["next_occurrence"]
    starts = datetime.fromisoformat(nxt["starts_at"]).astimezone(timezone.get_fixed_timezone(0))
    assert starts.weekday() in (5, 6) and starts.minute == 0  # Sunday 02:00 Berlin
    assert body["current_occurrence"] is None or body["state"] == "active"


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"days": ["sunday"], "start_time": "02:00", "duration_minutes": 60}, "recurrence.days.0"),
        ({"days": [], "start_time": "02:00", "duration_minutes": 60}, "recurrence.days"),
        (
            {"days": ["sun", "sun"], "start_time": "02:00", "duration_minutes": 60},
            "recurrence.days",
        ),
        ({"days": ["sun"], "start_time": "24:00", "duration_minutes": 60}, "recurrence.start_time"),
        (
            {"days": ["sun"], "start_time": "2:00\x00", "duration_minutes": 60},
            "recurrence.start_time",
        ),
        (
            {"days": ["sun"], "start_time": "02:00", "duration_minutes": 0},
            "recurrence.duration_minutes",
        ),
        (
            {"days": ["sun"], "start_time": "02:00", "duration_minutes": 10**23},
            "recurrence.duration_minutes",
        ),
        (
            {
                "days": ["sun"],
                "start_time": "02:00",
                "duration_minutes": 60,
                "timezone": "Mars/Base",
            },
            "recurrence.timezone",
        ),
    ],
)
def test_api_refuses_a_bad_recurrence_naming_the_field(estate, api, recurrence, field):
    response = api(estate.user("supervisor")).post(URL, _body(estate, recurrence=recurrence))
    assert response.status_code == 422, response.content
    assert field in error_fields(response), error_fields(response)
    assert not MaintenanceWindow.objects.exists()


def test_a_series_is_bounded_and_a_one_off_keeps_its_limit(estate, api):
    caller = api(estate.user("supervisor"))
    starts_at = timezone.now() + timedelta(hours=1)
    too_long = _body(estate, ends_at=(starts_at + timedelta(days=400)).isoformat())
    response = caller.post(URL, too_long)
    assert response.status_code == 422
    assert "366 days" in error_fields(response)["ends_at"]
    one_off = _body(estate, recurrence=None, ends_at=(starts_at + timedelta(days=90)).isoformat())
    response = caller.post(URL, one_off)
    assert response.status_code == 422
    assert "30 days" in error_fields(response)["ends_at"]
    absurd = _body(estate, ends_at="9999-12-31T23:59:59-05:00")
    response = caller.post(URL, absurd)
    assert response.status_code == 422
    assert "ends_at" in error_fields(response)


def test_patch_adds_and_drops_a_recurrence(estate, api):
    caller = api(estate.user("supervisor"))
    response = caller.post(URL, _body(estate, recurrence=None, ends_at=None) | _one_off_times())
    assert response.status_code == 201, response.content
    window_id = response.json()["id"]
    weekly = {"days": ["mon", "wed"], "start_time": "22:30", "duration_minutes": 90}
    response = caller.patch(
        f"{URL}/{window_id}",
        {"recurrence": {**weekly, "timezone": "Asia/Tokyo"}, **_one_off_times(days=60)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["recurrence"] == {**weekly, "timezone": "Asia/Tokyo"}
    window = MaintenanceWindow.objects.get()
    assert window.recurrence_days == ["mon", "wed"] and window.timezone == "Asia/Tokyo"
    # a one-off again: its times must then fit the 30-day limit
    response = caller.patch(f"{URL}/{window_id}", {"recurrence": None})
    assert response.status_code == 422
    assert "30 days" in error_fields(response)["ends_at"]
    response = caller.patch(f"{URL}/{window_id}", {"recurrence": None, **_one_off_times()})
    assert response.status_code == 200, response.content
    assert response.json()["recurrence"] is None
    window.refresh_from_db()
    assert (window.recurrence_days, window.recurrence_start, window.timezone) == ([], None, "")


def _one_off_times(days: int = 1) -> dict:
    starts_at = timezone.now() + timedelta(hours=1)
    return {
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(days=days)).isoformat(),
    }
