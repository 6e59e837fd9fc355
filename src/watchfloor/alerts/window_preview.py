"""Which open alerts a maintenance window would match now: the preview shown before a window is
saved. It lives with the alerts (the maintenance app does not import them) and is scoped by
`alerts_for`."""

from __future__ import annotations

from dataclasses import dataclass

from watchfloor.alerts.models import Alert
from watchfloor.alerts.queries import alerts_for
from watchfloor.maintenance.label_matchers import Matcher, matches_all
from watchfloor.tenancy.models import Client, Site

# How many open alerts a preview reads at most to test label matchers on (it then says the
# count is a lower bound): a preview must stay quick on a tenant with a storm of open alerts.
PREVIEW_SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class Preview:
    alerts: list[Alert]  # the first matches, newest first, with client and site joined
    count: int
    count_is_exact: bool


def preview_matches(
    user,
    *,
    client: Client,
    site: Site | None,
    alert_types: list[str],
    matchers: list[Matcher],
    limit: int = 50,
) -> Preview:
    """The open (not resolved) alerts the user sees that a window with this scope, these types
    and these label matchers would match now. Client, site and types narrow in SQL; labels are
    tested in memory on at most `PREVIEW_SCAN_LIMIT` alerts (ids and labels only)."""
    qs = alerts_for(user).active().filter(client_id=client.id)
    if site is not None:
        qs = qs.filter(site_id=site.id)
    if alert_types:
        qs = qs.filter(type__in=alert_types)
    qs = qs.order_by("-id")
    if not matchers:
        ids = list(qs.values_list("id", flat=True)[:limit])
        count, exact = qs.count(), True
    else:
        scanned = matched = 0
        ids = []
        for alert_id, labels in qs.values_list("id", "labels")[:PREVIEW_SCAN_LIMIT].iterator(
            chunk_size=2000
        ):
            scanned += 1
            if matches_all(matchers, labels or {}):
                matched += 1
                if len(ids) < limit:
                    ids.append(alert_id)
        count, exact = matched, scanned < PREVIEW_SCAN_LIMIT
    alerts = list(Alert.objects.filter(id__in=ids).select_related("client", "site").order_by("-id"))
    return Preview(alerts, count, exact)
