"""Helpers shared by the API, access, audit and tenancy tests.

The fixtures are re-exported by tests/{api,access,audit,tenancy}/conftest.py.
"""

from __future__ import annotations

import pytest

V1 = "/api/v1"


def error_fields(response) -> dict[str, str]:
    """The `fields` of an error body, after checking the body has the one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]["fields"]


def error_code(response) -> str:
    error_fields(response)
    return response.json()["error"]["code"]


@pytest.fixture
def write_counts(db):
    """Snapshot of every table an API write may touch, to prove a refused request wrote nothing."""
    from watchfloor.access.models import ApiToken, IntegrationKey
    from watchfloor.audit.models import Action, AuditLog
    from watchfloor.tenancy.models import Client, Site

    def snapshot() -> dict[str, int]:
        return {
            "clients": Client.objects.count(),
            "sites": Site.objects.count(),
            "integration_keys": IntegrationKey.objects.count(),
            "tokens": ApiToken.objects.count(),
            "config_change": AuditLog.objects.filter(action=Action.CONFIG_CHANGE).count(),
            "token_events": AuditLog.objects.filter(
                action__in=[Action.TOKEN_CREATE, Action.TOKEN_REVOKE]
            ).count(),
        }

    return snapshot


@pytest.fixture
def issue_key():
    """Create an integration key in an estate's tenant; returns the IntegrationKey row."""
    from watchfloor.access.services import create_integration_key

    def issue(estate, *, name="key", source="native", **kwargs):
        return create_integration_key(
            estate.tenant, actor=estate.user("admin"), name=name, source=source, **kwargs
        ).obj

    return issue


@pytest.fixture
def session_client(db):
    """A Django test client that enforces CSRF like a browser, logged in as `user`."""
    from django.test import Client

    def make(user=None):
        browser = Client(enforce_csrf_checks=True)
        if user is not None:
            browser.force_login(user)
        return browser

    return make
