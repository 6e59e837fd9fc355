"""The platform pages (/platform/): platform operators only, every view and denial audited."""

from __future__ import annotations

import json

import pytest

from watchfloor.audit.models import Action, AuditLog
from watchfloor.tenancy.models import User

PAGES = [
    "/platform/",
    "/platform/system/",
    "/platform/database/",
    "/platform/cache/",
    "/platform/exports/",
]


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
    assert role_of(["/usr/bin/uv", "run", "watchfloor", "serve"]) == "launcher (uv)"


def test_slow_statement_texts_are_shortened_and_pii_masked():
    from watchfloor.platform.db_stats import QUERY_TEXT_MAX, slow_query

    text = "SELECT * FROM tenancy_user WHERE email = 'jane.doe@example.com' /* +1 415 555 0199 */"
    row = slow_query(text, 3, 12.3456, 4.11522, 9)
    assert "jane.doe@example.com" not in row.query and "j***@example.com" in row.query
    assert "555 0199" not in row.query
    assert (row.calls, row.total_ms, row.mean_ms, row.rows) == (3, 12.35, 4.115, 9)
    assert len(slow_query("x" * 5000, 1, 1, 1, 1).query) == QUERY_TEXT_MAX


@pytest.mark.parametrize("path", ["/platform/system/", "/platform/cache/", "/platform/exports/"])
def test_pages_without_tables_make_a_fixed_number_of_queries(
    client, operator, path, django_assert_num_queries
):
    client.force_login(operator)
    # the session, its user, the audit entry, and the person's settings and roles for the top bar
    with django_assert_num_queries(5):
        assert client.get(path).status_code == 200


def test_the_database_page_counts_at_most_the_tables_it_shows(
    client, operator, django_assert_max_num_queries
):
    from watchfloor.platform.db_stats import TOP_TABLES

    client.force_login(operator)
    with django_assert_max_num_queries(16 + TOP_TABLES):
        assert client.get("/platform/database/").status_code == 200


def _rows_of(page: str, table: str) -> int:
    """The row count the tables card shows for `table` (its data-rows attribute)."""
    import re

    found = re.search(rf"<code>{table}</code>.*?data-rows=\"(\d+)\"", page, re.S)
    assert found, f"{table} is not in the tables card"
    return int(found.group(1))


def test_database_page_shows_real_tables_with_rows_and_retention(
    client, operator, estate, monkeypatch
):
    from django.conf import settings
    from django.db import connection

    from watchfloor.platform import db_stats

    # Count every table exactly: earlier tests of a long run leave dead tuples behind, and a
    # table's heap past the bound is estimated from statistics that may not have seen this
    # test's rows (the full PostgreSQL run once read 0 sites).
    monkeypatch.setattr(db_stats, "EXACT_COUNT_BYTES", 1 << 40)
    client.force_login(operator)
    page = client.get("/platform/database/").content.decode()
    # the estate fixture made two tenants' worth of rows: one tenant here, five built-in roles
    assert _rows_of(page, "auth_group") == 5
    assert _rows_of(page, "tenancy_site") == 4
    assert "Resolved alerts" not in page or "per tenant, 180 days by default" in page
    assert "no retention stated" not in page
    assert f"{settings.JOBS_RUN_RETENTION_DAYS} days (daily job jobs.prune_runs" in page
    assert "24 hours (pruned by the platform.sample job)" in page

    data = json.loads(client.get("/platform/database/", {"format": "json"}).content)["database"]
    assert data["vendor"] == connection.vendor
    tables = {t["name"]: t for t in data["tables"]}
    assert tables["tenancy_user"]["rows"] == 6 and tables["tenancy_user"]["model"] == "tenancy.User"
    assert data["tables_total"] >= len(data["tables"]) > 10
    if connection.vendor == "sqlite":
        lite = data["sqlite"]
        assert "SQLite " + lite["version"] in page
        assert lite["page_size"] >= 512 and lite["page_count"] > 0
        assert lite["freelist_count"] >= 0
        assert all(t["rows_exact"] for t in data["tables"])
    else:
        pg = data["postgres"]
        assert "PostgreSQL " + pg["version"] in page
        assert pg["size_bytes"] > 1_000_000 and pg["max_connections"] > 0
        assert sum(pg["connections_by_state"].values()) >= 1  # this test's own connection
        assert pg["commits"] > 0 and pg["tuples_returned"] > 0
        assert 0 <= pg["cache_hit_ratio"] <= 100
        assert tables["tenancy_site"]["size_bytes"] > 0


