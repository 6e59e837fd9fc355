"""Scope is described once (access/scope.py) and read three ways that must agree, for any user:

- SQL over rows: `Model.objects.restrict(scope_of(user))` (alerts, windows, clients, sites);
- in memory, per WebSocket event: the `Viewer` (`Reach.admits`);
- over users: the people an alert may be assigned to (`audience`, `assignable_users`).

A property test draws random users (any mix of scope capabilities, assignments that may or may
not match their kind, active or not, able to acknowledge or not) and checks the three against
each other and against the rule as docs/api.md states it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchfloor.access.capabilities import Capability
from watchfloor.access.models import ClientAssignment, SiteAssignment
from watchfloor.access.scope import ScopeKind, capabilities_of, scope_kind, scope_of
from watchfloor.alerts.models import Alert, Severity
from watchfloor.alerts.queries import alerts_for, assignable_users
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.realtime.viewer import load_viewer
from watchfloor.tenancy.models import Client, Site, User

SCOPE_CAPS = (Capability.VIEW_ALL_CLIENTS, Capability.VIEW_CLIENT, Capability.VIEW_ASSIGNED_SITES)


def _alert(estate, n: int, *, client=None, site=None) -> Alert:
    now = timezone.now()
    return Alert.objects.create(
        tenant=estate.tenant,
        client=client,
        site=site,
        source="native",
        type="DEVICE_OFFLINE",
        severity=Severity.HIGH,
        title=f"alert {n}",
        fingerprint=f"fp-{estate.tenant.slug}-{n}",
        content_hash="x",
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )


def _window(estate, *, client, site=None) -> MaintenanceWindow:
    now = timezone.now()
    return MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=client,
        site=site,
        title="w",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
    )


@pytest.fixture
def rows(estate, other_estate):
    """Alerts on every site, one without a site per client, one without a client; a window on
    every site and one on each whole client; and the other tenant's alert and window."""
    alerts = [_alert(estate, i, client=s.client, site=s) for i, s in enumerate(estate.sites)]
    alerts += [_alert(estate, 10 + i, client=c) for i, c in enumerate(estate.clients)]
    alerts.append(_alert(estate, 20))
    windows = [_window(estate, client=s.client, site=s) for s in estate.sites]
    windows += [_window(estate, client=c) for c in estate.clients]
    foreign = _alert(other_estate, 30, client=other_estate.clients[0], site=other_estate.sites[0])
    _window(other_estate, client=other_estate.clients[0])
    return alerts, windows, foreign


def expected_alert(kind, clients: set[int], sites: set[int], alert: Alert) -> bool:
    """docs/api.md, "Scope": all clients see every alert of the tenant; client-scoped users the
    alerts of their clients, with or without a site; site-scoped users the alerts on their sites
    (an alert without a site is on none)."""
    return {
        ScopeKind.ALL_CLIENTS: True,
        ScopeKind.ASSIGNED_CLIENTS: alert.client_id in clients,
        ScopeKind.ASSIGNED_SITES: alert.site_id in sites,
        ScopeKind.NONE: False,
    }[kind]


def expected_window(kind, clients: set[int], sites: set[int], window) -> bool:
    """A site-scoped user sees the windows on their sites and the whole-client windows of their
    sites' clients."""
    site_clients = set(Site.objects.filter(id__in=sites).values_list("client_id", flat=True))
    if kind == ScopeKind.ASSIGNED_SITES:
        return window.site_id in sites if window.site_id else window.client_id in site_clients
    return expected_alert(kind, clients, sites, window)


people = st.fixed_dictionaries(
    {
        "view": st.booleans(),
        "scope_caps": st.sets(st.sampled_from(SCOPE_CAPS)),
        "ack": st.booleans(),
        "active": st.booleans(),
        "clients": st.sets(st.integers(0, 1)),
        "sites": st.sets(st.integers(0, 3)),
    }
)


def make_person(estate, n: int, spec: dict) -> User:
    user = User.objects.create_user(f"p{n}", tenant=estate.tenant, is_active=spec["active"])
    caps = set(spec["scope_caps"]) | ({Capability.VIEW} if spec["view"] else set())
    caps |= {Capability.ACK_ALERTS} if spec["ack"] else set()
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="access", codename__in=[c.codename for c in caps]
        )
    )
    for i in spec["clients"]:
        ClientAssignment.objects.create(tenant=estate.tenant, user=user, client=estate.clients[i])
    for i in spec["sites"]:
        SiteAssignment.objects.create(tenant=estate.tenant, user=user, site=estate.sites[i])
    return User.objects.get(pk=user.pk)  # no cached capabilities


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(people, min_size=1, max_size=3))
def test_queryset_viewer_and_assignable_people_agree(estate, rows, specs):
    alerts, windows, foreign = rows
    with transaction.atomic():
        users = [make_person(estate, n, spec) for n, spec in enumerate(specs)]
        offered = {a.id: set(assignable_users(a).values_list("id", flat=True)) for a in alerts}
        for user in users:
            kind = scope_kind(user)
            clients = set(user.client_assignments.values_list("client_id", flat=True))
            sites = set(user.site_assignments.values_list("site_id", flat=True))
            seen = set(alerts_for(user).values_list("id", flat=True))
            viewer = load_viewer(user)
            for alert in alerts:
                rule = expected_alert(kind, clients, sites, alert)
                assert (alert.id in seen) == rule, (kind, alert.client_id, alert.site_id)
                payload = {"client_id": alert.client_id, "site_id": alert.site_id}
                assert viewer.sees_alert(payload) == rule
                can_act = Capability.ACK_ALERTS in capabilities_of(user)
                assert (user.id in offered[alert.id]) == (rule and can_act)
            assert foreign.id not in seen
            scope = scope_of(user)
            windows_seen = set(
                MaintenanceWindow.objects.restrict(scope).values_list("id", flat=True)
            )
            for window in windows:
                rule = expected_window(kind, clients, sites, window)
                assert (window.id in windows_seen) == rule
                place = {"client_id": window.client_id, "site_id": window.site_id}
                assert viewer.sees_window(place) == rule
            reach = scope.reach()
            # (the viewer only ever receives its own tenant's events)
            for site in Site.objects.for_tenant(estate.tenant):
                in_sql = Site.objects.restrict(scope).filter(pk=site.pk).exists()
                assert reach.admits(Site.placement, site.client_id, site.id) == in_sql
            for client in Client.objects.for_tenant(estate.tenant):
                in_sql = Client.objects.restrict(scope).filter(pk=client.pk).exists()
                assert reach.admits(Client.placement, client.id, None) == in_sql
        transaction.set_rollback(True)
