"""Writes for how people and teams are reached: contact methods, notification rules, channels.

A person manages their OWN contact methods and rules (`noc:view` is enough); team channels need
`noc:configure`. A method is used only once verified: a 6-digit code is sent to it (its hash is
stored, it expires after `VERIFY_MINUTES`, `VERIFY_MAX_ATTEMPTS` wrong codes need a new one,
and a new one is sent at most every `RESEND_SECONDS`). A team channel is verified the same way,
its code derived from the verification delivery (no code stored). Every change is audited as a
`config_change` with ids and mediums only: addresses and codes are never in the audit log.

Sending a code or a test message happens outside the write's transaction (the caller waits for
the outcome, a `Delivery` of kind VERIFY or TEST); do not call those inside an atomic block.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.degrade import guarded
from watchfloor.oncall import notify, verification
from watchfloor.oncall.channels import clean_address
from watchfloor.oncall.messages import test_message, verify_message
from watchfloor.oncall.models import (
    ContactMethod,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Medium,
    NotificationRule,
    TeamChannel,
)
from watchfloor.oncall.text import clean_text
from watchfloor.oncall.verification import (
    RESEND_SECONDS,
    VERIFY_MAX_ATTEMPTS,
    VERIFY_MINUTES,
    TooSoon,
)

MAX_METHODS = 20  # per person
MAX_RULES = 20  # per person
MAX_RULE_DELAY = 1440  # minutes
MAX_CHANNELS = 200  # per tenant
LABEL_MAX = 100
NAME_MAX = 100


class NotVerified(Exception):
    """A test message was asked for on a method that is not verified yet (409)."""


def _audit(entity, *, actor, change: str, **details) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=entity.tenant_id,
        entity=entity,
        details={"change": change, **details},
    )


def _medium(value) -> str:
    if value not in Medium.values:
        raise ValidationError({"medium": f"One of {', '.join(Medium.values)}."})
    return value


def _own(method, actor) -> None:
    """A person's methods and rules are theirs alone: anyone else gets the same 404."""
    if actor is None or method.user_id != actor.id or method.tenant_id != actor.tenant_id:
        raise Http404("Not found.")


def _hash_of(method_id: int):
    return lambda code: verification.code_hash("contact-method", method_id, code)


# --- contact methods -----------------------------------------------------------------------------
@transaction.atomic
def add_contact_method(*, actor, medium: str, label: str, address: str) -> ContactMethod:
    """A new, unverified contact method of the actor (send it a code with `send_verification`)."""
    require_capability(actor, Capability.VIEW)
    medium = _medium(medium)
    label = clean_text(label, "label", limit=LABEL_MAX)
    address = clean_address(medium, address)
    if ContactMethod.objects.filter(user=actor).count() >= MAX_METHODS:
        raise ValidationError({"body": f"At most {MAX_METHODS} contact methods per person."})
    if ContactMethod.objects.filter(user=actor, medium=medium, address=address).exists():
        raise ValidationError({"address": "You have this contact method already."})
    method = ContactMethod.objects.create(
        tenant_id=actor.tenant_id, user=actor, medium=medium, label=label, address=address
    )
    _audit(method, actor=actor, change="contact_method.add", medium=medium)
    return method


@transaction.atomic
def delete_contact_method(method: ContactMethod, *, actor) -> None:
    """Remove a method and its rules (deliveries keep their history, without the method)."""
    _own(method, actor)
    _audit(method, actor=actor, change="contact_method.delete", medium=method.medium)
    method.delete()


def send_verification(method: ContactMethod, *, actor) -> Delivery:
    """Send a new 6-digit code to the method; `TooSoon` within RESEND_SECONDS of the last."""
    _own(method, actor)
    require_capability(actor, Capability.VIEW)
    with transaction.atomic():
        locked = ContactMethod.objects.select_for_update().get(pk=method.pk)
        code = verification.issue_code(locked, hash_of=_hash_of(locked.pk), now=timezone.now())
        delivery = notify.record_direct(
            tenant_id=locked.tenant_id,
            kind=DeliveryKind.VERIFY,
            recipient=actor,
            contact_method=locked,
        )
        _audit(locked, actor=actor, change="contact_method.code_sent", delivery_id=delivery.id)
    delivery.contact_method = locked
    return notify.send_now(delivery, verify_message(code=code, minutes=VERIFY_MINUTES))


