"""Tenant isolation: another tenant's ids answer 404 with no data, lists never mix tenants.

Adding an endpoint with an id? Add one line to ID_ENDPOINTS (and its object kind to OBJECTS if
it is new); adding a list endpoint? One line to LIST_ENDPOINTS.
"""

from __future__ import annotations

import json

import pytest

from support_api import V1, error_code, error_fields
from watchfloor.access.models import ApiToken, IntegrationKey
from watchfloor.access.services import create_api_token
from watchfloor.alerts.models import Alert
from watchfloor.audit.models import AuditLog
from watchfloor.incidents.models import Incident
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.tenancy.models import Client, Site


def _token(estate):
    return create_api_token(estate.user("admin"), name=f"{estate.tenant.slug}-token").obj


def _key(estate):
    from watchfloor.access.services import create_integration_key

    return create_integration_key(
        estate.tenant, actor=estate.user("admin"), name=f"{estate.tenant.slug}-key", source="native"
    ).obj


def _alert(estate):
    from watchfloor.alerts.events import Event, EventAction
    from watchfloor.alerts.pipeline import ingest

    ingest(
        [Event(action=EventAction.TRIGGER, type="DEVICE_OFFLINE", site_code=estate.sites[0].code)],
        key=_key(estate),
    )
    return Alert.objects.filter(tenant=estate.tenant).latest("id")


def _window(estate):
    from datetime import timedelta

    from django.utils import timezone

    from watchfloor.maintenance.models import MaintenanceWindow

    return MaintenanceWindow.objects.create(
        tenant=estate.tenant,
        client=estate.clients[0],
        title="Window",
        starts_at=timezone.now() + timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=2),
    )


def _incident(estate):
    from watchfloor.incidents.services import open_incident

    alert = _alert(estate)
    return open_incident([alert], origin="manual", tenant=estate.tenant)


# kind -> how to get (or make) one object of that kind in an estate, as the estate's admin owns it
OBJECTS = {
    "client": lambda estate: estate.clients[0],
    "site": lambda estate: estate.sites[0],
    "token": _token,
    "integration_key": _key,
    "alert": _alert,
    "maintenance_window": _window,
    "incident": _incident,
}

# (method, path template, body, kind)
ID_ENDPOINTS = [
    ("get", "/clients/{id}", None, "client"),
    ("patch", "/clients/{id}", {"name": "Renamed"}, "client"),
    ("get", "/sites/{id}", None, "site"),
    ("patch", "/sites/{id}", {"name": "Renamed"}, "site"),
    ("delete", "/tokens/{id}", None, "token"),
    ("get", "/integration-keys/{id}", None, "integration_key"),
    ("delete", "/integration-keys/{id}", None, "integration_key"),
    ("get", "/alerts/{id}", None, "alert"),
    ("post", "/alerts/{id}/acknowledge", None, "alert"),
    ("post", "/alerts/{id}/escalate", {"note": "up"}, "alert"),
    ("post", "/alerts/{id}/resolve", {"note": "fixed"}, "alert"),
    ("get", "/maintenance-windows/{id}", None, "maintenance_window"),
    ("patch", "/maintenance-windows/{id}", {"title": "Moved"}, "maintenance_window"),
    ("post", "/maintenance-windows/{id}/cancel", None, "maintenance_window"),
    ("get", "/incidents/{id}", None, "incident"),
    ("get", "/incidents/{id}/assignees", None, "incident"),
    ("patch", "/incidents/{id}", {"title": "Renamed"}, "incident"),
    ("post", "/incidents/{id}/acknowledge", None, "incident"),
    ("post", "/incidents/{id}/start", None, "incident"),
    ("post", "/incidents/{id}/resolve", {"note": "fixed"}, "incident"),
    # (the incident actions that cannot succeed on a fresh incident with a fixed body — assign,
    # notes (201), alerts, merge, move, close, reopen — are in tests/incidents/test_api.py)
]


def _call(api_client, method, path, body):
    if method == "get":
        return api_client.get(path)
    if method == "delete":
        return api_client.delete(path)
    return getattr(api_client, method)(path, body)


def _snapshot(obj):
    """Every column of a row, to prove a refused request changed nothing."""
    obj.refresh_from_db()
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@pytest.mark.parametrize(
    ("method", "template", "body", "kind"),
    ID_ENDPOINTS,
    ids=[f"{m.upper()} {t}" for m, t, _, _ in ID_ENDPOINTS],
)
def test_other_tenants_id_is_404_and_untouched(
    estate, other_estate, api, method, template, body, kind
):
    caller = api(estate.user("admin"))  # every capability, every client of its own tenant
    foreign = OBJECTS[kind](other_estate)
    before = _snapshot(foreign)
    foreign_values = {str(v) for k, v in before.items() if isinstance(v, str) and len(v) > 3}

    response = _call(caller, method, V1 + template.format(id=foreign.pk), body)

    assert response.status_code == 404, response.content
    assert error_code(response) == "not_found"
    assert not any(value in response.content.decode() for value in foreign_values)
    assert _snapshot(foreign) == before

    # the same answer as for an id that does not exist: existence does not leak
    missing = _call(caller, method, V1 + template.format(id=10**9), body)
    assert missing.status_code == 404
    assert missing.json() == response.json()

    # and the endpoint does work for the caller's own object (the 404 above is not a typo)
    own = OBJECTS[kind](estate)
    assert _call(caller, method, V1 + template.format(id=own.pk), body).status_code == 200