@pytest.mark.postgres
def test_without_pg_stat_statements_the_page_says_so_and_how_to_enable_it(client, operator):
    from django.db import connection

    client.force_login(operator)
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        installed = cur.fetchone() is not None
    if not installed:
        page = client.get("/platform/database/").content.decode()
        assert "pg_stat_statements is not installed" in page
        assert "shared_preload_libraries" in page
        with connection.cursor() as cur:  # rolled back with the test's transaction
            cur.execute("CREATE EXTENSION pg_stat_statements")
    data = json.loads(client.get("/platform/database/", {"format": "json"}).content)
    statements = data["database"]["postgres"]["statements"]
    with connection.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        loaded = "pg_stat_statements" in cur.fetchone()[0]
    if loaded:
        assert statements["available"] and statements["queries"]
    else:  # installed here but not loaded by the server: said, and the page still answers
        assert not statements["available"]
        assert "installed in this database but not loaded" in statements["message"]


def test_cache_page_in_the_configured_mode(client, operator):
    from django.conf import settings

    client.force_login(operator)
    response = client.get("/platform/cache/")
    assert response.status_code == 200
    page = response.content.decode()
    data = json.loads(client.get("/platform/cache/", {"format": "json"}).content)["cache"]
    assert data["reachable"]
    if settings.REDIS_URL:
        import redis

        version = redis.Redis.from_url(settings.REDIS_URL).info("server")["redis_version"]
        assert f"Redis {version}" in page and data["redis"]["version"] == version
        assert data["redis"]["connected_clients"] >= 1 and data["redis"]["used_memory"] > 0
        assert data["queues"] == [{"name": settings.CELERY_TASK_DEFAULT_QUEUE, "length": 0}]
        assert ":6379" in data["location"] or data["location"].startswith("unix")
        assert "@" not in data["location"]  # never a password
    else:
        assert "local memory" in page and "no broker" in page
        assert data["backend"] == "local memory" and data["broker"] == "in-process"
        assert data["local_entries"] >= 0


def test_cache_page_with_redis_down_says_unreachable(client, operator, settings, caplog):
    from support_outages import free_port

    from watchfloor import degrade

    dead = f"redis://:secret-pw@127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CELERY_BROKER_URL = dead
    client.force_login(operator)
    degrade.reset()
    try:
        response = client.get("/platform/cache/")
        assert response.status_code == 200
        page = response.content.decode()
        assert "Redis unreachable" in page and "secret-pw" not in page
        data = json.loads(client.get("/platform/cache/", {"format": "json"}).content)["cache"]
        assert data["reachable"] is False and data["redis"] is None
        outage_lines = [r for r in caplog.records if r.name == "watchfloor.outage"]
        assert len(outage_lines) == 1  # logged once, not per view
        assert "secret-pw" not in caplog.text
    finally:
        degrade.reset()


def test_redis_info_is_parsed_into_a_hit_rate_and_keys_per_database():
    from watchfloor.platform.cache_stats import parse_info

    info = parse_info(
        {
            "redis_version": "7.2.4",
            "keyspace_hits": 75,
            "keyspace_misses": 25,
            "db0": {"keys": 12, "expires": 3, "avg_ttl": 0},
            "db3": {"keys": 1, "expires": 0},
            "used_memory": 1024,
        }
    )
    assert info.hit_rate == 75.0 and info.version == "7.2.4"
    assert [(d.db, d.keys, d.expires) for d in info.keyspace] == [("db0", 12, 3), ("db3", 1, 0)]
    assert parse_info({}).hit_rate is None


def test_cache_page_follows_a_redis_that_stops_and_comes_back(
    client, operator, settings, monkeypatch, caplog
):
    """A Redis this test starts, stops and starts again: version, then "unreachable" on a 200,
    then the version again; the outage and its end logged once each."""
    from support_outages import RedisServer, redis_binary

    from watchfloor import degrade

    server = RedisServer(redis_binary())
    server.start()
    settings.REDIS_URL = settings.CELERY_BROKER_URL = server.url
    monkeypatch.setattr(degrade, "RETRY_SECONDS", 0)  # try again at the next view, no wait
    degrade.reset()
    client.force_login(operator)
    try:
        first = json.loads(client.get("/platform/cache/", {"format": "json"}).content)["cache"]
        version = first["redis"]["version"]
        assert first["reachable"] and version

        server.stop()
        for _ in range(2):
            response = client.get("/platform/cache/")
            assert response.status_code == 200
            assert "Redis unreachable" in response.content.decode()

        server.start()
        back = client.get("/platform/cache/").content.decode()
        assert f"Redis {version}" in back and "Redis unreachable" not in back
        lines = [r.getMessage() for r in caplog.records if r.name == "watchfloor.outage"]
        assert len([m for m in lines if "unavailable" in m]) == 1
        assert len([m for m in lines if "available again" in m]) == 1
    finally:
        server.stop()
        degrade.reset()
