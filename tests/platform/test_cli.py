"""The `watchfloor` command line: demo, token, integration-key, serve, and the console script."""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zoneinfo
from dataclasses import astuple
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from watchfloor.access.models import ApiToken, ClientAssignment, IntegrationKey, SiteAssignment
from watchfloor.access.services import authenticate_integration_key
from watchfloor.audit.models import AuditLog
from watchfloor.cli import main, translate
from watchfloor.demo import data as demo_data
from watchfloor.tenancy.models import Client, Site, Tenant, User

ACCOUNT_LINE = re.compile(r"^  (\w+)\s+(admin|supervisor|executive|operator|viewer)\s+(\S+)\s+")


def passwords_in(output: str) -> dict[str, str]:
    return {m[1]: m[3] for line in output.splitlines() if (m := ACCOUNT_LINE.match(line))}


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


# --- demo ---------------------------------------------------------------------------------------


def test_demo_creates_the_estate_and_prints_the_passwords(db, home, run, client):
    out = run("demo", "--no-serve")

    assert home.is_dir()
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.name == "Demo Security Services"
    assert Client.objects.for_tenant(tenant).count() == 20
    assert Site.objects.for_tenant(tenant).count() == 200
    assert Site.objects.values("city", "state").distinct().count() == 40
    assert "clients        20/20" in out and "sites         200/200" in out

    for role in demo_data.LOGIN_ROLES:
        user = User.objects.get(username=role)
        assert user.tenant == tenant
        assert list(user.groups.values_list("name", flat=True)) == [role]
    admin = User.objects.get(username="admin")
    assert not admin.is_staff and not admin.is_superuser  # a tenant admin (#10 bug 12)
    assert ClientAssignment.objects.filter(user__username="operator").count() == 3
    assert SiteAssignment.objects.filter(user__username="viewer").count() == 10
    assert not Client.objects.filter(owner__isnull=True).exists()
    officers = User.objects.filter(sites_in_charge__isnull=False).distinct()
    assert officers.count() >= 40
    assert {g for o in officers for g in o.groups.values_list("name", flat=True)} == {"viewer"}
    assert all(o.phone.startswith("+1-") and "@" in o.email for o in officers)
    assert not any(o.has_usable_password() for o in officers)

    passwords = passwords_in(out)
    assert set(passwords) == set(demo_data.LOGIN_ROLES)
    audit_text = json.dumps([row.details for row in AuditLog.objects.all()])
    for username, password in passwords.items():
        user = User.objects.get(username=username)
        assert password not in user.password and user.check_password(password)
        assert password not in audit_text

    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content and b"csrfmiddlewaretoken" in page.content
    response = client.post("/login/", {"username": "admin", "password": passwords["admin"]})
    assert response.status_code == 302 and response["Location"] == "/"
    estate = client.get("/estate/")
    assert estate.status_code == 200
    assert "Acme Logistics" in estate.content.decode()
    assert estate.content.decode().count('<section class="card client"') == 20


def test_second_demo_run_adds_nothing_and_prints_no_password(db, home, run):
    first = run("demo", "--no-serve")
    counts = (User.objects.count(), Client.objects.count(), Site.objects.count())

    second = run("demo", "--no-serve")

    assert (User.objects.count(), Client.objects.count(), Site.objects.count()) == counts
    assert "already there" in second and "watchfloor changepassword NAME" in second
    assert passwords_in(second) == {}
    assert not any(password in second for password in passwords_in(first).values())


def test_the_same_seed_gives_the_same_data(db, home, run):
    assert demo_data.build_plan(42) == demo_data.build_plan(42)
    assert demo_data.build_plan(7) != demo_data.build_plan(42)

    run("demo", "--no-serve", "--seed", "7")

    plan = demo_data.build_plan(7)
    stored_sites = sorted(
        (
            s.code,
            s.name,
            s.client.code,
            s.city,
            s.state,
            s.latitude,
            s.longitude,
            s.timezone,
            s.officer_in_charge.username,
        )
        for s in Site.objects.select_related("client", "officer_in_charge")
    )
    assert stored_sites == sorted(astuple(s) for s in plan.sites)
    stored_clients = sorted(Client.objects.values_list("code", "name", "owner__username"))
    assert stored_clients == sorted(astuple(c) for c in plan.clients)
    stored_people = sorted(
        User.objects.values_list("username", "first_name", "last_name", "email", "phone")
    )
    assert stored_people == sorted(
        (p.username, p.first_name, p.last_name, p.email, p.phone) for p in plan.people
    )


