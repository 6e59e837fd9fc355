"""Operations feeds: the batched upsert of field records by external id (every write here).

`upsert_records(kind, records, actor=key)` takes a batch the API has already typed and bounded
(`operations.schemas`) and:

1. checks what needs the database or the whole record — client and site codes (the key's
   default client and site when absent), references to devices and attendance records, one time
   before another — for the WHOLE batch; any problem raises `BatchInvalid` naming
   `records.<index>.<field>`, and nothing is stored;
2. folds repeats of one external id inside the batch (the last one wins);
3. in one transaction, reads the stored rows of those external ids (locked on PostgreSQL),
   sorts each record into created / updated / unchanged / stale (a `source_updated_at` older than
   the stored one is ignored), and writes the created and updated ones with one
   `INSERT … ON CONFLICT (tenant, external_id) DO UPDATE` (`bulk_create(update_conflicts=True)`);
4. audits the batch (one `feed.upsert` entry with its counts) and, after commit, hands the ids
   it created or changed to `settings.OPERATIONS_CHANGE_HOOKS` (the feed rules).

Sending the same batch twice leaves the same state: the second answer counts it all unchanged.
A ticket without `sla_due_at` gets `opened_at` plus the tenant's SLA hours for its priority. A
device whose position changes keeps the one before in `previous_*` (DEVICE_SPOOF judges the
move between the two).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from watchfloor import degrade
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.operations.models import (
    AttendanceRecord,
    Device,
    FeedRecord,
    GeofenceEvent,
    OperationsPolicy,
    Ticket,
    WorkOrder,
)
from watchfloor.tenancy.models import Client, Site


class BatchInvalid(Exception):
    """A batch refused whole; `fields` maps `records.<index>.<field>` to what is wrong."""

    message = "The request is not valid."

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class FeedKind:
    name: str  # "tickets": the API's and the audit's name for it
    model: type[FeedRecord]
    # the model fields a record sets besides client, site and source_updated_at
    fields: tuple[str, ...]
    # what `OPERATIONS_CHANGE_HOOKS` are told (`operations.rules.KINDS`: "ticket", "device", …)
    record_kind: str = ""


TICKETS = FeedKind(
    "tickets",
    Ticket,
    (
        "title",
        "category",
        "priority",
        "status",
        "opened_at",
        "sla_due_at",
        "resolved_at",
        "escalation_level",
        "assignee_name",
    ),
    "ticket",
)
WORK_ORDERS = FeedKind(
    "work_orders",
    WorkOrder,
    (
        "title",
        "category",
        "priority",
        "status",
        "scheduled_for",
        "deadline_at",
        "completed_at",
        "assignee_name",
    ),
    "work_order",
)
DEVICES = FeedKind(
    "devices",
    Device,
    (
        "name",
        "device_type",
        "status",
        "last_seen_at",
        "last_sync_at",
        "battery_percent",
        "latitude",
        "longitude",
        "located_at",
        "previous_latitude",
        "previous_longitude",
        "previously_located_at",
    ),
    "device",
)
ATTENDANCE = FeedKind(
    "attendance",
    AttendanceRecord,
    (
        "person_ref",
        "person_name",
        "shift_start",
        "shift_end",
        "status",
        "checked_in_at",
        "checked_out_at",
    ),
    "attendance",
)
GEOFENCE_EVENTS = FeedKind(
    "geofence_events",
    GeofenceEvent,
    (
        "person_ref",
        "attendance_id",
        "device_id",
        "kind",
        "occurred_at",
        "latitude",
        "longitude",
        "distance_m",
    ),
    "geofence_event",
)
KINDS = {k.name: k for k in (TICKETS, WORK_ORDERS, DEVICES, ATTENDANCE, GEOFENCE_EVENTS)}

# pairs that must be in order when both are given: (earlier, later)
_ORDERED = {
    "tickets": [("opened_at", "resolved_at")],
    "work_orders": [],
    "devices": [],
    "attendance": [("shift_start", "shift_end"), ("checked_in_at", "checked_out_at")],
    "geofence_events": [],
}
# fields that come together or not at all
_PAIRED = {"devices": [("latitude", "longitude")], "geofence_events": [("latitude", "longitude")]}


@dataclass
class UpsertResult:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    duplicates: int = 0
    created_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "duplicates": self.duplicates,
        }


def policy_for(tenant_id: int) -> OperationsPolicy:
    """The tenant's thresholds, or the defaults (unsaved) when it never edited them."""
    return OperationsPolicy.objects.filter(tenant_id=tenant_id).first() or OperationsPolicy(
        tenant_id=tenant_id
    )


# --- validation of the whole batch --------------------------------------------------------------


