"""Writes of the snapshots app: a tenant's retention policy (`noc:configure`, audited)."""

from __future__ import annotations

from django.db import transaction

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.snapshots.models import DEFAULTS, KIND_BY_FIELD, RetentionPolicy, problems


class RetentionError(ValueError):
    """A period out of its bounds, or audit not kept longest (the API answers 422 naming
    `field`; `fields` has every problem)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
        self.field = next(iter(fields))


def policy_for(tenant_id) -> RetentionPolicy:
    """The tenant's policy; an unsaved one with the defaults when it never changed it."""
    tenant_id = getattr(tenant_id, "pk", tenant_id)
    return RetentionPolicy.objects.filter(tenant_id=tenant_id).first() or RetentionPolicy(
        tenant_id=tenant_id, **DEFAULTS
    )


@transaction.atomic
def update_policy(tenant_id, *, actor, **days) -> RetentionPolicy:
    """Change some of the tenant's periods (days); the whole new policy is checked first
    (bounds per kind, audit at least every other period) and nothing is stored if one is wrong.
    Audited as config_change with the periods before and after."""
    require_capability(actor, Capability.CONFIGURE)
    tenant_id = getattr(tenant_id, "pk", tenant_id)
    if actor.tenant_id != tenant_id:
        raise RetentionError({"tenant": "Not your tenant."})
    unknown = [name for name in days if name not in KIND_BY_FIELD]
    if unknown:
        raise RetentionError({name: "Not a retention period." for name in unknown})
    bad = {
        name: "A whole number of days."
        for name, value in days.items()
        if isinstance(value, bool) or not isinstance(value, int)
    }
    if bad:
        raise RetentionError(bad)
    policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(
        tenant_id=tenant_id, defaults=dict(DEFAULTS)
    )
    before = policy.days()
    after = {**before, **days}
    errors = problems(after)
    if errors:
        raise RetentionError(errors)
    changed = [name for name in after if after[name] != before[name]]
    if changed:
        for name in changed:
            setattr(policy, name, after[name])
        policy.save(update_fields=[*changed, "updated_at"])
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant_id,
        entity=policy,
        details={
            "what": "retention_policy",
            "changed": changed,
            "before": {n: before[n] for n in changed},
            "after": {n: after[n] for n in changed},
        },
    )
    return policy
