"""Escalation policies: list and read (`noc:view`), create, edit and delete (`noc:configure`);
and one alert's escalation (its frozen chain and where it stands)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Router, Status

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import access_client, has_capability, require_capability
from watchfloor.alerts.queries import access_alert
from watchfloor.api.errors import ApiError
from watchfloor.api.schemas import Id
from watchfloor.oncall import policy_services as services
from watchfloor.oncall.policy_queries import (
    TargetLabels,
    access_policy,
    escalation_out,
    policies_for,
    policy_out,
)
from watchfloor.oncall.policy_schemas import (
    AlertEscalationOut,
    PolicyIn,
    PolicyList,
    PolicyOut,
    PolicyPatch,
)

router = Router(tags=["escalation"])


def _pii(user) -> bool:
    return has_capability(user, Capability.VIEW_PII)


def _steps(data) -> list[dict]:
    return [step.model_dump(exclude_none=True) for step in data]


@router.get("/escalation-policies", response=PolicyList)
def list_policies(request):
    user = request.auth
    require_capability(user, Capability.VIEW)
    policies = list(policies_for(user))
    labels = TargetLabels(
        user.tenant_id, [p.current.steps for p in policies if p.current], _pii(user)
    )
    return {"items": [policy_out(p, _pii(user), labels) for p in policies if p.current]}


@router.get("/escalation-policies/{policy_id}", response=PolicyOut)
def get_policy(request, policy_id: Id):
    require_capability(request.auth, Capability.VIEW)
    return policy_out(access_policy(request.auth, policy_id), _pii(request.auth))


@router.post("/escalation-policies", response={201: PolicyOut})
def create_policy(request, data: PolicyIn):
    user = request.auth
    require_capability(user, Capability.CONFIGURE)
    client = None
    if data.client_id is not None:
        try:
            client = access_client(user, data.client_id)
        except Http404:
            raise ValidationError({"client_id": "No such client in your scope."}) from None
    policy = services.create_policy(
        user.tenant,
        actor=user,
        name=data.name,
        client=client,
        is_default=data.is_default,
        steps=_steps(data.steps),
        repeat=data.repeat,
        notify_after_minutes=data.notify_after_minutes,
    )
    return Status(201, policy_out(access_policy(user, policy.pk), _pii(user)))


@router.patch("/escalation-policies/{policy_id}", response=PolicyOut)
def update_policy(request, policy_id: Id, data: PolicyPatch):
    user = request.auth
    require_capability(user, Capability.VIEW)
    policy = access_policy(user, policy_id)
    require_capability(user, Capability.CONFIGURE)
    values = data.model_dump(exclude_unset=True)
    if "steps" in values:
        if data.steps is None:
            raise ValidationError({"steps": "Give at least one step."})
        values["steps"] = _steps(data.steps)
    for key in ("name", "repeat", "notify_after_minutes"):
        if key in values and values[key] is None:
            raise ValidationError({key: "This field may not be null."})
    services.update_policy(policy, actor=user, **values)
    return policy_out(access_policy(user, policy.pk), _pii(user))


@router.delete("/escalation-policies/{policy_id}", response={204: None})
def delete_policy(request, policy_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    policy = access_policy(user, policy_id)
    try:
        services.delete_policy(policy, actor=user)
    except services.PolicyInUse as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return Status(204, None)


@router.get("/alerts/{alert_id}/escalation", response=AlertEscalationOut)
def alert_escalation(request, alert_id: Id):
    user = request.auth
    require_capability(user, Capability.VIEW)
    answer = escalation_out(access_alert(user, alert_id), _pii(user))
    if answer is None:
        raise ApiError(404, "not_found", "This alert has not come under escalation yet.")
    return answer
