"""Writes for escalation policies: create, edit (a new immutable version), delete, the default.

Each needs `noc:configure` (the shipped default is created by the system, with no actor), runs
in one transaction and is audited as a configuration change with ids only.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.oncall.models import (
    AlertEscalation,
    EscalationPolicy,
    EscalationState,
    PolicyVersion,
)
from watchfloor.oncall.policies import clean_notify_after, clean_repeat, clean_steps, default_steps
from watchfloor.oncall.text import clean_text
from watchfloor.tenancy.models import Client, Tenant

DEFAULT_POLICY_NAME = "Default"
NAME_MAX = 100


class PolicyInUse(Exception):
    """Alerts are still escalating under the policy (409): they keep their frozen chain, so the
    policy cannot go until they are done."""


def _clean_name(name) -> str:
    return clean_text(name, "name", limit=NAME_MAX)


def _new_version(policy, *, actor, steps, repeat, notify_after) -> PolicyVersion:
    number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PolicyVersion.objects.create(
        tenant_id=policy.tenant_id,
        policy=policy,
        number=number,
        steps=steps,
        repeat=repeat,
        notify_after_minutes=notify_after,
        created_at=timezone.now(),
        created_by=actor,
    )
    policy.current = version
    policy.save(update_fields=["current", "updated_at"])
    return version


def _audit(actor, policy, what: str, **details) -> None:
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=policy.tenant_id,
        entity=policy,
        details={"what": what, **details},
    )


@transaction.atomic
def create_policy(
    tenant: Tenant,
    *,
    actor,
    name: str,
    steps: list,
    client: Client | None = None,
    is_default: bool = False,
    repeat: int = 0,
    notify_after_minutes: int = 0,
) -> EscalationPolicy:
    """A client's policy (`client`) or the tenant's default (`is_default`): one of the two."""
    require_capability(actor, Capability.CONFIGURE)
    name = _clean_name(name)
    steps = clean_steps(steps, tenant_id=tenant.id)
    repeat = clean_repeat(repeat)
    notify_after = clean_notify_after(notify_after_minutes)
    if (client is None) == (not is_default):
        raise ValidationError({"client_id": "A policy is either the default or a client's."})
    if client is not None and client.tenant_id != tenant.id:
        raise ValidationError({"client_id": "No such client."})
    try:
        with transaction.atomic():
            policy = EscalationPolicy.objects.create(
                tenant=tenant, name=name, client=client, is_default=is_default
            )
    except IntegrityError:
        raise ValidationError(
            {"client_id" if client else "is_default": "There is a policy for it already."}
            if EscalationPolicy.objects.filter(tenant=tenant, name=name).count() == 0
            else {"name": "Another policy has this name."}
        ) from None
    version = _new_version(
        policy, actor=actor, steps=steps, repeat=repeat, notify_after=notify_after
    )
    _audit(actor, policy, "escalation_policy.create", version=version.number)
    return policy


@transaction.atomic
def update_policy(
    policy: EscalationPolicy,
    *,
    actor,
    name: str | None = None,
    steps: list | None = None,
    repeat: int | None = None,
    notify_after_minutes: int | None = None,
) -> EscalationPolicy:
    """A new version: alerts already escalating keep the version they froze."""
    require_capability(actor, Capability.CONFIGURE)
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    current = policy.current
    if name is not None:
        name = _clean_name(name)
        if (
            EscalationPolicy.objects.filter(tenant_id=policy.tenant_id, name=name)
            .exclude(pk=policy.pk)
            .exists()
        ):
            raise ValidationError({"name": "Another policy has this name."})
        policy.name = name
        policy.save(update_fields=["name", "updated_at"])
    new_steps = current.steps if steps is None else clean_steps(steps, tenant_id=policy.tenant_id)
    new_repeat = current.repeat if repeat is None else clean_repeat(repeat)
    new_after = (
        current.notify_after_minutes
        if notify_after_minutes is None
        else clean_notify_after(notify_after_minutes)
    )
    changed = (new_steps, new_repeat, new_after) != (
        current.steps,
        current.repeat,
        current.notify_after_minutes,
    )
    if changed:
        _new_version(
            policy, actor=actor, steps=new_steps, repeat=new_repeat, notify_after=new_after
        )
    _audit(
        actor,
        policy,
        "escalation_policy.update",
        version=policy.current.number,
        renamed=name is not None,
    )
    return policy


@transaction.atomic
def delete_policy(policy: EscalationPolicy, *, actor) -> None:
    require_capability(actor, Capability.CONFIGURE)
    if policy.is_default:
        raise ValidationError({"is_default": "The default policy can be edited, not deleted."})
    running = AlertEscalation.objects.filter(
        policy_version__policy=policy, state=EscalationState.ACTIVE
    ).count()
    if running:
        raise PolicyInUse(
            f"{running} alert(s) are still escalating under this policy; it can go once they "
            "are acknowledged or resolved."
        )
    _audit(actor, policy, "escalation_policy.delete", name_len=len(policy.name))
    policy.current = None
    policy.save(update_fields=["current"])
    policy.delete()


def ensure_default_policy(tenant_id: int) -> EscalationPolicy:
    """The tenant's default policy, created from today's per-severity delays if it has none
    (a new tenant escalates from its first alert; nobody has to configure anything first)."""
    policy = EscalationPolicy.objects.filter(tenant_id=tenant_id, is_default=True).first()
    if policy is not None:
        return policy
    try:
        with transaction.atomic():
            policy = EscalationPolicy.objects.create(
                tenant_id=tenant_id, name=DEFAULT_POLICY_NAME, is_default=True
            )
            _new_version(policy, actor=None, steps=default_steps(), repeat=0, notify_after=0)
            _audit(None, policy, "escalation_policy.default_created", version=1)
    except IntegrityError:  # created meanwhile by another process, or the name is taken
        policy = EscalationPolicy.objects.filter(tenant_id=tenant_id, is_default=True).first()
        if policy is None:
            raise
    return policy
