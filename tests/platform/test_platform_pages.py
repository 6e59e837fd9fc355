"""The platform pages (/platform/): platform operators only, every view and denial audited."""

from __future__ import annotations

import json

import pytest

from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import User

PAGES = ["/platform/", "/platform/system/", "/platform/exports/"]


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


def test_system_page_shows_the_host_and_this_process(client, operator):
    import os

    client.force_login(operator)
    page = client.get("/platform/system/").content.decode()
    for heading in ("CPU per core", "Disks", "Network", "Watchfloor processes"):
        assert heading in page
    assert f">{os.getpid()}<" in page  # this process, in the process table

    data = json.loads(client.get("/platform/system/", {"format": "json"}).content)["system"]
    assert len(data["cores"]) == data["cpu_count"] >= 1
    assert all(0 <= core["percent"] <= 100 for core in data["cores"])
    assert data["memory"]["total"] > data["memory"]["available"] > 0
    assert any(d["mountpoint"] == "/" or d["total"] > 0 for d in data["disks"])
    assert any(nic["name"] == "lo" for nic in data["nics"])
    me = next(p for p in data["processes"] if p["this"])
    assert me["pid"] == os.getpid() and me["rss"] > 0 and me["threads"] >= 1
    assert me["open_fds"] > 0 and me["uptime_s"] >= 0
    assert data["sampled_over_s"] > 0
    assert "cmdline" not in json.dumps(data)  # command lines are never shown


def test_watchfloor_processes_are_told_by_their_command_line():
    from watchfloor.platform.system_stats import is_watchfloor_command, role_of

    serve = ["/venv/bin/python", "/venv/bin/watchfloor", "serve", "--port", "8000"]
    worker = ["/venv/bin/celery", "-A", "watchfloor.celery", "worker"]
    beat = ["/venv/bin/celery", "--app=watchfloor.celery", "beat"]
    uvicorn = ["uvicorn", "watchfloor.asgi:application"]
    for cmd in (serve, worker, beat, uvicorn):
        assert is_watchfloor_command(cmd), cmd
    assert not is_watchfloor_command(["python", "-m", "pytest", "/work/src/watchfloor/tests"])
    assert not is_watchfloor_command(["bash"])
    assert [role_of(c) for c in (serve, worker, beat, uvicorn)] == ["web", "worker", "beat", "web"]
