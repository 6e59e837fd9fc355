"""Read side of contact methods, rules, team channels and deliveries.

A person sees only their own methods and rules (`access_contact_method` / `access_rule` raise
the same 404 for someone else's, another tenant's or a missing id). Team channels and
deliveries are the tenant's, read by admins; deliveries about alerts are limited to the
alerts the viewer's scope reaches. Rows are shown with people masked for the viewer
(`person_view`) and addresses with their secrets cut (`display_address`).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import mask_text, masked_for, person_view
from watchfloor.access.scope import ScopeKind, has_capability, scope_kind
from watchfloor.alerts.queries import alerts_for
from watchfloor.oncall.channels import display_address
from watchfloor.oncall.models import (
    ContactMethod,
    Delivery,
    DeliveryStatus,
    NotificationRule,
    TeamChannel,
)

ALERT_DELIVERIES_LIMIT = 200


def _get_or_404(queryset: QuerySet, pk):
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("Not found.") from None


def _tenant_id(user):
    return getattr(user, "tenant_id", None)


# --- a person's own ------------------------------------------------------------------------------
def methods_of(user) -> QuerySet[ContactMethod]:
    if _tenant_id(user) is None:
        return ContactMethod.objects.none()
    return ContactMethod.objects.filter(tenant_id=user.tenant_id, user_id=user.id).order_by("id")


def access_contact_method(user, method_id) -> ContactMethod:
    return _get_or_404(methods_of(user), method_id)


def rules_of(user) -> QuerySet[NotificationRule]:
    if _tenant_id(user) is None:
        return NotificationRule.objects.none()
    return (
        NotificationRule.objects.filter(tenant_id=user.tenant_id, user_id=user.id)
        .select_related("contact_method")
        .order_by("delay_minutes", "id")
    )


def access_rule(user, rule_id) -> NotificationRule:
    return _get_or_404(rules_of(user), rule_id)


def method_out(method: ContactMethod) -> dict:
    """A method as its owner sees it (an email in full, an apprise URL without secrets)."""
    pending = method.verified_at is None and method.verification_sent_at is not None
    return {
        "id": method.id,
        "medium": method.medium,
        "label": method.label,
        "address": display_address(method.medium, method.address),
        "verified": method.verified_at is not None,
        "verified_at": method.verified_at,
        "code_sent_at": method.verification_sent_at if pending else None,
        "created_at": method.created_at,
    }


def rule_out(rule: NotificationRule) -> dict:
    method = rule.contact_method
    return {
        "id": rule.id,
        "contact_method_id": method.id,
        "contact_method_label": method.label,
        "medium": method.medium,
        "verified": method.verified_at is not None,
        "delay_minutes": rule.delay_minutes,
    }


# --- team channels -------------------------------------------------------------------------------
def channels_of(user) -> QuerySet[TeamChannel]:
    """The tenant's team channels (the caller checks `noc:configure`)."""
    if _tenant_id(user) is None:
        return TeamChannel.objects.none()
    return TeamChannel.objects.filter(tenant_id=user.tenant_id).order_by("name", "id")


def access_channel(user, channel_id) -> TeamChannel:
    return _get_or_404(channels_of(user), channel_id)


def channel_out(channel: TeamChannel, viewer) -> dict:
    """A team channel as `viewer` may see it: its name and address are free text, masked
    without `noc:view_pii` (an email channel's address is a person's address)."""
    return {
        "id": channel.id,
        "name": masked_for(viewer, channel.name),
        "medium": channel.medium,
        "address": masked_for(viewer, display_address(channel.medium, channel.address)),
        "verified": channel.verified_at is not None,
        "verified_at": channel.verified_at,
        "active": channel.active,
        "created_at": channel.created_at,
    }


# --- deliveries ----------------------------------------------------------------------------------
def deliveries_of(
    user, *, alert: int | None = None, status: str | None = None, recipient: int | None = None
) -> QuerySet[Delivery]:
    """The tenant's deliveries the user may see, newest first, with what a row shows joined.
    Deliveries about an alert are limited to alerts in the user's scope; the rest (tests,
    codes) are the tenant's."""
    kind = scope_kind(user)
    if kind == ScopeKind.NONE:
        return Delivery.objects.none()
    qs = Delivery.objects.filter(tenant_id=user.tenant_id)
    if kind != ScopeKind.ALL_CLIENTS:
        qs = qs.filter(Q(alert__isnull=True) | Q(alert__in=alerts_for(user).values("id")))
    if alert is not None:
        qs = qs.filter(alert_id=alert)
    if status:
        qs = qs.filter(status=status)
    if recipient is not None:
        qs = qs.filter(recipient_id=recipient)
    return qs.select_related("recipient", "contact_method", "channel").order_by("-id")


def delivery_out(delivery: Delivery, pii: bool) -> dict:
    method = delivery.contact_method
    channel = delivery.channel
    error = delivery.last_error or ""
    return {
        "id": delivery.id,
        "kind": delivery.kind,
        "alert_id": delivery.alert_id,
        "step": delivery.step,
        "status": delivery.status,
        "medium": delivery.medium,
        "recipient": person_view(delivery.recipient, pii),
        "contact_method": (
            {"id": method.id, "label": method.label if pii else mask_text(method.label)}
            if method is not None
            else None
        ),
        "channel": (
            {"id": channel.id, "name": masked_for(None, channel.name, can_view_pii=pii)}
            if channel is not None
            else None
        ),
        "attempts": delivery.attempts,
        "due_at": delivery.due_at,
        "next_attempt_at": delivery.next_attempt_at,
        "sent_at": delivery.sent_at,
        "latency_ms": delivery.latency_ms,
        "error": error if pii else mask_text(error),
        "created_at": delivery.created_at,
    }


def deliveries_for_alert(alert, viewer) -> list[dict]:
    """The deliveries about one alert, oldest first, masked for the viewer (the alert itself
    was fetched through the viewer's scope). At most ALERT_DELIVERIES_LIMIT, the newest."""
    pii = has_capability(viewer, Capability.VIEW_PII)
    rows = list(
        Delivery.objects.filter(tenant_id=alert.tenant_id, alert_id=alert.id)
        .select_related("recipient", "contact_method", "channel")
        .order_by("-id")[:ALERT_DELIVERIES_LIMIT]
    )
    return [delivery_out(d, pii) for d in reversed(rows)]


STATUSES = tuple(DeliveryStatus.values)
