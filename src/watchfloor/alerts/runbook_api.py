"""Runbooks: what to do about an alert type, for every client or one client.

Reading needs `noc:view` (the tenant's general runbooks, and those of clients in the caller's
scope); writing needs `noc:configure`. `GET /alerts/{id}/runbook` answers which runbook applies
to an alert (its client's, else the general one). Text is masked without `noc:view_pii`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_view
from watchfloor.access.scope import access_client, has_capability, require_capability
from watchfloor.alerts import runbook_services as services
from watchfloor.alerts.models import Runbook
from watchfloor.alerts.queries import access_alert
from watchfloor.alerts.runbook_schemas import (
    RunbookFilters,
    RunbookIn,
    RunbookOut,
    RunbookPage,
    RunbookPatch,
)
from watchfloor.alerts.runbooks import (
    access_runbook,
    runbook_for,
    runbook_view,
    runbooks_visible,
)
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id

router = Router(tags=["runbooks"])


def runbook_out(runbook: Runbook, pii: bool) -> dict:
    view = runbook_view(runbook, can_view_pii=pii)
    client = runbook.client
    return {
        "id": runbook.id,
        "alert_type": runbook.alert_type,
        "client": None
        if client is None
        else {"id": client.id, "code": client.code, "name": client.name},
        "title": view.title,
        "body": view.body,
        "html": str(view.html),
        "url": view.url,
        "created_at": runbook.created_at,
        "updated_at": runbook.updated_at,
        "updated_by": person_view(runbook.updated_by, pii),
    }


def _pii(user) -> bool:
    return has_capability(user, Capability.VIEW_PII)


@router.get("/runbooks", response=RunbookPage)
def list_runbooks(request, filters: Query[RunbookFilters]):
    user = request.auth
    require_capability(user, Capability.VIEW)
    qs = runbooks_visible(user)
    if filters.alert_type:
        qs = qs.filter(alert_type=filters.alert_type)
    if filters.client_id:
        qs = qs.filter(client_id=filters.client_id)
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit)
    pii = _pii(user)
    return {"items": [runbook_out(r, pii) for r in page.items], "next_cursor": page.next_cursor}


@router.get("/runbooks/{runbook_id}", response=RunbookOut)
def get_runbook(request, runbook_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return runbook_out(access_runbook(request.auth, runbook_id), _pii(request.auth))


@router.get("/alerts/{alert_id}/runbook", response={200: RunbookOut, 204: None})
def get_alert_runbook(request, alert_id: Id):
    """The runbook that applies to the alert: its client's for its type, else the tenant's
    general one; 204 when there is none."""
    require_capability(request.auth, Capability.VIEW)
    runbook = runbook_for(access_alert(request.auth, alert_id))
    if runbook is None:
        return Status(204, None)
    return runbook_out(runbook, _pii(request.auth))


@router.post("/runbooks", response={201: RunbookOut})
def create_runbook(request, data: RunbookIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    client = None
    if data.client_id is not None:
        try:
            client = access_client(user, data.client_id)
        except Http404:
            raise ValidationError({"client_id": "No such client in your scope."}) from None
    runbook = services.create_runbook(
        actor=user,
        alert_type=data.alert_type,
        client=client,
        title=data.title,
        body=data.body,
        url=data.url,
    )
    return Status(201, runbook_out(access_runbook(user, runbook.id), _pii(user)))


@router.patch("/runbooks/{runbook_id}", response=RunbookOut)
def update_runbook(request, runbook_id: Id, data: RunbookPatch):
    user = request.auth
    require_capability(user, Capability.VIEW)
    runbook = access_runbook(user, runbook_id)
    require_capability(user, Capability.CONFIGURE)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    services.update_runbook(runbook, actor=user, **changes)
    return runbook_out(access_runbook(user, runbook_id), _pii(user))


@router.delete("/runbooks/{runbook_id}", response={204: None})
def delete_runbook(request, runbook_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    runbook = access_runbook(user, runbook_id)
    require_capability(user, Capability.CONFIGURE)
    services.delete_runbook(runbook, actor=user)
    return Status(204, None)
