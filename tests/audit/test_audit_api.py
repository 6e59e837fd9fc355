"""Configuration changes are audited with who, from where, and no PII; /audit reads the log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from support_api import V1, error_fields
from watchfloor.audit.models import Action, AuditLog
from watchfloor.audit.services import record

IP, AGENT = "198.51.100.23", "Watchfloor-Test/1.0 (audit)"
FROM = {"REMOTE_ADDR": IP, "HTTP_USER_AGENT": AGENT}


def _send(client, auth, method, path, payload=None):
    if method == "delete":
        return client.delete(path, HTTP_AUTHORIZATION=auth, **FROM)
    return getattr(client, method)(
        path,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
        **FROM,
    )


def _pii_of(*users):
    values = set()
    for user in users:
        values |= {user.first_name, user.last_name, user.get_full_name(), user.email}
    return {v for v in values if v}


# (method, path, payload, entity_type, change)
CHANGES = [
    (
        "post",
        "/clients",
        {"code": "new-c", "name": "New", "owner_id": "{owner}"},
        "tenancy.client",
        "client.create",
    ),
    (
        "patch",
        "/clients/{client}",
        {"name": "Renamed", "owner_id": "{owner}"},
        "tenancy.client",
        "client.update",
    ),
    (
        "post",
        "/sites",
        {"code": "new-s", "name": "N", "client_id": "{client}", "officer_in_charge_id": "{owner}"},
        "tenancy.site",
        "site.create",
    ),
    (
        "patch",
        "/sites/{site}",
        {"officer_in_charge_id": "{owner}", "city": "Reno"},
        "tenancy.site",
        "site.update",
    ),
    (
        "post",
        "/integration-keys",
        {"name": "prom", "source": "alertmanager"},
        "access.integrationkey",
        "integration_key.create",
    ),
    ("delete", "/integration-keys/{key}", None, "access.integrationkey", "integration_key.revoke"),
]


def _fill(value, refs):
    if isinstance(value, dict):
        return {k: _fill(v, refs) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{"):
        return refs[value.strip("{}")]
    if isinstance(value, str):
        return value.format(**refs)
    return value


@pytest.mark.parametrize(
    ("method", "path", "payload", "entity_type", "change"),
    CHANGES,
    ids=[c[-1] for c in CHANGES],
)
def test_every_configuration_change_is_audited(
    estate, client, token_for, issue_key, method, path, payload, entity_type, change
):
    admin, owner = estate.user("admin"), estate.user("supervisor")
    refs = {
        "client": estate.clients[0].id,
        "site": estate.sites[0].id,
        "owner": owner.id,
        "key": issue_key(estate).id,
    }
    auth = token_for(admin)
    before = AuditLog.objects.filter(action=Action.CONFIG_CHANGE).count()

    response = _send(client, auth, method, V1 + _fill(path, refs), _fill(payload, refs))

    assert response.status_code in (200, 201), response.content
    rows = AuditLog.objects.filter(action=Action.CONFIG_CHANGE).order_by("-id")
    assert rows.count() == before + 1
    row = rows.first()
    assert row.actor_id == admin.id and row.actor_label == admin.username
    assert row.tenant_id == estate.tenant.id
    assert (row.ip, row.user_agent) == (IP, AGENT)
    assert row.entity_type == entity_type
    assert row.entity_id == str(response.json()["id"])
    assert row.details["change"] == change
    details = json.dumps(row.details)
    for value in _pii_of(admin, owner):
        assert value not in details, value
    assert "key" not in response.json() or response.json()["key"] not in details


def test_patch_that_changes_nothing_writes_no_audit_row(estate, api):
    caller = api(estate.user("admin"))
    before = AuditLog.objects.filter(action=Action.CONFIG_CHANGE).count()
    assert caller.patch(f"{V1}/clients/{estate.clients[0].id}", {}).status_code == 200
    assert AuditLog.objects.filter(action=Action.CONFIG_CHANGE).count() == before


def test_update_audit_names_the_changed_fields(estate, api):
    api(estate.user("admin")).patch(
        f"{V1}/sites/{estate.sites[0].id}", {"city": "Reno", "latitude": 39.5}
    )
    row = AuditLog.objects.filter(action=Action.CONFIG_CHANGE).latest("id")
    assert row.details["fields"] == ["city", "latitude"]
    assert row.details["code"] == estate.sites[0].code


# --- the /audit endpoint ---------------------------------------------------------------------


def _ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_audit_list_is_tenant_scoped_and_newest_first(estate, other_estate, api):
    record(Action.EXPORT, actor=other_estate.user("admin"), details={"report": "theirs"})
    mine = record(Action.EXPORT, actor=estate.user("admin"), details={"report": "mine"})
    ids = _ids(api(estate.user("executive")).get(f"{V1}/audit", limit=500))
    own = set(AuditLog.objects.filter(tenant=estate.tenant).values_list("id", flat=True))
    assert set(ids) <= own
    assert mine.id in ids
    assert not set(ids) & set(
        AuditLog.objects.filter(tenant=other_estate.tenant).values_list("id", flat=True)
    )
    assert ids == sorted(ids, reverse=True)


def test_audit_item_shape(estate, api):
    row = record(
        Action.EXPORT, actor=estate.user("admin"), entity=estate.sites[0], details={"a": 1}
    )
    item = next(
        i for i in api(estate.user("admin")).get(f"{V1}/audit").json()["items"] if i["id"] == row.id
    )
    assert item["actor"] == estate.user("admin").username
    assert item["actor_id"] == estate.user("admin").id
    assert item["action"] == "export"
    assert (item["entity_type"], item["entity_id"]) == ("tenancy.site", str(estate.sites[0].id))
    assert item["details"] == {"a": 1}


@pytest.fixture
def history(estate, monkeypatch):
    """Rows at known times: 10 days ago, 5 days ago, now; by two actors, on two entities."""
    admin, supervisor = estate.user("admin"), estate.user("supervisor")
    now = timezone.now()
    rows = {}
    for label, age, actor, action, entity in [
        ("old", 10, admin, Action.EXPORT, estate.sites[0]),
        ("mid", 5, supervisor, Action.ACKNOWLEDGE, estate.sites[1]),
        ("new", 0, supervisor, Action.EXPORT, estate.sites[0]),
    ]:
        with monkeypatch.context() as m:
            m.setattr(timezone, "now", lambda age=age: now - timedelta(days=age))
            rows[label] = record(action, actor=actor, entity=entity)
    return now, rows


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "acknowledge"}, {"mid"}),
        ({"action": "export", "actor": "acme-supervisor"}, {"new"}),
        ({"actor": "acme-admin", "entity_type": "tenancy.site"}, {"old"}),
        ({"entity_type": "tenancy.site", "entity_id": "{site0}"}, {"old", "new"}),
        ({"since": "{days7}", "entity_type": "tenancy.site"}, {"mid", "new"}),
        ({"until": "{days7}", "entity_type": "tenancy.site"}, {"old"}),
        ({"since": "{days7}", "until": "{days1}", "entity_type": "tenancy.site"}, {"mid"}),
        (
            {"since": "{days7_naive}", "until": "{days1_naive}", "entity_type": "tenancy.site"},
            {"mid"},
        ),
        ({"action": "resolve"}, set()),
    ],
)
def test_audit_filters(estate, api, history, params, expected):
    now, rows = history
    values = {
        "site0": str(estate.sites[0].id),
        "days7": (now - timedelta(days=7)).isoformat(),
        "days1": (now - timedelta(days=1)).isoformat(),
        "days7_naive": (now - timedelta(days=7)).replace(tzinfo=None).isoformat(),
        "days1_naive": (now - timedelta(days=1)).replace(tzinfo=None).isoformat(),
    }
    query = {k: v.format(**values) for k, v in params.items()}
    ids = set(_ids(api(estate.user("admin")).get(f"{V1}/audit", **query)))
    assert ids == {rows[label].id for label in expected}


def test_audit_paginates_every_row_once(estate, api):
    for i in range(7):
        record(Action.EXPORT, actor=estate.user("admin"), details={"n": i})
    caller = api(estate.user("admin"))
    expected = list(
        AuditLog.objects.filter(tenant=estate.tenant).order_by("-id").values_list("id", flat=True)
    )
    seen, cursor = [], None
    while True:
        page = caller.get(f"{V1}/audit", limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"since": "last tuesday"}, "since"),
    ],
)
def test_audit_bad_query_is_422(estate, api, params, field):
    response = api(estate.user("admin")).get(f"{V1}/audit", **params)
    assert response.status_code == 422
    assert field in error_fields(response)
