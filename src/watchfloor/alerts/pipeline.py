"""The ingestion pipeline: validated events in, durable alerts and real-time events out.

Two halves. `prepare` validates a request's events synchronously (codes → rows, fingerprints;
`BatchInvalid` names index and field, nothing stored); the HTTP endpoints then append the prepared
batch to the staging table (alerts.staging) and answer. `fold` applies prepared batches to the
alerts: the staging drainer runs it over every batch pending for a tenant at once (group commit),
and `ingest` runs it at once over one batch (the demo's seeding, the services that raise alerts
themselves, tests of the fold's semantics). There is one route through the fold:

For a batch: locate (client/site codes → rows, one query each) → fingerprint → fold repeats inside
the batch → in one transaction: count the plain repeats in one statement (`writes.bump_repeats`:
an open alert that says the same and no window hides; only its counters move, no model instance)
→ lock the active alerts of the other fingerprints → suppress by maintenance window or
back-pressure → correlate new alerts (their ids reserved first on PostgreSQL, so children are
inserted with their parent) → insert new alerts in one statement (`ON CONFLICT` on the partial
unique index absorbs a concurrent writer's insert of the same fingerprint) → update the existing
ones in one statement → publish after commit.

Events of one fingerprint that follow each other in a batch (trigger, then resolve) are applied in
rounds: round k applies the k-th run of each fingerprint, so order is kept and each round is still
set-based. Almost every batch has exactly one round.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from watchfloor.alerts import hooks, metrics
from watchfloor.alerts.broadcast import alert_event, values_events
from watchfloor.alerts.correlation import Correlator, absorb_storms_after_commit
from watchfloor.alerts.events import BatchInvalid, Event, EventAction
from watchfloor.alerts.fingerprints import content_hash, fingerprint_of
from watchfloor.alerts.models import (
    Alert,
    Severity,
    Status,
    SuppressionReason,
)
from watchfloor.alerts.transitions import Step, next_status, status_after
from watchfloor.alerts.writes import (
    bump_repeats,
    insert_new_alerts,
    lock_active_alerts,
    reserve_alert_ids,
    update_alerts,
)
from watchfloor.events import Deferred, publish_on_commit
from watchfloor.maintenance.matcher import SuppressionMatcher
from watchfloor.tenancy.models import Client, Site
from watchfloor.ttl import TtlCache

log = logging.getLogger(__name__)

DEADLOCK_RETRIES = 8
RETRY_LOCK_CLASS = 0x57F1  # first key of the advisory lock retried batches take


class Outcome:
    CREATED = "created"
    DEDUPLICATED = "deduplicated"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"
    UNCHANGED = "unchanged"  # acknowledge of an alert already past NEW
    UNKNOWN = "unknown"  # resolve/acknowledge with no active alert of that fingerprint


@dataclass
class IngestResult:
    accepted: int = 0
    created: int = 0
    deduplicated: int = 0
    suppressed: int = 0
    resolved: int = 0
    acknowledged: int = 0
    outcomes: list[tuple[str, int | None, str]] = field(default_factory=list)

    def counts(self) -> dict:
        """What every integration answers: how the batch's events were taken."""
        return {
            "accepted": self.accepted,
            "created": self.created,
            "deduplicated": self.deduplicated,
            "suppressed": self.suppressed,
            "resolved": self.resolved,
        }

    def as_dict(self) -> dict:
        """The native API's answer: the counts, acknowledgements and one entry per alert."""
        return {
            **self.counts(),
            "acknowledged": self.acknowledged,
            "alerts": [{"fingerprint": f, "id": i, "outcome": o} for f, i, o in self.outcomes],
        }


@dataclass
class Located:
    client_id: int | None
    site_id: int | None


@dataclass
class Run:
    """Consecutive events of one action for one fingerprint; `event` is the latest of them."""

    action: EventAction
    fingerprint: str
    event: Event
    where: Located
    count: int = 1
    first_at: datetime | None = None
    _digest: str | None = None

    def digest(self) -> str:
        """The content hash of the run's latest event, computed once."""
        if self._digest is None:
            self._digest = content_hash(self.event)
        return self._digest


# --- locate -------------------------------------------------------------------------------------


