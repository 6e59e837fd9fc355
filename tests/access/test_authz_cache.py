"""The per-process cache of API tokens and capabilities (access.scope.CAPABILITY_CACHE,
access.services.TOKEN_CACHE): it saves the token and permission queries, and every change of
roles, permissions, accounts or tokens is seen at once, in this process and (through the shared
authorization generation) in the others."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from watchfloor.access import scope
from watchfloor.access.capabilities import Capability
from watchfloor.access.models import ApiToken
from watchfloor.access.services import (
    TOKEN_CACHE,
    authenticate_api_token,
    create_api_token,
    revoke_api_token,
    set_roles,
)
from watchfloor.tenancy.models import User

V1 = "/api/v1"


def caps(api, header) -> list[str]:
    response = api(raw_auth=header).get(f"{V1}/me")
    assert response.status_code == 200
    return response.json()["capabilities"]


def test_a_cached_token_costs_no_query_and_each_caller_gets_its_own_user(
    estate, django_assert_num_queries
):
    plain = create_api_token(estate.user("operator"), name="t").plain
    first = authenticate_api_token(plain)
    with django_assert_num_queries(0):
        second = authenticate_api_token(plain)
        assert scope.has_capability(second, Capability.VIEW)
    assert second is not first and second.pk == first.pk
    second.something_a_request_sets = 1
    assert not hasattr(authenticate_api_token(plain), "something_a_request_sets")


def test_a_role_change_reaches_a_cached_token_at_once(estate, api, token_for):
    user = estate.user("operator")
    header = token_for(user)
    assert Capability.ACK_ALERTS.value in caps(api, header)
    set_roles(user, ["viewer"], actor=estate.user("admin"))
    assert Capability.ACK_ALERTS.value not in caps(api, header)


def test_a_revoked_token_is_refused_at_once(estate, api, token_for):
    header = token_for(estate.user("operator"))
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 200
    token = ApiToken.objects.get(user=estate.user("operator"))
    revoke_api_token(token, actor=estate.user("admin"))
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 401


def test_another_process_sees_a_change_through_the_shared_generation(estate, api, token_for):
    """This process's entries are kept (as in another process); the generation moved by the
    writer's commit makes the next request load afresh."""
    user = estate.user("operator")
    header = token_for(user)
    assert Capability.ACK_ALERTS.value in caps(api, header)
    user.groups.set([Group.objects.get(name="viewer")])  # written by "another process"
    assert Capability.ACK_ALERTS.value in caps(api, header)  # cached here, within its TTL
    scope._bump_generation()  # that process's commit
    assert Capability.ACK_ALERTS.value not in caps(api, header)


def test_the_cache_down_leaves_tokens_working_on_their_ttl(estate, api, token_for, monkeypatch):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis down")

    header = token_for(estate.user("operator"))
    monkeypatch.setattr(cache, "get", down)
    assert scope.authz_generation() is None
    assert Capability.ACK_ALERTS.value in caps(api, header)
    assert len(TOKEN_CACHE._data) == 1


@pytest.fixture
def staff(estate, client):
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    return root


def _user_form(estate, user, **changes) -> dict:
    form = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "tenant": estate.tenant.pk,
        "phone": "",
        "client_assignments-TOTAL_FORMS": "0",
        "client_assignments-INITIAL_FORMS": "0",
        "site_assignments-TOTAL_FORMS": "0",
        "site_assignments-INITIAL_FORMS": "0",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_roles_and_deactivation_in_the_admin_reach_cached_tokens_at_once(
    staff, client, estate, api, token_for
):
    user = estate.user("operator")
    header = token_for(user)
    assert Capability.ACK_ALERTS.value in caps(api, header)
    viewer = Group.objects.get(name="viewer")
    changed = client.post(
        f"/admin/tenancy/user/{user.pk}/change/", _user_form(estate, user, groups=[viewer.pk])
    )
    assert changed.status_code == 302
    assert Capability.ACK_ALERTS.value not in caps(api, header)

    user.refresh_from_db()
    changed = client.post(
        f"/admin/tenancy/user/{user.pk}/change/", _user_form(estate, user, is_active=None)
    )
    assert changed.status_code == 302
    assert api(raw_auth=header).get(f"{V1}/me").status_code == 401


def test_a_roles_permissions_changed_in_the_admin_reach_cached_tokens_at_once(
    staff, client, estate, api, token_for
):
    header = token_for(estate.user("operator"))
    assert Capability.ACK_ALERTS.value in caps(api, header)
    role = Group.objects.get(name="operator")
    keep = [p.pk for p in role.permissions.all() if p.codename != Capability.ACK_ALERTS.codename]
    changed = client.post(
        f"/admin/auth/group/{role.pk}/change/", {"name": role.name, "permissions": keep}
    )
    assert changed.status_code == 302
    assert Capability.ACK_ALERTS.value not in caps(api, header)
