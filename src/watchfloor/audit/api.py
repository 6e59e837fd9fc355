"""The audit log, for holders of `noc:audit_view`, limited to their tenant."""

from __future__ import annotations

from datetime import datetime

from ninja import Query, Router, Schema

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for
from watchfloor.access.scope import require_capability
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import QueryIn, UtcDatetime
from watchfloor.audit.models import AuditLog

router = Router(tags=["audit"])


class AuditOut(Schema):
    id: int
    created_at: datetime
    actor_id: int | None
    actor: str
    action: str
    entity_type: str
    entity_id: str
    details: dict
    ip: str | None
    user_agent: str

    @staticmethod
    def resolve_actor(obj) -> str:
        return obj.actor_label

    @staticmethod
    def resolve_details(obj, context) -> dict:
        """Details hold no PII by design; a free text that slipped in is masked anyway."""
        return masked_for(context["request"].auth, obj.details)


class AuditPage(Schema):
    items: list[AuditOut]
    next_cursor: str | None


class AuditFilters(QueryIn):
    cursor: str | None = None
    limit: int | None = None
    action: str | None = None
    actor: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


@router.get("/audit", response=AuditPage)
def list_audit(request, filters: Query[AuditFilters]):
    require_capability(request.auth, Capability.AUDIT_VIEW)
    qs = AuditLog.objects.for_tenant(request.auth.tenant_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label=filters.actor)
    if filters.entity_type:
        qs = qs.filter(entity_type=filters.entity_type)
    if filters.entity_id:
        qs = qs.filter(entity_id=filters.entity_id)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, descending=True)
    return {"items": page.items, "next_cursor": page.next_cursor}
