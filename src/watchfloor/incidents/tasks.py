"""Thin job wrappers: the jobs runtime (`watchfloor.jobs`) runs them by dotted path; each calls
the incidents' services and returns its counts."""

from __future__ import annotations

from watchfloor.incidents import paging, rules, sla


def apply_incident_rules(tenant_id: int, n_created: int, n_changed: int, *ids: int) -> None:
    """Queued by the alerts' change hook after each committed alert write: the incident rules
    for those alerts (ids only; the rules re-read their rows)."""
    rules.apply_queued(tenant_id, n_created, n_changed, *ids)


def sweep_incident_rules() -> dict:
    """Every 30 s: the incident rules over what a failed or lost rules call left (alerts no
    incident holds, incidents whose alerts are all resolved)."""
    return rules.sweep()


def record_sla_breaches() -> dict:
    """Every 30 s: record each incident SLA target that passed, once."""
    return sla.record_breaches()


def sweep_incident_paging() -> dict:
    """Every 20 s: alerts in incidents stop paging on their own; each incident pages once
    through its escalation policy until someone acknowledges it."""
    return paging.sweep()
