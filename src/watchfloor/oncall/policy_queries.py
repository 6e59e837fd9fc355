"""Reading escalation policies and an alert's escalation, scoped like everything else.

A user sees the tenant's default policy and the policies of the clients in their scope; another
tenant's policy, or a client's outside the scope, is the same 404 as a missing one.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from watchfloor.access.masking import masked_for, person_view
from watchfloor.access.scope import visible_clients
from watchfloor.oncall.models import (
    AlertEscalation,
    EscalationPolicy,
    PolicyVersion,
    Schedule,
    TeamChannel,
)
from watchfloor.oncall.policies import TargetKind, chain_for
from watchfloor.tenancy.models import User

FIXED_LABELS = {
    TargetKind.OFFICER: "The site's officer in charge",
    TargetKind.CLIENT_OWNER: "The client's owner",
}


def policies_for(user) -> QuerySet[EscalationPolicy]:
    if getattr(user, "tenant_id", None) is None:
        return EscalationPolicy.objects.none()
    return (
        EscalationPolicy.objects.filter(tenant_id=user.tenant_id)
        .filter(Q(client__isnull=True) | Q(client__in=visible_clients(user).values("id")))
        .select_related("client", "current")
    )


def access_policy(user, policy_id) -> EscalationPolicy:
    try:
        return policies_for(user).get(pk=policy_id)
    except (EscalationPolicy.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None


class TargetLabels:
    """Names for the targets of many steps at once (people masked for the reader)."""

    def __init__(self, tenant_id: int, steps_lists, pii: bool):
        ids: dict[str, set[int]] = {
            TargetKind.SCHEDULE: set(),
            TargetKind.USER: set(),
            TargetKind.CHANNEL: set(),
        }
        for steps in steps_lists:
            for step in steps:
                for target in step["targets"] if isinstance(step, dict) else step.targets:
                    if target["kind"] in ids:
                        ids[target["kind"]].add(target["id"])
        self.pii = pii
        self.schedules = dict(
            Schedule.objects.filter(
                tenant_id=tenant_id, id__in=ids[TargetKind.SCHEDULE]
            ).values_list("id", "name")
        )
        self.channels = dict(
            TeamChannel.objects.filter(
                tenant_id=tenant_id, id__in=ids[TargetKind.CHANNEL]
            ).values_list("id", "name")
        )
        self.users = {
            u.id: u for u in User.objects.filter(tenant_id=tenant_id, id__in=ids[TargetKind.USER])
        }

    def label(self, target: dict) -> dict:
        kind, ident = target["kind"], int(target.get("id") or 0)
        if kind in FIXED_LABELS:
            text = FIXED_LABELS[kind]
        elif kind == TargetKind.SCHEDULE:
            name = self.schedules.get(ident, "a deleted schedule")
            text = f"On call in {masked_for(None, name, can_view_pii=self.pii)}"
        elif kind == TargetKind.CHANNEL:
            name = self.channels.get(ident, "(deleted)")
            text = f"Channel {masked_for(None, name, can_view_pii=self.pii)}"
        else:
            person = person_view(self.users.get(ident), self.pii)
            text = (person["full_name"] or person["username"]) if person else "(deleted person)"
        return {"kind": kind, "id": ident, "label": text}


def policy_out(policy: EscalationPolicy, pii: bool, labels: TargetLabels | None = None) -> dict:
    version = policy.current
    labels = labels or TargetLabels(policy.tenant_id, [version.steps], pii)
    versions = list(
        PolicyVersion.objects.filter(policy=policy)
        .select_related("created_by")
        .order_by("-number")[:20]
    )
    return {
        "id": policy.id,
        "name": masked_for(None, policy.name, can_view_pii=pii),
        "is_default": policy.is_default,
        "client": (
            {"id": policy.client.id, "code": policy.client.code, "name": policy.client.name}
            if policy.client_id
            else None
        ),
        "version": version.number,
        "steps": [
            {
                "delay_minutes": s["delay_minutes"],
                "severities": s["severities"],
                "targets": [labels.label(t) for t in s["targets"]],
            }
            for s in version.steps
        ],
        "repeat": version.repeat,
        "notify_after_minutes": version.notify_after_minutes,
        "updated_at": policy.updated_at,
        "versions": [
            {
                "number": v.number,
                "created_at": v.created_at,
                "created_by": person_view(v.created_by, pii),
            }
            for v in versions
        ],
    }


def escalation_out(alert, pii: bool) -> dict | None:
    """The alert's frozen chain and where it stands (None before the sweep has seen it)."""
    escalation = (
        AlertEscalation.objects.select_related("policy_version__policy")
        .filter(alert_id=alert.id)
        .first()
    )
    if escalation is None:
        return None
    version = escalation.policy_version
    chain = chain_for(version, alert.severity) if version else []
    labels = TargetLabels(alert.tenant_id, [chain], pii)
    return {
        "alert_id": alert.id,
        "policy": (
            {
                "id": version.policy.id,
                "name": masked_for(None, version.policy.name, can_view_pii=pii),
            }
            if version
            else None
        ),
        "version": version.number if version else None,
        "state": escalation.state,
        "stop_reason": masked_for(None, escalation.stop_reason, can_view_pii=pii),
        "next_step": escalation.next_step,
        "next_at": escalation.next_at,
        "steps": [
            {
                "index": step.index,
                "round": step.round,
                "delay_minutes": step.delay.total_seconds() / 60,
                "targets": [labels.label(t) for t in step.targets],
                "taken": step.index < escalation.next_step,
            }
            for step in chain
        ],
    }
