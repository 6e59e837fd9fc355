"""Shared fixtures: two tenants with clients, sites and one user per built-in role.

The suite runs on SQLite by default and on PostgreSQL + Redis when DATABASE_URL / REDIS_URL are
set. WATCHFLOOR_REQUIRE_POSTGRES=1 (set by .ci/run) turns the skip of PostgreSQL-only tests into
a failure, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _authorizations_read_per_request(settings):
    """Each test clears the cache (below), and with it the authorization generation: the
    process's subscription (access.authz_watch) would follow it only at the next announcement.
    tests/access/test_authz_watch.py runs watches of its own."""
    settings.AUTHZ_PUSH = False


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from watchfloor import circuit, ratelimit

    cache.clear()
    ratelimit.reset()  # what this process counted and has not added to the cleared cache
    circuit.forget_readings()  # closed readings of the cleared cache
    yield


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres"):
            item.fixturenames.append("_require_postgres")
        db = item.get_closest_marker("django_db")
        if db and db.kwargs.get("transaction") and not db.kwargs.get("serialized_rollback"):
            # a transactional test flushes the tables, and with them the roles (groups) and
            # capabilities the migrations made: every later test then fails in setup
            raise pytest.UsageError(
                f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True"
            )


@pytest.fixture
def _require_postgres(db):
    if connection.vendor == "postgresql":
        return
    if os.environ.get("WATCHFLOOR_REQUIRE_POSTGRES") == "1":
        pytest.fail("WATCHFLOOR_REQUIRE_POSTGRES=1 but the suite is not running on PostgreSQL")
    pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... to run it")


class Estate:
    """A tenant with two clients (two sites each) and one user per role."""

    def __init__(self, slug: str):
        from django.contrib.auth.models import Group

        from watchfloor.access.services import assign_scope
        from watchfloor.tenancy.models import Client, Site, Tenant, User

        self.tenant = Tenant.objects.create(slug=slug, name=f"Tenant {slug}")
        self.clients = [
            Client.objects.create(tenant=self.tenant, code=f"{slug}-c{i}", name=f"Client {i}")
            for i in (1, 2)
        ]
        self.sites = [
            Site.objects.create(
                tenant=self.tenant,
                client=client,
                code=f"{client.code}-s{j}",
                name=f"Site {j} of {client.name}",
                city=["Austin", "Denver"][j - 1],
                state=["TX", "CO"][j - 1],
                latitude=30.0 + j,
                longitude=-97.0 - j,
            )
            for client in self.clients
            for j in (1, 2)
        ]
        self.users = {}
        for role in ("viewer", "operator", "supervisor", "executive", "admin"):
            user = User.objects.create_user(
                username=f"{slug}-{role}",
                password="pw-" + role,
                tenant=self.tenant,
                email=f"{role}@{slug}.example.com",
                first_name=role.capitalize(),
                last_name="Person",
            )
            user.groups.add(Group.objects.get(name=role))
            self.users[role] = user
        # operator: first client; viewer: first site of the second client
        assign_scope(self.users["operator"], clients=[self.clients[0]])
        assign_scope(self.users["viewer"], sites=[self.sites[2]])

    def user(self, role: str):
        return self.users[role]


@pytest.fixture
def estate(db) -> Estate:
    return Estate("acme")


@pytest.fixture
def other_estate(db) -> Estate:
    return Estate("globex")


@pytest.fixture
def token_for():
    """Issue an API token for a user; returns the Authorization header value."""
    from watchfloor.access.services import create_api_token

    def issue(user) -> str:
        return "Bearer " + create_api_token(user, name="test").plain

    return issue


@pytest.fixture
def api(client, token_for):
    """A tiny JSON client: api(user).get(path) / .post(path, json)."""
    import json as _json

    class _Api:
        def __init__(self, user=None, raw_auth=None):
            self.headers = {}
            if user is not None:
                self.headers["HTTP_AUTHORIZATION"] = token_for(user)
            if raw_auth is not None:
                self.headers["HTTP_AUTHORIZATION"] = raw_auth

        def _send(self, method, path, payload=None, raw=None):
            body = raw if raw is not None else (_json.dumps(payload) if payload is not None else "")
            return getattr(client, method)(
                path, data=body, content_type="application/json", **self.headers
            )

        def get(self, path, **params):
            return client.get(path, params, **self.headers)

        def post(self, path, payload=None, raw=None):
            return self._send("post", path, payload, raw)

        def patch(self, path, payload=None, raw=None):
            return self._send("patch", path, payload, raw)

        def put(self, path, payload=None, raw=None):
            return self._send("put", path, payload, raw)

        def delete(self, path):
            return self._send("delete", path)

    return _Api


@pytest.fixture(autouse=True)
def _clear_process_caches():
    """The in-process TTL caches (keys, codes, windows) start empty in every test."""
    from watchfloor.ttl import clear_all

    clear_all()
    yield
    clear_all()


@pytest.fixture(autouse=True)
def _fold_after_ingestion(settings, monkeypatch):
    """Ingestion answers once a batch is staged (alerts.staging); the fold follows in a worker.
    In tests no worker thread runs in this process (it would race the test's transaction):
    after each test-client request that staged a batch, `drain_pending()` folds it, through
    the same fold the worker runs, so a test can POST and then read. Servers the tests start
    as processes run their own fold workers."""
    from django.test import client as test_client

    from watchfloor.alerts import staging

    settings.ALERT_FOLD_IN_PROCESS = False
    # no worker folds between requests here, so a batch a test staged directly would hold the
    # next request (flow control, staging.admit) until it timed out: its own tests set the bound
    settings.ALERT_STAGING_HOLD_LAG = 3600.0
    staging.forget_lag()
    # the pipeline's tests check back-pressure at each batch; its own test sets the recheck
    settings.ALERT_BACKPRESSURE_RECHECK = 0.0
    original = test_client.Client.request

    def request(self, **request):
        before = staging.staged_count()
        response = original(self, **request)
        if staging.staged_count() != before:
            staging.drain_pending()
        return response

    monkeypatch.setattr(test_client.Client, "request", request)
    yield
    staging.forget_lag()
    staging.close_staging_connection()  # the test database is dropped with no session left
