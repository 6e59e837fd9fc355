"""What each built-in role sees and may do, through the API.

The estate fixture: clients c1, c2 with sites s1, s2 each (sites[0..3]); the operator is assigned
client c1, the viewer is assigned site sites[2] (the first site of c2).
"""

from __future__ import annotations

import pytest

from support_api import V1, error_code
from watchfloor.access.capabilities import ROLES, Capability
from watchfloor.access.scope import forget_authorizations
from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import User

# role -> (indexes of visible clients, indexes of visible sites)
VISIBLE = {
    "viewer": ({1}, {2}),
    "operator": ({0}, {0, 1}),
    "supervisor": ({0, 1}, {0, 1, 2, 3}),
    "executive": ({0, 1}, {0, 1, 2, 3}),
    "admin": ({0, 1}, {0, 1, 2, 3}),
}
ROLE_NAMES = list(VISIBLE)


def _ids(objs, indexes):
    return {objs[i].id for i in indexes}


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_lists_show_exactly_the_roles_scope(estate, other_estate, api, role):
    caller = api(estate.user(role))
    clients, sites = VISIBLE[role]

    listed_clients = caller.get(f"{V1}/clients").json()["items"]
    listed_sites = caller.get(f"{V1}/sites").json()["items"]

    assert {c["id"] for c in listed_clients} == _ids(estate.clients, clients)
    assert {s["id"] for s in listed_sites} == _ids(estate.sites, sites)
    # site_count counts only the sites the caller can see
    visible_sites = _ids(estate.sites, sites)
    for item in listed_clients:
        expected = sum(
            1 for s in estate.sites if s.client_id == item["id"] and s.id in visible_sites
        )
        assert item["site_count"] == expected


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_detail_is_404_outside_the_scope(estate, api, role):
    caller = api(estate.user(role))
    clients, sites = VISIBLE[role]
    for index, client in enumerate(estate.clients):
        response = caller.get(f"{V1}/clients/{client.id}")
        assert response.status_code == (200 if index in clients else 404), (index, response.content)
    for index, site in enumerate(estate.sites):
        response = caller.get(f"{V1}/sites/{site.id}")
        assert response.status_code == (200 if index in sites else 404), (index, response.content)
        if index not in sites:
            assert error_code(response) == "not_found"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_me_reports_roles_capabilities_and_scope(estate, api, role):
    body = api(estate.user(role)).get(f"{V1}/me").json()
    clients, sites = VISIBLE[role]
    assert body["roles"] == [role]
    assert set(body["capabilities"]) == {c.value for c in ROLES[role]}
    assert set(body["scope"]["client_ids"]) == _ids(estate.clients, clients)
    assert set(body["scope"]["site_ids"]) == _ids(estate.sites, sites)


@pytest.mark.parametrize(
    ("role", "kind", "index"),
    [("operator", "sites", 2), ("operator", "clients", 1), ("viewer", "sites", 0)],
)
def test_out_of_scope_patch_is_404_not_403(estate, api, write_counts, role, kind, index):
    """A PATCH on an object outside the scope must not reveal that it exists."""
    outside = getattr(estate, kind)[index]
    caller = api(estate.user(role))
    before = write_counts()
    response = caller.patch(f"{V1}/{kind}/{outside.id}", {"name": "x"})
    assert response.status_code == 404
    assert write_counts() == before
    assert not AuditLog.objects.filter(action=Action.ACCESS_DENIED).exists()


# Endpoints behind one capability each: (method, path, body, capability). `{client}` and `{site}`
# are a client and a site inside the caller's scope, `{key}` an integration key of its tenant.
GATED = [
    ("get", "/audit", None, Capability.AUDIT_VIEW),
    ("get", "/integration-keys", None, Capability.CONFIGURE),
    ("post", "/integration-keys", {"name": "k", "source": "native"}, Capability.CONFIGURE),
    ("get", "/integration-keys/{key}", None, Capability.CONFIGURE),
    ("delete", "/integration-keys/{key}", None, Capability.CONFIGURE),
    ("post", "/clients", {"code": "new-client", "name": "New"}, Capability.CONFIGURE),
    ("patch", "/clients/{client}", {"name": "Renamed"}, Capability.CONFIGURE),
    (
        "post",
        "/sites",
        {"code": "new-site", "name": "New", "client_id": "{client}"},
        Capability.CONFIGURE,
    ),
    ("patch", "/sites/{site}", {"name": "Renamed"}, Capability.CONFIGURE),
    ("get", "/clients", None, Capability.VIEW),
    ("get", "/sites", None, Capability.VIEW),
]