# Codes → rows, per process for a short while: a tenant's whole directory of client (or site)
# codes in one query, so an expiry costs one query per tenant and process, not one per code
# (at every expiry each code's first request queried it: 7 % of the request threads' samples
# in a profiled single-alert phase). A code created since the directory was read is a miss that
# goes to the database (found at once); a site moved to another client is seen within
# CODE_CACHE.ttl seconds.
CODE_CACHE = TtlCache("site_and_client_codes", ttl=30)


def _code_rows(model, tenant_id: int, columns: tuple[str, ...], codes=None) -> dict:
    """code → its values (a tuple of `columns`, or the one value): the tenant's every code,
    or only `codes`."""
    rows = model.objects.for_tenant(tenant_id)
    if codes is not None:
        rows = rows.filter(code__in=codes)
    return {
        code: tuple(values) if len(values) > 1 else values[0]
        for code, *values in rows.values_list("code", *columns)
    }


def _codes(model, tenant_id: int, codes: set[str], columns: tuple[str, ...]) -> dict:
    """code → values for the codes that exist: from the tenant's cached directory, the codes
    missing from it by one query (added to it)."""
    directory = CODE_CACHE.get_or_load(
        (model.__name__, tenant_id), partial(_code_rows, model, tenant_id, columns)
    )
    found, missing = {}, []
    for code in codes:
        value = directory.get(code)
        if value is None:
            missing.append(code)
        else:
            found[code] = value
    if missing:
        added = _code_rows(model, tenant_id, columns, missing)
        directory.update(added)  # the cached dict: a later request finds them too
        found.update(added)
    return found


def _locate(events: list[Event], key, *, strict: bool) -> list[Located]:
    """Client and site for each event: its codes, else the integration key's defaults."""
    site_codes = {e.site_code for e in events if e.site_code}
    client_codes = {e.client_code for e in events if e.client_code}
    sites = _codes(Site, key.tenant_id, site_codes, ("id", "client_id")) if site_codes else {}
    clients = _codes(Client, key.tenant_id, client_codes, ("id",)) if client_codes else {}
    errors: dict[str, str] = {}
    located: list[Located] = []
    for index, event in enumerate(events):
        client_id = clients.get(event.client_code) if event.client_code else None
        site = sites.get(event.site_code) if event.site_code else None
        if event.client_code and client_id is None and strict:
            errors[f"{index}.client"] = f"No client with code {event.client_code!r}."
        if event.site_code and site is None and strict:
            errors[f"{index}.site"] = f"No site with code {event.site_code!r}."
        if site is not None:
            site_id, site_client = site
            if client_id is not None and client_id != site_client:
                if strict:
                    errors[f"{index}.site"] = (
                        f"Site {event.site_code!r} does not belong to client {event.client_code!r}."
                    )
                site_id = None
            else:
                client_id = site_client
        else:
            site_id = None
        if client_id is None and site_id is None:
            client_id, site_id = key.default_client_id, key.default_site_id
        elif site_id is None and client_id == key.default_client_id:
            site_id = key.default_site_id
        located.append(Located(client_id=client_id, site_id=site_id))
    if errors:
        raise BatchInvalid(errors)
    return located


@dataclass(slots=True)
class Prepared:
    """An event validated, located, fingerprinted and hashed: what the staging table keeps.

    `digest` is a trigger's content hash, computed by the request that staged it so the fold
    (one drainer per tenant at a time) does not; None for other actions (nothing compares
    their content) and in a batch staged before the hash moved to the request (the fold then
    computes it when a trigger needs it)."""

    event: Event
    where: Located
    fingerprint: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """What the fold needs of the integration key a batch came with."""

    tenant_id: int
    id: int | None
    source: str


def sender_of(key) -> Sender:
    return Sender(tenant_id=key.tenant_id, id=key.id, source=key.source)


def prepare(events: list[Event], *, key, strict_codes: bool = True) -> list[Prepared]:
    """Validate a request's events for the key's tenant; raises BatchInvalid, stores nothing.

    `strict_codes` refuses unknown client or site codes (native API); monitoring integrations
    pass False so an unknown label never drops an alert: it falls back to the key's defaults.
    """
    if len(events) > settings.ALERT_MAX_BATCH:
        raise BatchInvalid({"body": f"At most {settings.ALERT_MAX_BATCH} events per request."})
    if not events:
        return []
    located = _locate(events, key, strict=strict_codes)
    return [
        Prepared(
            event,
            where,
            fingerprint_of(event, site_id=where.site_id),
            # only a trigger's content is compared with the stored alert's
            (event.digest or content_hash(event)) if event.action == EventAction.TRIGGER else None,
        )
        for event, where in zip(events, located, strict=True)
    ]


