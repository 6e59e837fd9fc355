"""Who is on call: shift computation for schedules (read only, no writes).

A schedule's timeline is merged from its layers and overrides:

- A rotation layer hands off from one member to the next at fixed local times. Its
  `rotation_start` is the first handoff as a WALL-CLOCK time in the schedule's time zone: the
  stored value's date and time (read in UTC, where Django keeps it) are the local date and time,
  so a daily 09:00 handoff stays at 09:00 local on both sides of a daylight-saving change and
  survives a change of the schedule's zone. A daily shift is one calendar day (23 or 25 hours on
  a change), a weekly shift seven calendar days, a custom shift `shift_hours` elapsed hours. A
  handoff whose wall time does not exist that day (inside the skipped hour) happens at the same
  wall time read with the offset before the change (02:30 in Berlin on the spring change is
  03:30 CEST); one that exists twice (the repeated hour) happens at its first occurrence.
- An iCalendar layer is the events of its stored text, expanded with `recurring_ical_events`
  (RRULE, RDATE, EXDATE, time zones); an event's people are its ATTENDEE emails that match an
  active user of the schedule's tenant, else its ORGANIZER's, else the user whose username or
  email is the event's SUMMARY. All-day and floating events are read in the schedule's zone.
- Where several layers have someone, the highest `position` wins (equal positions: the layer
  created first); an override wins over every layer. A member who is no longer active leaves
  their shift empty, so the layer below shows through.

`who_is_on_call(ids, at)` answers for any number of schedules in a fixed number of queries (the
escalation sweep calls it for many alerts at once); `shifts(schedule, start, end)` gives the
merged timeline and `layer_shifts(...)` each layer's own, for the page.
"""

from __future__ import annotations

import hashlib
import itertools
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal

import icalendar
import recurring_ical_events
from django.db.models import Q
from django.db.models.functions import Lower

from watchfloor.oncall.models import Layer, LayerKind, LayerMember, Override, Schedule, ShiftLength
from watchfloor.tenancy.models import User

Source = Literal["rotation", "ical", "override"]

# The widest range one computation covers (the API bounds its own ranges more tightly).
MAX_RANGE = timedelta(days=400)
# Occurrences taken from one iCalendar layer in one range, at most (a runaway RRULE stops here).
MAX_ICAL_OCCURRENCES = 5000


@dataclass(frozen=True, order=True)
class Shift:
    starts_at: datetime
    ends_at: datetime
    user_id: int
    layer_id: int | None
    source: Source


@dataclass(frozen=True)
class IcalOccurrence:
    """One occurrence of an iCalendar event, with what names its person."""

    uid: str
    summary: str
    starts_at: datetime
    ends_at: datetime
    attendees: tuple[str, ...]  # lower-cased emails
    organizer: str  # lower-cased email or ""


@dataclass
class _Loaded:
    """Everything about some schedules that the computation needs, read in a few queries."""

    schedules: dict[int, Schedule] = field(default_factory=dict)
    layers: dict[int, list[Layer]] = field(default_factory=lambda: defaultdict(list))
    members: dict[int, list[int | None]] = field(default_factory=lambda: defaultdict(list))
    overrides: dict[int, list[Override]] = field(default_factory=lambda: defaultdict(list))
    # (tenant id, lower-cased username or email) -> user id, for iCalendar layers
    people: dict[tuple[int, str], int] = field(default_factory=dict)


# --- time zones and wall clocks ------------------------------------------------------------------
@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def wall_clock(rotation_start: datetime) -> datetime:
    """The naive local date and time a stored `rotation_start` stands for."""
    if rotation_start.tzinfo is not None:
        rotation_start = rotation_start.astimezone(UTC)
    return rotation_start.replace(tzinfo=None)


def as_stored_wall_clock(local: datetime) -> datetime:
    """How a local date and time is stored in `rotation_start` (its wall clock, tagged UTC)."""
    return local.replace(tzinfo=UTC)