def _km(lat1, lon1, lat2, lon2) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 6371 * 2 * math.asin(math.sqrt(h))


def test_demo_plan_is_geographically_and_structurally_sound():
    plan = demo_data.build_plan()
    cities = {c.name: c for c in demo_data.CITIES}
    assert len(cities) == 40 and {s.city for s in plan.sites} == set(cities)
    for site in plan.sites:
        city = cities[site.city]
        assert site.state == city.state and site.timezone == city.timezone
        assert _km(site.latitude, site.longitude, city.latitude, city.longitude) <= 6.1
        zoneinfo.ZoneInfo(site.timezone)  # a real IANA zone
        assert site.code.startswith(f"{site.client}-{city.code}-")
    assert len({s.code for s in plan.sites}) == 200
    assert len({(s.client, s.name) for s in plan.sites}) == 200
    usernames = [p.username for p in plan.people]
    assert len(usernames) == len(set(usernames))
    people = {p.username: p for p in plan.people}
    for site in plan.sites:
        officer = people[site.officer]
        assert officer.role == "viewer" and site.code in officer.sites
    assert {people[c.owner].role for c in plan.clients} == {"operator"}


def test_demo_refuses_to_take_over_existing_usernames(db, home, run):
    User.objects.create_user("admin", password="x")
    with pytest.raises(CommandError, match="admin"):
        run("demo", "--no-serve")
    assert not Tenant.objects.filter(slug="demo").exists()
    assert not Site.objects.exists()


def test_demo_serves_on_loopback_8000_unless_told_otherwise(db, home, run, uvicorn_calls):
    run("demo")
    run("demo", "--port", "8123")
    assert [(app, kw["host"], kw["port"]) for app, kw in uvicorn_calls] == [
        ("watchfloor.asgi:application", "127.0.0.1", 8000),
        ("watchfloor.asgi:application", "127.0.0.1", 8123),
    ]


# --- tokens -------------------------------------------------------------------------------------


def test_token_create_prints_the_token_alone_last_and_it_authenticates(estate, run, client):
    out = run("token", "create", "--user", "acme-operator", "--name", "ci")

    token = last_line(out)
    assert re.fullmatch(r"wft_[0-9a-f]{8}_[\w-]+", token)
    assert token not in out[: -len(token) - 1]
    stored = ApiToken.objects.get()
    assert stored.name == "ci" and stored.user == estate.user("operator")
    assert stored.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.expires_at is None
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["username"] == "acme-operator"

    listing = run("token", "list", "--user", "acme-operator")
    assert stored.prefix in listing and token not in listing
    run("token", "revoke", "--id", str(stored.id))
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert "revoked" in run("token", "list", "--user", "acme-operator")


def test_token_expiry_in_days(estate, run):
    run("token", "create", "--user", "acme-admin", "--expires-days", "7")
    expires = ApiToken.objects.get().expires_at
    assert abs(expires - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody"], "No user named 'nobody'"),
        (["create", "--user", "tenantless"], "belongs to no tenant"),
        (["create", "--user", "acme-admin", "--expires-days", "0"], "at least 1"),
        (["revoke", "--id", "999999"], "No API token with id 999999"),
    ],
)
def test_token_errors_are_clear(estate, run, args, message):
    User.objects.create_user("tenantless", password="x")
    with pytest.raises(CommandError, match=message):
        run("token", *args)
    assert not ApiToken.objects.exists()


# --- integration keys ---------------------------------------------------------------------------