def _locate(records: list[dict], key, problems: dict[str, str]) -> list[tuple[int, int | None]]:
    """(client id, site id) of each record: its codes (one query each), else the key's
    defaults. A code that does not exist in the key's tenant is a problem of that record."""
    tenant_id = key.tenant_id
    client_codes = {r["client"] for r in records if r.get("client")}
    site_codes = {r["site"] for r in records if r.get("site")}
    clients = (
        dict(
            Client.objects.filter(tenant_id=tenant_id, code__in=client_codes).values_list(
                "code", "id"
            )
        )
        if client_codes
        else {}
    )
    sites = (
        {
            code: (site_id, client_id)
            for code, site_id, client_id in Site.objects.filter(
                tenant_id=tenant_id, code__in=site_codes
            ).values_list("code", "id", "client_id")
        }
        if site_codes
        else {}
    )
    located: list[tuple[int, int | None]] = []
    for index, rec in enumerate(records):
        where = f"records.{index}"
        client_code, site_code = rec.get("client"), rec.get("site")
        client_id = clients.get(client_code) if client_code else None
        site_id: int | None = None
        if client_code and client_id is None:
            problems.setdefault(f"{where}.client", f"No client with code {client_code!r}.")
        if site_code:
            found = sites.get(site_code)
            if found is None:
                problems.setdefault(f"{where}.site", f"No site with code {site_code!r}.")
            else:
                site_id, site_client = found
                if client_id is not None and site_client != client_id:
                    problems.setdefault(
                        f"{where}.site",
                        f"Site {site_code!r} does not belong to client {client_code!r}.",
                    )
                client_id = site_client
        elif not client_code:
            client_id, site_id = key.default_client_id, key.default_site_id
        elif client_id is not None and client_id == key.default_client_id:
            site_id = key.default_site_id
        if client_id is None and not client_code and not site_code:
            problems.setdefault(
                f"{where}.client",
                "This field is required (the integration key has no default client).",
            )
        located.append((client_id or 0, site_id))
    return located


def _references(
    kind: FeedKind, records: list[dict], tenant_id: int, problems: dict[str, str]
) -> None:
    """Geofence events name their device and attendance record by external id: → row ids."""
    if kind is not GEOFENCE_EVENTS:
        return
    for name, model in (("device", Device), ("attendance", AttendanceRecord)):
        wanted = {r[name] for r in records if r.get(name)}
        ids = (
            dict(
                model.objects.filter(tenant_id=tenant_id, external_id__in=wanted).values_list(
                    "external_id", "id"
                )
            )
            if wanted
            else {}
        )
        for index, rec in enumerate(records):
            ref = rec.pop(name, None)
            rec[f"{name}_id"] = ids.get(ref) if ref else None
            if ref and rec[f"{name}_id"] is None:
                problems.setdefault(
                    f"records.{index}.{name}", f"No {name} with external id {ref!r}."
                )


def _consistent(kind: FeedKind, records: list[dict], problems: dict[str, str]) -> None:
    for index, rec in enumerate(records):
        for earlier, later in _ORDERED[kind.name]:
            if rec.get(earlier) and rec.get(later) and rec[later] < rec[earlier]:
                problems.setdefault(f"records.{index}.{later}", f"Must not be before {earlier}.")
        for first, second in _PAIRED.get(kind.name, []):
            if (rec.get(first) is None) != (rec.get(second) is None):
                missing = second if rec.get(second) is None else first
                problems.setdefault(
                    f"records.{index}.{missing}", f"Send {first} and {second} together."
                )


# --- the upsert ----------------------------------------------------------------------------------


def _values(kind: FeedKind, rec: dict, policy: OperationsPolicy) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: rec.get(name) for name in kind.fields if not name.startswith("previous")
    }
    if kind is TICKETS and values["sla_due_at"] is None:
        values["sla_due_at"] = values["opened_at"] + timedelta(
            hours=policy.sla_hours(values["priority"])
        )
    for name in ("category", "assignee_name", "person_name", "person_ref"):
        if name in values and values[name] is None:
            values[name] = ""
    return values


def _keep_previous_position(values: dict[str, Any], stored: Device | None) -> None:
    """A changed position moves the stored one into `previous_*`; otherwise they stay."""
    if stored is None:
        values.update(previous_latitude=None, previous_longitude=None, previously_located_at=None)
        return
    moved = stored.latitude is not None and (
        (values["latitude"], values["longitude"]) != (stored.latitude, stored.longitude)
    )
    if moved and values["latitude"] is not None:
        values.update(
            previous_latitude=stored.latitude,
            previous_longitude=stored.longitude,
            previously_located_at=stored.located_at,
        )
    else:
        values.update(
            previous_latitude=stored.previous_latitude,
            previous_longitude=stored.previous_longitude,
            previously_located_at=stored.previously_located_at,
        )


def _same(stored: FeedRecord, values: dict[str, Any]) -> bool:
    return all(getattr(stored, name) == value for name, value in values.items())