def instant(local: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (fold 0: the first of a repeated time; a skipped
    time is read with the offset in force before the change)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


# --- rotation layers -----------------------------------------------------------------------------
def _period(layer: Layer) -> tuple[str, timedelta]:
    """('wall', days) for daily and weekly shifts; ('elapsed', hours) for custom ones."""
    if layer.shift_length == ShiftLength.DAILY:
        return "wall", timedelta(days=1)
    if layer.shift_length == ShiftLength.WEEKLY:
        return "wall", timedelta(days=7)
    return "elapsed", timedelta(hours=max(1, layer.shift_hours or 24))


def handoffs(layer: Layer, tz: zoneinfo.ZoneInfo, start: datetime, end: datetime):
    """(index, starts_at, ends_at) of each shift of a rotation that overlaps [start, end)."""
    if layer.rotation_start is None:
        return
    local0 = wall_clock(layer.rotation_start)
    mode, step = _period(layer)
    first = instant(local0, tz)
    if mode == "wall":

        def at(k: int) -> datetime:
            return instant(local0 + k * step, tz)

        # local wall time of `start` gives the index to within one shift either way
        k = int((start.astimezone(tz).replace(tzinfo=None) - local0) / step) - 1
    else:

        def at(k: int) -> datetime:
            return first + k * step

        k = int((start - first) / step) - 1
    k = max(k, 0)
    begin = at(k)
    while begin < end:
        finish = at(k + 1)
        if finish > start:
            yield k, begin, finish
        k += 1
        begin = finish


def rotation_shifts(
    layer: Layer, members: list[int | None], tz: zoneinfo.ZoneInfo, start: datetime, end: datetime
) -> list[Shift]:
    if not members:
        return []
    out = []
    for k, begin, finish in handoffs(layer, tz, start, end):
        user_id = members[k % len(members)]
        if user_id is not None:
            out.append(Shift(begin, finish, user_id, layer.id, "rotation"))
    return out


# --- iCalendar layers ----------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _calendar(digest: str, text: str) -> icalendar.Calendar | None:
    try:
        return icalendar.Calendar.from_ical(text)
    except Exception:
        return None


def parse_calendar(text: str) -> icalendar.Calendar | None:
    if not text:
        return None
    return _calendar(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), text)


def _email(value) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower() if "@" in text else ""


