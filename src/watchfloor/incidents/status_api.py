"""Client status updates on an incident, and the secret links to clients' status pages.

- `POST /incidents/{id}/status-updates` (`noc:assign_incidents`): post an update for the client
  (phase and text; the text is masked for personal data before it is stored). `GET` lists them.
- `/status-links` (`noc:configure`): a client's status page link; the token is in the answer to
  the POST only (kept as its digest); `DELETE` revokes it (the page is then a 404).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from ninja import Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for, person_view
from watchfloor.access.scope import access_client, has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.incidents import queries, services
from watchfloor.incidents.models import StatusPageLink
from watchfloor.incidents.status_page import (
    access_status_link,
    create_status_link,
    links_visible,
    revoke_status_link,
)
from watchfloor.incidents.status_schemas import (
    StatusLinkCreatedOut,
    StatusLinkIn,
    StatusLinkOut,
    StatusUpdateIn,
    StatusUpdateItem,
)
from watchfloor.incidents.status_updates import post_status_update

router = Router(tags=["incidents"])


def _update_out(update, pii: bool) -> dict:
    return {
        "id": update.id,
        "phase": update.phase,
        "body": masked_for(None, update.body, can_view_pii=pii),
        "posted_at": update.posted_at,
        "posted_by": person_view(update.posted_by, pii),
    }


@router.get("/incidents/{incident_id}/status-updates", response=list[StatusUpdateItem])
def list_status_updates(request, incident_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    incident = queries.access_incident(user, incident_id)
    pii = has_capability(user, Capability.VIEW_PII)
    return [_update_out(u, pii) for u in queries.status_updates(incident)]


@router.post("/incidents/{incident_id}/status-updates", response={201: StatusUpdateItem})
def create_status_update(request, incident_id: Id, data: StatusUpdateIn):
    """Post an update for the client: shown on the client's status page at once."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    incident = queries.access_incident(user, incident_id)
    try:
        update = post_status_update(incident, actor=user, phase=data.phase, body=data.body)
    except services.IllegalTransition as exc:
        raise ApiError(409, "illegal_transition", str(exc), {"status": exc.status}) from None
    except services.IncidentError as exc:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {exc.field: str(exc)}
        ) from None
    return Status(201, _update_out(update, has_capability(user, Capability.VIEW_PII)))


def _link_out(link: StatusPageLink, pii: bool) -> dict:
    client = link.client
    return {
        "id": link.id,
        "client": {"id": client.id, "code": client.code, "name": client.name},
        "label": link.label,
        "prefix": link.prefix,
        "created_at": link.created_at,
        "created_by": person_view(link.created_by, pii),
        "revoked_at": link.revoked_at,
    }


@router.get("/status-links", response=list[StatusLinkOut])
def list_status_links(request):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    pii = has_capability(user, Capability.VIEW_PII)
    return [_link_out(link, pii) for link in links_visible(user).order_by("-id")[:500]]


@router.post("/status-links", response={201: StatusLinkCreatedOut})
def create_status_link_api(request, data: StatusLinkIn):
    """A new secret link to the client's status page. The `url` is in this answer only."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    try:
        client = access_client(user, data.client_id)
    except Http404:
        raise ValidationError({"client_id": "No such client in your scope."}) from None
    issued = create_status_link(client, actor=user, label=data.label)
    path = reverse("dashboard:status_page", kwargs={"token": issued.plain})
    out = _link_out(issued.link, has_capability(user, Capability.VIEW_PII))
    return Status(201, {**out, "url": f"{settings.PUBLIC_URL}{path}"})


@router.delete("/status-links/{link_id}", response={204: None})
def revoke_status_link_api(request, link_id: Id):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    revoke_status_link(access_status_link(user, link_id), actor=user)
    return Status(204, None)
