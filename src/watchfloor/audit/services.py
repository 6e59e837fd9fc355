"""Recording audit entries. Details must never carry PII: callers pass ids and codes."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from watchfloor import sql_rows
from watchfloor.audit.context import current_request_context
from watchfloor.audit.models import Action, AuditLog

_SECRET_WORDS = ("password", "secret", "token", "key", "authorization")


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    """Drop values whose key names a secret: a last guard, callers should not pass them."""
    return {
        k: ("[redacted]" if any(w in k.lower() for w in _SECRET_WORDS) else v)
        for k, v in details.items()
    }


def record(
    action: Action | str,
    *,
    actor=None,
    tenant=None,
    entity=None,
    entity_type: str = "",
    entity_id: Any = "",
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit entry. IP and user agent come from the current request, if any."""
    if entity is not None:
        entity_type = entity_type or entity._meta.label_lower
        entity_id = entity_id or entity.pk
        if tenant is None and getattr(entity, "tenant_id", None) is not None:
            tenant = entity.tenant_id
    if actor is not None and getattr(actor, "is_authenticated", False):
        tenant = tenant or actor.tenant
        actor_label = actor.get_username()
    else:
        actor = None
        actor_label = ""
    ctx = current_request_context()
    # a tenant may be given as its id, so callers need not load the row
    tenant_field = {"tenant_id": tenant} if isinstance(tenant, int) else {"tenant": tenant}
    return AuditLog.objects.create(
        **tenant_field,
        actor=actor,
        actor_label=actor_label,
        action=str(action),
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id not in (None, "") else "",
        details=_scrub(details or {}),
        ip=ctx.ip,
        user_agent=ctx.user_agent,
    )


def purge_before(cutoff, *, batch_size: int = 5000) -> int:
    """Remove audit entries older than `cutoff`, in bounded batches: the only way out.

    On PostgreSQL the trigger refuses deletes unless the transaction sets
    `watchfloor.audit_purge`; this function sets it around its own deletes only and turns it off
    again, so a caller's enclosing transaction does not stay able to delete audit rows.
    """
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                AuditLog.objects.filter(created_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return removed
            _delete_ids(ids)
            removed += len(ids)


_ALL = object()


def purge_older(
    cutoff, *, tenant_id=_ALL, batch_size: int = 5000, max_batches: int | None = None
) -> tuple[int, bool]:
    """`purge_before` for one tenant's entries (`tenant_id`; None: the platform's own, without a
    tenant) and at most `max_batches` batches, one short transaction each; (removed, more left).
    The retention job's way out for audit: by age only."""
    rows = AuditLog.objects.filter(created_at__lt=cutoff)
    if tenant_id is not _ALL:
        rows = rows.filter(tenant_id=tenant_id)
    removed = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = list(rows.order_by("id").values_list("id", flat=True)[:batch_size])
            if not ids:
                return removed, False
            _delete_ids(ids)
        removed += len(ids)
        batches += 1
        if len(ids) < batch_size:
            return removed, False
    return removed, rows.exists()


def _delete_ids(ids: list[int]) -> None:
    # Raw delete: the queryset refuses deletes on purpose.
    table = AuditLog._meta.db_table
    placeholders = ",".join(["%s"] * len(ids))
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT set_config('watchfloor.audit_purge', 'on', true)")
        cur.execute(f"DELETE FROM {table} WHERE id IN ({placeholders})", ids)  # noqa: S608
        # (if the DELETE fails, the rollback of the atomic block undoes the setting too)
        if connection.vendor == "postgresql":
            cur.execute("SELECT set_config('watchfloor.audit_purge', 'off', true)")


def record_many(entries: list[dict[str, Any]]) -> None:
    """Append many entries in one statement (a job's batch): each dict takes `record`'s keyword
    arguments. Only for entries without an actor, like a job's own steps. Plain rows through
    `sql_rows` (binary arrays on PostgreSQL): the incident rules append one per incident, with
    every alert id that joined in its details, many times a second under a storm."""
    if not entries:
        return
    ctx = current_request_context()
    now = timezone.now()
    rows = []
    for entry in entries:
        entity = entry.get("entity")
        tenant = entry.get("tenant")
        rows.append(
            (
                tenant if isinstance(tenant, int) or tenant is None else tenant.pk,
                None,
                "",
                str(entry["action"]),
                entity._meta.label_lower if entity is not None else "",
                str(entity.pk) if entity is not None else "",
                _scrub(entry.get("details") or {}),
                ctx.ip,
                ctx.user_agent,
                now,
            )
        )
    sql_rows.insert_rows(AuditLog, _MANY_COLUMNS, rows, ignore_conflicts=False)


_MANY_COLUMNS = (
    "tenant_id",
    "actor_id",
    "actor_label",
    "action",
    "entity_type",
    "entity_id",
    "details",
    "ip",
    "user_agent",
    "created_at",
)
