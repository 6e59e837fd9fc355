"""How people and teams are reached, and what was sent.

- `/me/contact-methods`, `/me/notification-rules`: the caller's OWN methods and rules (any
  signed-in user with `noc:view`); someone else's id is a 404.
- `/team-channels`: the tenant's shared destinations, `noc:configure`.
- `/deliveries`: every attempt to reach someone, newest first, `noc:configure`; people masked
  without `noc:view_pii`.

Sending a code or a test message answers with the delivery written for it (status `sent` or
`failed` and the error, secrets cut).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.http import Http404
from ninja import Query, Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.api.pagination import paginate
from watchfloor.api.schemas import Id
from watchfloor.oncall import contact_services as services
from watchfloor.oncall.contact_queries import (
    access_channel,
    access_contact_method,
    access_rule,
    channel_out,
    channels_of,
    deliveries_of,
    delivery_out,
    method_out,
    methods_of,
    rule_out,
    rules_of,
)
from watchfloor.oncall.contact_schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    CodeIn,
    ContactMethodIn,
    ContactMethodOut,
    DeliveryFilters,
    DeliveryPage,
    RuleIn,
    RuleOut,
    SentOut,
)

router = Router(tags=["notifications"])


@contextmanager
def _service_errors():
    try:
        yield
    except services.TooSoon as exc:
        raise ApiError(429, "rate_limited", str(exc)) from None
    except services.NotVerified as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def _sent(delivery) -> dict:
    return {"delivery_id": delivery.id, "status": delivery.status, "error": delivery.last_error}


# --- my contact methods --------------------------------------------------------------------------
@router.get("/me/contact-methods", response=list[ContactMethodOut])
def list_methods(request):
    require_capability(request.auth, Capability.VIEW)
    return [method_out(m) for m in methods_of(request.auth)]


@router.post("/me/contact-methods", response={201: ContactMethodOut})
def add_method(request, data: ContactMethodIn):
    """Add a method; a verification code is sent to it at once (verify with the code)."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    method = services.add_contact_method(
        actor=user, medium=data.medium, label=data.label, address=data.address
    )
    sent = services.send_verification(method, actor=user)
    out = method_out(access_contact_method(user, method.id))
    return Status(201, {**out, "code_delivery": _sent(sent)})


@router.get("/me/contact-methods/{method_id}", response=ContactMethodOut)
def get_method(request, method_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return method_out(access_contact_method(request.auth, method_id))


@router.delete("/me/contact-methods/{method_id}", response={204: None})
def delete_method(request, method_id: Id):
    require_capability(request.auth, Capability.VIEW)
    method = access_contact_method(request.auth, method_id)
    services.delete_contact_method(method, actor=request.auth)
    return Status(204, None)


@router.post("/me/contact-methods/{method_id}/send-code", response=SentOut)
def send_code(request, method_id: Id):
    """Send a new code (at most one a minute); the previous one stops working."""
    require_capability(request.auth, Capability.VIEW)
    method = access_contact_method(request.auth, method_id)
    with _service_errors():
        return _sent(services.send_verification(method, actor=request.auth))


@router.post("/me/contact-methods/{method_id}/verify", response=ContactMethodOut)
def verify_method(request, method_id: Id, data: CodeIn):
    require_capability(request.auth, Capability.VIEW)
    method = access_contact_method(request.auth, method_id)
    return method_out(services.verify_contact_method(method, actor=request.auth, code=data.code))


@router.post("/me/contact-methods/{method_id}/test", response=SentOut)
def test_method(request, method_id: Id):
    require_capability(request.auth, Capability.VIEW)
    method = access_contact_method(request.auth, method_id)
    with _service_errors():
        return _sent(services.send_test(method, actor=request.auth))


# --- my notification rules -----------------------------------------------------------------------
@router.get("/me/notification-rules", response=list[RuleOut])
def list_rules(request):
    require_capability(request.auth, Capability.VIEW)
    return [rule_out(r) for r in rules_of(request.auth)]


@router.post("/me/notification-rules", response={201: RuleOut})
def add_rule(request, data: RuleIn):
    """ "Reach me on this method N minutes after I am paged"."""
    user = request.auth
    require_capability(user, Capability.VIEW)
    try:
        method = access_contact_method(user, data.contact_method_id)
    except Http404:
        raise ApiError(
            422,
            "validation_error",
            "The request is not valid.",
            {"contact_method_id": "No such contact method of yours."},
        ) from None
    rule = services.add_rule(actor=user, contact_method=method, delay_minutes=data.delay_minutes)
    return Status(201, rule_out(access_rule(user, rule.id)))


@router.delete("/me/notification-rules/{rule_id}", response={204: None})
def delete_rule(request, rule_id: Id):
    require_capability(request.auth, Capability.VIEW)
    services.delete_rule(access_rule(request.auth, rule_id), actor=request.auth)
    return Status(204, None)


# --- team channels -------------------------------------------------------------------------------
def _channel(request, channel_id: Id):
    require_capability(request.auth, Capability.CONFIGURE)
    return access_channel(request.auth, channel_id)


@router.get("/team-channels", response=list[ChannelOut])
def list_channels(request):
    require_capability(request.auth, Capability.CONFIGURE)
    return [channel_out(c, request.auth) for c in channels_of(request.auth)]


@router.post("/team-channels", response={201: ChannelOut})
def create_channel(request, data: ChannelIn):
    """Add a channel; verify it by sending it a code (`/send-code`) and giving the code back."""
    require_capability(request.auth, Capability.CONFIGURE)
    channel = services.create_channel(
        actor=request.auth, name=data.name, medium=data.medium, address=data.address
    )
    return Status(201, channel_out(channel, request.auth))


@router.get("/team-channels/{channel_id}", response=ChannelOut)
def get_channel(request, channel_id: Id):
    return channel_out(_channel(request, channel_id), request.auth)


@router.patch("/team-channels/{channel_id}", response=ChannelOut)
def update_channel(request, channel_id: Id, data: ChannelPatch):
    channel = _channel(request, channel_id)
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    return channel_out(services.update_channel(channel, actor=request.auth, **values), request.auth)


@router.delete("/team-channels/{channel_id}", response={204: None})
def delete_channel(request, channel_id: Id):
    services.delete_channel(_channel(request, channel_id), actor=request.auth)
    return Status(204, None)


@router.post("/team-channels/{channel_id}/send-code", response=SentOut)
def send_channel_code(request, channel_id: Id):
    channel = _channel(request, channel_id)
    with _service_errors():
        return _sent(services.send_channel_verification(channel, actor=request.auth))


@router.post("/team-channels/{channel_id}/verify", response=ChannelOut)
def verify_channel(request, channel_id: Id, data: CodeIn):
    channel = _channel(request, channel_id)
    return channel_out(
        services.verify_channel(channel, actor=request.auth, code=data.code), request.auth
    )


@router.post("/team-channels/{channel_id}/test", response=SentOut)
def test_channel(request, channel_id: Id):
    channel = _channel(request, channel_id)
    with _service_errors():
        return _sent(services.send_channel_test(channel, actor=request.auth))


# --- deliveries ----------------------------------------------------------------------------------
@router.get("/deliveries", response=DeliveryPage)
def list_deliveries(request, filters: Query[DeliveryFilters]):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    qs = deliveries_of(
        user, alert=filters.alert, status=filters.status, recipient=filters.recipient
    )
    page = paginate(qs, cursor=filters.cursor, limit=filters.limit, descending=True)
    pii = has_capability(user, Capability.VIEW_PII)
    return {"items": [delivery_out(d, pii) for d in page.items], "next_cursor": page.next_cursor}
