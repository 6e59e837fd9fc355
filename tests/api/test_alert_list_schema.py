"""`GET /api/v1/alerts` answers with the body it builds (`rendering.built_response`), not
validated again by ninja: these tests hold that body to `AlertPage`, byte for byte what ninja's
validation would have written, for every kind of value a row carries and for readers with and
without `noc:view_pii`."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from support_incidents import make_alert
from watchfloor.access.capabilities import Capability
from watchfloor.access.scope import has_capability
from watchfloor.alerts import api as alert_api
from watchfloor.alerts.api import alert_out
from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.alerts.queries import AlertFilters, alert_page
from watchfloor.alerts.schemas import AlertPage
from watchfloor.api import rendering
from watchfloor.api.rendering import FastJSONRenderer

pytestmark = pytest.mark.django_db

PII_TITLE = "call +1-555-867-5309 or jane.doe@example.org"


@pytest.fixture
def alerts(estate):
    """One alert of each shape: new, acknowledged, assigned, escalated, resolved (with its
    durations), correlated with a parent, without a client or site, with PII in its title, on
    whole seconds and on microseconds."""
    now = timezone.now().replace(microsecond=654321)
    admin, operator = estate.user("admin"), estate.user("operator")
    made = []
    for n in range(10):
        site = estate.sites[n % len(estate.sites)]
        alert = make_alert(
            estate,
            n,
            site=site,
            severity=list(Severity)[n % len(Severity)],
            title=PII_TITLE if n % 2 else f"alert {n}",
        )
        first = now - timedelta(minutes=10 + n)
        values = {"first_seen_at": first, "last_seen_at": now.replace(microsecond=0)}
        if n in (1, 2, 3, 4):
            values.update(
                status=Status.ACKNOWLEDGED,
                acknowledged_at=first + timedelta(seconds=90),
                acknowledged_by=admin,
                time_to_acknowledge=timedelta(seconds=90),
            )
        if n in (2, 3):
            values.update(status=Status.ASSIGNED, assignee=operator, assigned_at=now)
        if n == 3:
            values.update(status=Status.ESCALATED, escalation_level=2, escalated_at=now)
        if n in (4, 5, 6):  # 6: on the viewer's site
            values.update(
                status=Status.RESOLVED,
                resolved_at=now,
                resolved_by=operator,
                time_to_resolve=timedelta(minutes=10, microseconds=500),
            )
        if n in (6, 7):
            values.update(
                correlation_id=uuid.UUID("2f1b9a1e-5c55-4bcb-9a9c-8a0b5e0d7f6a"),
                correlation_reason="same site",
                parent_id=made[0].pk,
                occurrence_count=7,
                suppressed_count=2,
                suppression_reason="maintenance",
            )
        if n == 8:
            values.update(client=None, site=None, entity_type="device", entity_id="cam-8")
        Alert.objects.filter(pk=alert.pk).update(**values)
        made.append(alert)
    return made


def _captured(monkeypatch) -> list:
    bodies = []
    build = alert_api.built_response

    def capture(data, status=200, **kw):
        bodies.append(data)
        return build(data, status, **kw)

    monkeypatch.setattr(alert_api, "built_response", capture)
    return bodies


@pytest.mark.parametrize("role", ["admin", "supervisor", "operator", "viewer"])
@pytest.mark.parametrize(
    "query",
    [{}, {"active": "true", "sort": "severity"}, {"limit": "3"}, {"status": "RESOLVED"}],
    ids=["first-page", "feed-order", "short-page", "resolved"],
)
def test_the_body_is_what_validating_it_to_the_schema_writes(
    api, estate, alerts, monkeypatch, role, query
):
    bodies = _captured(monkeypatch)
    response = api(estate.user(role)).get("/api/v1/alerts", **query)
    assert response.status_code == 200, response.content
    (body,) = bodies
    assert body["items"]  # every reader's scope holds some of the fixture's alerts
    validated = AlertPage.model_validate(body).model_dump()
    assert response.content == FastJSONRenderer().render(None, validated, response_status=200)
    AlertPage.model_validate_json(response.content, strict=True)


def test_every_kind_of_value_is_in_the_body(api, estate, alerts, monkeypatch):
    """The comparison above is not vacuous: the page holds every shape of the fixture, and its
    timestamps were written by orjson natively (`rendering.native_timestamps`)."""
    bodies = _captured(monkeypatch)
    native = []
    write = rendering.native_timestamps

    def spy(*args):
        native.append(write(*args))
        return native[-1]

    monkeypatch.setattr(rendering, "native_timestamps", spy)
    api(estate.user("admin")).get("/api/v1/alerts")
    assert len(native) == 1 and native[0] is not None
    items = bodies[0]["items"]
    assert len(items) == len(alerts)
    for key in ("client", "site", "acknowledged_by", "assignee", "resolved_by", "parent_id"):
        assert {item[key] is None for item in items} == {True, False}, key
    assert {type(item["time_to_resolve_seconds"]) for item in items} == {float, type(None)}
    assert any(item["correlation_id"] is not None for item in items)
    assert any(item["title"] == PII_TITLE for item in items)  # the admin reads it in clear


def test_the_title_is_masked_without_view_pii(api, estate, alerts):
    titles = [
        item["title"] for item in api(estate.user("operator")).get("/api/v1/alerts").json()["items"]
    ]
    assert titles and not any("jane.doe" in t or "555-867" in t for t in titles)


def test_the_headers_are_ninjas(api, estate, alerts):
    reader = api(estate.user("admin"))
    listed = reader.get("/api/v1/alerts")
    counted = reader.get("/api/v1/alerts/counts")  # answered through ninja's own response
    assert listed["Content-Type"] == counted["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("role", ["admin", "operator"])
@pytest.mark.parametrize("sort", ["-first_seen", "severity"])
def test_the_plain_rows_give_what_model_instances_give(api, estate, alerts, role, sort):
    """The list reads plain rows (`list_rows.PlainRow`); `alert_out` of the same page read as
    model instances writes the same items."""
    user = estate.user(role)
    body = api(user).get("/api/v1/alerts", sort=sort, limit="4").json()
    page = alert_page(user, AlertFilters(), sort=sort, cursor=None, limit=4)
    pii = has_capability(user, Capability.VIEW_PII)
    expected = FastJSONRenderer().render(
        None, [alert_out(a, pii) for a in page.items], response_status=200
    )
    assert body["items"] == json.loads(expected)
    assert len(body["items"]) == 4
