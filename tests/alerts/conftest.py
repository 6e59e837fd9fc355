"""Fixtures for the alert tests; the shared ones come from tests/support_api.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support_api import issue_key, session_client, write_counts

__all__ = ["issue_key", "session_client", "write_counts"]

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def sample():
    """Load a realistic payload from tests/alerts/samples/ (a fresh copy each call)."""

    def load(name: str):
        return json.loads((SAMPLES / name).read_text())

    return load


@pytest.fixture
def plain_key():
    """Issue an integration key in an estate's tenant; returns (plain key, IntegrationKey)."""
    from watchfloor.access.services import create_integration_key

    def issue(estate, source="native", **kwargs):
        issued = create_integration_key(
            estate.tenant, actor=estate.user("admin"), name=f"{source} key", source=source, **kwargs
        )
        return issued.plain, issued.obj

    return issue


@pytest.fixture
def northwind(estate):
    """The client and sites the sample payloads name, in the `estate` tenant."""
    from watchfloor.tenancy.models import Client, Site

    client = Client.objects.create(tenant=estate.tenant, code="northwind", name="Northwind")
    sites = {
        code: Site.objects.create(
            tenant=estate.tenant, client=client, code=code, name=name, city=city, state=state
        )
        for code, name, city, state in (
            ("nw-aus-01", "Austin DC", "Austin", "TX"),
            ("nw-den-01", "Denver yard", "Denver", "CO"),
        )
    }
    return client, sites
