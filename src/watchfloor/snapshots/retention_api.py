"""GET/PUT /api/v1/retention: the caller's tenant's retention periods (`noc:configure`)."""

from __future__ import annotations

from ninja import Router

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.api.errors import ApiError
from watchfloor.snapshots import retention_services as services
from watchfloor.snapshots.models import KINDS, RetentionPolicy
from watchfloor.snapshots.retention_schemas import RetentionIn, RetentionOut

router = Router(tags=["retention"])


def retention_out(policy: RetentionPolicy) -> dict:
    days = policy.days()
    return {
        **days,
        "kinds": [
            {
                "field": k.field,
                "label": k.label,
                "days": days[k.field],
                "default": k.default,
                "minimum": k.minimum,
                "maximum": k.maximum,
            }
            for k in KINDS
        ],
        "updated_at": policy.updated_at if policy.pk else None,
    }


def _tenant_of(user) -> int:
    if user.tenant_id is None:
        raise ApiError(404, "not_found", "No tenant.")
    return user.tenant_id


@router.get("/retention", response=RetentionOut)
def get_retention(request):
    """How long this tenant's rows are kept, in days per kind, with each kind's default and
    bounds; `noc:configure`. The daily `retention.enforce` job deletes what is older."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    return retention_out(services.policy_for(_tenant_of(user)))


@router.put("/retention", response=RetentionOut)
def put_retention(request, data: RetentionIn):
    """Change some periods (`noc:configure`, audited as config_change); fields left out stay.
    Each kind has its bounds (see `kinds`); audit must be at least every other period. A 422
    names the field and nothing is stored."""
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    tenant_id = _tenant_of(user)
    try:
        policy = services.update_policy(tenant_id, actor=user, **data.model_dump(exclude_none=True))
    except services.RetentionError as exc:
        raise ApiError(422, "validation_error", "The request is not valid.", exc.fields) from None
    return retention_out(policy)
