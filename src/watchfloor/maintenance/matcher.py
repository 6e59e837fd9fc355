"""The suppression matcher the ingestion pipeline asks: one query per batch, matching in memory."""

from __future__ import annotations

from datetime import datetime

from watchfloor.maintenance.models import MaintenanceWindow


class SuppressionMatcher:
    """The windows of one tenant active at one instant."""

    def __init__(self, windows: list[MaintenanceWindow]):
        self._by_client: dict[int, list[MaintenanceWindow]] = {}
        for window in windows:
            self._by_client.setdefault(window.client_id, []).append(window)

    @classmethod
    def for_tenant(cls, tenant_id: int, at: datetime) -> SuppressionMatcher:
        return cls(
            list(MaintenanceWindow.objects.for_tenant(tenant_id).active_at(at).order_by("id"))
        )

    def match(self, *, client_id: int | None, site_id: int | None, alert_type: str):
        """The first window (lowest id) that suppresses this alert, or None."""
        for window in self._by_client.get(client_id, ()):
            if window.covers(client_id=client_id, site_id=site_id, alert_type=alert_type):
                return window
        return None

    def __bool__(self) -> bool:
        return bool(self._by_client)
