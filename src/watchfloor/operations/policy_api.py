"""The tenant's feed-rule thresholds: GET/PUT /api/v1/operations/policy (`noc:configure`)."""

from __future__ import annotations

from ninja import Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.masking import person_view
from watchfloor.access.scope import has_capability, require_capability
from watchfloor.api.errors import ApiError
from watchfloor.operations import policy_services
from watchfloor.operations.policy_schemas import OperationsPolicyIn, OperationsPolicyOut

router = Router(tags=["operations"])


def policy_out(policy, pii: bool) -> dict:
    out = {name: getattr(policy, name) for name in policy_services.SETTINGS}
    out["device_silence_by_type"] = dict(policy.device_silence_by_type or {})
    out["updated_at"] = policy.updated_at if policy.pk else None
    out["updated_by"] = person_view(policy.updated_by, pii) if policy.pk else None
    return out


@router.get("/operations/policy", response=OperationsPolicyOut)
def get_policy(request):
    """The thresholds of the feed rules (defaults until edited); `noc:configure`."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    policy = policy_services.policy_for(user.tenant_id)
    return policy_out(policy, has_capability(user, Capability.VIEW_PII))


@router.put("/operations/policy", response=OperationsPolicyOut)
def put_policy(request, data: OperationsPolicyIn):
    """Change the thresholds (`noc:configure`, audited as config_change); fields left out stay
    as they are. SLA hours 1–8760 per priority; minutes 1–43200; `device_silence_by_type`: at
    most 100 device types (1–50 characters) → minutes; speed 1–5000 km/h; percents 0/1–100;
    window 1–90 days; minimum shifts 1–10000. The rules use new values from their next run."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    values = data.model_dump(exclude_none=True)
    try:
        policy = policy_services.update_policy(user.tenant_id, actor=user, **values)
    except policy_services.PolicyInvalid as exc:
        raise ApiError(
            422, "validation_error", "The request is not valid.", {exc.field: str(exc)}
        ) from None
    return policy_out(policy, has_capability(user, Capability.VIEW_PII))