def _runs(prepared: list[Prepared]) -> list[dict[str, Run]]:
    """Rounds of runs: round k holds the k-th run of actions of each fingerprint."""
    per_fp: dict[str, list[Run]] = defaultdict(list)
    for item in prepared:
        event, where, fp = item.event, item.where, item.fingerprint
        runs = per_fp[fp]
        at = event.occurred_at
        if runs and runs[-1].action == event.action:
            run = runs[-1]
            run.count += 1
            run.event, run.where, run._digest = event, where, item.digest
            if at and (run.first_at is None or at < run.first_at):
                run.first_at = at
        else:
            runs.append(
                Run(
                    action=event.action,
                    fingerprint=fp,
                    event=event,
                    where=where,
                    first_at=at,
                    _digest=item.digest,
                )
            )
    rounds: list[dict[str, Run]] = []
    for fp, runs in per_fp.items():
        for k, run in enumerate(runs):
            if k == len(rounds):
                rounds.append({})
            rounds[k][fp] = run
    return rounds


# --- apply --------------------------------------------------------------------------------------


class _Batch:
    """State shared by the rounds of one batch inside its transaction."""

    def __init__(self, key: Sender, now: datetime):
        self.key = key
        self.now = now
        self.source = key.source
        self.matcher = SuppressionMatcher.for_tenant(key.tenant_id, now)
        self.result = IngestResult()
        self.events: list[dict | Deferred] = []
        self._new_count: int | None = None
        self.suppressed_by: dict[str, int] = defaultdict(int)
        self.storms: list[tuple] = []  # formed by this batch: regrouped after it commits
        # what the apps above are told after commit (alerts.hooks)
        self.created_ids: list[int] = []
        self.changed_ids: list[int] = []
        self.resolved_ids: list[int] = []
        self.correlation_since = now - timedelta(seconds=settings.ALERT_CORRELATION_WINDOW)

    def count_metrics(self) -> None:
        """Counters move only for a committed batch (a retried one is counted once)."""
        r, source = self.result, self.source
        metrics.INGESTED.labels(source).inc(r.accepted)
        metrics.CREATED.labels(source).inc(r.created)
        metrics.DEDUPLICATED.labels(source).inc(r.deduplicated)
        metrics.RESOLVED.labels(source).inc(r.resolved)
        for reason, n in self.suppressed_by.items():
            metrics.SUPPRESSED.labels(source, reason).inc(n)

    def new_alert_count(self) -> int:
        """NEW alerts in the tenant, counted once per batch and kept up to date by the batch;
        counted up to the back-pressure threshold only (what it is compared with): past it,
        the count is the threshold plus the batch's own (a tenant with 10,000 NEW alerts cost
        6.7 ms a fold to count whole, docs/decisions.md)."""
        if self._new_count is None:
            self._new_count = _new_alerts_up_to_threshold(self.key.tenant_id)
        return self._new_count

    def note_new(self, n: int) -> None:
        if self._new_count is not None:
            self._new_count += n


# tenant → when this process last counted it at the back-pressure threshold
_under_pressure: dict[int, float] = {}


def _new_alerts_up_to_threshold(tenant_id: int) -> int:
    """The tenant's NEW alerts, counted up to the back-pressure threshold. A tenant counted at
    the threshold is taken as still there for `ALERT_BACKPRESSURE_RECHECK` seconds without a
    count: in a storm every fold of an INFO repeat asked (1.5 ms each, a tenth of a
    single-alert fold's samples, docs/decisions.md); below the threshold it is counted every
    time, so pressure that ends is seen within that second."""
    cap = settings.ALERT_BACKPRESSURE_THRESHOLD
    seen = _under_pressure.get(tenant_id)
    if seen is not None and time.monotonic() - seen < settings.ALERT_BACKPRESSURE_RECHECK:
        return cap
    head = Alert.objects.for_tenant(tenant_id).filter(status=Status.NEW)
    count = head.values("id")[:cap].count()
    if count >= cap:
        _under_pressure[tenant_id] = time.monotonic()
    else:
        _under_pressure.pop(tenant_id, None)
    return count


