"""Rotation maths: handoffs at local wall times across daylight-saving changes, shift lengths,
layer precedence, overrides, and who_is_on_call's fixed number of queries."""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_schedules import make_schedule, override, rotation, utc
from watchfloor.oncall.rotation import layer_shifts, shifts, who_is_on_call

pytestmark = pytest.mark.django_db


def local(shift_moment, tz):
    return shift_moment.astimezone(zoneinfo.ZoneInfo(tz))


def people(estate, *roles):
    return [estate.user(r) for r in roles]


@pytest.mark.parametrize(
    ("tz", "change_day"),
    [
        ("Europe/Berlin", datetime(2026, 3, 29)),  # spring forward
        ("Europe/Berlin", datetime(2026, 10, 25)),  # fall back
        ("America/New_York", datetime(2026, 3, 8)),
        ("America/New_York", datetime(2026, 11, 1)),
        ("Australia/Sydney", datetime(2026, 4, 5)),  # ends (southern autumn)
        ("Australia/Sydney", datetime(2026, 10, 4)),  # starts
    ],
)
def test_daily_handoff_keeps_local_time_across_dst(estate, tz, change_day):
    schedule = make_schedule(estate.tenant, time_zone=tz)
    a, b, c = people(estate, "operator", "supervisor", "admin")
    rotation(schedule, [a, b, c], start_local=datetime(2026, 1, 5, 9, 0))
    zone = zoneinfo.ZoneInfo(tz)
    start = (change_day - timedelta(days=3)).replace(tzinfo=zone)
    end = (change_day + timedelta(days=3)).replace(tzinfo=zone)
    found = shifts(schedule, start, end)
    inner = found[1:-1]  # the first and last are cut at the range's edges
    assert len(inner) >= 5
    for s in inner:
        assert (local(s.starts_at, tz).hour, local(s.starts_at, tz).minute) == (9, 0)
        assert (local(s.ends_at, tz).hour, local(s.ends_at, tz).minute) == (9, 0)
    lengths = sorted({(s.ends_at - s.starts_at) for s in inner})
    # the change happens overnight: the shift that spans it is 23 or 25 hours
    assert timedelta(hours=24) in lengths
    assert len(lengths) == 2
    assert lengths[0] in (timedelta(hours=23), timedelta(hours=24))
    assert lengths[-1] in (timedelta(hours=24), timedelta(hours=25))
    # the order goes on: a, b, c, a, ... one a day
    ids = [s.user_id for s in found]
    for x, y in itertools.pairwise(ids):
        assert [a.id, b.id, c.id].index(y) == ([a.id, b.id, c.id].index(x) + 1) % 3


