"""Weekly recurrence of a maintenance window: on some weekdays, from a local start time, for a
duration, in a named time zone (the site's by default), between the window's `starts_at` and
`ends_at` (the series).

An occurrence is laid out in wall-clock time, so "Sunday 02:00 for 2 hours" is 02:00–04:00 on
the clock every Sunday, across daylight-saving changes: 3 hours of real time on the night the
clocks go back, 1 hour (03:00–04:00) on the night they go forward and 02:00 does not exist.
A start time that falls twice (the hour repeated when clocks go back) is its first instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=7)


@dataclass(frozen=True)
class Occurrence:
    starts_at: datetime  # aware, UTC
    ends_at: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True)
class Weekly:
    days: frozenset[int]  # date.weekday() numbers
    start: time
    duration: timedelta
    zone: ZoneInfo

    @classmethod
    def of(
        cls, days: Sequence[str], start: time | None, duration: timedelta | None, zone: str
    ) -> Weekly:
        """Raises ValueError/TypeError (or ZoneInfoNotFoundError) on anything out of shape."""
        if not isinstance(start, time) or not isinstance(duration, timedelta):
            raise TypeError("A weekly recurrence needs a start time and a duration.")
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise ValueError("A weekly occurrence lasts between 1 minute and 7 days.")
        return cls(frozenset(DAYS.index(d) for d in days), start, duration, ZoneInfo(zone))

    def occurrence_on(self, day: date) -> Occurrence:
        local_start = datetime.combine(day, self.start, tzinfo=self.zone)  # fold=0: first
        starts_at = local_start.astimezone(UTC)
        wall_end = datetime.combine(day, self.start) + self.duration
        ends_at = wall_end.replace(tzinfo=self.zone).astimezone(UTC)
        if ends_at <= starts_at:  # a start pushed past its end by a skipped hour
            ends_at = starts_at + self.duration
        return Occurrence(starts_at, ends_at)

    def occurrences(self, since: datetime, until: datetime) -> Iterator[Occurrence]:
        """The occurrences that overlap [since, until), in order (not clipped to them)."""
        back = self.duration.days + 2  # an occurrence begun days earlier may still run
        day = since.astimezone(self.zone).date() - timedelta(days=back)
        last = until.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            if day.weekday() in self.days:
                occurrence = self.occurrence_on(day)
                if occurrence.ends_at > since and occurrence.starts_at < until:
                    yield occurrence
            day += timedelta(days=1)

    def covering(self, at: datetime) -> Occurrence | None:
        """The occurrence running at `at`, if any."""
        return next(self.occurrences(at, at + timedelta(microseconds=1)), None)

    def next_after(self, at: datetime, *, until: datetime) -> Occurrence | None:
        """The first occurrence that starts after `at` and before `until`."""
        horizon = min(until, at + timedelta(days=8))
        return next((o for o in self.occurrences(at, horizon) if o.starts_at > at), None)
