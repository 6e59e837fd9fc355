"""iCalendar in and out: upload and URL import (RRULE, EXDATE, TZID, all-day events, people by
attendee / organizer / summary, unmatched events reported), the refresh job against a real local
HTTP server (keeps the last good text, logs failure and recovery once), and each person's feed
(parses back, UIDs and UTC times, revocable, 404 for unknown tokens)."""

from __future__ import annotations

import http.server
import logging
import threading
from datetime import UTC, datetime

import icalendar
import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from support_api import V1, error_fields
from support_schedules import ical_layer, make_schedule, rotation, utc
from watchfloor.audit.models import Action, AuditLog
from watchfloor.oncall.models import CalendarFeed, Layer
from watchfloor.oncall.rotation import shifts, who_is_on_call
from watchfloor.oncall.tasks import refresh_calendars

pytestmark = pytest.mark.django_db

NOW = utc(2026, 6, 1, 12)

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:weekly-admin@test
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260504T090000
DTEND;TZID=Europe/Berlin:20260504T170000
RRULE:FREQ=WEEKLY;BYDAY=MO
EXDATE;TZID=Europe/Berlin:20260608T090000
SUMMARY:Weekday cover
ATTENDEE;CN=Someone:mailto:ADMIN@acme.example.com
END:VEVENT
BEGIN:VEVENT
UID:by-summary@test
DTSTAMP:20260101T000000Z
DTSTART:20260602T000000Z
DTEND:20260602T060000Z
SUMMARY:acme-operator
END:VEVENT
BEGIN:VEVENT
UID:by-organizer@test
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260603
DTEND;VALUE=DATE:20260604
SUMMARY:Holiday cover
ORGANIZER:mailto:supervisor@acme.example.com
END:VEVENT
BEGIN:VEVENT
UID:nobody@test
DTSTAMP:20260101T000000Z
DTSTART:20260605T000000Z
DTEND:20260605T060000Z
SUMMARY:Jane Outsider
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def uploader(client, token_for):
    def post(user, schedule, data: bytes | str, name="Calendar", position=1):
        raw = data.encode() if isinstance(data, str) else data
        return client.post(
            f"{V1}/schedules/{schedule.id}/ical-layers/upload",
            {
                "name": name,
                "position": position,
                "file": SimpleUploadedFile("cover.ics", raw, "text/calendar"),
            },
            HTTP_AUTHORIZATION=token_for(user),
        )

    return post


def test_upload_imports_rrule_exdate_tzid_and_reports_unmatched(estate, uploader):
    schedule = make_schedule(estate.tenant, time_zone="Europe/Berlin")
    r = uploader(estate.user("admin"), schedule, CALENDAR)
    assert r.status_code == 201, r.content
    report = r.json()["report"]
    # Mondays 05-25 (within the last week), 06-01, 06-15 ... 07-27 (06-08 excluded), plus
    # three single events
    assert report["unmatched_count"] == 1
    assert [u["uid"] for u in report["unmatched"]] == ["nobody@test"]
    assert report["unmatched"][0]["summary"] == "Jane Outsider"  # the admin sees names
    assert report["matched"] == report["occurrences"] - 1
    assert r.json()["layer"]["kind"] == "ical" and r.json()["layer"]["ical_source"] == "file"
    admin, op, sup = (estate.user(x) for x in ("admin", "operator", "supervisor"))
    # attendee email (case-insensitive), 09:00 Berlin = 07:00 UTC in summer
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 7, 30)) == {schedule.id: [admin.id]}
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 6, 59)) == {schedule.id: []}
    # EXDATE: not on 06-08
    assert who_is_on_call([schedule.id], utc(2026, 6, 8, 8)) == {schedule.id: []}
    assert who_is_on_call([schedule.id], utc(2026, 6, 15, 8)) == {schedule.id: [admin.id]}
    # summary = a username
    assert who_is_on_call([schedule.id], utc(2026, 6, 2, 1)) == {schedule.id: [op.id]}
    # organizer, an all-day event: the whole local day in Berlin (22:00 UTC the day before)
    assert who_is_on_call([schedule.id], utc(2026, 6, 2, 22, 30)) == {schedule.id: [sup.id]}
    assert who_is_on_call([schedule.id], utc(2026, 6, 3, 21, 59)) == {schedule.id: [sup.id]}
    assert who_is_on_call([schedule.id], utc(2026, 6, 3, 22, 0)) == {schedule.id: []}
    # unmatched: nobody
    assert who_is_on_call([schedule.id], utc(2026, 6, 5, 1)) == {schedule.id: []}