def test_rotation_index_counts_calendar_days(estate):
    schedule = make_schedule(estate.tenant, time_zone="Europe/Berlin")
    a, b = people(estate, "operator", "supervisor")
    rotation(schedule, [a, b], start_local=datetime(2026, 3, 1, 9, 0))
    # 2026-03-01 is a's, 03-02 b's, ... 03-31 (30 days on: even) is a's, after the change
    at = datetime(2026, 3, 31, 9, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert who_is_on_call([schedule.id], at) == {schedule.id: [a.id]}
    at = datetime(2026, 3, 31, 8, 59, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert who_is_on_call([schedule.id], at) == {schedule.id: [b.id]}


def test_nobody_before_the_first_handoff(estate):
    schedule = make_schedule(estate.tenant)
    rotation(schedule, [estate.user("admin")], start_local=datetime(2026, 5, 1, 9))
    assert who_is_on_call([schedule.id], utc(2026, 5, 1, 8, 59)) == {schedule.id: []}
    assert who_is_on_call([schedule.id], utc(2026, 5, 1, 9, 0)) == {
        schedule.id: [estate.user("admin").id]
    }


def test_handoff_inside_the_skipped_hour(estate):
    """02:30 does not exist in Berlin on 2026-03-29: that day's handoff is at 03:30 CEST (the
    wall time read with the winter offset), the next day's at 02:30 again."""
    tz = "Europe/Berlin"
    schedule = make_schedule(estate.tenant, time_zone=tz)
    a, b = people(estate, "operator", "supervisor")
    rotation(schedule, [a, b], start_local=datetime(2026, 3, 27, 2, 30))
    found = shifts(schedule, utc(2026, 3, 27, 0), utc(2026, 3, 31, 0))
    starts = [local(s.starts_at, tz).strftime("%m-%d %H:%M %Z") for s in found]
    assert starts[:4] == [
        "03-27 02:30 CET",
        "03-28 02:30 CET",
        "03-29 03:30 CEST",
        "03-30 02:30 CEST",
    ]
    assert found[2].starts_at == utc(2026, 3, 29, 1, 30)
    assert found[1].ends_at - found[1].starts_at == timedelta(hours=24)  # 02:30 CET -> 03:30 CEST
    assert found[2].ends_at - found[2].starts_at == timedelta(hours=23)  # 03:30 -> 02:30 CEST
    # nobody is left out or doubled
    assert all(x.ends_at == y.starts_at for x, y in itertools.pairwise(found))


def test_handoff_inside_the_repeated_hour(estate):
    """02:30 happens twice in Berlin on 2026-10-25: the handoff is at the first (CEST)."""
    tz = "Europe/Berlin"
    schedule = make_schedule(estate.tenant, time_zone=tz)
    a, b = people(estate, "operator", "supervisor")
    rotation(schedule, [a, b], start_local=datetime(2026, 10, 24, 2, 30))
    found = shifts(schedule, utc(2026, 10, 24, 0), utc(2026, 10, 27, 0))
    handoff = next(s for s in found if local(s.starts_at, tz).day == 25)
    assert handoff.starts_at == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert handoff.user_id == b.id
    assert handoff.ends_at == utc(2026, 10, 26, 1, 30)  # 02:30 CET, 25 hours later


def test_weekly_is_seven_calendar_days(estate):
    tz = "America/New_York"
    schedule = make_schedule(estate.tenant, time_zone=tz)
    a, b = people(estate, "operator", "supervisor")
    rotation(schedule, [a, b], start_local=datetime(2026, 3, 2, 8, 0), length="weekly")
    found = shifts(schedule, utc(2026, 3, 2, 13), utc(2026, 3, 30, 12))
    assert [local(s.starts_at, tz).strftime("%a %H:%M") for s in found] == ["Mon 08:00"] * 4
    assert found[0].ends_at - found[0].starts_at == timedelta(hours=167)  # spans 03-08
    assert found[1].ends_at - found[1].starts_at == timedelta(hours=168)
    assert [s.user_id for s in found] == [a.id, b.id, a.id, b.id]


def test_custom_shift_counts_elapsed_hours(estate):
    tz = "Europe/Berlin"
    schedule = make_schedule(estate.tenant, time_zone=tz)
    a, b, c = people(estate, "operator", "supervisor", "admin")
    rotation(
        schedule, [a, b, c], start_local=datetime(2026, 3, 28, 8, 0), length="custom", hours=12
    )
    found = shifts(schedule, utc(2026, 3, 28, 7), utc(2026, 3, 30, 7))
    assert all(s.ends_at - s.starts_at == timedelta(hours=12) for s in found)
    # elapsed hours: after the change the local handoffs move from 08:00/20:00 to 09:00/21:00
    assert [local(s.starts_at, tz).strftime("%d %H") for s in found] == [
        "28 08",
        "28 20",
        "29 09",
        "29 21",
    ]
    assert [s.user_id for s in found] == [a.id, b.id, c.id, a.id]


def test_higher_layer_wins_where_it_has_someone(estate):
    schedule = make_schedule(estate.tenant)
    a, b, c = people(estate, "operator", "supervisor", "admin")
    base = rotation(schedule, [a], start_local=datetime(2026, 6, 1, 0), name="base")
    # 8-hour shifts: c, then the inactive executive (a gap), then c again ...
    executive = estate.user("executive")
    executive.is_active = False
    executive.save(update_fields=["is_active"])
    top = rotation(
        schedule,
        [c, executive],
        start_local=datetime(2026, 6, 1, 0),
        length="custom",
        hours=8,
        position=5,
        name="top",
    )
    found = shifts(schedule, utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))
    assert [(s.starts_at.hour, s.ends_at.hour, s.user_id, s.layer_id) for s in found] == [
        (0, 8, c.id, top.id),
        (8, 16, a.id, base.id),
        (16, 0, c.id, top.id),
    ]
    per_layer = layer_shifts(schedule, utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))
    assert [s.user_id for s in per_layer[top.id]] == [c.id, c.id]  # the gap has nobody
    assert [s.user_id for s in per_layer[base.id]] == [a.id]
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 9)) == {schedule.id: [a.id]}
    assert b.id not in {s.user_id for s in found}