def forget_pressure() -> None:
    """Count every tenant again at its next INFO trigger (tests)."""
    _under_pressure.clear()


def _window(batch: _Batch, run: Run):
    """The maintenance window that hides this trigger now, or None."""
    if not batch.matcher:
        return None
    e = run.event
    return batch.matcher.match(
        client_id=run.where.client_id,
        site_id=run.where.site_id,
        alert_type=e.type,
        labels=e.labels,
    )


def _suppression(batch: _Batch, run: Run, *, status: str | None):
    """(reason, window) when this trigger is to be hidden now, else (None, None).

    `status` is the active alert's (None for a new one). A maintenance window hides whatever it
    matches. Back-pressure hides an INFO trigger that would open a NEW alert (a new one, or one
    that is SUPPRESSED) while the tenant has too many NEW alerts; it never hides an open alert.
    """
    window = _window(batch, run)
    if window is not None:
        return SuppressionReason.MAINTENANCE, window
    if (
        status in (None, Status.SUPPRESSED)
        and run.event.severity == Severity.INFO
        and batch.new_alert_count() >= settings.ALERT_BACKPRESSURE_THRESHOLD
    ):
        return SuppressionReason.BACKPRESSURE, None
    return None, None


_alert_defaults: dict = {}
_alert_callable_defaults: frozenset[str] = frozenset()


def _unsaved_alert(values: dict) -> Alert:
    """`Alert(**values)` for attnames, without Model.__init__'s per-field walk (~40 µs an
    alert, a fifth of a first pass's fold): every concrete field's default, then `values`, in
    the instance's dict, as __init__ leaves them (tests/alerts/test_fold_setbased.py compares
    the two). Fields with a callable default (a new dict each) must be in `values`."""
    global _alert_defaults, _alert_callable_defaults
    if not _alert_defaults:
        fields = Alert._meta.concrete_fields
        _alert_callable_defaults = frozenset(
            f.attname for f in fields if f.has_default() and callable(f.default)
        )
        _alert_defaults = {
            f.attname: f.get_default() for f in fields if f.attname not in _alert_callable_defaults
        }
    if not _alert_callable_defaults <= values.keys():
        raise TypeError(f"give {sorted(_alert_callable_defaults - values.keys())}")
    alert = Alert.__new__(Alert)
    alert.__dict__.update(_alert_defaults)
    alert.__dict__.update(values)
    alert._state = ModelState()
    return alert


def _new_alert(batch: _Batch, run: Run) -> Alert:
    e, now = run.event, batch.now
    reason, window = _suppression(batch, run, status=None)
    status = status_after(None, Step.TRIGGER_HIDDEN if reason else Step.TRIGGER)
    alert = _unsaved_alert(
        dict(
            tenant_id=batch.key.tenant_id,
            client_id=run.where.client_id,
            site_id=run.where.site_id,
            source=batch.source,
            integration_key_id=batch.key.id,
            type=e.type,
            severity=e.severity,
            status=status,
            title=e.title or e.type,
            description=e.description,
            fingerprint=run.fingerprint,
            content_hash=run.digest(),
            entity_type=e.entity_type,
            entity_id=e.entity_id,
            labels=e.labels,
            annotations=e.annotations,
            source_url=e.source_url,
            runbook_url=e.runbook_url,
            occurrence_count=run.count,
            suppressed_count=run.count if reason else 0,
            first_seen_at=now,
            last_seen_at=now,
            started_at=run.first_at,
            suppression_reason=reason or "",
            created_at=now,
            updated_at=now,
        )
    )
    if window is not None:
        alert.maintenance_window = window
    return alert


_CONTENT_FIELDS = {
    "content_hash",
    "type",
    "severity",
    "title",
    "description",
    "labels",
    "annotations",
    "source_url",
    "runbook_url",
}