def test_unmatched_summaries_are_masked_without_view_pii(estate, uploader):
    from django.contrib.auth.models import Group, Permission

    from watchfloor.access.capabilities import Capability
    from watchfloor.tenancy.models import User

    schedule = make_schedule(estate.tenant)
    group = Group.objects.create(name="configurers")
    for cap in (Capability.VIEW, Capability.VIEW_ALL_CLIENTS, Capability.CONFIGURE):
        group.permissions.add(Permission.objects.get(codename=cap.perm.split(".")[1]))
    supervisor = User.objects.create_user(username="conf", password="x", tenant=estate.tenant)
    supervisor.groups.add(group)
    r = uploader(supervisor, schedule, CALENDAR)
    assert r.status_code == 201, r.content
    assert r.json()["report"]["unmatched"][0]["summary"] == "J***e Ou***r"


def test_ical_layer_over_a_rotation(estate, uploader):
    schedule = make_schedule(estate.tenant, time_zone="Europe/Berlin")
    rotation(schedule, [estate.user("executive")], start_local=datetime(2026, 1, 1), position=0)
    assert uploader(estate.user("admin"), schedule, CALENDAR, position=1).status_code == 201
    found = shifts(schedule, utc(2026, 6, 1, 0), utc(2026, 6, 2, 0))
    assert [(s.starts_at.hour, s.ends_at.hour, s.source) for s in found] == [
        (0, 7, "rotation"),
        (7, 15, "ical"),
        (15, 0, "rotation"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a calendar at all", "iCalendar"),
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"BEGIN:VCALENDAR\r\nX:\x00\r\nEND:VCALENDAR\r\n", "NUL"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260601T000000Z\r\n"
            b"RRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "second",
        ),
        (b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"a" * 1_000_001 + b"\r\nEND:VCALENDAR\r\n", "bytes"),
    ],
)
def test_bad_files_are_refused_naming_the_field(estate, uploader, data, message):
    schedule = make_schedule(estate.tenant)
    r = uploader(estate.user("admin"), schedule, data)
    assert r.status_code in (413, 422), r.content
    if r.status_code == 422:
        assert message.lower() in error_fields(r).get("file", "").lower(), error_fields(r)
    assert not Layer.objects.exists()


def test_upload_form_fields_are_validated(estate, uploader):
    schedule = make_schedule(estate.tenant)
    r = uploader(estate.user("admin"), schedule, CALENDAR, position=10**12)
    assert r.status_code == 422 and "position" in error_fields(r)
    r = uploader(estate.user("admin"), schedule, CALENDAR, name="")
    assert r.status_code == 422 and "name" in error_fields(r)
    r = uploader(estate.user("viewer"), schedule, CALENDAR)
    assert r.status_code == 403
    assert not Layer.objects.exists()


