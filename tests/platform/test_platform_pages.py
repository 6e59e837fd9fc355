"""The platform pages (/platform/): platform operators only, every view and denial audited."""

from __future__ import annotations

import json

import pytest

from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import User

PAGES = ["/platform/", "/platform/exports/"]


@pytest.fixture
def operator(db):
    """A platform operator: staff without a tenant."""
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_is_sent_to_sign_in(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", PAGES)
def test_a_tenants_admin_is_denied_and_the_denial_audited(client, estate, path):
    admin = estate.user("admin")
    client.force_login(admin)
    response = client.get(path)
    assert response.status_code == 403
    assert "platform operators" in response.content.decode()
    entry = AuditLog.objects.get(action=Action.ACCESS_DENIED)
    assert entry.actor == admin and entry.tenant == estate.tenant
    assert entry.details == {"requirement": "platform_operator", "method": "GET", "path": path}
    assert not AuditLog.objects.filter(action=Action.VIEW_SENSITIVE).exists()


def test_staff_that_is_not_active_or_without_staff_flag_is_denied(client, db):
    plain = User.objects.create_user("plain", password="pw")  # no tenant, not staff
    client.force_login(plain)
    assert client.get("/platform/").status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_an_operator_sees_the_page_and_the_view_is_audited(client, operator, path):
    client.force_login(operator)
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'aria-label="Platform"' in page  # the section's nav
    assert 'href="/platform/exports/"' in page
    entry = AuditLog.objects.get(action=Action.VIEW_SENSITIVE)
    assert entry.actor == operator and entry.tenant is None
    assert entry.details["format"] == "html" and entry.details["page"].startswith("platform.")


def test_the_platform_link_shows_for_operators_only(client, estate, operator):
    client.force_login(estate.user("admin"))
    assert 'href="/platform/"' not in client.get("/").content.decode()
    client.force_login(operator)
    assert 'href="/platform/"' in client.get("/platform/exports/").content.decode()


def test_exports_lists_each_file_with_a_download_link_and_answers_json(client, operator):
    client.force_login(operator)
    page = client.get("/platform/exports/").content.decode()
    for name in ("watchfloor-dashboard.json", "watchfloor-rules.yml", "watchfloor-rules.test.yml"):
        assert f'href="/platform/exports/{name}"' in page
    data = json.loads(client.get("/platform/exports/", {"format": "json"}).content)
    sizes = {f["name"]: f["size_bytes"] for f in data["files"]}
    assert sizes["watchfloor-dashboard.json"] > 1000
    assert AuditLog.objects.filter(action=Action.VIEW_SENSITIVE, details__format="json").exists()


def test_writes_are_refused(client, operator):
    client.force_login(operator)
    assert client.post("/platform/").status_code == 405