def _repeat(batch: _Batch, alert: Alert, run: Run) -> tuple[set[str], str | None]:
    """Fold a repeat trigger into the active alert: (the fields it changed, the reason it is
    hidden now or None). A suppressed alert is judged again as if it were new: it opens once
    no window matches it and back-pressure has eased; while hidden its `suppressed_count`
    grows and its reason is the current one."""
    e, now = run.event, batch.now
    changed = {"occurrence_count", "last_seen_at", "updated_at"}
    alert.occurrence_count += run.count
    alert.last_seen_at = now
    alert.updated_at = now
    reason, window = _suppression(batch, run, status=alert.status)
    status = status_after(alert.status, Step.TRIGGER_HIDDEN if reason else Step.TRIGGER)
    if reason:
        alert.suppressed_count += run.count
        changed.add("suppressed_count")
    if status != alert.status:
        alert.status = status
        changed.add("status")
        if status == Status.NEW:
            batch.note_new(1)
    stored_reason = (reason or "") if status == Status.SUPPRESSED else ""
    if alert.suppression_reason != stored_reason:
        alert.suppression_reason = stored_reason
        changed.add("suppression_reason")
    if (
        status == Status.SUPPRESSED
        and window is not None
        and alert.maintenance_window_id != window.id
    ):
        alert.maintenance_window = window
        changed.add("maintenance_window")
    digest = run.digest()
    if digest != alert.content_hash:
        alert.content_hash = digest
        alert.type, alert.severity = e.type, e.severity
        alert.title, alert.description = e.title or e.type, e.description
        alert.labels, alert.annotations = e.labels, e.annotations
        alert.source_url, alert.runbook_url = e.source_url, e.runbook_url
        changed |= _CONTENT_FIELDS
    return changed, reason


def _close(batch: _Batch, alert: Alert) -> set[str]:
    now = batch.now
    alert.status = status_after(alert.status, Step.RESOLVE)
    alert.resolved_at = now
    alert.time_to_resolve = now - alert.first_seen_at
    alert.resolution_note = f"Resolved by {batch.source}."
    alert.updated_at = now
    return {"status", "resolved_at", "time_to_resolve", "resolution_note", "updated_at"}


def _acknowledge(batch: _Batch, alert: Alert) -> set[str]:
    now = batch.now
    alert.status = status_after(alert.status, Step.ACKNOWLEDGE)
    alert.acknowledged_at = now
    alert.time_to_acknowledge = now - alert.first_seen_at
    alert.updated_at = now
    return {"status", "acknowledged_at", "time_to_acknowledge", "updated_at"}


def _apply_to_active(batch: _Batch, alert: Alert, run: Run) -> set[str]:
    """Apply a run to the active alert of its fingerprint and report it; returns the fields
    to write (none when the event changes nothing)."""
    result = batch.result
    fp = run.fingerprint
    if run.action == EventAction.TRIGGER:
        changed, reason = _repeat(batch, alert, run)
        if reason:
            outcome = Outcome.SUPPRESSED
            result.suppressed += run.count
            batch.suppressed_by[reason] += run.count
        else:
            outcome = Outcome.DEDUPLICATED
            result.deduplicated += run.count
        if changed & {"severity", "type", "status"}:
            batch.changed_ids.append(alert.id)
        batch.events.append(alert_event("alert.updated", alert))
    else:
        step = Step.RESOLVE if run.action == EventAction.RESOLVE else Step.ACKNOWLEDGE
        if next_status(alert.status, step) is None:
            result.outcomes.append((fp, alert.id, Outcome.UNCHANGED))
            return set()
        if step == Step.RESOLVE:
            changed = _close(batch, alert)
            outcome = Outcome.RESOLVED
            result.resolved += 1
            batch.resolved_ids.append(alert.id)
            batch.events.append(alert_event("alert.resolved", alert))
        else:
            changed = _acknowledge(batch, alert)
            outcome = Outcome.ACKNOWLEDGED
            result.acknowledged += 1
            batch.events.append(alert_event("alert.updated", alert))
    result.outcomes.append((fp, alert.id, outcome))
    return changed


def _apply_to_all(batch: _Batch, pairs: list[tuple[Alert | None, Run]]) -> None:
    """`_apply_to_active` for each (alert, run), then one UPDATE for all of them; a run with no
    active alert (a resolve or acknowledge) is reported unknown."""
    to_update: list[Alert] = []
    update_fields: set[str] = set()
    for alert, run in pairs:
        if alert is None:
            batch.result.outcomes.append((run.fingerprint, None, Outcome.UNKNOWN))
            continue
        changed = _apply_to_active(batch, alert, run)
        if changed:
            to_update.append(alert)
            update_fields |= changed
    if to_update:
        update_alerts(to_update, sorted(update_fields))


