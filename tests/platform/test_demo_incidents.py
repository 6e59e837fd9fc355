"""The demo's incidents: its tenant has an incident policy, its storm is one incident holding the
storm's alerts, every open critical alert is in an open incident, some are being worked on."""

from __future__ import annotations

from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.demo import data as demo_data
from watchfloor.demo.alerts import load_demo_alerts
from watchfloor.incidents.models import (
    Incident,
    IncidentAlert,
    IncidentPolicy,
    IncidentStatus,
    IncidentStatusUpdate,
)


def test_the_demo_opens_incidents_from_its_storm_and_critical_alerts(db):
    tenant = demo_data.load_demo().tenant
    _, counts = load_demo_alerts(tenant, seed=demo_data.DEFAULT_SEED)
    assert IncidentPolicy.objects.filter(tenant=tenant).exists()
    storm = Alert.objects.filter(tenant=tenant, fingerprint__startswith="demo-NodeDown-")
    holders = set(
        IncidentAlert.objects.filter(alert__in=storm, open=True, left_at__isnull=True).values_list(
            "incident_id", flat=True
        )
    )
    assert len(holders) == 1  # one incident holds the whole storm
    assert IncidentAlert.objects.filter(incident_id__in=holders, left_at__isnull=True).count() >= 6
    critical = Alert.objects.filter(
        tenant=tenant, severity=Severity.CRITICAL, status__in=(Status.NEW, Status.ACKNOWLEDGED)
    )
    in_incident = IncidentAlert.objects.filter(alert__in=critical, open=True, left_at__isnull=True)
    assert in_incident.count() == critical.count() > 0
    worked = Incident.objects.filter(tenant=tenant).exclude(status=IncidentStatus.NEW)
    assert worked.count() == counts["acknowledged"] > 0
    assert counts["incidents"] == Incident.objects.filter(tenant=tenant).count()
    updates = IncidentStatusUpdate.objects.filter(tenant=tenant)
    assert updates.count() == counts["status_updates"] == 3
