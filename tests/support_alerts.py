"""Fixtures for alert tests: a recording publisher, integration keys and event factories.

Import the fixtures you use into the test module (pytest finds imported fixtures).
"""

from __future__ import annotations

import pytest

from watchfloor.alerts.events import Event, EventAction
from watchfloor.alerts.models import Severity


@pytest.fixture
def publisher():
    """Swap in a RecordingPublisher; events are recorded when their transaction commits."""
    from watchfloor.events import RecordingPublisher, set_publisher

    recorder = RecordingPublisher()
    set_publisher(recorder)
    yield recorder
    set_publisher(None)


@pytest.fixture
def key_for():
    """An integration key row in an estate's tenant (source native unless told)."""
    from watchfloor.access.services import create_integration_key

    def issue(estate, *, source="native", **kwargs):
        return create_integration_key(
            estate.tenant, actor=estate.user("admin"), name=f"{source} key", source=source, **kwargs
        ).obj

    return issue


def trigger(type_="DEVICE_OFFLINE", *, site="", client="", severity=Severity.HIGH, **kw) -> Event:
    kw.setdefault("title", f"{type_} at {site or client or 'somewhere'}")
    return Event(
        action=EventAction.TRIGGER,
        type=type_,
        severity=severity,
        site_code=site,
        client_code=client,
        **kw,
    )


def resolve(fingerprint: str, **kw) -> Event:
    return Event(
        action=EventAction.RESOLVE,
        type=kw.pop("type_", "DEVICE_OFFLINE"),
        fingerprint=fingerprint,
        **kw,
    )


def acknowledge(fingerprint: str, **kw) -> Event:
    return Event(
        action=EventAction.ACKNOWLEDGE,
        type=kw.pop("type_", "DEVICE_OFFLINE"),
        fingerprint=fingerprint,
        **kw,
    )
