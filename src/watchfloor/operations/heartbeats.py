"""Heartbeats (dead man's switches): create, edit, pause, delete (`noc:configure`, audited), the
ping a monitor sends, and the job that raises an alert for a heartbeat not seen within
`period + grace` and resolves it at the next ping.

Statuses: WAITING (created, never pinged: it never alerts), UP, LATE (its alert is open),
PAUSED (no alert; pings are recorded but leave it paused). The alert goes through the ingestion
pipeline like the feed rules' (source `operations`, type `HEARTBEAT_MISSED`, dedup key
`ops:heartbeat:<tenant>:<id>:late`), so maintenance windows, escalation and incidents apply.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import access_client, access_site, require_capability
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem
from watchfloor.operations.models import Heartbeat, HeartbeatStatus
from watchfloor.operations.rules import RulesKey

ALERT_TYPE = "HEARTBEAT_MISSED"
PERIOD_MIN = timedelta(seconds=10)
PERIOD_MAX = timedelta(days=7)
GRACE_MAX = timedelta(days=7)
NAME_MAX = 100
DESCRIPTION_MAX = 500
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
BATCH = 500


class HeartbeatInvalid(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def fingerprint(hb: Heartbeat) -> str:
    return f"ops:heartbeat:{hb.tenant_id}:{hb.pk}:late"


def _clean(values: dict, current: Heartbeat | None, actor) -> dict:
    out: dict = {}
    for name, value in values.items():
        if name == "name":
            if not isinstance(value, str) or not NAME_PATTERN.match(value) or len(value) > NAME_MAX:
                raise HeartbeatInvalid(
                    name, f"1 to {NAME_MAX} of a-z, 0-9, - and _, starting with a letter or digit."
                )
        elif name == "description":
            if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
                raise HeartbeatInvalid(name, f"At most {DESCRIPTION_MAX} characters.")
            if problem := text_problem(value):
                raise HeartbeatInvalid(name, problem)
            value = value.strip()
        elif name == "period":
            if not isinstance(value, timedelta) or not PERIOD_MIN <= value <= PERIOD_MAX:
                raise HeartbeatInvalid(name, "Between 10 seconds and 7 days.")
        elif name == "grace":
            if not isinstance(value, timedelta) or not timedelta(0) <= value <= GRACE_MAX:
                raise HeartbeatInvalid(name, "Between 0 and 7 days.")
        elif name == "client_id":
            try:
                value = access_client(actor, value).pk
            except Http404:
                raise HeartbeatInvalid("client", "No such client.") from None
        elif name == "site_id":
            if value is not None:
                try:
                    site = access_site(actor, value)
                except Http404:
                    raise HeartbeatInvalid("site", "No such site.") from None
                client_id = values.get("client_id", current.client_id if current else None)
                if client_id is not None and site.client_id != client_id:
                    raise HeartbeatInvalid("site", "The site belongs to another client.")
                value = site.pk
        elif name == "paused":
            if not isinstance(value, bool):
                raise HeartbeatInvalid(name, "true or false.")
        else:
            raise HeartbeatInvalid(name, "Not a heartbeat setting.")
        out[name] = value
    return out


def _name_taken(tenant_id: int, name: str, exclude: int | None = None) -> bool:
    rows = Heartbeat.objects.filter(tenant_id=tenant_id, name=name)
    if exclude:
        rows = rows.exclude(pk=exclude)
    return rows.exists()


@transaction.atomic
def create_heartbeat(
    *,
    actor,
    name: str,
    client_id: int,
    period: timedelta,
    grace: timedelta = timedelta(minutes=1),
    site_id: int | None = None,
    description: str = "",
) -> Heartbeat:
    require_capability(actor, Capability.CONFIGURE)
    cleaned = _clean(
        {
            "name": name,
            "client_id": client_id,
            "site_id": site_id,
            "period": period,
            "grace": grace,
            "description": description,
        },
        None,
        actor,
    )
    if _name_taken(actor.tenant_id, cleaned["name"]):
        raise HeartbeatInvalid("name", "A heartbeat of this name exists.")
    hb = Heartbeat.objects.create(tenant_id=actor.tenant_id, created_by=actor, **cleaned)
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=actor.tenant_id,
        entity=hb,
        details={"what": "heartbeat", "change": "created", "name": hb.name},
    )
    return hb


@transaction.atomic
def update_heartbeat(hb: Heartbeat, *, actor, **values) -> Heartbeat:
    """Change what is named; `paused=True` pauses it (its open alert is resolved), `paused=False`
    waits for the next ping again."""
    require_capability(actor, Capability.CONFIGURE)
    hb = Heartbeat.objects.select_for_update().get(pk=hb.pk)
    cleaned = _clean(values, hb, actor)
    if "name" in cleaned and _name_taken(hb.tenant_id, cleaned["name"], exclude=hb.pk):
        raise HeartbeatInvalid("name", "A heartbeat of this name exists.")
    paused = cleaned.pop("paused", None)
    changed = [n for n, v in cleaned.items() if getattr(hb, n) != v]
    for name in changed:
        setattr(hb, name, cleaned[name])
    was_late = hb.status == HeartbeatStatus.LATE
    if paused is True and hb.status != HeartbeatStatus.PAUSED:
        hb.status, hb.late_since = HeartbeatStatus.PAUSED, None
        changed += ["status", "late_since"]
    elif paused is False and hb.status == HeartbeatStatus.PAUSED:
        hb.status = HeartbeatStatus.UP if hb.last_seen_at else HeartbeatStatus.WAITING
        if hb.last_seen_at:
            hb.last_seen_at = timezone.now()  # a fresh period from now, not a late alert at once
            changed.append("last_seen_at")
        changed.append("status")
    if changed:
        hb.save(update_fields=[*set(changed), "updated_at"])
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=hb.tenant_id,
        entity=hb,
        details={"what": "heartbeat", "change": "updated", "changed": sorted(set(changed))},
    )
    if was_late and hb.status == HeartbeatStatus.PAUSED:
        _send_after_commit(hb.tenant_id, [_resolve_event(hb)])
    return hb


@transaction.atomic
def delete_heartbeat(hb: Heartbeat, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    tenant_id, name, resolve = hb.tenant_id, hb.name, _resolve_event(hb)
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant_id,
        entity=hb,
        details={"what": "heartbeat", "change": "deleted", "name": name},
    )
    hb.delete()
    _send_after_commit(tenant_id, [resolve])


def _resolve_event(hb: Heartbeat) -> Event:
    return Event(action=EventAction.RESOLVE, type=ALERT_TYPE, fingerprint=fingerprint(hb))


def _late_event(hb: Heartbeat) -> Event:
    site, client = hb.site, hb.client
    return Event(
        action=EventAction.TRIGGER,
        type=ALERT_TYPE,
        severity=Severity.HIGH,
        title=f"Heartbeat {hb.name} not seen within {_human(hb.period + hb.grace)}",
        description=hb.description,
        fingerprint=fingerprint(hb),
        client_code=client.code if client else "",
        site_code=site.code if site else "",
        entity_type="heartbeat",
        entity_id=hb.name,
        labels={"heartbeat": hb.name},
        occurred_at=hb.last_seen_at,
    )


def _human(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _send(tenant_id: int, events: list[Event], now: datetime | None = None) -> None:
    if events:
        ingest(events, key=RulesKey(tenant_id), strict_codes=False, now=now)


def _send_after_commit(tenant_id: int, events: list[Event]) -> None:
    transaction.on_commit(lambda: _send(tenant_id, events))


def ping(tenant_id: int, name: str, *, now: datetime | None = None) -> Heartbeat | None:
    """Record a ping of the tenant's heartbeat `name` (None when it has none): UP from WAITING or
    LATE (its alert resolved); a paused one stays paused."""
    now = now or timezone.now()
    hb = Heartbeat.objects.filter(tenant_id=tenant_id, name=name).first()
    if hb is None:
        return None
    was_late = hb.status == HeartbeatStatus.LATE
    status = hb.status if hb.status == HeartbeatStatus.PAUSED else HeartbeatStatus.UP
    Heartbeat.objects.filter(pk=hb.pk).update(
        last_seen_at=now, status=status, late_since=None, updated_at=now
    )
    hb.last_seen_at, hb.status, hb.late_since = now, status, None
    if was_late:
        _send(tenant_id, [_resolve_event(hb)], now)
    return hb


def check_heartbeats(now: datetime | None = None) -> dict[str, int]:
    """The `operations.heartbeats` job: UP heartbeats past `last seen + period + grace` become
    LATE and raise their alert; an open heartbeat alert whose heartbeat is no longer LATE (a
    ping whose resolve was lost, a deleted heartbeat) is resolved. Set-based over all tenants."""
    now = now or timezone.now()
    due_at = ExpressionWrapper(
        F("last_seen_at") + F("period") + F("grace"), output_field=DateTimeField()
    )
    late = 0
    while True:
        rows = list(
            Heartbeat.objects.filter(status=HeartbeatStatus.UP, last_seen_at__isnull=False)
            .annotate(due_at=due_at)
            .filter(due_at__lt=now)
            .select_related("client", "site")
            .order_by("id")[:BATCH]
        )
        if not rows:
            break
        # only those still UP (a ping meanwhile wins)
        Heartbeat.objects.filter(pk__in=[h.pk for h in rows], status=HeartbeatStatus.UP).update(
            status=HeartbeatStatus.LATE, late_since=now, updated_at=now
        )
        taken = set(
            Heartbeat.objects.filter(
                pk__in=[h.pk for h in rows], status=HeartbeatStatus.LATE, late_since=now
            ).values_list("pk", flat=True)
        )
        per_tenant: dict[int, list[Event]] = {}
        for hb in rows:
            if hb.pk in taken:
                per_tenant.setdefault(hb.tenant_id, []).append(_late_event(hb))
                late += 1
        for tenant_id, events in per_tenant.items():
            _send(tenant_id, events, now)
        if len(rows) < BATCH:
            break
    resolved = _resolve_stale_alerts(now)
    return {"late": late, "resolved": resolved}


def _resolve_stale_alerts(now: datetime) -> int:
    alerts = list(
        Alert.objects.filter(
            source="operations", type=ALERT_TYPE, fingerprint__startswith="ops:heartbeat:"
        )
        .exclude(status=Status.RESOLVED)
        .values_list("tenant_id", "fingerprint")[:BATCH]
    )
    if not alerts:
        return 0
    ids = {}
    for tenant_id, fp in alerts:
        try:
            ids[fp] = (tenant_id, int(fp.split(":")[3]))
        except (IndexError, ValueError):
            continue
    still_late = set(
        Heartbeat.objects.filter(
            Q(pk__in=[pk for _, pk in ids.values()]), status=HeartbeatStatus.LATE
        ).values_list("tenant_id", "pk")
    )
    per_tenant: dict[int, list[Event]] = {}
    for fp, key in ids.items():
        if key not in still_late:
            per_tenant.setdefault(key[0], []).append(
                Event(action=EventAction.RESOLVE, type=ALERT_TYPE, fingerprint=fp)
            )
    for tenant_id, events in per_tenant.items():
        _send(tenant_id, events, now)
    return sum(len(e) for e in per_tenant.values())