def test_override_wins_over_every_layer(estate):
    schedule = make_schedule(estate.tenant)
    a, b = people(estate, "operator", "supervisor")
    rotation(schedule, [a], start_local=datetime(2026, 6, 1, 0), position=9)
    override(schedule, b, utc(2026, 6, 1, 10), utc(2026, 6, 1, 12))
    found = shifts(schedule, utc(2026, 6, 1, 8), utc(2026, 6, 1, 14))
    assert [(s.starts_at.hour, s.ends_at.hour, s.user_id, s.source) for s in found] == [
        (8, 10, a.id, "rotation"),
        (10, 12, b.id, "override"),
        (12, 14, a.id, "rotation"),
    ]
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 11)) == {schedule.id: [b.id]}
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 12)) == {schedule.id: [a.id]}


def test_empty_schedule_and_unknown_ids(estate):
    schedule = make_schedule(estate.tenant)
    assert who_is_on_call([schedule.id, 987654], utc(2026, 6, 1)) == {schedule.id: []}
    assert who_is_on_call([], utc(2026, 6, 1)) == {}


def _schedules(estate, n, prefix):
    users = people(estate, "operator", "supervisor", "admin")
    made = []
    for i in range(n):
        schedule = make_schedule(estate.tenant, name=f"{prefix}{i}", time_zone="Europe/Berlin")
        rotation(schedule, users, start_local=datetime(2026, 1, 1, 9), name="day")
        rotation(schedule, users[::-1], start_local=datetime(2026, 1, 1, 0), length="weekly")
        override(schedule, users[0], utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))
        made.append(schedule.id)
    return made


def test_who_is_on_call_uses_a_fixed_number_of_queries(estate):
    one = _schedules(estate, 1, "one-")
    many = _schedules(estate, 20, "many-")
    at = utc(2026, 6, 1, 12)
    with CaptureQueriesContext(connection) as q1:
        small = who_is_on_call(one, at)
    with CaptureQueriesContext(connection) as q20:
        large = who_is_on_call(many, at)
    assert len(q1) == len(q20) <= 4
    assert len(large) == 20 and all(v for v in large.values())
    assert small[one[0]] == [estate.user("operator").id]  # the override


def test_who_is_on_call_with_calendar_layers_uses_a_fixed_number_of_queries(estate):
    from support_schedules import ical_layer

    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260601T000000Z\r\nDTEND:20260601T060000Z\r\n"
        "RRULE:FREQ=DAILY\r\nSUMMARY:acme-admin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    made = {}
    for n in (1, 10):
        ids = []
        for i in range(n):
            schedule = make_schedule(estate.tenant, name=f"cal{n}-{i}")
            ical_layer(schedule, text, position=1)
            rotation(schedule, [estate.user("operator")], start_local=datetime(2026, 1, 1))
            ids.append(schedule.id)
        made[n] = ids
    counts = []
    for n, ids in made.items():
        with CaptureQueriesContext(connection) as q:
            found = who_is_on_call(ids, utc(2026, 6, 3, 1))
        counts.append(len(q))
        assert all(v == [estate.user("admin").id] for v in found.values()), n
    assert counts[0] == counts[1] <= 5
