"""One-click acknowledge links in notifications: signed, expiring, single use, audited.

A link carries a token signed with Django's signing (its own salt): the delivery it was sent
in, the alert, the person it was sent to and a random nonce. It is valid `ACK_LINK_HOURS`.
Using it inserts an `AckLinkUse` row (the nonce is its primary key) in the same transaction as
the acknowledgement, so a link works once even when two clicks race. The acknowledgement is
the recipient's own, through `alerts.services.acknowledge_alert`: their `noc:ack_alerts` is
checked, it is audited with `{"via": "link", "delivery_id": …}` and published live.

Opening a link (GET) only shows what it would do: the acknowledgement is a POST, so mail
scanners that follow links acknowledge nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from watchfloor.access.scope import CapabilityDenied
from watchfloor.alerts.models import Alert
from watchfloor.alerts.queries import alerts_for
from watchfloor.alerts.services import IllegalTransition, acknowledge_alert
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.oncall.models import AckLinkUse, Delivery

SALT = "watchfloor.oncall.ack-link"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    alert_id: int
    user_id: int
    nonce: str


class LinkRefused(Exception):
    """Why a link does not acknowledge: `invalid`, `expired`, `used`, `forbidden`,
    `already_acknowledged` (or resolved), `gone` (the delivery, alert or person no longer
    exists or no longer match). `status` is the HTTP status the page answers with."""

    STATUS = {
        "invalid": 400,
        "expired": 410,
        "used": 409,
        "forbidden": 403,
        "already_acknowledged": 409,
        "gone": 404,
    }

    def __init__(self, reason: str, *, alert: Alert | None = None):
        super().__init__(reason)
        self.reason = reason
        self.alert = alert

    @property
    def status(self) -> int:
        return self.STATUS[self.reason]


def validity() -> timedelta:
    return timedelta(hours=settings.ACK_LINK_HOURS)


def make_token(delivery: Delivery) -> str:
    """A new token for the delivery's recipient and alert (each call: a new nonce)."""
    payload = {
        "d": delivery.id,
        "a": delivery.alert_id,
        "u": delivery.recipient_id,
        "n": secrets.token_hex(16),
    }
    return signing.dumps(payload, salt=SALT, compress=True)


def ack_url(delivery: Delivery) -> str:
    return f"{settings.PUBLIC_URL}/ack/{make_token(delivery)}/"


def _claim(payload) -> Claim:
    try:
        return Claim(
            delivery_id=int(payload["d"]),
            alert_id=int(payload["a"]),
            user_id=int(payload["u"]),
            nonce=str(payload["n"])[:32],
        )
    except (KeyError, TypeError, ValueError):
        raise LinkRefused("invalid") from None


def read_token(token: str) -> Claim:
    """The token's claim; `LinkRefused("invalid")` if it was not signed by us (or altered),
    `LinkRefused("expired")` past its validity."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=validity())
    except signing.SignatureExpired:
        raise LinkRefused("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkRefused("invalid") from None
    return _claim(payload)


def expired_claim(token: str) -> Claim | None:
    """The claim of a correctly signed but expired token (to audit against its tenant)."""
    try:
        return _claim(signing.loads(token, salt=SALT))
    except (signing.BadSignature, LinkRefused, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Link:
    claim: Claim
    delivery: Delivery
    alert: Alert
    user: object  # the recipient
    used_at: datetime | None


def inspect(token: str) -> Link:
    """What a valid link would acknowledge, for the confirmation page; raises `LinkRefused`."""
    claim = read_token(token)
    delivery = (
        Delivery.objects.select_related("recipient", "alert", "alert__client", "alert__site")
        .filter(pk=claim.delivery_id)
        .first()
    )
    if (
        delivery is None
        or delivery.alert_id != claim.alert_id
        or delivery.recipient_id != claim.user_id
        or delivery.recipient is None
        or not delivery.recipient.is_active
        or delivery.recipient.tenant_id != delivery.tenant_id
    ):
        raise LinkRefused("gone")
    use = AckLinkUse.objects.filter(pk=claim.nonce).first()
    assert delivery.alert is not None  # a link is only made for an alert's delivery
    return Link(claim, delivery, delivery.alert, delivery.recipient, use.used_at if use else None)


def _deny(reason: str, *, claim: Claim | None, delivery: Delivery | None = None, actor=None):
    details: dict[str, str | int] = {"via": "link", "reason": reason}
    if claim is not None:
        details["delivery_id"] = claim.delivery_id
        details["alert_id"] = claim.alert_id
    record(
        Action.ACCESS_DENIED,
        actor=actor,
        tenant=delivery.tenant_id if delivery is not None else None,
        details=details,
    )


def use(token: str) -> Alert:
    """Acknowledge the alert as the link's recipient; raises `LinkRefused`. Refusals that
    concern the link itself (invalid, expired, used, forbidden) are audited as denied."""
    try:
        link = inspect(token)
    except LinkRefused as exc:
        claim = expired_claim(token) if exc.reason == "expired" else None
        delivery = Delivery.objects.filter(pk=claim.delivery_id).first() if claim else None
        if exc.reason in ("invalid", "expired"):
            _deny(exc.reason, claim=claim, delivery=delivery)
        raise
    if link.used_at is not None:
        _deny("used", claim=link.claim, delivery=link.delivery, actor=link.user)
        raise LinkRefused("used", alert=link.alert)
    if not alerts_for(link.user).filter(pk=link.alert.pk).exists():
        # the recipient no longer sees this alert (their scope changed): no acknowledging it
        _deny("forbidden", claim=link.claim, delivery=link.delivery, actor=link.user)
        raise LinkRefused("forbidden", alert=link.alert)
    try:
        with transaction.atomic():
            AckLinkUse.objects.create(
                nonce=link.claim.nonce, delivery=link.delivery, used_at=timezone.now()
            )
            incident = (link.delivery.context or {}).get("incident")
            if incident:
                # a page about an incident acknowledges the incident (and with it its alerts);
                # oncall cannot import incidents, so the handler is named in settings
                handler = import_string(settings.ACK_LINK_INCIDENT_HANDLER)
                if not handler(int(incident["id"]), actor=link.user):
                    raise IllegalTransition("acknowledge", "ACKNOWLEDGED")
                link.alert.refresh_from_db()
                return link.alert
            return acknowledge_alert(
                link.alert,
                actor=link.user,
                details={"via": "link", "delivery_id": link.delivery.id},
            )
    except IntegrityError:
        _deny("used", claim=link.claim, delivery=link.delivery, actor=link.user)
        raise LinkRefused("used", alert=link.alert) from None
    except CapabilityDenied:
        _deny("forbidden", claim=link.claim, delivery=link.delivery, actor=link.user)
        raise LinkRefused("forbidden", alert=link.alert) from None
    except IllegalTransition:
        link.alert.refresh_from_db()
        raise LinkRefused("already_acknowledged", alert=link.alert) from None
