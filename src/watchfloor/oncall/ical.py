"""iCalendar in and out: validate an uploaded file or a fetched feed, report who its events
name, and write a person's shifts as a feed they can subscribe to.

Nothing here writes to the database: `schedule_services` stores what `validate_calendar`
accepted, and `refresh_url_layers` (there) calls `fetch_feed`.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import icalendar
import recurring_ical_events
from django.core.exceptions import ValidationError

from watchfloor.oncall.models import Schedule
from watchfloor.oncall.rotation import (
    Shift,
    ical_occurrences,
    match_people,
    people_of,
    person_keys,
    timelines,
    zone,
)

MAX_ICAL_BYTES = 1_000_000  # an uploaded file or a fetched feed, at most
MAX_EVENTS = 5000  # VEVENT components in one calendar, at most
MAX_OCCURRENCES = 20000  # occurrences from a week ago to 60 days on, at most
FETCH_TIMEOUT = 10.0  # seconds, the refresh job
REQUEST_FETCH_TIMEOUT = 5.0  # seconds, the one fetch an API request may make
# rules that would make millions of occurrences in a few weeks are refused
REFUSED_FREQUENCIES = {"SECONDLY", "MINUTELY"}
# what an import report and the export cover: the last week and the next 60 days
PAST = timedelta(days=7)
AHEAD = timedelta(days=60)
MAX_UNMATCHED_REPORTED = 50


class FetchError(Exception):
    """A feed could not be fetched (the message carries no URL: it may hold a secret)."""


@dataclass
class ImportReport:
    occurrences: int = 0  # in the last week and the next 60 days
    matched: int = 0
    # events that name nobody Watchfloor knows: {"uid", "summary", "starts_at"}
    unmatched: list[dict] = field(default_factory=list)
    unmatched_count: int = 0


def decode_upload(data: bytes, *, field_name: str) -> str:
    """Bytes of a file or a response as text, or a ValidationError naming the field."""
    if len(data) > MAX_ICAL_BYTES:
        raise ValidationError({field_name: f"At most {MAX_ICAL_BYTES} bytes."})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({field_name: "Not UTF-8 text."}) from None
    return text


def validate_calendar(text: str, *, field_name: str) -> icalendar.Calendar:
    """Parse and check an iCalendar text; a ValidationError names `field_name`."""
    if not text.strip():
        raise ValidationError({field_name: "The calendar is empty."})
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ICAL_BYTES:
        raise ValidationError({field_name: f"At most {MAX_ICAL_BYTES} bytes."})
    if "\x00" in text:
        raise ValidationError({field_name: "NUL characters are not allowed."})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({field_name: "Not valid Unicode text."}) from None
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:
        # the parser's message may quote the text: shown for an upload (the person's own
        # file), never for a fetched URL (whatever answered there stays unseen)
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        if field_name == "url":
            message = "the answer is not a calendar"
        raise ValidationError({field_name: f"Not an iCalendar file: {message}"}) from None
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise ValidationError({field_name: "Not an iCalendar file: no VCALENDAR."})
    events = calendar.walk("VEVENT")
    if len(events) > MAX_EVENTS:
        raise ValidationError({field_name: f"At most {MAX_EVENTS} events."})
    for event in events:
        if "DTSTART" not in event:
            raise ValidationError({field_name: "An event has no DTSTART."})
        rule = event.get("RRULE")
        if rule is not None:
            freq = [str(f).upper() for f in rule.get("FREQ", [])]
            if REFUSED_FREQUENCIES & set(freq):
                raise ValidationError(
                    {field_name: "Rules repeating every second or minute are not supported."}
                )
    try:
        # expand the range once, so a rule that cannot be read is refused now
        expanded = recurring_ical_events.of(calendar).between(
            datetime.now(UTC) - PAST, datetime.now(UTC) + AHEAD
        )
    except Exception as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ValidationError({field_name: f"The events cannot be expanded: {message}"}) from None
    if len(expanded) > MAX_OCCURRENCES:
        raise ValidationError(
            {field_name: f"More than {MAX_OCCURRENCES} events in the next 60 days."}
        )
    return calendar


def validate_url(url: str, *, field_name: str = "url") -> str:
    if not url.lower().startswith(("http://", "https://")):
        raise ValidationError({field_name: "Must be an http or https URL."})
    return url


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another http(s) URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.HTTPError(newurl, code, "redirect refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)
_CHUNK = 64 * 1024


def fetch_feed(url: str, *, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_ICAL_BYTES):
    """The body of an http(s) URL as text, read within `timeout` seconds in all (each socket
    operation and the whole body) and at most `max_bytes`; `FetchError` otherwise (its message
    never repeats the URL)."""
    validate_url(url)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, headers={"User-Agent": "Watchfloor calendar import", "Accept": "text/calendar"}
    )
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchError("timed out")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot connect: {type(exc.reason).__name__}") from None
    except TimeoutError:
        raise FetchError("timed out") from None
    except (OSError, ValueError) as exc:
        raise FetchError(type(exc).__name__) from None
    try:
        return decode_upload(b"".join(chunks), field_name="url")
    except ValidationError:
        raise FetchError("not UTF-8 text") from None


def import_report(
    calendar: icalendar.Calendar, schedule: Schedule, *, now: datetime | None = None
) -> ImportReport:
    """How many occurrences in the last week and the next 60 days name a person (one query)."""
    now = now or datetime.now(UTC)
    found = ical_occurrences(calendar, zone(schedule.time_zone), now - PAST, now + AHEAD)
    keys = set().union(*(person_keys(o) for o in found)) if found else set()
    known = match_people(schedule.tenant_id, keys)
    report = ImportReport(occurrences=len(found))
    seen: set[str] = set()
    for occurrence in found:
        if people_of(occurrence, known):
            report.matched += 1
            continue
        report.unmatched_count += 1
        key = occurrence.uid or occurrence.summary
        if key in seen or len(report.unmatched) >= MAX_UNMATCHED_REPORTED:
            continue
        seen.add(key)
        report.unmatched.append(
            {
                "uid": occurrence.uid[:200],
                "summary": occurrence.summary[:200],
                "starts_at": occurrence.starts_at,
            }
        )
    return report


# --- export --------------------------------------------------------------------------------------
def _uid(shift: Shift, schedule_id: int, range_start: datetime) -> str:
    """Stable across refreshes: a shift is named by its start, or (when the feed's range cuts
    its start off, which moves with every refresh) by its end."""
    layer = shift.layer_id if shift.layer_id is not None else "override"
    if shift.starts_at > range_start:
        moment = f"{int(shift.starts_at.timestamp())}"
    else:
        moment = f"e{int(shift.ends_at.timestamp())}"
    return f"shift-{schedule_id}-{layer}-{shift.user_id}-{moment}@watchfloor"


def person_feed(user, *, now: datetime | None = None) -> bytes:
    """The person's shifts in every schedule of their tenant, from a week ago to 60 days on, as
    an iCalendar feed (UTC times, stable UIDs, DTSTAMP)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start, end = now - PAST, now + AHEAD
    schedules = {
        s.id: s.name for s in Schedule.objects.for_tenant(user.tenant_id).only("id", "name")
    }
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Watchfloor//On-call shifts//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("X-WR-CALNAME", "Watchfloor on-call shifts")
    calendar.add("REFRESH-INTERVAL", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    stamp = now.replace(microsecond=0)
    for schedule_id, (merged, _layers) in sorted(timelines(schedules, start, end).items()):
        for shift in merged:
            if shift.user_id != user.id:
                continue
            event = icalendar.Event()
            event.add("UID", _uid(shift, schedule_id, start))
            event.add("DTSTAMP", stamp)
            event.add("DTSTART", shift.starts_at.astimezone(UTC))
            event.add("DTEND", shift.ends_at.astimezone(UTC))
            event.add("SUMMARY", f"On call: {schedules[schedule_id]}")
            how = "override" if shift.source == "override" else f"{shift.source} layer"
            event.add("DESCRIPTION", f"Watchfloor schedule #{schedule_id} ({how}).")
            event.add("TRANSP", "OPAQUE")
            calendar.add_component(event)
    return calendar.to_ical()
