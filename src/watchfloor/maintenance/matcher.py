"""The suppression matcher the ingestion pipeline asks: windows loaded once, matched in memory.

A window suppresses an alert when the alert's client (and site, when the window names one) is
the window's, its type is one of the window's types (or the window lists none), and its labels
satisfy every label matcher of the window. Matchers are parsed and regexes compiled once per
loaded window; a recurring window counts only while one of its occurrences runs.

The windows of a tenant that have not ended are cached per process for `WINDOW_CACHE.ttl`
seconds; the maintenance services invalidate the cache of the process that writes, so a window
created, changed or cancelled reaches other processes within that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from watchfloor.maintenance.label_matchers import Matcher, matches_all
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.ttl import TtlCache

WINDOW_CACHE = TtlCache("maintenance_windows", ttl=5)


def _current_windows(tenant_id: int) -> tuple[MaintenanceWindow, ...]:
    """Not cancelled and not ended yet (started or upcoming), lowest id first."""
    return tuple(
        MaintenanceWindow.objects.for_tenant(tenant_id)
        .not_cancelled()
        .filter(ends_at__gt=timezone.now())
        .order_by("id")
    )


@dataclass(frozen=True, slots=True)
class _Rule:
    """One window's test, its fields read once (model attribute access is slow per event)."""

    window: MaintenanceWindow
    site_id: int | None
    types: frozenset[str]  # empty: every type
    matchers: tuple[Matcher, ...] | None  # None: stored matchers that no longer parse

    @classmethod
    def of(cls, window: MaintenanceWindow) -> _Rule:
        types = frozenset(window.alert_types or ())
        return cls(window, window.site_id, types, window.label_matchers)

    def holds(self, site_id: int | None, alert_type: str, labels: dict) -> bool:
        """The same rule as `MaintenanceWindow.covers`, for an alert of this rule's client."""
        if self.site_id is not None and site_id != self.site_id:
            return False
        if self.types and alert_type not in self.types:
            return False
        return self.matchers is not None and matches_all(self.matchers, labels)


class SuppressionMatcher:
    """The windows of one tenant active at one instant."""

    def __init__(self, windows: list[MaintenanceWindow]):
        self._by_client: dict[int, list[_Rule]] = {}
        for window in windows:
            self._by_client.setdefault(window.client_id, []).append(_Rule.of(window))

    @classmethod
    def for_tenant(cls, tenant_id: int, at: datetime) -> SuppressionMatcher:
        windows = WINDOW_CACHE.get_or_load(tenant_id, lambda: _current_windows(tenant_id))
        return cls([w for w in windows if w.occurrence_at(at) is not None])

    def match(
        self,
        *,
        client_id: int | None,
        site_id: int | None,
        alert_type: str,
        labels: dict | None = None,
    ):
        """The first window (lowest id) that suppresses this alert, or None. `labels` absent
        is an empty label set (so a window with matchers that need a label does not match)."""
        if client_id is None:
            return None
        labels = labels or {}
        for rule in self._by_client.get(client_id, ()):
            if rule.holds(site_id, alert_type, labels):
                return rule.window
        return None

    def __bool__(self) -> bool:
        return bool(self._by_client)