LIST_ENDPOINTS = {
    "/clients": lambda t: set(Client.objects.filter(tenant=t).values_list("id", flat=True)),
    "/sites": lambda t: set(Site.objects.filter(tenant=t).values_list("id", flat=True)),
    "/tokens": lambda t: set(ApiToken.objects.filter(user__tenant=t).values_list("id", flat=True)),
    "/integration-keys": lambda t: set(
        IntegrationKey.objects.filter(tenant=t).values_list("id", flat=True)
    ),
    "/audit": lambda t: set(AuditLog.objects.filter(tenant=t).values_list("id", flat=True)),
    "/alerts": lambda t: set(Alert.objects.filter(tenant=t).values_list("id", flat=True)),
    "/maintenance-windows": lambda t: set(
        MaintenanceWindow.objects.filter(tenant=t).values_list("id", flat=True)
    ),
    "/incidents": lambda t: set(Incident.objects.filter(tenant=t).values_list("id", flat=True)),
}


@pytest.mark.parametrize("path", list(LIST_ENDPOINTS))
def test_lists_never_include_another_tenants_rows(estate, other_estate, api, path):
    for each in (estate, other_estate):
        _token(each)
        _key(each)
        _alert(each)
        _window(each)
        _incident(each)
    caller = api(estate.user("admin"))
    ids, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = caller.get(V1 + path, **params)
        assert page.status_code == 200, page.content
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break

    own, foreign = (LIST_ENDPOINTS[path](e.tenant) for e in (estate, other_estate))
    assert foreign, "the other tenant has rows of this kind"
    assert ids, "the caller sees its own rows"
    assert set(ids) <= own
    assert not set(ids) & foreign


@pytest.mark.parametrize(
    "params",
    [
        {"client": "{client_id}"},
        {"client": "{client_code}"},
        {"officer": "{officer_id}"},
        {"q": "{site_code}"},
    ],
)
def test_site_filters_cannot_reach_another_tenant(estate, other_estate, api, params):
    site = other_estate.sites[0]
    site.officer_in_charge = other_estate.user("supervisor")
    site.save(update_fields=["officer_in_charge"])
    values = {
        "client_id": site.client_id,
        "client_code": site.client.code,
        "officer_id": site.officer_in_charge_id,
        "site_code": site.code,
    }
    query = {k: v.format(**values) for k, v in params.items()}
    response = api(estate.user("admin")).get(f"{V1}/sites", **query)
    assert response.status_code == 200
    assert response.json()["items"] == []


# (method, path template (own object), body with a foreign reference, field, kind referenced)
CROSS_REFERENCES = [
    ("post", "/sites", {"code": "x-1", "name": "X"}, "client_id", "client"),
    ("patch", "/sites/{site}", {}, "client_id", "client"),
    ("post", "/sites", {"code": "x-1", "name": "X"}, "officer_in_charge_id", "user"),
    ("patch", "/sites/{site}", {}, "officer_in_charge_id", "user"),
    ("post", "/clients", {"code": "x-1", "name": "X"}, "owner_id", "user"),
    ("patch", "/clients/{client}", {}, "owner_id", "user"),
    ("post", "/integration-keys", {"name": "k", "source": "native"}, "default_client_id", "client"),
    ("post", "/integration-keys", {"name": "k", "source": "native"}, "default_site_id", "site"),
]


@pytest.mark.parametrize(
    ("method", "template", "body", "field", "kind"),
    CROSS_REFERENCES,
    ids=[f"{m.upper()} {t} {f}" for m, t, _, f, _ in CROSS_REFERENCES],
)
def test_references_to_another_tenant_are_422_naming_the_field(
    estate, other_estate, api, write_counts, method, template, body, field, kind
):
    foreign_id = {
        "client": other_estate.clients[0].id,
        "site": other_estate.sites[0].id,
        "user": other_estate.user("admin").id,
    }[kind]
    payload = dict(body)
    if method == "post" and template == "/sites" and field != "client_id":
        payload["client_id"] = estate.clients[0].id
    payload[field] = foreign_id
    path = V1 + template.format(site=estate.sites[0].id, client=estate.clients[0].id)
    caller = api(estate.user("admin"))
    before = write_counts()

    response = getattr(caller, method)(path, payload)

    assert response.status_code == 422, response.content
    assert error_code(response) == "validation_error"
    assert field in error_fields(response)
    assert write_counts() == before
    # the same request with an id of the caller's own tenant goes through
    payload[field] = {
        "client": estate.clients[0].id,
        "site": estate.sites[0].id,
        "user": estate.user("admin").id,
    }[kind]
    assert getattr(caller, method)(path, payload).status_code in (200, 201)


def test_404_body_is_the_error_shape_only(estate, other_estate, api):
    response = api(estate.user("admin")).get(f"{V1}/sites/{other_estate.sites[0].id}")
    assert json.loads(response.content) == {
        "error": {"code": "not_found", "message": "Not found.", "fields": {}}
    }
