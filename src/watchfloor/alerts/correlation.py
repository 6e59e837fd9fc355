"""Correlation of new alerts into groups (`correlation_id`; `parent` = the group's first alert).

Two rules, checked in this order:
- storm: one alert type at `ALERT_STORM_SITES` or more sites of one client within the window is one
  group; alerts of that type and client already open in the window join it. A formed storm takes
  in the pair's new alerts while one of its members first seen in the window is active.
- site: a new alert joins the group of the earliest active alert at its site seen within the window.
Otherwise the alert starts its own group. "Earliest" is first seen, then lowest id.

The reads are bounded: a fold reads at most `SCAN_ROWS` alerts of each of its (client, type)
pairs, in first-seen order, and one alert per site. A running storm is decided by its head, the
pair's first row once the storm's regrouping has run, whatever the number of its members; only a
pair whose first rows hold no storm member and are not all of its alerts is read whole. When the
reads aggregated every stored alert of the fold's pairs and sites, a storm made each fold cost in
proportion to what was already stored (docs/decisions.md, 2026-12-08).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import OuterRef, Q
from django.utils import timezone

from watchfloor.alerts.broadcast import alert_event
from watchfloor.alerts.models import Alert, CorrelationReason
from watchfloor.alerts.writes import active_predicate, update_alerts
from watchfloor.events import publish_on_commit
from watchfloor.tenancy.models import Site

log = logging.getLogger(__name__)


class _Group:
    def __init__(self, correlation_id: uuid.UUID, root_id: int | None, root: Alert | None = None):
        self.correlation_id = correlation_id
        self.root_id = root_id  # an existing alert's id
        self.root = root  # or a new alert of this batch, whose id is known after the insert

    def parent_id(self) -> int | None:
        return self.root_id if self.root_id is not None else self.root.id


# Alerts of a (client, type) pair read per fold before its whole window is: enough for a running
# storm's head and the threshold's sites in any ordinary storm.
SCAN_ROWS = 8

# No tenant condition: a client is one tenant's, and the pairs' clients are the fold's own. With
# one, PostgreSQL took the (tenant, first seen, id) index for its order whenever its statistics
# held a near-empty table (a burst on a new install), walking every alert of the window per pair
# (~30 ms a fold of 400 alerts against ~1 ms through the active (client, type, first seen) one).

_ALERTS = Alert._meta.db_table
_PAIR_ROWS_SQL = f"""
SELECT p.client_id, p.type, a.id, a.site_id, a.correlation_reason, a.correlation_id, a.parent_id
FROM unnest(%s::bigint[], %s::text[]) AS p(client_id, type)
CROSS JOIN LATERAL (
    SELECT id, site_id, correlation_reason, correlation_id, parent_id, first_seen_at
    FROM {_ALERTS}
    WHERE client_id = p.client_id AND type = p.type AND {active_predicate()}
      AND first_seen_at >= %s AND site_id IS NOT NULL
    ORDER BY first_seen_at, id
    LIMIT %s
) AS a
ORDER BY p.client_id, p.type, a.first_seen_at, a.id
"""  # noqa: S608  # identifiers and the status constant come from the model; values are parameters


@dataclass
class _Verdict:
    """A pair's storm as its rows decide it: `forms` is None below the threshold; else `head`
    is the running storm's group, or None when the storm forms now, rooted at `forms` (the
    pair's earliest alert's id, 0 if the batch brings the first)."""

    forms: int | None = None
    head: _Group | None = None


def _decide(rows: list[tuple], batch_sites: set, threshold: int, limit: int | None):
    """The pair's `_Verdict` from its first rows, or None when rows past `limit` could
    change it (`limit` None: `rows` are all of them). A storm member among them decides: the
    storm runs, whatever the number of sites its active members are at now."""
    for alert_id, _site, reason, corr, parent_id in rows:
        if reason == CorrelationReason.STORM:
            # the running storm's earliest member: the storm's root, or one of its children
            return _Verdict(forms=alert_id, head=_Group(corr, parent_id or alert_id))
    if limit is not None and len(rows) == limit:
        return None  # a storm's member may come after these rows
    if len(batch_sites | {row[1] for row in rows}) < threshold:
        return _Verdict()
    return _Verdict(forms=rows[0][0] if rows else 0)


class Correlator:
    def __init__(self, tenant_id: int, now: datetime, window: timedelta):
        self.tenant_id = tenant_id
        self.since = now - window
        self._pending: list[tuple[Alert, _Group]] = []
        self._storms: list[tuple[int | None, str, _Group]] = []

    def _recent(self):
        return (
            Alert.objects.for_tenant(self.tenant_id).active().filter(first_seen_at__gte=self.since)
        )

    def assign(self, candidates: list[Alert]) -> None:
        """Set correlation_id (and parent where the root exists) on each new alert."""
        located = [a for a in candidates if a.site_id is not None]
        storms = self._storm_groups(located)
        # only an alert outside every storm looks for its site's group
        site_groups = self._site_groups(
            {
                a.site_id
                for a in located
                if a.site_id is not None and (a.client_id, a.type) not in storms
            }
        )
        for alert in candidates:
            group = None
            reason = ""
            if alert.site_id is not None:
                group = storms.get((alert.client_id, alert.type))
                reason = CorrelationReason.STORM
                if group is None:
                    group = site_groups.get(alert.site_id)
                    reason = CorrelationReason.SITE
            if group is None:
                alert.correlation_id = uuid.uuid4()
                if alert.site_id is not None:
                    site_groups[alert.site_id] = _Group(alert.correlation_id, None, alert)
                continue
            alert.correlation_id = group.correlation_id
            alert.correlation_reason = reason
            if group.root_id is not None:
                alert.parent_id = group.root_id
            elif group.root is not alert:
                # a new root of this batch: its id is known when it was reserved (PostgreSQL),
                # else after the insert (`link_parents`)
                alert.parent_id = group.root.id
                self._pending.append((alert, group))

    def _site_groups(self, site_ids: set[int]) -> dict[int, _Group]:
        """The group of each site's earliest active alert in the window: one query, one row
        read per site (the index on site and first seen)."""
        if not site_ids:
            return {}
        firsts = (
            Site.objects.filter(id__in=site_ids)
            .annotate(
                first=self._recent()
                .filter(site_id=OuterRef("pk"))
                .order_by("first_seen_at", "id")
                .values("id")[:1]
            )
            .values("first")
        )
        groups = {}
        for alert_id, site_id, corr, parent_id in Alert.objects.filter(id__in=firsts).values_list(
            "id", "site_id", "correlation_id", "parent_id"
        ):
            groups[site_id] = _Group(corr or uuid.uuid4(), parent_id or alert_id)
        return groups

    def _storm_groups(self, located: list[Alert]) -> dict[tuple[int | None, str], _Group]:
        """Storm groups for the batch's (client, type) pairs, from each pair's first
        `SCAN_ROWS` alerts in the window; a pair they leave undecided is read whole."""
        batch_sites: dict[tuple[int | None, str], set[int | None]] = defaultdict(set)
        for alert in located:
            batch_sites[(alert.client_id, alert.type)].add(alert.site_id)
        threshold = settings.ALERT_STORM_SITES
        if not batch_sites or threshold < 1:
            return {}
        verdicts: dict[tuple[int | None, str], _Verdict] = {}
        undecided = list(batch_sites)
        for limit in (SCAN_ROWS, None):
            rows = self._pair_rows(undecided, limit)
            undecided = []
            for pair in rows:
                verdict = _decide(rows[pair], batch_sites[pair], threshold, limit)
                if verdict is None:
                    undecided.append(pair)
                else:
                    verdicts[pair] = verdict
            if not undecided:
                break
        groups: dict[tuple[int | None, str], _Group] = {}
        for pair, verdict in verdicts.items():
            if verdict.forms is None:
                continue  # below the threshold
            if verdict.head is not None:
                groups[pair] = verdict.head
                continue
            # a storm forms now: it takes in the pair's earlier alerts after the insert
            if verdict.forms:
                groups[pair] = _Group(uuid.uuid4(), verdict.forms)
            else:
                root = next(a for a in located if (a.client_id, a.type) == pair)
                groups[pair] = _Group(uuid.uuid4(), None, root)
            self._storms.append((*pair, groups[pair]))
        return groups

    def _pair_rows(self, pairs: list[tuple[int | None, str]], limit: int | None) -> dict:
        """Each pair's first `limit` (all if None) active alerts in the window with a site, in
        first-seen order, as (id, site id, reason, correlation id, parent id). On PostgreSQL
        one statement reads every pair through the active (client, type, first seen) index."""
        rows: dict[tuple[int | None, str], list[tuple]] = {pair: [] for pair in pairs}
        postgres = connection.vendor == "postgresql"
        by_query = [p for p in pairs if p[0] is None or not postgres]
        for client_id, kind in by_query:
            query = (
                self._recent()
                .filter(client_id=client_id, type=kind, site__isnull=False)
                .order_by("first_seen_at", "id")
                .values_list("id", "site_id", "correlation_reason", "correlation_id", "parent_id")
            )
            rows[(client_id, kind)] = list(query[:limit] if limit else query)
        lateral = [p for p in pairs if postgres and p[0] is not None]
        if lateral:
            with connection.cursor() as cursor:
                cursor.execute(
                    _PAIR_ROWS_SQL,
                    [[c for c, _ in lateral], [k for _, k in lateral], self.since, limit],
                )
                for client_id, kind, *row in cursor.fetchall():
                    rows[(client_id, kind)].append(tuple(row))
        return rows

    def link_parents(
        self,
        candidates: list[Alert],
        inserted: dict[str, bool],
        stored: dict[str, Alert] | None = None,
    ) -> None:
        """After the insert: point children at new roots. A new root that lost a race to a
        concurrent writer (`stored`: fingerprint → the row that writer opened) hands its
        children to that row's group. The storms that formed take in their pairs' earlier
        alerts once the batch has committed (`formed_storms`, `absorb_storms_after_commit`)."""
        stored = stored or {}
        children = []
        fields = ["parent"]
        for alert, group in self._pending:
            if not inserted.get(alert.fingerprint):
                continue
            winner = stored.get(group.root.fingerprint) if group.root is not None else None
            if winner is not None:
                alert.correlation_id = winner.correlation_id or alert.correlation_id
                alert.parent_id = winner.parent_id or winner.id
                fields = ["parent", "correlation_id"]
            elif alert.parent_id != group.parent_id():
                alert.parent_id = group.parent_id()
            else:
                continue  # inserted with its parent set (the root's id was reserved)
            children.append(alert)
        if children:
            update_alerts(children, fields)

    def formed_storms(self) -> list[tuple]:
        """(client id, type, correlation id, root id) of each storm this batch formed; after
        `link_parents`, when every root has its id."""
        return [(c, k, g.correlation_id, g.parent_id()) for c, k, g in self._storms]


def absorb_storms_after_commit(tenant_id: int, since: datetime, storms: list[tuple]) -> None:
    """`absorb_storms` once the current transaction commits. Register it after the batch's own
    events, so they are not held up by it; robust: the batch is committed by then, and an
    unexpected error is logged by Django instead of failing a request whose batch is stored."""
    if not storms:
        return

    def regroup_storms() -> None:  # a named function: Django logs a robust hook's __qualname__
        absorb_storms(tenant_id, since, storms)

    transaction.on_commit(regroup_storms, robust=True)


STORM_ATTEMPTS = 4
STORM_BACKOFF = 0.02  # seconds before the first retry; doubled each time, with jitter


def absorb_storms(tenant_id: int, since: datetime, storms: list[tuple]) -> None:
    """Move the earlier alerts of newly formed storms into their group, and tell open pages.

    Runs after the batch committed, in its own short transaction that locks the rows in id order
    before writing: inside the ingestion transaction these updates deadlocked with concurrent
    batches' inserts (measured: 51 deadlocks a minute when 16 senders opened new alerts at
    once). A lock conflict or an unavailable database (OperationalError) is retried with
    exponential backoff, then logged once and left: the batch's own alerts are stored and
    grouped whatever happens here. Anything else is a bug and is raised.
    """
    for attempt in range(STORM_ATTEMPTS):
        try:
            _regroup(tenant_id, since, storms)
            return
        except OperationalError as exc:
            if attempt == STORM_ATTEMPTS - 1:
                log.warning(
                    "storm regrouping of tenant %s given up after %d attempts (%s)",
                    tenant_id,
                    STORM_ATTEMPTS,
                    type(exc).__name__,
                )
                return
            time.sleep(STORM_BACKOFF * 2**attempt * random.uniform(1, 1.5))


_MOVED_FIELDS = ("correlation_id", "correlation_reason", "parent", "updated_at")


def _regroup(tenant_id: int, since: datetime, storms: list[tuple]) -> None:
    """One attempt of `absorb_storms`: one transaction; `alert.updated` for each alert whose
    group changed, published after its commit."""
    match = Q()
    for client_id, kind, _corr, _root in storms:
        match |= Q(client_id=client_id, type=kind)
    with transaction.atomic():
        rows = list(
            Alert.objects.for_tenant(tenant_id)
            .active()
            .filter(match, first_seen_at__gte=since, site__isnull=False)
            .order_by("id")
            .select_for_update(no_key=True)
            .values_list(
                "id",
                "client_id",
                "type",
                "correlation_id",
                "correlation_reason",
                "parent_id",
                "first_seen_at",
            )
        )
        now = timezone.now()
        by_pair: dict[tuple, list[tuple]] = defaultdict(list)
        for row in sorted(rows, key=lambda r: (r[6], r[0])):  # locked in id order, read as seen
            by_pair[(row[1], row[2])].append(row)
        changes: list[Alert] = []
        for client_id, kind, corr, _root in storms:
            pair = by_pair.get((client_id, kind))
            if not pair:
                continue
            # batches that formed the same storm at once converge on one group: the one of
            # the pair's earliest alert (first seen, then lowest id), which heads it
            root_id, _c, _k, first_corr, first_reason, _p, _seen = pair[0]
            if first_reason == CorrelationReason.STORM:
                corr = first_corr
            for r in pair:
                parent_id = None if r[0] == root_id else root_id
                if r[3] != corr or r[4] != CorrelationReason.STORM or r[5] != parent_id:
                    changes.append(
                        Alert(
                            id=r[0],
                            correlation_id=corr,
                            correlation_reason=CorrelationReason.STORM,
                            parent_id=parent_id,
                            updated_at=now,
                        )
                    )
        # one statement for every storm's moves (the rows are locked above): a statement per
        # storm cost ~2 ms each, 0.18 s after a fold that formed ~100 storms (docs/decisions.md)
        update_alerts(changes, list(_MOVED_FIELDS))
        moved = sorted(a.id for a in changes)
        if moved:
            publish_on_commit(
                alert_event("alert.updated", alert)
                for alert in Alert.objects.filter(id__in=moved).order_by("id")
            )