def upsert_records(kind: str, records: list[dict], *, actor, now: datetime | None = None):
    """Store a batch of one kind for the tenant of `actor` (an `operations` IntegrationKey).

    `records` are the API's typed dicts (`schema.model_dump()`); raises `BatchInvalid` (nothing
    stored) or returns an `UpsertResult` once everything is committed.
    """
    feed = KINDS[kind]
    key = actor
    tenant_id = key.tenant_id
    if not records:
        raise BatchInvalid({"records": "Send at least one record."})
    if len(records) > settings.OPERATIONS_MAX_BATCH:
        raise BatchInvalid({"records": f"At most {settings.OPERATIONS_MAX_BATCH} records."})
    records = [dict(r) for r in records]
    problems: dict[str, str] = {}
    located = _locate(records, key, problems)
    _references(feed, records, tenant_id, problems)
    _consistent(feed, records, problems)
    if problems:
        raise BatchInvalid(problems)

    now = now or timezone.now()
    policy = policy_for(tenant_id)
    # the last record of an external id wins; its position in the batch decides the order
    latest: dict[str, int] = {}
    for index, rec in enumerate(records):
        latest.pop(rec["external_id"], None)
        latest[rec["external_id"]] = index
    result = UpsertResult(kind=kind, duplicates=len(records) - len(latest))
    model = feed.model
    ordered = sorted(latest)  # one lock order for every batch: no deadlock between two

    with transaction.atomic():
        stored = {
            row.external_id: row
            for row in model.objects.select_for_update()
            .filter(tenant_id=tenant_id, external_id__in=ordered)
            .order_by("external_id")
        }
        writes: list[FeedRecord] = []
        created_ext: list[str] = []
        updated_ext: list[str] = []
        for external_id in ordered:
            index = latest[external_id]
            rec = records[index]
            client_id, site_id = located[index]
            values = _values(feed, rec, policy)
            values.update(
                client_id=client_id, site_id=site_id, source_updated_at=rec["source_updated_at"]
            )
            old = stored.get(external_id)
            if feed is DEVICES:
                _keep_previous_position(values, old)  # type: ignore[arg-type]
            if old is not None:
                incoming, have = rec["source_updated_at"], old.source_updated_at
                if incoming is not None and have is not None and incoming < have:
                    result.stale += 1
                    continue
                if _same(old, values):
                    result.unchanged += 1
                    continue
                updated_ext.append(external_id)
            else:
                created_ext.append(external_id)
            writes.append(
                model(
                    tenant_id=tenant_id,
                    external_id=external_id,
                    received_at=now,
                    created_at=old.created_at if old is not None else now,
                    **values,
                )
            )
        if writes:
            model.objects.bulk_create(
                writes,
                update_conflicts=True,
                unique_fields=["tenant", "external_id"],
                update_fields=[
                    *(f.removesuffix("_id") for f in feed.fields),
                    "client",
                    "site",
                    "source_updated_at",
                    "received_at",
                    "updated_at",  # auto_now: the time of this write (the feed rules read it)
                ],
            )
            ids = dict(
                model.objects.filter(
                    tenant_id=tenant_id, external_id__in=created_ext + updated_ext
                ).values_list("external_id", "pk")
            )
            result.created_ids = [ids[e] for e in created_ext]
            result.updated_ids = [ids[e] for e in updated_ext]
        result.created, result.updated = len(created_ext), len(updated_ext)
        record(
            Action.FEED_UPSERT,
            tenant=tenant_id,
            entity_type=model._meta.label_lower,
            details={"kind": kind, "key": key.prefix, "records": len(records), **result.counts()},
        )
        changed = result.created_ids + result.updated_ids
        if changed:
            _after_commit(feed.record_kind, tenant_id, changed)
    return result


# --- hooks ---------------------------------------------------------------------------------------


def _after_commit(kind: str, tenant_id: int, ids: Iterable[int]) -> None:
    """`kind` is the record kind of the rules ("ticket", "device", …)."""
    if not settings.OPERATIONS_CHANGE_HOOKS:
        return
    ids = tuple(ids)

    def run_operations_hooks() -> None:
        call_hooks(kind, tenant_id, ids)

    transaction.on_commit(run_operations_hooks)


def call_hooks(kind: str, tenant_id: int, ids: tuple[int, ...]) -> None:
    """Every `settings.OPERATIONS_CHANGE_HOOKS` with (kind, tenant id, ids); a hook that fails is
    logged once as an outage (`watchfloor.degrade`) and never fails the committed upsert: the
    rules' periodic sweep catches up what it missed."""
    for path in settings.OPERATIONS_CHANGE_HOOKS:
        component = f"operations hook {path}"
        try:
            import_string(path)(kind, tenant_id, ids)
        except Exception as exc:  # a hook never fails the committed write
            degrade.record_failure(component, exc)
        else:
            degrade.record_success(component)
