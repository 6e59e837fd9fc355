"""Client contacts: who at a client gets the client status updates of its incidents (#11 §5).

Managed with `noc:configure`, every change audited (`config_change`, ids and medium only: the
address may hold a token and is never audited or logged). A contact is used only once verified,
the way people's contact methods are (oncall.contact_services): a 6-digit code is sent to the
address (its HMAC stored, valid `VERIFY_MINUTES`, `VERIFY_MAX_ATTEMPTS` wrong tries), whoever
reads it gives it to the admin, who enters it. Changing the address unverifies the contact.

`notify_contacts(update)` runs inside `post_status_update`'s transaction: one NOTICE `Delivery`
per verified, subscribed contact of the incident's client, written through oncall's delivery
machinery (sent after commit by the send task, retried with backoff, held by an open circuit),
and a NOTIFICATION timeline event with the count. The message is for the client: the incident's
title (masked), the phase and the (already masked) text; no internal notes, no status page link
(its token is not stored).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import masked_for
from watchfloor.access.scope import require_capability, scope_of
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem
from watchfloor.incidents import services
from watchfloor.incidents.models import (
    ClientContact,
    EventKind,
    Incident,
    IncidentStatusUpdate,
)
from watchfloor.oncall import channels as channel_io
from watchfloor.oncall import notify, verification
from watchfloor.oncall.messages import Message, verify_message
from watchfloor.oncall.models import Delivery, Medium
from watchfloor.oncall.verification import VERIFY_MINUTES
from watchfloor.oncall.verification import TooSoon as TooSoon  # the views and the API catch it here
from watchfloor.tenancy.models import Client

NAME_MAX = 100
MAX_CONTACTS = 200  # per client


def _audit(contact: ClientContact, *, actor, change: str, **details) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=contact.tenant_id,
        entity=contact,
        details={"change": change, "client_id": contact.client_id, **details},
    )


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"name": "Give a name."})
    value = value.strip()
    if len(value) > NAME_MAX:
        raise ValidationError({"name": f"At most {NAME_MAX} characters."})
    if problem := text_problem(value):
        raise ValidationError({"name": problem})
    return value


def _medium(value) -> str:
    if value not in Medium.values:
        raise ValidationError({"medium": f"One of {', '.join(Medium.values)}."})
    return str(value)


def _hash_of(contact: ClientContact):
    return lambda code: verification.code_hash("client-contact", contact.pk, contact.address, code)


# --- reads ---------------------------------------------------------------------------------------
def contacts_of(user, client: Client):
    """The contacts of a client the user sees (the caller checked the client with access_client)."""
    return ClientContact.objects.restrict(scope_of(user)).filter(client=client)


def access_contact(user, client: Client, contact_id) -> ClientContact:
    try:
        return contacts_of(user, client).get(pk=contact_id)
    except (ClientContact.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


# --- writes --------------------------------------------------------------------------------------
@transaction.atomic
def add_contact(
    client: Client, *, actor, name, medium, address, subscribed: bool = True
) -> ClientContact:
    """A new, unverified contact of `client` (send it a code with `send_contact_code`)."""
    require_capability(actor, Capability.CONFIGURE)
    if client.tenant_id != actor.tenant_id:
        raise Http404("Not found.")
    name, medium = _name(name), _medium(medium)
    address = channel_io.clean_address(medium, address)
    if ClientContact.objects.filter(client=client).count() >= MAX_CONTACTS:
        raise ValidationError({"client": f"At most {MAX_CONTACTS} contacts per client."})
    contact = ClientContact.objects.create(
        tenant_id=client.tenant_id,
        client=client,
        name=name,
        medium=medium,
        address=address,
        subscribed=bool(subscribed),
        created_at=timezone.now(),
        created_by=actor,
    )
    _audit(contact, actor=actor, change="client_contact.create", medium=medium)
    return contact


@transaction.atomic
def update_contact(contact: ClientContact, *, actor, **changes) -> ClientContact:
    """Change name, subscribed, or medium/address (a new address must be verified again)."""
    require_capability(actor, Capability.CONFIGURE)
    locked = ClientContact.objects.select_for_update().get(pk=contact.pk)
    fields: list[str] = []
    if "name" in changes:
        locked.name = _name(changes["name"])
        fields.append("name")
    if "subscribed" in changes:
        locked.subscribed = bool(changes["subscribed"])
        fields.append("subscribed")
    if "medium" in changes or "address" in changes:
        medium = _medium(changes.get("medium", locked.medium))
        address = channel_io.clean_address(medium, changes.get("address", locked.address))
        if (medium, address) != (locked.medium, locked.address):
            locked.medium, locked.address = medium, address
            fields += ["medium", "address", *verification.unverify(locked)]
    if fields:
        locked.save(update_fields=fields)
        changed = sorted({"address" if f.startswith("verif") else f for f in fields})
        _audit(locked, actor=actor, change="client_contact.update", fields=changed)
    return locked


@transaction.atomic
def delete_contact(contact: ClientContact, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    _audit(contact, actor=actor, change="client_contact.delete")
    contact.delete()


def send_contact_code(contact: ClientContact, *, actor) -> Delivery:
    """Send a new 6-digit code to the contact's address (at once; the admin waits for the
    outcome). `TooSoon` within RESEND_SECONDS of the last. Call outside any transaction."""
    require_capability(actor, Capability.CONFIGURE)
    with transaction.atomic():
        locked = ClientContact.objects.select_for_update().get(pk=contact.pk)
        code = verification.issue_code(locked, hash_of=_hash_of(locked), now=timezone.now())
        _audit(locked, actor=actor, change="client_contact.code_sent")
    notice = notify.Notice(
        medium=locked.medium,
        address=locked.address,
        message=verify_message(code=code, minutes=VERIFY_MINUTES),
        ref={"client_contact": locked.pk},
    )
    return notify.send_notice_now(locked.tenant_id, notice)


def verify_contact(contact: ClientContact, *, actor, code) -> ClientContact:
    """Check a code: a wrong, expired or exhausted one is a ValidationError on `code` (a wrong
    try is counted, committed, first)."""
    require_capability(actor, Capability.CONFIGURE)
    code = verification.clean_code(code)
    with transaction.atomic():
        locked = ClientContact.objects.select_for_update().get(pk=contact.pk)
        if locked.verified_at is not None:
            return locked
        if verification.try_code(locked, code, hash_of=_hash_of(locked), now=timezone.now()):
            _audit(locked, actor=actor, change="client_contact.verify", medium=locked.medium)
            return locked
        _audit(locked, actor=actor, change="client_contact.wrong_code")
    raise verification.wrong_code(locked)


# --- sending the updates -------------------------------------------------------------------------
def update_message(incident: Incident, update: IncidentStatusUpdate) -> Message:
    """What a client contact reads: title (masked), phase, the update's text (masked)."""
    title = masked_for(None, incident.title, can_view_pii=False) or f"Incident {incident.id}"
    body = masked_for(None, update.body, can_view_pii=False)
    phase = update.phase.capitalize()
    return Message(
        subject=f"[{phase}] {title}"[:200],
        text=f"Incident {incident.id}: {title}\nStatus: {phase}\n\n{body}\n",
        short=f"{phase}: {title}: {body}"[:300],
    )


def notify_contacts(incident: Incident, update: IncidentStatusUpdate, *, actor) -> int:
    """Queue the update to every verified, subscribed contact of the incident's client (inside
    the caller's transaction: the deliveries are sent after it commits); the number queued."""
    if incident.client_id is None:
        return 0
    contacts = list(
        ClientContact.objects.filter(
            tenant_id=incident.tenant_id,
            client_id=incident.client_id,
            subscribed=True,
            verified_at__isnull=False,
        ).order_by("id")
    )
    if not contacts:
        return 0
    message = update_message(incident, update)
    notices = [
        notify.Notice(c.medium, c.address, message, {"client_contact": c.id, "update": update.id})
        for c in contacts
    ]
    notify.queue_notices(incident.tenant_id, notices)
    services.record_event(
        incident,
        EventKind.NOTIFICATION,
        actor=actor,
        body=f"Status update sent to {len(contacts)} client contact(s).",
        details={"deliveries": len(contacts), "update_id": update.id, "audience": "client"},
    )
    return len(contacts)