def verify_contact_method(method: ContactMethod, *, actor, code) -> ContactMethod:
    """Check a code; the method is verified when it matches a live one. A wrong, expired or
    exhausted code is a `ValidationError` on `code`; a wrong try is counted (committed) first."""
    _own(method, actor)
    code = verification.clean_code(code)
    with transaction.atomic():
        locked = ContactMethod.objects.select_for_update().get(pk=method.pk)
        if locked.verified_at is not None:
            return locked
        if verification.try_code(locked, code, hash_of=_hash_of(locked.pk), now=timezone.now()):
            _audit(locked, actor=actor, change="contact_method.verify", medium=locked.medium)
            return locked
        _audit(locked, actor=actor, change="contact_method.wrong_code")
    raise verification.wrong_code(locked)


def send_test(method: ContactMethod, *, actor) -> Delivery:
    """A test message to a verified method, sent now; the delivery says how it went."""
    _own(method, actor)
    if method.verified_at is None:
        raise NotVerified("Verify this contact method first.")
    with transaction.atomic():
        delivery = notify.record_direct(
            tenant_id=method.tenant_id,
            kind=DeliveryKind.TEST,
            recipient=actor,
            contact_method=method,
        )
        _audit(method, actor=actor, change="contact_method.test", delivery_id=delivery.id)
    delivery.contact_method = method
    return notify.send_now(delivery, test_message(label=method.label))


# --- notification rules --------------------------------------------------------------------------
@transaction.atomic
def add_rule(*, actor, contact_method: ContactMethod, delay_minutes) -> NotificationRule:
    """ "Reach me on this method N minutes after I am paged" (0 to 1440)."""
    _own(contact_method, actor)
    if isinstance(delay_minutes, bool) or not isinstance(delay_minutes, int):
        raise ValidationError({"delay_minutes": "Give whole minutes."})
    if not 0 <= delay_minutes <= MAX_RULE_DELAY:
        raise ValidationError({"delay_minutes": f"Between 0 and {MAX_RULE_DELAY} minutes."})
    if NotificationRule.objects.filter(user=actor).count() >= MAX_RULES:
        raise ValidationError({"body": f"At most {MAX_RULES} rules per person."})
    try:
        with transaction.atomic():
            rule = NotificationRule.objects.create(
                tenant_id=actor.tenant_id,
                user=actor,
                contact_method=contact_method,
                delay_minutes=delay_minutes,
            )
    except IntegrityError:
        raise ValidationError(
            {"delay_minutes": "This method already has a rule with this delay."}
        ) from None
    _audit(
        rule,
        actor=actor,
        change="notification_rule.add",
        contact_method_id=contact_method.id,
        delay_minutes=delay_minutes,
    )
    return rule


@transaction.atomic
def delete_rule(rule: NotificationRule, *, actor) -> None:
    _own(rule, actor)
    _audit(rule, actor=actor, change="notification_rule.delete")
    rule.delete()


# --- team channels -------------------------------------------------------------------------------
CHANNEL_FIELDS = ("name", "address", "active")


@transaction.atomic
def create_channel(*, actor, name: str, medium: str, address: str) -> TeamChannel:
    require_capability(actor, Capability.CONFIGURE)
    name = clean_text(name, "name", limit=NAME_MAX)
    medium = _medium(medium)
    address = clean_address(medium, address)
    if TeamChannel.objects.filter(tenant_id=actor.tenant_id).count() >= MAX_CHANNELS:
        raise ValidationError({"body": f"At most {MAX_CHANNELS} team channels."})
    if TeamChannel.objects.filter(tenant_id=actor.tenant_id, name=name).exists():
        raise ValidationError({"name": "A team channel has this name already."})
    channel = TeamChannel.objects.create(
        tenant_id=actor.tenant_id, name=name, medium=medium, address=address, created_by=actor
    )
    _audit(channel, actor=actor, change="team_channel.create", medium=medium)
    return channel


@transaction.atomic
def update_channel(channel: TeamChannel, *, actor, **changes) -> TeamChannel:
    """Rename, re-address (it must be verified again) or (de)activate a channel."""
    require_capability(actor, Capability.CONFIGURE)
    unknown = set(changes) - set(CHANNEL_FIELDS)
    if unknown:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    channel = TeamChannel.objects.select_for_update().get(pk=channel.pk)
    changed = []
    if "name" in changes:
        name = clean_text(changes["name"], "name", limit=NAME_MAX)
        if name != channel.name:
            if TeamChannel.objects.filter(tenant_id=channel.tenant_id, name=name).exists():
                raise ValidationError({"name": "A team channel has this name already."})
            channel.name = name
            changed.append("name")
    if "address" in changes:
        address = clean_address(channel.medium, changes["address"])
        if address != channel.address:
            channel.address = address
            channel.verified_at = None
            changed += ["address", "verified_at"]
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise ValidationError({"active": "true or false."})
        if changes["active"] != channel.active:
            channel.active = changes["active"]
            changed.append("active")
    if changed:
        channel.save(update_fields=changed)
        _audit(channel, actor=actor, change="team_channel.update", fields=sorted(changed))
    return channel