def _bump_plain_repeats(batch: _Batch, runs: dict[str, Run]) -> set[str]:
    """Fold the round's plain repeats set-based (`writes.bump_repeats`); returns their
    fingerprints. A statement for each kind: a trigger no maintenance window hides; one a
    window hides (only its counters and `suppressed_count` move when its alert is open, or
    suppressed by that same window); and, while the tenant is under back-pressure, an INFO
    trigger of an alert back-pressure suppressed. Each statement takes the ones whose active
    alert is in that state and says the same (as `_repeat` would move them), and the rest go
    through the locked path. Counted and published like `_repeat`'s plain case: deduplicated
    (or suppressed), one `alert.updated` each, no alert-change hook (nothing the rules read
    changed)."""
    shown: list[Run] = []
    hidden: list[Run] = []
    windows: list[int] = []
    for run in runs.values():
        if run.action != EventAction.TRIGGER:
            continue
        window = _window(batch, run)
        if window is None:
            shown.append(run)
        else:
            hidden.append(run)
            windows.append(window.id)
    done: set[str] = set()
    if shown:
        _count_bumped(batch, runs, done, _bump(batch, shown), None)
    if hidden:
        rows = _bump(batch, hidden, window_id=windows)
        _count_bumped(batch, runs, done, rows, SuppressionReason.MAINTENANCE)
    held = [r for r in shown if r.fingerprint not in done and r.event.severity == Severity.INFO]
    if held and batch.new_alert_count() >= settings.ALERT_BACKPRESSURE_THRESHOLD:
        rows = _bump(batch, held, backpressure=True)
        _count_bumped(batch, runs, done, rows, SuppressionReason.BACKPRESSURE)
    return done


def _bump(batch: _Batch, tried: list[Run], **hidden) -> list[dict]:
    return bump_repeats(
        batch.key.tenant_id,
        [(r.fingerprint, r.digest(), r.count) for r in tried],
        batch.now,
        **hidden,
    )


def _count_bumped(
    batch: _Batch, runs: dict[str, Run], done: set[str], rows: list[dict], reason
) -> None:
    result = batch.result
    outcome = Outcome.SUPPRESSED if reason else Outcome.DEDUPLICATED
    counted = 0
    for values in rows:
        fp = values["fingerprint"]
        done.add(fp)
        counted += runs[fp].count
        result.outcomes.append((fp, values["id"], outcome))
    if reason:
        result.suppressed += counted
        batch.suppressed_by[reason] += counted
    else:
        result.deduplicated += counted
    if rows:  # built when sent: on the fold worker, by the publisher thread
        batch.events.append(partial(values_events, "alert.updated", rows))


def _apply_round(batch: _Batch, runs: dict[str, Run]) -> None:
    plain = _bump_plain_repeats(batch, runs)
    rest = [fp for fp in runs if fp not in plain]
    if not rest:
        return
    existing = {a.fingerprint: a for a in lock_active_alerts(batch.key.tenant_id, rest)}
    pairs: list[tuple[Alert | None, Run]] = []
    new_runs: list[Run] = []
    for fp in rest:
        run = runs[fp]
        alert = existing.get(fp)
        if alert is None and run.action == EventAction.TRIGGER:
            new_runs.append(run)
        else:
            pairs.append((alert, run))
    _apply_to_all(batch, pairs)
    if new_runs:
        _create(batch, new_runs)


