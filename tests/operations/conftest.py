"""Fixtures for the operations feed tests: an `operations` integration key and a feed client."""

from __future__ import annotations

import pytest

from support_api import issue_key, session_client, write_counts

__all__ = ["issue_key", "session_client", "write_counts"]

V1 = "/api/v1"


@pytest.fixture
def feed_key():
    """An `operations` key of an estate: returns its plain secret (defaults as given)."""
    from watchfloor.access.services import create_integration_key

    def issue(estate, *, source="operations", **kwargs):
        return create_integration_key(
            estate.tenant, actor=estate.user("admin"), name="feed", source=source, **kwargs
        ).plain

    return issue


@pytest.fixture
def feed(client):
    """feed(plain).post("tickets", [records…]) → the response."""
    import json

    class _Feed:
        def __init__(self, plain: str):
            self.auth = f"Bearer {plain}"

        def post(self, path: str, records=None, raw=None):
            body = raw if raw is not None else json.dumps({"records": records})
            return client.post(
                f"{V1}/operations/{path}",
                data=body,
                content_type="application/json",
                HTTP_AUTHORIZATION=self.auth,
            )

    return _Feed