def _moment(value, tz: zoneinfo.ZoneInfo) -> datetime:
    """An event's DTSTART/DTEND as an aware UTC instant (dates and floating times: local)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return instant(value, tz)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return instant(datetime(value.year, value.month, value.day), tz)
    raise ValueError("not a date")


def ical_occurrences(
    calendar: icalendar.Calendar, tz: zoneinfo.ZoneInfo, start: datetime, end: datetime
) -> list[IcalOccurrence]:
    """The events of a calendar that overlap [start, end), at most MAX_ICAL_OCCURRENCES."""
    out: list[IcalOccurrence] = []
    try:
        # all-day and floating events are placed by the library in the query's zone (UTC):
        # ask a day wider and cut them to the range in the schedule's zone below
        events = recurring_ical_events.of(calendar, components=["VEVENT"]).between(
            start - timedelta(days=1), end + timedelta(days=1)
        )
    except Exception:
        return out
    for event in events:
        if len(out) >= MAX_ICAL_OCCURRENCES:
            break
        try:
            begin = _moment(event.decoded("DTSTART"), tz)
            if "DTEND" in event:
                finish = _moment(event.decoded("DTEND"), tz)
            elif "DURATION" in event:
                finish = begin + event.decoded("DURATION")
            elif not isinstance(event.decoded("DTSTART"), datetime):
                finish = _moment(event.decoded("DTSTART") + timedelta(days=1), tz)
            else:
                finish = begin
        except (KeyError, ValueError, TypeError, OverflowError):
            continue
        if finish <= begin or finish <= start or begin >= end:
            continue
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        out.append(
            IcalOccurrence(
                uid=str(event.get("UID", "")),
                summary=str(event.get("SUMMARY", "")).strip(),
                starts_at=begin,
                ends_at=finish,
                attendees=tuple(e for e in (_email(a) for a in attendees) if e),
                organizer=_email(event.get("ORGANIZER")),
            )
        )
    out.sort(key=lambda o: (o.starts_at, o.uid))
    return out


def person_keys(occurrence: IcalOccurrence) -> set[str]:
    """Every lower-cased name the occurrence could use for a person."""
    keys = set(occurrence.attendees)
    if occurrence.organizer:
        keys.add(occurrence.organizer)
    if occurrence.summary:
        keys.add(occurrence.summary.lower())
    return keys


def people_of(occurrence: IcalOccurrence, known: dict[str, int]) -> list[int]:
    """The user ids an occurrence names: matching attendees, else the organizer, else the
    summary (`known`: lower-cased username or email -> user id, active users of the tenant)."""
    found = [known[e] for e in occurrence.attendees if e in known]
    if not found and occurrence.organizer in known:
        found = [known[occurrence.organizer]]
    if not found and occurrence.summary.lower() in known:
        found = [known[occurrence.summary.lower()]]
    return list(dict.fromkeys(found))


def match_people(tenant_id: int, keys: Iterable[str]) -> dict[str, int]:
    """Lower-cased username or email -> id of the active user of the tenant it names (one
    query). A name that two users share (one's username, another's email) goes to the username."""
    keys = {k for k in keys if k and len(k) <= 254}
    if not keys:
        return {}
    rows = (
        User.objects.filter(tenant_id=tenant_id, is_active=True)
        .annotate(lu=Lower("username"), le=Lower("email"))
        .filter(Q(lu__in=keys) | Q(le__in=keys))
        .values_list("id", "lu", "le")
        .order_by("id")
    )
    found: dict[str, int] = {}
    for user_id, _username, email in rows:
        if email and email in keys:
            found.setdefault(email, user_id)
    for user_id, username, _email in rows:
        if username in keys:
            found[username] = user_id
    return found


def ical_shifts(
    layer: Layer, occurrences: list[IcalOccurrence], known: dict[str, int]
) -> list[Shift]:
    return [
        Shift(o.starts_at, o.ends_at, user_id, layer.id, "ical")
        for o in occurrences
        for user_id in people_of(o, known)
    ]


# --- loading -------------------------------------------------------------------------------------
def _load(schedule_ids: Iterable[int], start: datetime, end: datetime) -> _Loaded:
    """Schedules, layers, members and the overrides overlapping [start, end): four queries, a
    fifth when an iCalendar layer needs its people matched."""
    ids = sorted({int(i) for i in schedule_ids})
    loaded = _Loaded()
    if not ids:
        return loaded
    for schedule in Schedule.objects.filter(id__in=ids).only("id", "tenant_id", "time_zone"):
        loaded.schedules[schedule.id] = schedule
    layers = list(Layer.objects.filter(schedule_id__in=ids).order_by("-position", "id"))
    for layer in layers:
        loaded.layers[layer.schedule_id].append(layer)
    rotation_ids = [la.id for la in layers if la.kind == LayerKind.ROTATION]
    if rotation_ids:
        members = (
            LayerMember.objects.filter(layer_id__in=rotation_ids)
            .order_by("layer_id", "position")
            .values_list("layer_id", "user_id", "user__is_active")
        )
        for layer_id, user_id, active in members:
            loaded.members[layer_id].append(user_id if active else None)
    overrides = (
        Override.objects.filter(
            schedule_id__in=ids, starts_at__lt=end, ends_at__gt=start, user__is_active=True
        )
        .only("id", "schedule_id", "user_id", "starts_at", "ends_at")
        .order_by("starts_at", "id")
    )
    for override in overrides:
        loaded.overrides[override.schedule_id].append(override)
    return loaded


def _ical_occurrences_for(loaded: _Loaded, start: datetime, end: datetime):
    """Each iCalendar layer's occurrences in the range, and the people they name (one query
    per tenant with such layers: in practice one)."""
    occurrences: dict[int, list[IcalOccurrence]] = {}
    keys: dict[int, set[str]] = defaultdict(set)
    for schedule_id, layers in loaded.layers.items():
        schedule = loaded.schedules.get(schedule_id)
        if schedule is None:
            continue
        tz = zone(schedule.time_zone)
        for layer in layers:
            if layer.kind != LayerKind.ICAL:
                continue
            calendar = parse_calendar(layer.ical_text)
            found = ical_occurrences(calendar, tz, start, end) if calendar is not None else []
            occurrences[layer.id] = found
            for o in found:
                keys[schedule.tenant_id] |= person_keys(o)
    people: dict[int, dict[str, int]] = {
        tenant_id: match_people(tenant_id, tenant_keys) for tenant_id, tenant_keys in keys.items()
    }
    return occurrences, people


def _layer_shift_map(
    loaded: _Loaded, schedule: Schedule, start: datetime, end: datetime, occurrences, people
) -> dict[int, list[Shift]]:
    tz = zone(schedule.time_zone)
    out: dict[int, list[Shift]] = {}
    for layer in loaded.layers.get(schedule.id, []):
        if layer.kind == LayerKind.ICAL:
            out[layer.id] = ical_shifts(
                layer, occurrences.get(layer.id, []), people.get(schedule.tenant_id, {})
            )
        else:
            out[layer.id] = rotation_shifts(layer, loaded.members.get(layer.id, []), tz, start, end)
    return out


def _merge(
    layer_order: list[int],
    per_layer: dict[int, list[Shift]],
    overrides: list[Override],
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """The final timeline: overrides over layers, layers by their order (first wins)."""
    override_shifts = [
        Shift(max(o.starts_at, start), min(o.ends_at, end), o.user_id, None, "override")
        for o in overrides
        if o.starts_at < end and o.ends_at > start
    ]
    ranked: list[list[Shift]] = [override_shifts] + [per_layer.get(i, []) for i in layer_order]
    points = {start, end}
    for group in ranked:
        for s in group:
            points.add(max(s.starts_at, start))
            points.add(min(s.ends_at, end))
    bounds = sorted(p for p in points if start <= p <= end)
    pieces: list[Shift] = []
    for a, b in itertools.pairwise(bounds):
        if a >= b:
            continue
        for group in ranked:
            on = [s for s in group if s.starts_at <= a and s.ends_at >= b]
            if on:
                seen = set()
                for s in on:
                    if s.user_id not in seen:
                        seen.add(s.user_id)
                        pieces.append(Shift(a, b, s.user_id, s.layer_id, s.source))
                break
    # join the pieces of one person's uninterrupted time from one source
    open_: dict[tuple, Shift] = {}
    out: list[Shift] = []
    for piece in pieces:
        key = (piece.user_id, piece.layer_id, piece.source)
        last = open_.get(key)
        if last is not None and last.ends_at == piece.starts_at:
            joined = Shift(last.starts_at, piece.ends_at, *key)
            out[out.index(last)] = joined
            open_[key] = joined
        else:
            out.append(piece)
            open_[key] = piece
    out.sort()
    return out


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValueError("end must be after start")
    if end - start > MAX_RANGE:
        raise ValueError("the range is too long")


# --- the public functions ------------------------------------------------------------------------
def timelines(
    schedule_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, tuple[list[Shift], dict[int, list[Shift]]]]:
    """For each schedule: (merged shifts, {layer id: that layer's own shifts}) in [start, end),
    for any number of schedules in a fixed number of queries."""
    _check_range(start, end)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    loaded = _load(schedule_ids, start, end)
    occurrences, people = _ical_occurrences_for(loaded, start, end)
    out = {}
    for schedule_id, schedule in loaded.schedules.items():
        per_layer = _layer_shift_map(loaded, schedule, start, end, occurrences, people)
        order = [la.id for la in loaded.layers.get(schedule_id, [])]
        merged = _merge(order, per_layer, loaded.overrides.get(schedule_id, []), start, end)
        out[schedule_id] = (merged, per_layer)
    return out


def shifts(schedule: Schedule | int, start: datetime, end: datetime) -> list[Shift]:
    """The merged timeline of one schedule in [start, end): who actually is on call when,
    after layers and overrides (shifts are cut at the range's edges)."""
    schedule_id = schedule if isinstance(schedule, int) else schedule.id
    return timelines([schedule_id], start, end).get(schedule_id, ([], {}))[0]


def layer_shifts(
    schedule: Schedule | int, start: datetime, end: datetime
) -> dict[int, list[Shift]]:
    """Each layer's own shifts in [start, end) (before precedence), by layer id."""
    schedule_id = schedule if isinstance(schedule, int) else schedule.id
    return timelines([schedule_id], start, end).get(schedule_id, ([], {}))[1]


def who_is_on_call(schedule_ids: Iterable[int], at: datetime) -> dict[int, list[int]]:
    """User ids on call at `at` for each schedule (an empty list when nobody; a schedule id that
    does not exist is left out). A fixed number of queries for any number of schedules."""
    at = at.astimezone(UTC)
    found = timelines(schedule_ids, at, at + timedelta(microseconds=1))
    return {
        schedule_id: list(dict.fromkeys(s.user_id for s in merged))
        for schedule_id, (merged, _layers) in found.items()
    }


def next_handoff(merged: list[Shift], at: datetime) -> datetime | None:
    """When the people on call at `at` change next, from a merged timeline that covers `at`."""
    moments = sorted(
        {s.starts_at for s in merged if s.starts_at > at}
        | {s.ends_at for s in merged if s.ends_at > at}
    )
    for moment in moments:
        before = {s.user_id for s in merged if s.starts_at <= at < s.ends_at}
        after = {s.user_id for s in merged if s.starts_at <= moment < s.ends_at}
        if before != after:
            return moment
    return None