# --- URL layers and the refresh job --------------------------------------------------------------
class _Feed(http.server.BaseHTTPRequestHandler):
    body = CALENDAR.encode()
    status = 200

    def do_GET(self):
        self.send_response(type(self).status)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        if type(self).status == 200:
            self.wfile.write(type(self).body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_server():
    handler = type("Handler", (_Feed,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/cover.ics"
    server.shutdown()
    server.server_close()


def test_url_import_and_refresh_keeps_the_last_good_calendar(estate, api, feed_server, caplog):
    handler, url = feed_server
    schedule = make_schedule(estate.tenant, time_zone="Europe/Berlin")
    r = api(estate.user("admin")).post(
        f"{V1}/schedules/{schedule.id}/ical-layers", {"name": "Feed", "url": url}
    )
    assert r.status_code == 201, r.content
    layer = Layer.objects.get(pk=r.json()["layer"]["id"])
    assert layer.ical_url == url and "weekly-admin@test" in layer.ical_text
    good = layer.ical_text

    handler.status = 500
    caplog.set_level(logging.WARNING, logger="watchfloor.oncall.schedule_services")
    assert refresh_calendars() == {"ok": 0, "failed": 1, "gone": 0}
    assert refresh_calendars() == {"ok": 0, "failed": 1, "gone": 0}
    layer.refresh_from_db()
    assert layer.ical_text == good and "HTTP 500" in layer.ical_error
    fails = [r for r in caplog.records if "fails" in r.getMessage()]
    assert len(fails) == 1 and url not in fails[0].getMessage()  # once, and no URL (secrets)
    # still on call from the last good text
    assert who_is_on_call([schedule.id], utc(2026, 6, 1, 8)) == {
        schedule.id: [estate.user("admin").id]
    }

    handler.status = 200
    handler.body = CALENDAR.replace("Jane Outsider", "acme-executive").encode()
    assert refresh_calendars() == {"ok": 1, "failed": 0, "gone": 0}
    assert refresh_calendars() == {"ok": 1, "failed": 0, "gone": 0}
    layer.refresh_from_db()
    assert layer.ical_error == "" and "acme-executive" in layer.ical_text
    assert len([r for r in caplog.records if "recovered" in r.getMessage()]) == 1


def test_url_that_cannot_be_fetched_is_refused(estate, api, feed_server):
    handler, url = feed_server
    handler.status = 404
    schedule = make_schedule(estate.tenant)
    r = api(estate.user("admin")).post(
        f"{V1}/schedules/{schedule.id}/ical-layers", {"name": "Feed", "url": url}
    )
    assert r.status_code == 422 and "404" in error_fields(r)["url"]
    handler.status = 200
    handler.body = b"garbage"
    r = api(estate.user("admin")).post(
        f"{V1}/schedules/{schedule.id}/ical-layers", {"name": "Feed", "url": url}
    )
    assert r.status_code == 422 and "url" in error_fields(r)
    assert "garbage" not in error_fields(r)["url"]  # what answered there is not quoted
    assert not Layer.objects.exists()


def test_refresh_now_through_the_api(estate, api, feed_server):
    handler, url = feed_server
    schedule = make_schedule(estate.tenant)
    admin = api(estate.user("admin"))
    layer_id = admin.post(
        f"{V1}/schedules/{schedule.id}/ical-layers", {"name": "Feed", "url": url}
    ).json()["layer"]["id"]
    handler.status = 503
    r = admin.post(f"{V1}/layers/{layer_id}/refresh", {})
    assert r.status_code == 200 and r.json()["outcome"] == "failed"
    assert "503" in r.json()["layer"]["ical_error"]


# --- export --------------------------------------------------------------------------------------
def test_feed_lists_the_persons_shifts_and_parses_back(estate, api, client):
    me = estate.user("operator")
    day = make_schedule(estate.tenant, name="Days", time_zone="Europe/Berlin")
    rotation(day, [me, estate.user("supervisor")], start_local=datetime(2026, 5, 1, 9))
    ical_layer(make_schedule(estate.tenant, name="Cal"), CALENDAR, position=1)
    r = api(me).post(f"{V1}/me/calendar-feeds")
    assert r.status_code == 201, r.content
    url = r.json()["url"]
    assert url.startswith("http://testserver/oncall/calendar/") and url.endswith(".ics")
    feed = CalendarFeed.objects.get()
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert token not in feed.token_hash and feed.prefix == token[:8]
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(answer.content)
    events = calendar.walk("VEVENT")
    summaries = {str(e["SUMMARY"]) for e in events}
    assert summaries == {"On call: Days", "On call: Cal"}
    uids = [str(e["UID"]) for e in events]
    assert len(uids) == len(set(uids))
    for event in events:
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTSTART").utcoffset().total_seconds() == 0
        assert "DTSTAMP" in event
    starts = sorted(e.decoded("DTSTART") for e in events if str(e["SUMMARY"]) == "On call: Days")
    # every other day at 09:00 Berlin (07:00 UTC in summer), last week to 60 days on
    assert all(s.astimezone(UTC).hour == 7 for s in starts[1:])
    assert starts[-1] > datetime(2026, 7, 25, tzinfo=UTC)
    # the summary-named event of the Cal schedule is the operator's
    assert any(
        e.decoded("DTSTART") == utc(2026, 6, 2, 0) for e in events if "Cal" in str(e["SUMMARY"])
    )
    with time_machine.travel(utc(2026, 6, 1, 13), tick=False):
        later = icalendar.Calendar.from_ical(client.get(url).content).walk("VEVENT")
    assert {str(e["UID"]) for e in later} == set(uids)  # the same shifts keep their UIDs
    assert AuditLog.objects.filter(action=Action.TOKEN_CREATE, actor=me).exists()
    # revoke: the same 404 as an unknown token
    assert api(me).delete(f"{V1}/me/calendar-feeds/{feed.id}").status_code == 204
    assert client.get(url).status_code == 404
    assert client.get("/oncall/calendar/not-a-token.ics").status_code == 404
    assert AuditLog.objects.filter(action=Action.TOKEN_REVOKE, actor=me).exists()
    listed = api(me).get(f"{V1}/me/calendar-feeds").json()
    assert listed[0]["id"] == feed.id
    assert listed[0]["revoked_at"] is not None and "url" not in listed[0]


def test_feeds_are_each_persons_own(estate, other_estate, api):
    mine = api(estate.user("operator")).post(f"{V1}/me/calendar-feeds").json()
    assert (
        api(estate.user("admin")).delete(f"{V1}/me/calendar-feeds/{mine['id']}").status_code == 404
    )
    assert (
        api(other_estate.user("admin")).delete(f"{V1}/me/calendar-feeds/{mine['id']}").status_code
        == 404
    )
    assert api(estate.user("admin")).get(f"{V1}/me/calendar-feeds").json() == []
    assert CalendarFeed.objects.get().revoked_at is None


def test_feed_of_a_deactivated_person_is_gone(estate, api, client):
    me = estate.user("operator")
    url = api(me).post(f"{V1}/me/calendar-feeds").json()["url"]
    assert client.get(url).status_code == 200
    me.is_active = False
    me.save(update_fields=["is_active"])
    assert client.get(url).status_code == 404


def test_a_calendar_that_expands_too_far_is_refused(estate, uploader):
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:h{i}@t\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:2026060{1 + i % 5}T000000Z\r\nDTEND:2026060{1 + i % 5}T003000Z\r\n"
        "RRULE:FREQ=HOURLY\r\nSUMMARY:acme-admin\r\nEND:VEVENT\r\n"
        for i in range(15)
    )
    text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{events}END:VCALENDAR\r\n"
    schedule = make_schedule(estate.tenant)
    r = uploader(estate.user("admin"), schedule, text)
    assert r.status_code == 422 and "More than" in error_fields(r)["file"]
    assert not Layer.objects.exists()


def test_fetch_caps_size_and_refuses_redirects_off_http(feed_server):
    from watchfloor.oncall.ical import FetchError, fetch_feed

    handler, url = feed_server
    handler.body = b"BEGIN:VCALENDAR\r\n" + b"X" * 3000
    with pytest.raises(FetchError, match="larger than"):
        fetch_feed(url, max_bytes=1000)

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchError, match="HTTP 302"):
            fetch_feed(f"http://127.0.0.1:{server.server_address[1]}/x.ics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
