"""Fixtures for the maintenance tests: a recording publisher, windows made directly in the
database (any state, even ones a service refuses to create), and managers of maintenance with
a narrower scope than the built-in supervisor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from support_alerts import publisher
from support_api import issue_key, session_client, write_counts
from watchfloor.access.capabilities import Capability
from watchfloor.maintenance.models import MaintenanceWindow

__all__ = [
    "issue_key",
    "make_window",
    "publisher",
    "scoped_manager",
    "session_client",
    "write_counts",
]


@pytest.fixture
def make_window(db):
    """A window written straight to the database; `offset`/`length` in hours from now."""

    def make(
        estate,
        *,
        client=None,
        site=None,
        offset: float = -1,
        length: float = 2,
        alert_types=(),
        cancelled: bool = False,
        title: str = "Window",
        tenant=None,
    ) -> MaintenanceWindow:
        now = timezone.now()
        starts_at = now + timedelta(hours=offset)
        client = client or (site.client if site else estate.clients[0])
        return MaintenanceWindow.objects.create(
            tenant=tenant or estate.tenant,
            client=client,
            site=site,
            title=title,
            alert_types=list(alert_types),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=length),
            cancelled_at=now if cancelled else None,
        )

    return make


def grant(user, capability: Capability) -> None:
    user.user_permissions.add(Permission.objects.get(codename=capability.codename))
    user.__dict__.pop("_watchfloor_caps", None)


@pytest.fixture
def scoped_manager(estate):
    """`scoped_manager("operator")`: that built-in user (client- or site-scoped), plus
    noc:manage_maintenance."""

    def make(role: str):
        user = estate.user(role)
        grant(user, Capability.MANAGE_MAINTENANCE)
        return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions

    return make
