"""API tokens: shown once, stored as SHA-256 only, act as their user, revocable, expiring."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from support_api import V1, error_code, error_fields
from watchfloor.access.models import ApiToken, IntegrationKey
from watchfloor.access.scope import forget_authorizations
from watchfloor.access.services import LAST_USED_RESOLUTION, create_api_token
from watchfloor.audit.models import Action, AuditLog


def _bearer(plain: str) -> str:
    return f"Bearer {plain}"


def _all_stored_values(model) -> list[str]:
    """Every value of every column of every row of a model, as text."""
    columns = [f.attname for f in model._meta.concrete_fields]
    return [str(v) for row in model.objects.values_list(*columns) for v in row]


def test_create_shows_the_token_once_and_stores_only_its_sha256(estate, api):
    response = api(estate.user("operator")).post(f"{V1}/tokens", {"name": "laptop"})
    assert response.status_code == 201, response.content
    body = response.json()
    plain = body["token"]
    secret = plain.split("_", 2)[2]  # wf<kind>_<prefix>_<secret>
    assert plain.startswith("wft_") and len(secret) >= 40

    row = ApiToken.objects.get(pk=body["id"])
    assert row.secret_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert body["prefix"] == row.prefix and row.prefix in plain
    for model in (ApiToken, IntegrationKey, AuditLog):
        for value in _all_stored_values(model):
            assert plain not in value and secret not in value, (model, value)

    listed = api(estate.user("operator")).get(f"{V1}/tokens").json()["items"]
    assert body["id"] in [item["id"] for item in listed]
    assert all("token" not in item for item in listed)
    assert plain not in json.dumps(listed) and secret not in json.dumps(listed)
    # the shown value works
    me = api(raw_auth=_bearer(plain)).get(f"{V1}/me")
    assert me.status_code == 200 and me.json()["id"] == estate.user("operator").id


def test_integration_key_is_shown_once_and_stored_as_sha256(estate, api):
    caller = api(estate.user("admin"))
    response = caller.post(f"{V1}/integration-keys", {"name": "prom", "source": "alertmanager"})
    assert response.status_code == 201, response.content
    plain = response.json()["key"]
    secret = plain.split("_", 2)[2]  # wf<kind>_<prefix>_<secret>
    assert plain.startswith("wfi_")
    row = IntegrationKey.objects.get(pk=response.json()["id"])
    assert row.secret_hash == hashlib.sha256(plain.encode()).hexdigest()
    for model in (ApiToken, IntegrationKey, AuditLog):
        for value in _all_stored_values(model):
            assert plain not in value and secret not in value, (model, value)
    for shown in (
        caller.get(f"{V1}/integration-keys").content.decode(),
        caller.get(f"{V1}/integration-keys/{row.id}").content.decode(),
    ):
        assert secret not in shown and '"key"' not in shown


def test_token_acts_as_its_user_scope_and_capabilities(estate, api):
    plain = create_api_token(estate.user("operator"), name="cli").plain
    caller = api(raw_auth=_bearer(plain))
    assert {c["id"] for c in caller.get(f"{V1}/clients").json()["items"]} == {estate.clients[0].id}
    assert caller.get(f"{V1}/sites/{estate.sites[2].id}").status_code == 404
    assert caller.get(f"{V1}/audit").status_code == 403
    denied = AuditLog.objects.filter(action=Action.ACCESS_DENIED).latest("id")
    assert denied.actor_id == estate.user("operator").id


def test_revoked_token_is_401(estate, api):
    issued = create_api_token(estate.user("admin"), name="old")
    caller = api(raw_auth=_bearer(issued.plain))
    assert caller.get(f"{V1}/me").status_code == 200

    response = caller.delete(f"{V1}/tokens/{issued.obj.id}")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert "token" not in response.json()
    assert AuditLog.objects.filter(
        action=Action.TOKEN_REVOKE, entity_id=str(issued.obj.id)
    ).exists()

    again = caller.get(f"{V1}/me")
    assert again.status_code == 401
    assert error_code(again) == "unauthorized"


def test_expired_token_is_401(estate, api):
    issued = create_api_token(
        estate.user("admin"), name="short", expires_at=timezone.now() + timedelta(hours=1)
    )
    caller = api(raw_auth=_bearer(issued.plain))
    assert caller.get(f"{V1}/me").status_code == 200
    # the token is cached (access.services.TOKEN_CACHE) and its expiry checked on every use
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert caller.get(f"{V1}/me").status_code == 401
    ApiToken.objects.filter(pk=issued.obj.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    forget_authorizations()  # an ORM write bypasses the services that forget cached tokens
    assert caller.get(f"{V1}/me").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wft_00000000_unknown",
        "Bearer not-a-token",
        "Bearer ",
        "bearer wft_deadbeef_x",
    ],
)
def test_failed_bearer_authentication_is_401_and_audited(db, api, header):
    response = api(raw_auth=header).get(f"{V1}/me", HTTP_USER_AGENT="probe/1.0")
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    row = AuditLog.objects.filter(action=Action.AUTH_FAILED).latest("id")
    assert row.details == {"path": f"{V1}/me", "scheme": "bearer"}
    assert row.actor_id is None


def test_failed_bearer_on_a_write_is_401_not_a_csrf_403(db, api, write_counts):
    before = write_counts()
    response = api(raw_auth="Bearer wft_00000000_wrong").post(
        f"{V1}/clients", {"code": "x", "name": "x"}
    )
    assert response.status_code == 401
    assert write_counts() == before


def test_auth_failure_records_ip_and_user_agent(db, client):
    client.get(
        f"{V1}/me",
        HTTP_AUTHORIZATION="Bearer wft_00000000_nope",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="scanner/2",
    )
    row = AuditLog.objects.filter(action=Action.AUTH_FAILED).latest("id")
    assert (row.ip, row.user_agent) == ("203.0.113.7", "scanner/2")


def test_no_credentials_is_401_and_not_audited(db, client):
    response = client.get(f"{V1}/clients")
    assert response.status_code == 401
    assert not AuditLog.objects.filter(action=Action.AUTH_FAILED).exists()


def test_cannot_revoke_another_users_token(estate, api):
    victim = create_api_token(estate.user("supervisor"), name="victim")
    response = api(estate.user("admin")).delete(f"{V1}/tokens/{victim.obj.id}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    victim.obj.refresh_from_db()
    assert victim.obj.revoked_at is None
    assert api(raw_auth=_bearer(victim.plain)).get(f"{V1}/me").status_code == 200


def test_token_list_shows_only_own_tokens(estate, other_estate, api):
    mine = {create_api_token(estate.user("operator"), name=f"t{i}").obj.id for i in range(3)}
    theirs = {
        create_api_token(estate.user("supervisor"), name="colleague").obj.id,
        create_api_token(other_estate.user("operator"), name="stranger").obj.id,
    }
    plain = create_api_token(estate.user("operator"), name="caller")
    mine.add(plain.obj.id)
    listed = api(raw_auth=_bearer(plain.plain)).get(f"{V1}/tokens").json()["items"]
    ids = [item["id"] for item in listed]
    assert set(ids) == mine
    assert not set(ids) & theirs
    assert ids == sorted(ids, reverse=True)  # newest first


def test_create_token_audits_without_the_secret(estate, api):
    response = api(estate.user("viewer")).post(f"{V1}/tokens", {"name": "script"})
    row = AuditLog.objects.filter(action=Action.TOKEN_CREATE).latest("id")
    assert row.actor_id == estate.user("viewer").id
    assert row.entity_id == str(response.json()["id"])
    assert response.json()["token"] not in json.dumps(row.details)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "t", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "t", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "t", "scopes": ["all"]}, "scopes"),
    ],
)
def test_bad_token_requests_are_422_and_create_nothing(estate, api, body, field):
    caller = api(estate.user("admin"))
    count = ApiToken.objects.count()
    response = caller.post(f"{V1}/tokens", body)
    assert response.status_code == 422, response.content
    assert field in error_fields(response)
    assert ApiToken.objects.count() == count


def test_expiry_without_offset_is_read_as_utc(estate, api):
    response = api(estate.user("admin")).post(
        f"{V1}/tokens", {"name": "t", "expires_at": "2999-01-01T00:00:00"}
    )
    assert response.status_code == 201, response.content
    row = ApiToken.objects.get(pk=response.json()["id"])
    assert row.expires_at.isoformat().startswith("2999-01-01T00:00:00")
    assert row.expires_at.utcoffset() == timedelta(0)


def test_last_used_is_recorded_at_a_bounded_rate(estate, api):
    issued = create_api_token(estate.user("admin"), name="t")
    caller = api(raw_auth=_bearer(issued.plain))
    caller.get(f"{V1}/me")
    issued.obj.refresh_from_db()
    first = issued.obj.last_used_at
    assert first is not None
    caller.get(f"{V1}/me")
    issued.obj.refresh_from_db()
    assert issued.obj.last_used_at == first  # within LAST_USED_RESOLUTION: no write
    later = timezone.now() + LAST_USED_RESOLUTION + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        caller.get(f"{V1}/me")
    issued.obj.refresh_from_db()
    assert issued.obj.last_used_at == later