def _create(batch: _Batch, new_runs: list[Run]) -> None:
    result = batch.result
    candidates = [_new_alert(batch, run) for run in new_runs]
    ids = reserve_alert_ids(len(candidates))
    if ids is not None:
        for alert, pk in zip(candidates, ids, strict=True):
            alert.id = pk
    correlator = Correlator(
        batch.key.tenant_id, batch.now, timedelta(seconds=settings.ALERT_CORRELATION_WINDOW)
    )
    correlator.assign(candidates)
    inserted = insert_new_alerts(candidates)
    batch.note_new(sum(1 for a in candidates if inserted[a.fingerprint] and a.status == Status.NEW))
    lost = [
        run
        for alert, run in zip(candidates, new_runs, strict=True)
        if not inserted[alert.fingerprint]
    ]
    # a concurrent writer opened these fingerprints first: fold this batch's runs into the
    # stored rows (ON CONFLICT locked them) like any repeat, and report the stored rows
    stored = (
        {
            a.fingerprint: a
            for a in lock_active_alerts(batch.key.tenant_id, [r.fingerprint for r in lost])
        }
        if lost
        else {}
    )
    correlator.link_parents(candidates, inserted, stored)
    batch.storms += correlator.formed_storms()
    created: list[dict] = []
    for alert, run in zip(candidates, new_runs, strict=True):
        if not inserted[alert.fingerprint]:
            continue
        if alert.status == Status.SUPPRESSED:
            outcome = Outcome.SUPPRESSED
            result.suppressed += run.count
            batch.suppressed_by[alert.suppression_reason] += run.count
        else:
            outcome = Outcome.CREATED
            result.created += 1
            batch.created_ids.append(alert.id)
            if run.count > 1:
                result.deduplicated += run.count - 1
        created.append(vars(alert))
        result.outcomes.append((alert.fingerprint, alert.id, outcome))
    if created:
        # built when sent, from the alerts' attribute dicts (nothing writes to these alerts
        # after this): on a fold worker, by the publisher thread, while the fold goes on
        batch.events.append(partial(values_events, "alert.created", created))
    _apply_to_all(batch, [(stored[run.fingerprint], run) for run in lost])


def _serialize_retries(tenant_id: int) -> None:
    """A batch retried after a deadlock first takes its tenant's retry lock (PostgreSQL), so
    batches that collided once queue behind each other instead of colliding again."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RETRY_LOCK_CLASS, tenant_id])


def _is_deadlock(exc: OperationalError) -> bool:
    cause = getattr(exc, "__cause__", None)
    return getattr(cause, "sqlstate", None) in {"40P01", "40001"}


def _fold_one(sender: Sender, prepared: list[Prepared], now: datetime) -> _Batch:
    """Apply one segment (consecutive batches of one sender) in the caller's transaction."""
    batch = _Batch(sender, now)
    for runs in _runs(prepared):
        _apply_round(batch, runs)
    publish_on_commit(batch.events)
    absorb_storms_after_commit(sender.tenant_id, batch.correlation_since, batch.storms)
    batch.result.accepted = len(prepared)
    return batch


def fold(segments: list[tuple[Sender, list[Prepared]]], *, now: datetime | None = None):
    """Apply prepared batches, in order, inside the caller's transaction; one tenant's.

    Returns the segments' `_Batch`es: the caller calls `count_metrics()` on each once its
    transaction has committed. Publishing, storm regrouping and the alert-change hooks are
    registered to run after that commit (the hooks once for all segments).
    """
    now = now or timezone.now()
    batches = [_fold_one(sender, prepared, now) for sender, prepared in segments if prepared]
    if batches:
        hooks.after_commit(
            hooks.changes(
                batches[0].key.tenant_id,
                created=[i for b in batches for i in b.created_ids],
                changed=[i for b in batches for i in b.changed_ids],
                resolved=[i for b in batches for i in b.resolved_ids],
            )
        )
    return batches


def with_deadlock_retries(tenant_id: int, work):
    """Run `work()` in a transaction; a deadlock (or serialization failure) rolls it back and
    runs it again, behind the tenant's retry lock. Nested in a caller's transaction, no retry."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            with transaction.atomic():
                if attempt:
                    _serialize_retries(tenant_id)
                return work()
        except OperationalError as exc:
            if (
                not _is_deadlock(exc)
                or attempt == DEADLOCK_RETRIES - 1
                or connection.in_atomic_block
            ):
                raise
            log.info("ingestion fold hit a deadlock; retrying (attempt %d)", attempt + 2)
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")


def ingest(
    events: list[Event], *, key, strict_codes: bool = True, now: datetime | None = None
) -> IngestResult:
    """Validate and fold a batch at once (no staging); raises BatchInvalid first.

    Every accepted event is durable when this returns. The HTTP endpoints stage instead
    (alerts.staging.stage) and the drainer folds; this is the same fold, for callers that need
    the outcome now: the demo's seeding and tests of the fold's semantics.
    """
    prepared = prepare(events, key=key, strict_codes=strict_codes)
    if not prepared:
        return IngestResult()
    sender = sender_of(key)
    [batch] = with_deadlock_retries(sender.tenant_id, lambda: fold([(sender, prepared)], now=now))
    batch.count_metrics()
    return batch.result
