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

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
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
from watchfloor.oncall import notify
from watchfloor.oncall.messages import Message, verify_message
from watchfloor.oncall.models import Delivery, Medium
from watchfloor.tenancy.models import Client

NAME_MAX = 100
VERIFY_MINUTES = 15
VERIFY_MAX_ATTEMPTS = 5
RESEND_SECONDS = 60
MAX_CONTACTS = 200  # per client


class TooSoon(Exception):
    def __init__(self, wait_seconds: int):
        super().__init__(f"A code was sent moments ago: ask again in {wait_seconds} s.")
        self.wait_seconds = wait_seconds


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


def _code_hash(contact_id: int, address: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    text = f"client-contact:{contact_id}:{address}:{code}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


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
            locked.verified_at = None
            locked.verification_hash = ""
            locked.verification_sent_at = None
            locked.verification_attempts = 0
            fields += [
                "medium",
                "address",
                "verified_at",
                "verification_hash",
                "verification_sent_at",
                "verification_attempts",
            ]
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
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        locked = ClientContact.objects.select_for_update().get(pk=contact.pk)
        now = timezone.now()
        if locked.verification_sent_at is not None:
            wait = locked.verification_sent_at + timedelta(seconds=RESEND_SECONDS) - now
            if wait > timedelta(0):
                raise TooSoon(int(wait.total_seconds()) + 1)
        locked.verification_hash = _code_hash(locked.pk, locked.address, code)
        locked.verification_sent_at = now
        locked.verification_attempts = 0
        locked.save(
            update_fields=["verification_hash", "verification_sent_at", "verification_attempts"]
        )
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
    if not isinstance(code, str) or not code.strip().isdigit() or len(code.strip()) != 6:
        raise ValidationError({"code": "The code is 6 digits."})
    code = code.strip()
    with transaction.atomic():
        locked = ClientContact.objects.select_for_update().get(pk=contact.pk)
        now = timezone.now()
        if locked.verified_at is not None:
            return locked
        if not locked.verification_hash or locked.verification_sent_at is None:
            raise ValidationError({"code": "Ask for a code first."})
        if now - locked.verification_sent_at > timedelta(minutes=VERIFY_MINUTES):
            raise ValidationError({"code": "This code has expired: ask for a new one."})
        if locked.verification_attempts >= VERIFY_MAX_ATTEMPTS:
            raise ValidationError({"code": "Too many wrong codes: ask for a new one."})
        expected = _code_hash(locked.pk, locked.address, code)
        if hmac.compare_digest(locked.verification_hash, expected):
            locked.verified_at = now
            locked.verification_hash = ""
            locked.verification_attempts = 0
            locked.save(update_fields=["verified_at", "verification_hash", "verification_attempts"])
            _audit(locked, actor=actor, change="client_contact.verify", medium=locked.medium)
            return locked
        locked.verification_attempts += 1
        locked.save(update_fields=["verification_attempts"])
        _audit(locked, actor=actor, change="client_contact.wrong_code")
        left = VERIFY_MAX_ATTEMPTS - locked.verification_attempts
    more = f" {left} more {'try' if left == 1 else 'tries'}." if left else " Ask for a new code."
    raise ValidationError({"code": "That is not the code." + more})


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
