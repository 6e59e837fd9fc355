"""The /oncall/ page: who is on call now and the 14-day timeline for viewers (masked), the
forms for noc:configure (schedule, rotation layer, override, .ics upload), calendar feeds, and
refusals (no capability, another tenant's schedule, CSRF)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support_schedules import make_schedule, override, rotation, utc
from watchfloor.oncall.models import CalendarFeed, Layer, LayerMember, Override, Schedule

pytestmark = pytest.mark.django_db

NOW = utc(2026, 6, 1, 12)

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260602T000000Z\r\nDTEND:20260602T080000Z\r\n"
    "SUMMARY:acme-admin\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b@t\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260603T000000Z\r\nDTEND:20260603T080000Z\r\n"
    "SUMMARY:Someone Else\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def schedule(estate):
    s = make_schedule(estate.tenant, name="Primary", time_zone="Europe/Berlin")
    rotation(
        s,
        [estate.user("operator"), estate.user("supervisor")],
        start_local=datetime(2026, 5, 1, 9),
        name="days",
    )
    return s


def browser(client, user):
    client.force_login(user)
    return client


def test_viewer_sees_who_is_on_call_masked_and_the_timeline(estate, client, schedule):
    page = browser(client, estate.user("viewer")).get("/oncall/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Primary" in html and "On call now" in html and "Next 14 days" in html
    # the supervisor is on call (31 days after the first handoff), masked for a viewer
    assert "Su***r Pe***n" in html and "Supervisor Person" not in html
    assert html.count('class="tl-seg ') >= 14  # one shift a day for 14 days (and the cut ends)
    assert "Add a rotation layer" not in html and "New schedule" not in html
    assert 'aria-current="page">On-call' in html


def test_admin_sees_names_and_the_forms(estate, client, schedule):
    html = browser(client, estate.user("admin")).get("/oncall/").content.decode()
    assert "Supervisor Person" in html
    for text in ("Add a rotation layer", "Add an override", "Import an .ics file", "New schedule"):
        assert text in html


def test_page_needs_view_and_login(estate, client):
    from django.contrib.auth.models import Group

    from watchfloor.tenancy.models import User

    assert client.get("/oncall/").status_code == 302
    nobody = User.objects.create_user(username="nobody", password="x", tenant=estate.tenant)
    nobody.groups.add(Group.objects.create(name="no-caps"))
    assert browser(client, nobody).get("/oncall/").status_code == 403


def test_page_queries_do_not_grow_with_schedules(estate, client):
    users = [estate.user("operator"), estate.user("supervisor")]
    browser(client, estate.user("admin")).get("/oncall/")
    counts = []
    for n in (1, 6):
        for i in range(n):
            s = make_schedule(estate.tenant, name=f"n{n}-{i}")
            rotation(s, users, start_local=datetime(2026, 1, 1))
            override(s, users[0], NOW, utc(2026, 6, 2))
        with CaptureQueriesContext(connection) as q:
            assert client.get("/oncall/").status_code == 200
        counts.append(len(q))
    assert counts[0] == counts[1], counts


def test_configure_creates_schedule_layer_override_and_imports(estate, client):
    admin = estate.user("admin")
    c = browser(client, admin)
    r = c.post("/oncall/new/", {"name": "Nights", "time_zone": "America/New_York"})
    assert r.status_code == 302
    schedule = Schedule.objects.get(name="Nights")
    op, sup = estate.user("operator"), estate.user("supervisor")
    r = c.post(
        f"/oncall/{schedule.id}/layers/",
        {
            "name": "weekly",
            "position": 0,
            "shift_length": "weekly",
            "rotation_start": "2026-05-04T20:00",
            "member_0": sup.id,
            "member_1": op.id,
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    layer = Layer.objects.get(schedule=schedule)
    assert list(layer.members.values_list("user_id", flat=True)) == [sup.id, op.id]
    assert layer.rotation_start == utc(2026, 5, 4, 20)  # the local wall time, as stored
    r = c.post(
        f"/oncall/{schedule.id}/overrides/",
        {"user_id": op.id, "starts_at": "2026-06-01T09:00", "ends_at": "2026-06-01T17:00"},
    )
    assert r.status_code == 302
    o = Override.objects.get()
    assert (o.starts_at, o.ends_at) == (utc(2026, 6, 1, 13), utc(2026, 6, 1, 21))  # EDT
    r = c.post(
        f"/oncall/{schedule.id}/ical/",
        {
            "name": "imported",
            "position": 2,
            "file": SimpleUploadedFile("x.ics", ICS.encode(), "text/calendar"),
        },
    )
    assert r.status_code == 302
    assert Layer.objects.filter(schedule=schedule, kind="ical").count() == 1
    page = c.get("/oncall/").content.decode()
    assert "1 name nobody known here" in page  # the unmatched event, reported
    assert "imported" in page and "Nights" in page


def test_form_errors_are_shown_and_nothing_stored(estate, client, schedule):
    c = browser(client, estate.user("admin"))
    r = c.post("/oncall/new/", {"name": "X", "time_zone": "Nowhere/Land"})
    assert r.status_code == 422 and "Unknown time zone" in r.content.decode()
    r = c.post(
        f"/oncall/{schedule.id}/layers/",
        {
            "name": "bad",
            "position": 0,
            "shift_length": "custom",
            "rotation_start": "2026-06-01T09:00",
            "member_0": estate.user("admin").id,
        },
    )
    assert r.status_code == 422 and "custom shift" in r.content.decode()
    r = c.post(
        f"/oncall/{schedule.id}/overrides/",
        {
            "user_id": estate.user("admin").id,
            "starts_at": "2026-06-03T09:00",
            "ends_at": "2026-06-02T09:00",
        },
    )
    assert r.status_code == 422 and "Must be after starts_at" in r.content.decode()
    r = c.post(
        f"/oncall/{schedule.id}/ical/",
        {"name": "x", "position": 1, "file": SimpleUploadedFile("x.ics", b"nope", "text/calendar")},
    )
    assert r.status_code == 422 and "Not an iCalendar file" in r.content.decode()
    assert Schedule.objects.count() == 1 and Layer.objects.count() == 1
    assert not Override.objects.exists()


def test_writes_refused_without_configure_and_for_other_tenants(
    estate, other_estate, client, schedule
):
    c = browser(client, estate.user("supervisor"))
    assert c.post("/oncall/new/", {"name": "S", "time_zone": "UTC"}).status_code == 403
    r = c.post(f"/oncall/{schedule.id}/overrides/", {"user_id": 1})
    assert r.status_code == 403
    theirs = make_schedule(other_estate.tenant, name="Theirs")
    c = browser(client, estate.user("admin"))
    for path in ("layers", "overrides", "ical"):
        assert c.post(f"/oncall/{theirs.id}/{path}/", {}).status_code == 404
    assert not Layer.objects.filter(schedule=theirs).exists()
    assert LayerMember.objects.count() == 2


def test_csrf_is_enforced(estate, schedule):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(estate.user("admin"))
    assert c.post("/oncall/new/", {"name": "S", "time_zone": "UTC"}).status_code == 403
    assert Schedule.objects.count() == 1


def test_my_calendar_feed_create_shows_the_url_once_and_revoke(estate, client, schedule):
    c = browser(client, estate.user("operator"))
    r = c.post("/oncall/feeds/")
    assert r.status_code == 201
    url = re.search(r'value="(http://testserver/oncall/calendar/[^"]+\.ics)"', r.content.decode())
    assert url is not None
    assert client.get(url.group(1)).status_code == 200
    page = c.get("/oncall/").content.decode()
    assert url.group(1) not in page and CalendarFeed.objects.get().prefix in page
    feed = CalendarFeed.objects.get()
    assert c.post(f"/oncall/feeds/{feed.id}/revoke/").status_code == 302
    assert client.get(url.group(1)).status_code == 404
    # somebody else's feed: 404
    other = browser(client, estate.user("admin"))
    assert other.post(f"/oncall/feeds/{feed.id}/revoke/").status_code == 404


def test_who_is_on_call_at_another_time(estate, client, schedule):
    c = browser(client, estate.user("admin"))
    # 2026-06-02 10:00 UTC: 32 days after the first handoff, the operator's day
    html = c.get("/oncall/", {"at": "2026-06-02T10:00"}).content.decode()
    assert "On call at Tue 02 Jun 10:00 UTC" in html
    now_table = html.split('id="now-h"')[1].split("</table>")[0]
    assert "Operator Person" in now_table and "Supervisor Person" not in now_table
    # nonsense falls back to now
    for value in ("soon", "9999-01-01T00:00", "x" * 500):
        html = c.get("/oncall/", {"at": value}).content.decode()
        assert "On call now" in html


def test_remove_override_layer_and_schedule(estate, other_estate, client, schedule):
    c = browser(client, estate.user("admin"))
    o = override(schedule, estate.user("admin"), utc(2026, 6, 2), utc(2026, 6, 3))
    page = c.get("/oncall/").content.decode()
    assert "Overrides" in page and f"/oncall/overrides/{o.id}/delete/" in page
    theirs = make_schedule(other_estate.tenant, name="Theirs")
    their_override = override(theirs, other_estate.user("admin"), utc(2026, 6, 2), utc(2026, 6, 3))
    assert c.post(f"/oncall/overrides/{their_override.id}/delete/").status_code == 404
    assert c.post(f"/oncall/{theirs.id}/delete/", {"confirm": "yes"}).status_code == 404
    # a supervisor may not
    s = browser(client.__class__(), estate.user("supervisor"))
    assert s.post(f"/oncall/overrides/{o.id}/delete/").status_code == 403
    assert c.post(f"/oncall/overrides/{o.id}/delete/").status_code == 302
    assert not Override.objects.filter(id=o.id).exists()
    assert Override.objects.filter(id=their_override.id).exists()
    layer = schedule.layers.get()
    assert c.post(f"/oncall/layers/{layer.id}/delete/").status_code == 302
    assert not Layer.objects.filter(id=layer.id).exists()
    assert c.post(f"/oncall/{schedule.id}/delete/").status_code == 422  # not confirmed
    assert c.post(f"/oncall/{schedule.id}/delete/", {"confirm": "yes"}).status_code == 302
    assert list(Schedule.objects.values_list("name", flat=True)) == ["Theirs"]
