"""The tenant's feed-rule thresholds (`OperationsPolicy`): read with defaults, changed by
`noc:configure`, audited as a configuration change. Every value is checked before anything is
stored."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import require_capability
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.bounds import text_problem
from watchfloor.operations.models import OperationsPolicy

DEVICE_TYPE_MAX = 50  # Device.device_type
SILENCE_TYPES_MAX = 100  # entries in device_silence_by_type
SILENCE_MINUTES_MAX = 60 * 24 * 30

SETTINGS = (
    "sla_hours_p1",
    "sla_hours_p2",
    "sla_hours_p3",
    "sla_hours_p4",
    "device_silence_minutes",
    "device_silence_by_type",
    "attendance_grace_minutes",
    "max_device_speed_kmh",
    "sync_health_min_percent",
    "sync_stale_minutes",
    "anomaly_late_missing_percent",
    "anomaly_window_days",
    "anomaly_min_shifts",
)


class PolicyInvalid(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def policy_for(tenant_id: int) -> OperationsPolicy:
    """The tenant's policy; an unsaved one with the defaults when it has none."""
    policy = OperationsPolicy.objects.filter(tenant_id=tenant_id).first()
    return policy or OperationsPolicy(tenant_id=tenant_id)


def _clean_silence_by_type(value) -> dict[str, int]:
    name = "device_silence_by_type"
    if not isinstance(value, dict):
        raise PolicyInvalid(name, "Minutes per device type.")
    if len(value) > SILENCE_TYPES_MAX:
        raise PolicyInvalid(name, f"At most {SILENCE_TYPES_MAX} device types.")
    out = {}
    for key, minutes in value.items():
        where = f"{name}.{key}" if isinstance(key, str) and len(key) <= DEVICE_TYPE_MAX else name
        if not isinstance(key, str) or not key.strip() or len(key) > DEVICE_TYPE_MAX:
            raise PolicyInvalid(where, f"A device type of 1 to {DEVICE_TYPE_MAX} characters.")
        if problem := text_problem(key):
            raise PolicyInvalid(name, problem)
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise PolicyInvalid(where, "Whole minutes.")
        if not 1 <= minutes <= SILENCE_MINUTES_MAX:
            raise PolicyInvalid(where, f"Between 1 and {SILENCE_MINUTES_MAX} minutes.")
        out[key.strip()] = minutes
    return out


def _clean(policy: OperationsPolicy, values: dict) -> dict:
    cleaned = {}
    for name, value in values.items():
        if name not in SETTINGS:
            raise PolicyInvalid(name, "Not a policy setting.")
        if name == "device_silence_by_type":
            value = _clean_silence_by_type(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise PolicyInvalid(name, "An integer.")
        cleaned[name] = value
    trial = OperationsPolicy(**{**{n: getattr(policy, n) for n in SETTINGS}, **cleaned})
    try:
        trial.clean_fields(exclude=["tenant", "updated_by"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise PolicyInvalid(field, " ".join(messages)) from None
    return cleaned


@transaction.atomic
def update_policy(tenant_id: int, *, actor, **values) -> OperationsPolicy:
    """Change the tenant's thresholds (`noc:configure`); fields left out stay as they are. The
    rules use the new values from their next run."""
    require_capability(actor, Capability.CONFIGURE)
    if actor.tenant_id != tenant_id:
        raise PolicyInvalid("tenant", "Not your tenant.")
    OperationsPolicy.objects.get_or_create(tenant_id=tenant_id)
    policy = OperationsPolicy.objects.select_for_update().get(tenant_id=tenant_id)
    cleaned = _clean(policy, values)
    changed = [n for n, v in cleaned.items() if getattr(policy, n) != v]
    before = {n: getattr(policy, n) for n in changed}
    for name in changed:
        setattr(policy, name, cleaned[name])
    if changed:
        policy.updated_by = actor
        policy.save(update_fields=[*changed, "updated_at", "updated_by"])
    record(
        Action.CONFIG_CHANGE,
        actor=actor,
        tenant=tenant_id,
        entity=policy,
        details={"what": "operations_policy", "changed": changed, "before": before},
    )
    policy.refresh_from_db()
    return policy
