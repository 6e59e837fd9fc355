"""Fixtures shared by the incident tests (pytest finds fixtures imported into a conftest)."""

from __future__ import annotations

import pytest

from support_alerts import key_for, publisher  # noqa: F401
from support_jobs import task_queue  # noqa: F401


@pytest.fixture
def key(estate, key_for):  # noqa: F811
    return key_for(estate)


@pytest.fixture
def policy(estate):
    """The tenant's incident policy (made with its defaults), for a test to change."""
    from watchfloor.incidents.services import policy_for

    return policy_for(estate.tenant.id)