def _fill(value, refs):
    if isinstance(value, str):
        return int(value.format(**refs)) if value.startswith("{") else value.format(**refs)
    if isinstance(value, dict):
        return {k: _fill(v, refs) for k, v in value.items()}
    return value


def _request(caller, method, path, body):
    if method in ("get", "delete"):
        return getattr(caller, method)(path)
    return getattr(caller, method)(path, body)


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize(
    ("method", "path", "body", "capability"),
    GATED,
    ids=[f"{m.upper()} {p}" for m, p, _, _ in GATED],
)
def test_capability_matrix(
    estate, api, issue_key, write_counts, role, method, path, body, capability
):
    user = estate.user(role)
    clients, sites = VISIBLE[role]
    refs = {
        "client": estate.clients[min(clients)].id,
        "site": estate.sites[min(sites)].id,
        "key": issue_key(estate).id,
    }
    allowed = capability in ROLES[role]
    caller = api(user)
    before = write_counts()
    denied_before = AuditLog.objects.filter(action=Action.ACCESS_DENIED).count()

    response = _request(caller, method, _fill(V1 + path, refs), _fill(body, refs))

    if allowed:
        assert response.status_code in (200, 201), response.content
        return
    assert response.status_code == 403, response.content
    assert error_code(response) == "forbidden"
    assert capability.value in response.json()["error"]["message"]
    assert write_counts() == before
    denied = AuditLog.objects.filter(action=Action.ACCESS_DENIED).order_by("-id")
    assert denied.count() == denied_before + 1
    row = denied.first()
    assert row.actor_id == user.id
    assert row.tenant_id == estate.tenant.id
    assert row.details["capability"] == capability.value
    assert row.details["method"] == method.upper()
    assert row.details["path"] == _fill(V1 + path, refs)


@pytest.mark.parametrize(
    ("role", "method", "path", "capability"),
    [
        ("viewer", "post", "/clients", "noc:configure"),
        ("operator", "get", "/audit", "noc:audit_view"),
        ("supervisor", "get", "/integration-keys", "noc:configure"),
    ],
)
def test_named_denials_from_the_issue(estate, api, role, method, path, capability):
    caller = api(estate.user(role))
    response = (
        caller.get(V1 + path)
        if method == "get"
        else caller.post(V1 + path, {"code": "n", "name": "n"})
    )
    assert response.status_code == 403
    row = AuditLog.objects.filter(action=Action.ACCESS_DENIED).latest("id")
    assert row.details["capability"] == capability
    assert row.actor_label == estate.user(role).username


def test_user_without_any_role_sees_nothing(estate, api):
    nobody = User.objects.create_user(username="acme-nobody", tenant=estate.tenant)
    caller = api(nobody)
    assert caller.get(f"{V1}/me").json()["scope"] == {
        "kind": "none",
        "client_ids": [],
        "site_ids": [],
    }
    for path in ("/clients", "/sites"):
        response = caller.get(V1 + path)
        assert response.status_code == 403
        assert "noc:view" in response.json()["error"]["message"]
    assert caller.get(f"{V1}/sites/{estate.sites[0].id}").status_code == 403


def test_superuser_without_tenant_is_401(estate, api, token_for):
    root = User.objects.create_superuser(username="root", password="x")
    assert api(raw_auth=token_for(root)).get(f"{V1}/me").status_code == 401
    assert api(raw_auth=token_for(root)).get(f"{V1}/clients").status_code == 401


def test_user_without_tenant_is_401(db, api, token_for):
    loner = User.objects.create_user(username="loner")
    response = api(raw_auth=token_for(loner)).get(f"{V1}/me")
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert AuditLog.objects.filter(action=Action.AUTH_FAILED).count() == 1


def test_inactive_user_is_401(estate, api, token_for):
    user = estate.user("admin")
    header = token_for(user)
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    forget_authorizations()  # what the admin's user form does on saving (tokens are cached)
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 401
    assert api(raw_auth=header).get(f"{V1}/clients").status_code == 401


def test_inactive_tenant_is_401(estate, api, token_for):
    header = token_for(estate.user("admin"))
    estate.tenant.active = False
    estate.tenant.save(update_fields=["active"])
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 401
    assert AuditLog.objects.filter(action=Action.AUTH_FAILED).count() == 1


def test_role_change_applies_to_the_next_request(estate, api, token_for):
    from watchfloor.access.services import set_roles

    user = estate.user("viewer")
    header = token_for(user)
    assert api(raw_auth=header).get(f"{V1}/audit").status_code == 403
    set_roles(user, ["executive"])
    assert api(raw_auth=header).get(f"{V1}/audit").status_code == 200
