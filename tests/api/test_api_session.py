"""The browser session authenticates the API too; writes then need the CSRF token."""

from __future__ import annotations

import json

import pytest

from support_api import V1, error_code
from watchfloor.tenancy.models import User

CSRF = "s" * 32  # a valid unmasked CSRF secret


def _json(method, browser, path, payload, **extra):
    return getattr(browser, method)(
        path, data=json.dumps(payload), content_type="application/json", **extra
    )


def _with_csrf(browser):
    browser.cookies["csrftoken"] = CSRF
    return {"HTTP_X_CSRFTOKEN": CSRF}


def test_logged_in_browser_can_read(estate, session_client):
    browser = session_client(estate.user("operator"))
    me = browser.get(f"{V1}/me")
    assert me.status_code == 200
    assert me.json()["username"] == estate.user("operator").username
    clients = browser.get(f"{V1}/clients").json()["items"]
    assert [c["id"] for c in clients] == [estate.clients[0].id]


def _writes(estate):
    client, site = estate.clients[0], estate.sites[0]
    return [
        ("post", f"{V1}/clients", {"code": "web-1", "name": "From the browser"}),
        ("patch", f"{V1}/clients/{client.id}", {"name": "Renamed in the browser"}),
        ("post", f"{V1}/sites", {"code": "web-s", "name": "S", "client_id": client.id}),
        ("patch", f"{V1}/sites/{site.id}", {"city": "Boston"}),
        ("post", f"{V1}/tokens", {"name": "browser-made"}),
        ("post", f"{V1}/integration-keys", {"name": "k", "source": "native"}),
    ]


@pytest.mark.parametrize("index", range(6))
def test_write_without_csrf_token_is_refused(estate, session_client, write_counts, index):
    browser = session_client(estate.user("admin"))
    method, path, payload = _writes(estate)[index]
    before = write_counts()
    response = _json(method, browser, path, payload)
    assert response.status_code == 403, response.content
    assert error_code(response) == "forbidden"
    assert write_counts() == before


@pytest.mark.parametrize("index", range(6))
def test_write_with_csrf_token_is_accepted(estate, session_client, write_counts, index):
    browser = session_client(estate.user("admin"))
    method, path, payload = _writes(estate)[index]
    before = write_counts()
    response = _json(method, browser, path, payload, **_with_csrf(browser))
    assert response.status_code in (200, 201), response.content
    assert write_counts() != before


def test_wrong_csrf_token_is_refused(estate, session_client, write_counts):
    browser = session_client(estate.user("admin"))
    browser.cookies["csrftoken"] = CSRF
    before = write_counts()
    response = _json(
        "post", browser, f"{V1}/clients", {"code": "x", "name": "x"}, HTTP_X_CSRFTOKEN="t" * 32
    )
    assert response.status_code == 403
    assert write_counts() == before


def test_token_revoke_by_session_needs_csrf(estate, session_client, token_for):
    from watchfloor.access.models import ApiToken

    user = estate.user("operator")
    token_for(user)
    token = ApiToken.objects.get(user=user)
    browser = session_client(user)
    assert browser.delete(f"{V1}/tokens/{token.id}").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert browser.delete(f"{V1}/tokens/{token.id}", **_with_csrf(browser)).status_code == 200


def test_bearer_token_writes_need_no_csrf(estate, session_client, token_for):
    """A bearer token is not sent by browsers on their own: no CSRF check for it."""
    browser = session_client()
    response = _json(
        "post",
        browser,
        f"{V1}/clients",
        {"code": "cli-1", "name": "By token"},
        HTTP_AUTHORIZATION=token_for(estate.user("admin")),
    )
    assert response.status_code == 201, response.content


def test_anonymous_write_is_401_not_403(db, session_client, write_counts):
    before = write_counts()
    response = _json("post", session_client(), f"{V1}/clients", {"code": "x", "name": "x"})
    assert response.status_code == 401
    assert write_counts() == before


def test_session_of_user_without_tenant_is_401(db, session_client):
    loner = User.objects.create_user(username="loner", password="x")
    assert session_client(loner).get(f"{V1}/me").status_code == 401


def test_session_of_inactive_user_is_401(estate, session_client):
    user = estate.user("admin")
    browser = session_client(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert browser.get(f"{V1}/me").status_code == 401


def test_session_capabilities_are_the_users(estate, session_client):
    browser = session_client(estate.user("viewer"))
    response = _json(
        "post", browser, f"{V1}/clients", {"code": "v", "name": "v"}, **_with_csrf(browser)
    )
    assert response.status_code == 403
    assert "noc:configure" in response.json()["error"]["message"]
