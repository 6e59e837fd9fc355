"""Client contacts: who at a client gets its incidents' status updates (`noc:configure`).

- `GET|POST /clients/{id}/contacts`, `GET|PATCH|DELETE /clients/{id}/contacts/{contact_id}`
- `POST …/send-code` sends a 6-digit code to the contact; `POST …/verify` `{"code"}` confirms it.
  A POST sends the first code at once. Only verified, subscribed contacts get updates.
A client or contact outside the caller's scope (or another tenant's) is a 404. Names and
addresses are masked without `noc:view_pii`; an apprise URL's secrets are never shown back.
"""

from __future__ import annotations

from ninja import Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for, person_view
from watchfloor.access.scope import access_client, has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.incidents import contacts as services
from watchfloor.incidents.contact_schemas import (
    ClientContactCreatedOut,
    ClientContactIn,
    ClientContactOut,
    ClientContactPatch,
)
from watchfloor.incidents.models import ClientContact
from watchfloor.oncall.channels import display_address
from watchfloor.oncall.contact_schemas import CodeIn, SentOut

router = Router(tags=["incidents"])


def _out(contact: ClientContact, pii: bool) -> dict:
    shown = masked_for(
        None,
        {"name": contact.name, "address": display_address(contact.medium, contact.address)},
        can_view_pii=pii,
    )
    return {
        "id": contact.id,
        "client_id": contact.client_id,
        "name": shown["name"],
        "medium": contact.medium,
        "address": shown["address"],
        "subscribed": contact.subscribed,
        "verified": contact.verified_at is not None,
        "verified_at": contact.verified_at,
        "created_at": contact.created_at,
        "created_by": person_view(contact.created_by, pii),
    }


def _sent(delivery) -> dict:
    return {"delivery_id": delivery.id, "status": delivery.status, "error": delivery.last_error}


def _client(request, client_id):
    require_capability(request.auth, Capability.CONFIGURE)
    return access_client(request.auth, client_id)


def _send_code(contact, user) -> dict:
    try:
        return _sent(services.send_contact_code(contact, actor=user))
    except services.TooSoon as exc:
        raise ApiError(429, "rate_limited", str(exc)) from None


@router.get("/clients/{client_id}/contacts", response=list[ClientContactOut])
def list_contacts(request, client_id: Id):
    client = _client(request, client_id)
    pii = has_capability(request.auth, Capability.VIEW_PII)
    rows = services.contacts_of(request.auth, client).select_related("created_by")
    return [_out(c, pii) for c in rows[: services.MAX_CONTACTS]]


@router.post("/clients/{client_id}/contacts", response={201: ClientContactCreatedOut})
def create_contact(request, client_id: Id, data: ClientContactIn):
    """Add a contact (unverified); a verification code is sent to it at once."""
    client = _client(request, client_id)
    contact = services.add_contact(
        client,
        actor=request.auth,
        name=data.name,
        medium=data.medium,
        address=data.address,
        subscribed=data.subscribed,
    )
    sent = _send_code(contact, request.auth)
    contact.refresh_from_db()
    out = _out(contact, has_capability(request.auth, Capability.VIEW_PII))
    return Status(201, {**out, "code_delivery": sent})


@router.get("/clients/{client_id}/contacts/{contact_id}", response=ClientContactOut)
def get_contact(request, client_id: Id, contact_id: Id):
    contact = services.access_contact(request.auth, _client(request, client_id), contact_id)
    return _out(contact, has_capability(request.auth, Capability.VIEW_PII))


@router.patch("/clients/{client_id}/contacts/{contact_id}", response=ClientContactOut)
def patch_contact(request, client_id: Id, contact_id: Id, data: ClientContactPatch):
    """Change name, subscribed, medium or address (a new address is unverified again)."""
    contact = services.access_contact(request.auth, _client(request, client_id), contact_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("name", "medium", "address", "subscribed"):
        if key in changes and changes[key] is None:
            raise ApiError(422, "validation_error", "The request is not valid.", {key: "Null."})
    contact = services.update_contact(contact, actor=request.auth, **changes)
    return _out(contact, has_capability(request.auth, Capability.VIEW_PII))


@router.delete("/clients/{client_id}/contacts/{contact_id}", response={204: None})
def delete_contact(request, client_id: Id, contact_id: Id):
    contact = services.access_contact(request.auth, _client(request, client_id), contact_id)
    services.delete_contact(contact, actor=request.auth)
    return Status(204, None)


@router.post("/clients/{client_id}/contacts/{contact_id}/send-code", response=SentOut)
def send_code(request, client_id: Id, contact_id: Id):
    contact = services.access_contact(request.auth, _client(request, client_id), contact_id)
    return _send_code(contact, request.auth)


@router.post("/clients/{client_id}/contacts/{contact_id}/verify", response=ClientContactOut)
def verify(request, client_id: Id, contact_id: Id, data: CodeIn):
    contact = services.access_contact(request.auth, _client(request, client_id), contact_id)
    contact = services.verify_contact(contact, actor=request.auth, code=data.code)
    return _out(contact, has_capability(request.auth, Capability.VIEW_PII))