def test_integration_key_create_list_revoke(estate, run):
    site = estate.sites[0]
    out = run(
        "integration_key", "create", "--tenant", "acme", "--source", "alertmanager",
        "--client", site.client.code, "--site", site.code, "--name", "prometheus-eu",
    )  # fmt: skip

    key = last_line(out)
    assert key.startswith("wfi_")
    assert key not in out[: -len(key) - 1]
    stored = IntegrationKey.objects.get()
    assert stored.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (stored.tenant, stored.source, stored.name) == (
        estate.tenant,
        "alertmanager",
        "prometheus-eu",
    )
    assert (stored.default_client, stored.default_site) == (site.client, site)
    assert authenticate_integration_key(key, source="alertmanager") == stored

    listing = run("integration_key", "list", "--tenant", "acme")
    assert stored.prefix in listing and "active" in listing
    assert key not in listing and stored.secret_hash not in listing
    run("integration_key", "revoke", "--id", str(stored.id))
    assert authenticate_integration_key(key) is None
    assert "revoked" in run("integration_key", "list", "--tenant", "acme")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--source", "native"], "No tenant with slug 'nope'"),
        (["--tenant", "acme", "--source", "smoke-signals"], "Unknown source 'smoke-signals'"),
        (["--tenant", "acme", "--source", "native", "--client", "zzz"], "No client 'zzz'"),
        (["--tenant", "acme", "--source", "native", "--site", "zzz"], "No site 'zzz'"),
        (["--tenant", "acme", "--source", "native", "--client", "globex-c1"], "No client"),
        (
            [
                "--tenant",
                "acme",
                "--source",
                "native",
                "--client",
                "acme-c1",
                "--site",
                "acme-c2-s1",
            ],
            "does not belong to client acme-c1",
        ),
    ],
)
def test_integration_key_errors_are_clear(estate, other_estate, run, args, message):
    with pytest.raises(CommandError, match=message):
        run("integration_key", "create", *args)
    assert not IntegrationKey.objects.exists()


# --- the console script -------------------------------------------------------------------------


def test_hyphenated_words_name_the_commands():
    assert translate(["integration-key", "create", "--client", "a-b"]) == [
        "integration_key",
        "create",
        "--client",
        "a-b",
    ]
    assert translate(["help", "integration-key"]) == ["help", "integration_key"]
    assert translate(["--version"]) == ["--version"]


def test_main_runs_hyphenated_commands_and_exits_non_zero_on_errors(estate, capsys, monkeypatch):
    # run_from_argv closes the connections when it ends: keep the test's transaction open
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    main(["integration-key", "list", "--tenant", "acme"])
    assert "PREFIX" in capsys.readouterr().out

    with pytest.raises(SystemExit) as exit_info:
        main(["integration-key", "create", "--tenant", "nope", "--source", "native"])
    assert exit_info.value.code == 1
    assert "No tenant with slug 'nope'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        try:
            _get(port, "/api/health/")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the server did not answer in time")


def test_console_script_runs_the_demo_then_serves_and_stops_on_ctrl_c(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "WATCHFLOOR_DEMO"}
    }
    env["WATCHFLOOR_HOME"] = str(tmp_path / "home")
    command = [sys.executable, "-m", "watchfloor.cli", "demo"]

    first = subprocess.run(
        [*command, "--no-serve"], env=env, capture_output=True, text=True, timeout=300
    )

    assert first.returncode == 0, first.stderr
    assert re.search(r"^  admin\s+admin\s+\S{16}\s+", first.stdout, re.M), first.stdout
    assert "mode      demo" in first.stdout  # WATCHFLOOR_DEMO was set before the settings
    assert (tmp_path / "home" / "watchfloor.sqlite3").exists()

    port = _free_port()
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(port, server)
        login = _get(port, "/login/")
        assert login.status == 200
        assert "secure" not in (login.getheader("Set-Cookie") or "").lower()  # demo: plain http
        assert _get(port, "/static/watchfloor/css/app.css").status == 200
        assert _get(port, "/").status == 302
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "already there" in output and "PASSWORD" not in output


# --- serve --------------------------------------------------------------------------------------


def test_serve_refuses_to_start_with_pending_migrations(db, run, uvicorn_calls, monkeypatch):
    monkeypatch.setattr(
        "watchfloor.platform.management.commands.serve.pending_migrations",
        lambda: ["alerts.0001_initial"],
    )
    with pytest.raises(CommandError, match="watchfloor migrate"):
        run("serve", skip_checks=False)
    assert uvicorn_calls == []

    run("serve", skip_checks=True)
    assert len(uvicorn_calls) == 1


def test_serve_passes_its_options_to_uvicorn(db, run, uvicorn_calls):
    run("serve", skip_checks=False)
    run(
        "serve", "--host", "10.1.2.3", "--port", "9000", "--workers", "3",
        "--forwarded-allow-ips", "10.0.0.1", skip_checks=False,
    )  # fmt: skip
    (app, default), (_, custom) = uvicorn_calls
    assert app == "watchfloor.asgi:application"
    assert (default["host"], default["port"], default["workers"]) == ("127.0.0.1", 8000, 1)
    assert default["proxy_headers"] is False
    assert (custom["host"], custom["port"], custom["workers"]) == ("10.1.2.3", 9000, 3)
    assert custom["proxy_headers"] is True and custom["forwarded_allow_ips"] == "10.0.0.1"


