"""Escalation policies: the shape of a step, the chain an alert follows, the shipped default.

A policy version's `steps` are validated here (one function, used by the API, the pages and the
default), and read for one alert with `chain_for(version, severity)`: the steps that apply to the
severity, the whole chain repeated `repeat` times more, each with the delay after the step before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError

from watchfloor.alerts.models import Severity
from watchfloor.oncall.models import (
    MAX_DELAY_MINUTES,
    MAX_REPEAT,
    MAX_STEPS,
    EscalationPolicy,
    PolicyVersion,
    Schedule,
    TeamChannel,
)
from watchfloor.tenancy.models import User


class TargetKind:
    SCHEDULE = "schedule"  # whoever is on call in that schedule when the step is taken
    OFFICER = "officer"  # the alert's site's officer in charge
    CLIENT_OWNER = "client_owner"  # the alert's client's owner
    USER = "user"  # a named person
    CHANNEL = "channel"  # a team channel

    WITH_ID = (SCHEDULE, USER, CHANNEL)
    ALL = (SCHEDULE, OFFICER, CLIENT_OWNER, USER, CHANNEL)


MAX_TARGETS = 10
SEVERITIES = tuple(s.value for s in Severity)


@dataclass(frozen=True)
class Step:
    """One step of an alert's chain: wait `delay` after the step before, then notify."""

    index: int  # position in the unrolled chain (0-based)
    delay: timedelta
    targets: tuple[dict, ...]
    round: int  # 0 for the first pass, 1.. for repeats


def clean_steps(steps, *, tenant_id: int) -> list[dict]:
    """Validate and normalise a list of steps; `ValidationError` names `steps[i].field`.

    Ids must belong to the tenant: a schedule, user or channel of another tenant is refused
    exactly like one that does not exist.
    """
    if not isinstance(steps, list) or not steps:
        raise ValidationError({"steps": "Give at least one step."})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": f"At most {MAX_STEPS} steps."})
    cleaned: list[dict] = []
    wanted: dict[str, set[int]] = {k: set() for k in TargetKind.WITH_ID}
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            raise ValidationError({where: "Each step is an object."})
        unknown = set(step) - {"delay_minutes", "severities", "targets"}
        if unknown:
            raise ValidationError({f"{where}.{sorted(unknown)[0]}": "Unknown field."})
        delay = step.get("delay_minutes", 0)
        if isinstance(delay, bool) or not isinstance(delay, int):
            raise ValidationError({f"{where}.delay_minutes": "Give whole minutes."})
        if not 0 <= delay <= MAX_DELAY_MINUTES:
            raise ValidationError(
                {f"{where}.delay_minutes": f"Between 0 and {MAX_DELAY_MINUTES} minutes."}
            )
        severities = step.get("severities") or []
        if not isinstance(severities, list) or any(s not in SEVERITIES for s in severities):
            raise ValidationError(
                {f"{where}.severities": f"A list of severities among {', '.join(SEVERITIES)}."}
            )
        targets = step.get("targets")
        if not isinstance(targets, list) or not targets:
            raise ValidationError({f"{where}.targets": "Give at least one target."})
        if len(targets) > MAX_TARGETS:
            raise ValidationError({f"{where}.targets": f"At most {MAX_TARGETS} targets."})
        clean_targets = []
        for j, target in enumerate(targets):
            twhere = f"{where}.targets[{j}]"
            if not isinstance(target, dict) or target.get("kind") not in TargetKind.ALL:
                raise ValidationError({f"{twhere}.kind": f"One of {', '.join(TargetKind.ALL)}."})
            kind = target["kind"]
            if kind in TargetKind.WITH_ID:
                ident = target.get("id")
                if isinstance(ident, bool) or not isinstance(ident, int) or not 0 < ident < 2**63:
                    raise ValidationError({f"{twhere}.id": f"A {kind} id."})
                wanted[kind].add(ident)
                clean = {"kind": kind, "id": ident}
            else:
                if set(target) - {"kind"}:
                    raise ValidationError({f"{twhere}": f"A {kind} target takes no id."})
                clean = {"kind": kind}
            if clean not in clean_targets:
                clean_targets.append(clean)
        cleaned.append(
            {
                "delay_minutes": delay,
                "severities": [s for s in SEVERITIES if s in severities],
                "targets": clean_targets,
            }
        )
    known = {
        TargetKind.SCHEDULE: set(
            Schedule.objects.filter(
                tenant_id=tenant_id, id__in=wanted[TargetKind.SCHEDULE]
            ).values_list("id", flat=True)
        ),
        TargetKind.USER: set(
            User.objects.filter(
                tenant_id=tenant_id, is_active=True, id__in=wanted[TargetKind.USER]
            ).values_list("id", flat=True)
        ),
        TargetKind.CHANNEL: set(
            TeamChannel.objects.filter(
                tenant_id=tenant_id, id__in=wanted[TargetKind.CHANNEL]
            ).values_list("id", flat=True)
        ),
    }
    for i, step in enumerate(cleaned):
        for j, target in enumerate(step["targets"]):
            if "id" in target and target["id"] not in known[target["kind"]]:
                raise ValidationError(
                    {f"steps[{i}].targets[{j}].id": f"No such {target['kind']} in this tenant."}
                )
    return cleaned


def clean_repeat(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPEAT:
        raise ValidationError({"repeat": f"Between 0 and {MAX_REPEAT}."})
    return value


def clean_notify_after(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1440:
        raise ValidationError({"notify_after_minutes": "Between 0 and 1440 minutes."})
    return value


def chain_for(version: PolicyVersion, severity: str) -> list[Step]:
    """The steps an alert of `severity` goes through under `version`, repeats unrolled."""
    applicable = [
        s for s in version.steps if not s.get("severities") or severity in s["severities"]
    ]
    chain: list[Step] = []
    for round_ in range(version.repeat + 1 if applicable else 0):
        for step in applicable:
            chain.append(
                Step(
                    index=len(chain),
                    delay=timedelta(minutes=step["delay_minutes"]),
                    targets=tuple(step["targets"]),
                    round=round_,
                )
            )
    return chain


def default_steps() -> list[dict]:
    """The shipped default: today's per-severity delays (WATCHFLOOR_ESCALATION_DELAYS), first
    to the site's officer in charge, then, after as long again, to the client's owner."""
    delays = settings.ALERT_ESCALATION_DELAYS
    steps = [
        {"delay_minutes": minutes, "severities": [severity], "targets": [{"kind": "officer"}]}
        for severity, minutes in sorted(delays.items(), key=lambda kv: SEVERITIES.index(kv[0]))
    ]
    steps += [
        {"delay_minutes": minutes, "severities": [severity], "targets": [{"kind": "client_owner"}]}
        for severity, minutes in sorted(delays.items(), key=lambda kv: SEVERITIES.index(kv[0]))
    ]
    return steps


def policy_for_client(policies: list[EscalationPolicy], client_id: int | None):
    """The client's own policy, else the tenant's default (None when it has neither)."""
    default = None
    for policy in policies:
        if client_id is not None and policy.client_id == client_id:
            return policy
        if policy.is_default:
            default = policy
    return default