@transaction.atomic
def delete_channel(channel: TeamChannel, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    _audit(channel, actor=actor, change="team_channel.delete", medium=channel.medium)
    channel.delete()


def _channel_code(channel: TeamChannel, delivery_id: int) -> str:
    key = settings.SECRET_KEY.encode()
    text = f"team-channel:{channel.id}:{channel.address}:{delivery_id}".encode()
    return f"{int(hmac.new(key, text, hashlib.sha256).hexdigest(), 16) % 1_000_000:06d}"


def _last_channel_code(channel: TeamChannel) -> Delivery | None:
    return (
        Delivery.objects.filter(channel=channel, kind=DeliveryKind.VERIFY)
        .order_by("-id")
        .only("id", "created_at", "status")
        .first()
    )


def send_channel_verification(channel: TeamChannel, *, actor) -> Delivery:
    """Post a code to the channel; whoever reads the channel gives it back to an admin."""
    require_capability(actor, Capability.CONFIGURE)
    last = _last_channel_code(channel)
    now = timezone.now()
    if last is not None and now - last.created_at < timedelta(seconds=RESEND_SECONDS):
        wait = timedelta(seconds=RESEND_SECONDS) - (now - last.created_at)
        raise TooSoon(int(wait.total_seconds()) + 1)
    with transaction.atomic():
        delivery = notify.record_direct(
            tenant_id=channel.tenant_id, kind=DeliveryKind.VERIFY, channel=channel
        )
        _audit(channel, actor=actor, change="team_channel.code_sent", delivery_id=delivery.id)
    delivery.channel = channel
    message = verify_message(code=_channel_code(channel, delivery.id), minutes=VERIFY_MINUTES)
    return notify.send_now(delivery, message)


def _channel_tries(tries_key: str) -> int:
    cache.add(tries_key, 0, timeout=VERIFY_MINUTES * 60)
    return cache.get(tries_key, 0)


def _count_wrong_try(tries_key: str) -> None:
    try:
        cache.incr(tries_key)
    except ValueError:
        cache.set(tries_key, 1, timeout=VERIFY_MINUTES * 60)


def verify_channel(channel: TeamChannel, *, actor, code) -> TeamChannel:
    require_capability(actor, Capability.CONFIGURE)
    code = verification.clean_code(code)
    if channel.verified_at is not None:
        return channel
    last = _last_channel_code(channel)
    now = timezone.now()
    if last is None or last.status != DeliveryStatus.SENT:
        raise ValidationError({"code": "Send a code to the channel first."})
    if now - last.created_at > timedelta(minutes=VERIFY_MINUTES):
        raise ValidationError({"code": "This code has expired: send a new one."})
    tries_key = f"watchfloor:channel-code-tries:{last.id}"
    # wrong tries are counted in the cache: with it down no code is checked (a guess would go
    # uncounted), the person is told to come back; never a 500
    tries = guarded("cache", lambda: _channel_tries(tries_key), lambda: None)
    if tries is None:
        raise ValidationError({"code": "Codes cannot be checked right now: try again shortly."})
    if tries >= VERIFY_MAX_ATTEMPTS:
        raise ValidationError({"code": "Too many wrong codes: send a new one."})
    if not hmac.compare_digest(code, _channel_code(channel, last.id)):
        guarded("cache", lambda: _count_wrong_try(tries_key), lambda: None)
        raise ValidationError({"code": "That is not the code."})
    with transaction.atomic():
        channel = TeamChannel.objects.select_for_update().get(pk=channel.pk)
        channel.verified_at = now
        channel.save(update_fields=["verified_at"])
        _audit(channel, actor=actor, change="team_channel.verify", medium=channel.medium)
    return channel


def send_channel_test(channel: TeamChannel, *, actor) -> Delivery:
    require_capability(actor, Capability.CONFIGURE)
    if channel.verified_at is None:
        raise NotVerified("Verify this channel first.")
    with transaction.atomic():
        delivery = notify.record_direct(
            tenant_id=channel.tenant_id, kind=DeliveryKind.TEST, channel=channel
        )
        _audit(channel, actor=actor, change="team_channel.test", delivery_id=delivery.id)
    delivery.channel = channel
    return notify.send_now(delivery, test_message(label=channel.name))
