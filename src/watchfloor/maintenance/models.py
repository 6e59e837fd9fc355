"""Maintenance windows: while one is active, matching alerts are stored as SUPPRESSED."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from watchfloor.maintenance.label_matchers import (
    MAX_TEXT_LENGTH,
    Matcher,
    MatcherError,
    format_matchers,
    matches_all,
    parse_matchers,
)
from watchfloor.maintenance.recurrence import DAYS, MAX_DURATION, MIN_DURATION, Occurrence, Weekly
from watchfloor.tenancy.models import COVERS_SITES, Client, Site, TenantQuerySet, TenantScoped


class WindowKind(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    EMERGENCY = "EMERGENCY", "Emergency"


class WindowState(models.TextChoices):
    """Where a window stands at an instant; derived from its times, never stored."""

    UPCOMING = "upcoming", "Upcoming"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled"


logger = logging.getLogger(__name__)

# The longest a window may last, in days (settings.MAINTENANCE_MAX_DAYS overrides it): a window
# that never ends would hide a site's alerts for good.
DEFAULT_MAX_DAYS = 30
MAX_ALERT_TYPES = 100
# A recurring window's series (its starts_at to ends_at) lasts at most this long.
MAX_SERIES_DAYS = 366


def max_duration() -> timedelta:
    return timedelta(days=getattr(settings, "MAINTENANCE_MAX_DAYS", DEFAULT_MAX_DAYS))


class MaintenanceWindowQuerySet(TenantQuerySet):
    def not_cancelled(self):
        return self.filter(cancelled_at__isnull=True)

    def cancelled(self):
        return self.filter(cancelled_at__isnull=False)

    def active_at(self, at):
        return self.not_cancelled().filter(starts_at__lte=at, ends_at__gt=at)

    def upcoming(self, at):
        return self.not_cancelled().filter(starts_at__gt=at)

    def ended(self, at):
        return self.not_cancelled().filter(ends_at__lte=at)

    def in_state(self, state: WindowState | str, at):
        """The windows in `state` at `at` (the same rule as `MaintenanceWindow.state_at`)."""
        state = WindowState(state)
        if state == WindowState.CANCELLED:
            return self.cancelled()
        return {
            WindowState.ACTIVE: self.active_at,
            WindowState.UPCOMING: self.upcoming,
            WindowState.ENDED: self.ended,
        }[state](at)


class MaintenanceWindow(TenantScoped):
    """Scope is a client (all its sites) or one site of it; `alert_types` empty means all types."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=WindowKind.choices, default=WindowKind.PLANNED)
    alert_types = models.JSONField(default=list, blank=True)
    # Alertmanager label matchers, in canonical text (`format_matchers`); blank: no label test
    matchers = models.TextField(blank=True, default="")
    # weekly recurrence: weekday names (`recurrence.DAYS`), a local start time and a duration in
    # `timezone`; empty days: a one-off window from starts_at to ends_at
    recurrence_days = models.JSONField(default=list, blank=True)
    recurrence_start = models.TimeField(null=True, blank=True)
    recurrence_duration = models.DurationField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, default="")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = MaintenanceWindowQuerySet.as_manager()  # type: ignore[misc]  # narrows TenantScoped's
    # a window on a whole client covers the sites a site-scoped user sees: they see it
    placement = COVERS_SITES

    class Meta:
        ordering = ["-starts_at", "-id"]
        indexes = [models.Index(fields=["tenant", "ends_at"], name="maint_tenant_ends")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="maint_ends_after_starts"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def state_at(self, at) -> WindowState:
        if self.cancelled_at is not None:
            return WindowState.CANCELLED
        if at < self.starts_at:
            return WindowState.UPCOMING
        if at < self.ends_at:
            return WindowState.ACTIVE
        return WindowState.ENDED

    @property
    def is_recurring(self) -> bool:
        return bool(self.recurrence_days)

    @cached_property
    def weekly(self) -> Weekly | None:
        """The recurrence rule (built once per instance), or None for a one-off window."""
        if not self.is_recurring:
            return None
        try:
            return Weekly.of(
                self.recurrence_days,
                self.recurrence_start,
                self.recurrence_duration,
                self.timezone or "UTC",
            )
        except (ValueError, TypeError, zoneinfo.ZoneInfoNotFoundError):
            # stored values a write would refuse (edited in the database, a zone the machine
            # lost): the window then never suppresses rather than failing ingestion
            logger.warning("maintenance window %s: stored recurrence is not valid", self.pk)
            return None

    @cached_property
    def label_matchers(self) -> tuple[Matcher, ...] | None:
        """The parsed matchers, compiled once per instance (the pipeline's cache keeps
        instances for a few seconds, so once per window set). None when the stored text no
        longer parses (edited in the database, or a regex a newer Python refuses): the window
        then matches nothing, so alerts stay visible and ingestion never fails on it."""
        if not self.matchers:
            return ()
        try:
            return tuple(parse_matchers(self.matchers))
        except MatcherError:
            logger.warning("maintenance window %s: stored matchers do not parse", self.pk)
            return None

    def _clip(self, occurrence: Occurrence) -> Occurrence:
        return Occurrence(
            max(occurrence.starts_at, self.starts_at), min(occurrence.ends_at, self.ends_at)
        )

    def occurrence_at(self, at: datetime) -> Occurrence | None:
        """The stretch of time during which the window suppresses that contains `at`, if any:
        the whole window for a one-off, the running occurrence for a recurring one."""
        if self.cancelled_at is not None or not (self.starts_at <= at < self.ends_at):
            return None
        if not self.is_recurring:
            return Occurrence(self.starts_at, self.ends_at)
        if self.weekly is None:
            return None
        found = self.weekly.covering(at)
        return self._clip(found) if found else None

    def next_occurrence(self, at: datetime) -> Occurrence | None:
        """The next stretch that starts after `at` (None when the series has no more)."""
        if self.cancelled_at is not None or at >= self.ends_at:
            return None
        if not self.is_recurring:
            return Occurrence(self.starts_at, self.ends_at) if at < self.starts_at else None
        if self.weekly is None:
            return None
        found = self.weekly.next_after(
            max(at, self.starts_at - timedelta(microseconds=1)), until=self.ends_at
        )
        return self._clip(found) if found else None

    def occurrences_between(self, since: datetime, until: datetime) -> list[Occurrence]:
        """Occurrences of a recurring window overlapping [since, until), clipped to the series."""
        if self.weekly is None:
            return []
        since, until = max(since, self.starts_at), min(until, self.ends_at)
        if since >= until:
            return []
        return [self._clip(o) for o in self.weekly.occurrences(since, until)]

    def clean(self) -> None:
        """The invariants: ends after it starts, lasts at most the maximum (a recurring series at
        most `MAX_SERIES_DAYS`), its client is of its tenant and its site of its client,
        `alert_types` is a list of non-empty strings, matchers parse, a recurrence is whole."""
        errors: dict[str, str] = {}
        self._clean_recurrence(errors)
        longest = timedelta(days=MAX_SERIES_DAYS) if self.is_recurring else max_duration()
        if self.starts_at is not None and self.ends_at is not None:
            if self.ends_at <= self.starts_at:
                errors["ends_at"] = "Must be after starts_at."
            elif self.ends_at - self.starts_at > longest:
                days = longest.days
                what = "A recurring series" if self.is_recurring else "A window"
                errors["ends_at"] = f"{what} lasts at most {days} day{'' if days == 1 else 's'}."
        if self.client_id is not None and self.tenant_id is not None:
            if self.client.tenant_id != self.tenant_id:
                errors["client"] = "Not found in this tenant."
            elif self.site_id is not None and self.site.client_id != self.client_id:
                errors["site"] = "Must be a site of the window's client."
        types = self.alert_types
        if not isinstance(types, list) or not all(isinstance(t, str) and t.strip() for t in types):
            errors["alert_types"] = "Must be a list of alert types (non-empty strings)."
        elif len(types) > MAX_ALERT_TYPES:
            errors["alert_types"] = f"At most {MAX_ALERT_TYPES} alert types."
        try:
            parsed = parse_matchers(self.matchers or "")
        except MatcherError as exc:
            errors["matchers"] = str(exc)
        else:
            canonical = format_matchers(parsed) if parsed else ""
            if len(canonical) > MAX_TEXT_LENGTH:
                errors["matchers"] = f"At most {MAX_TEXT_LENGTH} characters once written out."
            self.matchers = canonical
            self.__dict__.pop("label_matchers", None)
        if errors:
            raise ValidationError(errors)

    def _clean_recurrence(self, errors: dict[str, str]) -> None:
        days, start, duration = (
            self.recurrence_days,
            self.recurrence_start,
            self.recurrence_duration,
        )
        if self.timezone and self.timezone not in zoneinfo.available_timezones():
            errors["timezone"] = "Not a known time zone (an IANA name such as Europe/Berlin)."
        if not days:
            if start is not None or duration is not None:
                errors["recurrence_days"] = "Name the weekdays the window recurs on."
            return
        if not isinstance(days, list) or not all(d in DAYS for d in days):
            errors["recurrence_days"] = f"Must be a list of weekdays: {', '.join(DAYS)}."
        elif len(set(days)) != len(days):
            errors["recurrence_days"] = "Each weekday at most once."
        if start is None:
            errors["recurrence_start"] = "A recurring window needs a start time."
        if duration is None:
            errors["recurrence_duration"] = "A recurring window needs a duration."
        elif not (MIN_DURATION <= duration <= MAX_DURATION):
            errors["recurrence_duration"] = "Must be between 1 minute and 7 days."
        self.__dict__.pop("weekly", None)

    def covers(
        self,
        *,
        client_id: int | None,
        site_id: int | None,
        alert_type: str,
        labels: dict | None = None,
    ) -> bool:
        """Whether an alert at this client/site of this type with these labels falls inside the
        window's scope (client, site, types and label matchers, all of them)."""
        if client_id is None or client_id != self.client_id:
            return False
        if self.site_id is not None and site_id != self.site_id:
            return False
        if self.alert_types and alert_type not in self.alert_types:
            return False
        matchers = self.label_matchers
        return matchers is not None and matches_all(matchers, labels or {})
