"""Incidents for the demo estate: what the rules open from its storm and its critical alerts, a
few worked on (acknowledged, a commander and responders, notes), so the incidents pages and the
overview's SLA tile show a shift in progress from the first screen.

`prepare_policy` runs before the demo's alerts are ingested: the tenant's incident policy exists
(the defaults: a CRITICAL alert opens an incident, 3 alerts of one correlation group open one),
so the rules in the ingestion path open incidents as the alerts arrive. `work_on_incidents` runs
after; where the rules have not grouped the storm or a critical alert (rules switched off, or an
alert that arrived before the policy), it opens the incident the way a rule does (no actor,
through `incidents.services`), then works on some of them as people would.
"""

from __future__ import annotations

import random

from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.incidents import services
from watchfloor.incidents.models import Incident, IncidentAlert, IncidentPolicy, Origin
from watchfloor.incidents.queries import assignable_people
from watchfloor.incidents.status_updates import post_status_update
from watchfloor.tenancy.models import User

UPDATES = [
    ("investigating", "We are looking into the loss of contact with the site's equipment."),
    ("identified", "A power cut at the site; the provider is restoring it."),
]
NOTES = [
    "Site called: the guard confirms the gateway lost power.",
    "Facilities dispatched an electrician, ETA 30 min.",
    "Vendor ticket opened for the NVR firmware.",
]


def prepare_policy(tenant) -> IncidentPolicy:
    return services.policy_for(tenant.pk)


def _in_open_incident(alert_ids: list[int]) -> set[int]:
    return set(
        IncidentAlert.objects.filter(
            alert_id__in=alert_ids, open=True, left_at__isnull=True
        ).values_list("alert_id", flat=True)
    )


def work_on_incidents(tenant, *, seed: int) -> dict[str, int]:
    """Open what the rules left (the storm as one incident, each critical alert its own), then
    acknowledge about half, give some a commander and a responder, add notes, and post client
    status updates on two."""
    rng = random.Random(seed)
    supervisor = User.objects.filter(tenant=tenant, groups__name="supervisor").first()
    storm = list(
        Alert.objects.for_tenant(tenant)
        .filter(fingerprint__startswith="demo-NodeDown-")
        .exclude(status__in=(Status.RESOLVED, Status.SUPPRESSED))
        .order_by("id")
    )
    opened_here = 0
    left = [a for a in storm if a.pk not in _in_open_incident([a.pk for a in storm])]
    if len(left) >= 2:
        services.open_incident(
            left,
            origin=Origin.ALERT_GROUP,
            title=f"Gateways down across {len(left)} sites",
            tenant=tenant,
            correlation_id=left[0].correlation_id,
        )
        opened_here += 1
    critical = list(
        Alert.objects.for_tenant(tenant)
        .filter(severity=Severity.CRITICAL, status__in=(Status.NEW, Status.ACKNOWLEDGED))
        .order_by("id")
    )
    grouped = _in_open_incident([a.pk for a in critical])
    for alert in critical:
        if alert.pk not in grouped:
            services.open_incident([alert], origin=Origin.CRITICAL_ALERT, tenant=tenant)
            opened_here += 1
    incidents = list(Incident.objects.for_tenant(tenant).open().order_by("opened_at", "id"))
    rng.shuffle(incidents)
    acknowledged = updates = 0
    if supervisor is not None:
        for n, incident in enumerate(incidents[: len(incidents) // 2]):
            responder = assignable_people(incident).exclude(pk=supervisor.pk).first()
            if n % 3 == 0 and responder is not None:
                services.assign_incident(
                    incident, actor=supervisor, commander=supervisor, responders=[responder]
                )
            else:
                services.acknowledge_incident(incident, actor=supervisor)
            if n < len(NOTES):
                services.add_note(incident, actor=supervisor, body=NOTES[n])
            if n < 2:  # the client hears about the first two
                for phase, text in UPDATES[: n + 1]:
                    post_status_update(incident, actor=supervisor, phase=phase, body=text)
                    updates += 1
            acknowledged += 1
    return {
        "incidents": Incident.objects.for_tenant(tenant).count(),
        "opened_by_demo": opened_here,
        "acknowledged": acknowledged,
        "status_updates": updates,
    }