def test_tenant_create_makes_an_admin_whose_password_is_the_last_line(db, client):
    from watchfloor.access.capabilities import Capability
    from watchfloor.access.scope import capabilities_of

    out = StringIO()
    call_command(
        "tenant", "create", "--slug", "initech", "--name", "Initech", "--admin", "ops1", stdout=out
    )
    password = out.getvalue().strip().splitlines()[-1]
    user = User.objects.get(username="ops1")
    assert user.tenant == Tenant.objects.get(slug="initech")
    assert user.check_password(password)
    assert set(capabilities_of(user)) == set(Capability)
    assert AuditLog.objects.filter(tenant=user.tenant, details__change="tenant.create").exists()
    assert client.login(username="ops1", password=password)


def test_tenant_create_refuses_a_duplicate_slug_and_writes_nothing(db):
    call_command("tenant", "create", "--slug", "initech", "--name", "Initech", stdout=StringIO())
    with pytest.raises(CommandError, match="slug"):
        call_command(
            "tenant",
            "create",
            "--slug",
            "initech",
            "--name",
            "Again",
            "--admin",
            "ops2",
            stdout=StringIO(),
        )
    assert Tenant.objects.filter(slug="initech").count() == 1
    assert not User.objects.filter(username="ops2").exists()


def test_demo_sends_alerts_through_the_pipeline_and_prints_working_keys(db, home, run, client):
    from watchfloor.alerts.models import Alert, Status
    from watchfloor.maintenance.models import MaintenanceWindow

    out = run("demo", "--no-serve")

    tenant = Tenant.objects.get(slug="demo")
    alerts = Alert.objects.for_tenant(tenant)
    assert alerts.filter(status=Status.NEW).count() > 50
    assert alerts.filter(status=Status.SUPPRESSED).exists()
    assert alerts.filter(status=Status.RESOLVED).exists()
    assert alerts.filter(status=Status.ACKNOWLEDGED).exists()
    assert alerts.filter(occurrence_count__gt=1).exists()
    assert alerts.filter(correlation_reason="storm").count() >= 3
    window = MaintenanceWindow.objects.get(tenant=tenant)
    assert set(alerts.filter(status=Status.SUPPRESSED).values_list("client_id", flat=True)) == {
        window.client_id
    }
    native_key = re.search(r"^\s+native\s+(wfi_\S+)$", out, re.M).group(1)
    before = alerts.count()
    response = client.post(
        "/api/v1/alerts",
        data=json.dumps({"type": "DEVICE_OFFLINE", "severity": "HIGH", "title": "Camera 3"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {native_key}",
    )
    assert response.status_code == 202, response.content
    assert alerts.count() == before + 1


def test_the_server_log_never_shows_a_key_sent_in_the_path():
    import logging
    import logging.config

    from watchfloor.platform.server import RedactSecretsFilter, log_config

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/api/v2/alerts/wfi_abcd1234_S3cr3t-x_y", "1.1", 200),
        None,
    )
    RedactSecretsFilter().filter(record)
    line = record.getMessage()
    assert "S3cr3t" not in line and "abcd1234" not in line
    assert "/api/v2/alerts/wfi_[redacted]" in line
    config = log_config()
    assert all("redact_secrets" in h["filters"] for h in config["handlers"].values())
    logging.config.dictConfig(config)  # the configuration uvicorn is given is valid


def test_serve_wsgi_runs_gunicorn_with_gevent_workers_and_no_access_log(db, run, monkeypatch):
    from watchfloor.platform import server

    calls = []
    monkeypatch.setattr(
        "watchfloor.platform.management.commands.serve.run_gunicorn",
        lambda **kw: calls.append(kw),
    )
    run("serve", "--wsgi", "--workers", "4", "--port", "9001", "--proxy-headers", skip_checks=False)
    [kw] = calls
    assert (kw["port"], kw["workers"], kw["forwarded_allow_ips"]) == (9001, 4, "127.0.0.1")
    options = server.gunicorn_options(**kw)
    assert options["bind"] == "127.0.0.1:9001" and options["worker_class"] == "gevent"
    assert options["accesslog"] is None
    assert server.gunicorn_options(host="::1", port=80, workers=1)["bind"] == "[::1]:80"


def test_serve_with_redis_runs_gunicorn_for_http_and_uvicorn_for_websockets(
    db, run, uvicorn_calls, monkeypatch, settings
):
    from watchfloor import cli

    calls = []
    monkeypatch.setattr(
        "watchfloor.platform.management.commands.serve.run_split", lambda **kw: calls.append(kw)
    )
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    run("serve", "--workers", "3", "--port", "9002", skip_checks=False)
    [kw] = calls
    assert (kw["port"], kw["workers"], kw["forwarded_allow_ips"]) == (9002, 3, None)
    assert uvicorn_calls == []

    run("serve", "--asgi", skip_checks=False)  # uvicorn alone, on request
    run("serve", "--uds", "/run/wf/x.sock", skip_checks=False)  # the split server's WS process
    (_, asgi), (_, ws) = uvicorn_calls
    assert asgi.get("uds") is None and asgi["proxy_headers"] is False
    # only its own workers reach the socket, and they say who the client is
    assert ws["uds"] == "/run/wf/x.sock" and ws["proxy_headers"] is True
    assert ws["forwarded_allow_ips"] == "*"
    with pytest.raises(CommandError, match="exclude"):
        run("serve", "--asgi", "--wsgi", skip_checks=False)
    assert len(calls) == 1

    # the console script patches for gevent before Django loads by the same rule
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert cli._serves_from_gunicorn([]) and cli._serves_from_gunicorn(["--wsgi"])
    assert not cli._serves_from_gunicorn(["--asgi"])
    assert not cli._serves_from_gunicorn(["--uds", "/run/wf/x.sock"])
    monkeypatch.setenv("REDIS_URL", "")
    assert not cli._serves_from_gunicorn([]) and cli._serves_from_gunicorn(["--wsgi"])


def test_the_split_servers_websocket_process_stands_by_when_a_fold_process_runs(
    db, run, uvicorn_calls, monkeypatch
):
    """`run_split` tells its WebSocket process that a fold process runs beside it: that
    process's drainer then stands by (alerts.staging.stand_by); told nothing, it folds."""
    from watchfloor.alerts import staging
    from watchfloor.platform.server import FOLD_ELSEWHERE_ENV

    monkeypatch.setattr(staging, "_standby", False)
    monkeypatch.delenv(FOLD_ELSEWHERE_ENV, raising=False)
    run("serve", "--uds", "/run/wf/x.sock", skip_checks=False)
    assert staging._standby is False
    monkeypatch.setenv(FOLD_ELSEWHERE_ENV, "1")
    run("serve", "--asgi", skip_checks=False)  # not the split server's process: it folds
    assert staging._standby is False
    run("serve", "--uds", "/run/wf/x.sock", skip_checks=False)
    assert staging._standby is True
    assert len(uvicorn_calls) == 3


class _FakePopen:
    """subprocess.Popen for run_split: records each child's command and environment; every
    child has exited (0) when asked."""

    started: list[tuple[list[str], dict]] = []

    def __init__(self, command, env=None, preexec_fn=None):
        self.started.append((command, env))
        self.returncode = 0

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


def _split_children(monkeypatch, tmp_path) -> list[tuple[list[str], dict]]:
    from watchfloor.platform import server

    _FakePopen.started = []
    monkeypatch.setattr(server.subprocess, "Popen", _FakePopen)
    monkeypatch.setattr(server.WebSocketProcess, "wait_listening", lambda self: None)
    monkeypatch.setattr(server, "run_gunicorn", lambda **kw: None)
    monkeypatch.setattr(server.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    server.run_split(host="127.0.0.1", port=0, workers=1)
    return _FakePopen.started


def test_the_split_server_folds_in_a_process_of_its_own(monkeypatch, settings, tmp_path):
    """By default `serve` with Redis starts `watchfloor pipeline` beside its WebSocket process
    and tells that process to stand by; off (WATCHFLOOR_FOLD_PROCESS, or a node that does not
    fold at all) the WebSocket process folds as before and no fold process starts."""
    from watchfloor.platform.server import FOLD_ELSEWHERE_ENV

    settings.ALERT_FOLD_PROCESS = True
    settings.ALERT_FOLD_IN_PROCESS = True
    (fold_command, fold_env), (ws_command, ws_env) = _split_children(monkeypatch, tmp_path)
    assert fold_command == [sys.executable, "-m", "watchfloor.cli", "pipeline", "--skip-checks"]
    assert FOLD_ELSEWHERE_ENV not in fold_env
    assert "--uds" in ws_command and ws_env[FOLD_ELSEWHERE_ENV] == "1"

    for process, in_process in ((False, True), (True, False)):
        settings.ALERT_FOLD_PROCESS, settings.ALERT_FOLD_IN_PROCESS = process, in_process
        [(ws_command, ws_env)] = _split_children(monkeypatch, tmp_path)
        assert "--uds" in ws_command and FOLD_ELSEWHERE_ENV not in ws_env


def test_pipeline_warms_up_before_its_drainers_start(db, run, monkeypatch):
    """Its first fold would import the pipeline's lazy imports on the drainer's thread."""
    from watchfloor.alerts.management.commands import pipeline

    calls = []
    monkeypatch.setattr(pipeline, "warm_up", lambda: calls.append("warm_up"))
    monkeypatch.setattr(pipeline, "tune_gc", lambda: calls.append("tune_gc"))

    class Worker:
        def __init__(self, name):
            calls.append(name)

        def start(self):
            return self

        def stop(self):
            calls.append("stop")

    monkeypatch.setattr(pipeline, "FoldWorker", Worker)
    monkeypatch.setattr(pipeline.threading.Event, "wait", lambda self, timeout=None: True)
    monkeypatch.setattr(pipeline.signal, "signal", lambda *a: None)
    run("pipeline", "--drainers", "2")
    assert calls == ["warm_up", "tune_gc", "fold-1", "fold-2", "stop", "stop"]


def test_the_websocket_splice_replays_the_upgrade_and_says_who_the_client_is():
    from watchfloor.platform.ws_splice import is_websocket_upgrade, request_head

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/ws/dashboard/",
        "RAW_URI": "/ws/dashboard/?v=1",
        "REMOTE_ADDR": "192.0.2.7",
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "noc.example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_ORIGIN": "https://noc.example.com",
        "HTTP_X_FORWARDED_FOR": "10.9.9.9",  # a client's claim
    }
    assert is_websocket_upgrade(environ)
    assert not is_websocket_upgrade({**environ, "PATH_INFO": "/api/v1/alerts"})
    assert not is_websocket_upgrade({**environ, "HTTP_UPGRADE": "h2c"})
    head = request_head(environ, trust_forwarded=False).decode("latin-1")
    lines = head.split("\r\n")
    assert lines[0] == "GET /ws/dashboard/?v=1 HTTP/1.1" and head.endswith("\r\n\r\n")
    assert "Host: noc.example.com" in lines and "Origin: https://noc.example.com" in lines
    assert "Sec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in lines
    assert "X-Forwarded-For: 192.0.2.7" in lines and "X-Forwarded-Proto: https" in lines
    assert "10.9.9.9" not in head  # not trusted unless gunicorn trusts the proxy
    trusted = request_head(environ, trust_forwarded=True).decode("latin-1")
    assert "X-Forwarded-For: 10.9.9.9" in trusted.split("\r\n")


def test_serve_wsgi_answers_concurrent_requests(tmp_path, django_db_setup):
    """A real gunicorn process answers many requests at once, on this run's database engine.

    On PostgreSQL (the suite's test database, already migrated) this catches connections opened
    before the fork and shared by the workers: they hang "idle in transaction".
    """
    import concurrent.futures

    from django.db import connection

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "WATCHFLOOR_DEMO"}
    }
    env["WATCHFLOOR_HOME"] = str(tmp_path / "home")
    cli = [sys.executable, "-m", "watchfloor.cli"]
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        subprocess.run([*cli, "migrate", "-v", "0"], env=env, check=True, timeout=300)
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--wsgi", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(port, server)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: _get(port, "/api/health/").status, range(64)))
        assert statuses == [200] * 64
        assert _get(port, "/login/").status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output


def test_serve_never_patches_a_process_where_django_is_loaded(monkeypatch):
    """`main(["serve"])` from a loaded process (a test, a program) with Redis configured would
    gevent-patch it under its open connections; it leaves such a process alone."""
    import threading

    from watchfloor import cli

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    monkeypatch.setattr("django.core.management.execute_from_command_line", lambda argv: None)
    monkeypatch.setattr(cli, "_prepare_metrics", lambda: None)
    before = threading.Thread
    cli.main(["serve"])
    assert threading.Thread is before  # not swapped for gevent's
    from gevent import monkey

    assert not monkey.is_module_patched("threading")
