"""Alerts for the demo estate, sent through the real ingestion pipeline (deterministic per seed).

The demo gets one integration key per source, an hour of mixed traffic (repeats, a storm of one
type across a client's sites, resolves), a few acknowledged/assigned/escalated alerts, one
maintenance window that suppresses what it covers, and incidents for the storm and the critical
alerts, some being worked on (demo/incidents.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from watchfloor.access.models import IntegrationKey, SourceKind
from watchfloor.access.services import create_integration_key
from watchfloor.alerts import services as alert_services
from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Alert, BuiltinType, Severity, Status
from watchfloor.alerts.pipeline import ingest
from watchfloor.demo.incidents import prepare_policy, work_on_incidents
from watchfloor.maintenance.services import create_window
from watchfloor.oncall.escalation import escalate_now
from watchfloor.tenancy.models import Client, Site, User

FIELD_TYPES = [
    (BuiltinType.DEVICE_OFFLINE, Severity.HIGH, "Camera {n} offline"),
    (BuiltinType.ATTENDANCE_MISSING, Severity.MEDIUM, "Guard missing at shift start"),
    (BuiltinType.GEOFENCE_BREACH, Severity.HIGH, "Patrol left the geofence"),
    (BuiltinType.SLA_BREACH, Severity.CRITICAL, "Ticket past its SLA"),
    (BuiltinType.SYNC_DEGRADED, Severity.LOW, "Handheld sync delayed"),
    (BuiltinType.WORK_ORDER_OVERDUE, Severity.MEDIUM, "Work order overdue"),
    (BuiltinType.SECURITY_ANOMALY, Severity.CRITICAL, "Door forced open"),
    (BuiltinType.DEVICE_SPOOF, Severity.HIGH, "GPS spoofing suspected"),
]
MONITORING = [
    ("NodeDown", "critical", "Site gateway unreachable"),
    ("DiskAlmostFull", "warning", "NVR disk 92% full"),
    ("HighLatency", "info", "Uplink latency above 300 ms"),
]


@dataclass
class DemoKeys:
    native: str
    alertmanager: str
    pagerduty: str
    example_site: str
    operations: str = ""


def _keys(tenant, admin, example_site: str) -> DemoKeys:
    plain = {}
    for source in (
        SourceKind.NATIVE,
        SourceKind.ALERTMANAGER,
        SourceKind.PAGERDUTY,
        SourceKind.OPERATIONS,
    ):
        plain[source.value] = create_integration_key(
            tenant, actor=admin, name=f"Demo {source.label}", source=source
        ).plain
    return DemoKeys(
        plain["native"],
        plain["alertmanager"],
        plain["pagerduty"],
        example_site,
        plain["operations"],
    )


def _field_event(rng: random.Random, site: Site, n: int) -> Event:
    kind, severity, title = rng.choice(FIELD_TYPES)
    return Event(
        action=EventAction.TRIGGER,
        type=kind,
        severity=severity,
        title=title.format(n=n % 7 + 1),
        site_code=site.code,
        entity_type="device" if kind == BuiltinType.DEVICE_OFFLINE else "post",
        entity_id=f"{site.code}-{n % 7 + 1}",
    )


def _monitoring_event(rng: random.Random, site: Site) -> Event:
    name, severity, title = rng.choice(MONITORING)
    labels = {"alertname": name, "severity": severity, "site": site.code, "instance": "gw-1"}
    return Event(
        action=EventAction.TRIGGER,
        type=name,
        severity={"critical": Severity.CRITICAL, "warning": Severity.MEDIUM}.get(
            severity, Severity.INFO
        ),
        title=title,
        site_code=site.code,
        labels=labels,
        fingerprint=f"demo-{name}-{site.code}",
        entity_type="instance",
        entity_id="gw-1",
    )


@transaction.atomic
def load_demo_alerts(tenant, *, seed: int) -> tuple[DemoKeys, dict[str, int]]:
    rng = random.Random(seed)
    admin = User.objects.filter(tenant=tenant, groups__name="admin").first()
    supervisor = User.objects.filter(tenant=tenant, groups__name="supervisor").first()
    sites = list(Site.objects.for_tenant(tenant).order_by("id"))
    keys = _keys(tenant, admin, sites[0].code)
    native = IntegrationKey.objects.get(tenant=tenant, source=SourceKind.NATIVE)
    monitoring = IntegrationKey.objects.get(tenant=tenant, source=SourceKind.ALERTMANAGER)
    clients = list(Client.objects.for_tenant(tenant).order_by("id"))
    prepare_policy(tenant)  # the incident rules in the ingestion path read it

    # a window on one client, so suppression shows up from the first screen
    quiet = clients[rng.randrange(len(clients))]
    now = timezone.now()
    create_window(
        tenant,
        actor=admin,
        client=quiet,
        title="Camera firmware upgrade",
        reason="Vendor rollout of NVR firmware 4.2 across all sites.",
        starts_at=now - timedelta(minutes=20),
        ends_at=now + timedelta(hours=2),
    )

    events = [_field_event(rng, rng.choice(sites), n) for n in range(120)]
    events += [_field_event(rng, rng.choice(sites[:40]), n) for n in range(60)]  # repeats
    # spread over the last three hours, so times to acknowledge and resolve (and alerts left
    # unacknowledged past their escalation delay) look like a real shift's
    for i, minutes_ago in enumerate((170, 140, 110, 80, 50, 15)):
        ingest(events[i * 30 : (i + 1) * 30], key=native, now=now - timedelta(minutes=minutes_ago))
    ingest(
        [_monitoring_event(rng, rng.choice(sites)) for _ in range(40)],
        key=monitoring,
        now=now - timedelta(minutes=45),
    )
    # a storm: one client's gateways go down together
    stormy = [s for s in sites if s.client_id == clients[0].id][:6]
    ingest(
        [_monitoring_event_named("NodeDown", s) for s in stormy],
        key=monitoring,
        now=now - timedelta(minutes=8),
    )

    open_alerts = list(Alert.objects.for_tenant(tenant).filter(status=Status.NEW).order_by("id"))
    rng.shuffle(open_alerts)
    for alert in open_alerts[:25]:
        alert_services.acknowledge_alert(alert, actor=supervisor)
    for alert in open_alerts[25:32]:
        alert_services.assign_alert(alert, actor=supervisor, assignee=supervisor)
    for alert in open_alerts[32:36]:
        escalate_now(alert, actor=supervisor, note="No answer from the site.")
    for alert in open_alerts[36:60]:
        alert_services.resolve_alert(alert, actor=supervisor, note="Cleared on site.")
    incidents = work_on_incidents(tenant, seed=seed)
    counts = {
        **incidents,
        "alerts": Alert.objects.for_tenant(tenant).count(),
        "open": Alert.objects.for_tenant(tenant).open().count(),
        "suppressed": Alert.objects.for_tenant(tenant).suppressed().count(),
    }
    return keys, counts


def _monitoring_event_named(name: str, site: Site) -> Event:
    return Event(
        action=EventAction.TRIGGER,
        type=name,
        severity=Severity.CRITICAL,
        title="Site gateway unreachable",
        site_code=site.code,
        labels={"alertname": name, "severity": "critical", "site": site.code},
        fingerprint=f"demo-{name}-{site.code}",
        entity_type="instance",
        entity_id="gw-1",
    )
