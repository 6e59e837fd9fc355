"""The demo's traffic simulator: real HTTP through the ingestion API, credentials, the loop, and
that only `watchfloor demo` (not `serve`, not `--no-simulate`) runs it."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import pytest

from watchfloor.access.models import ApiToken, IntegrationKey
from watchfloor.access.services import authenticate_api_token, authenticate_integration_key
from watchfloor.alerts.models import Alert, Status, SuppressionReason
from watchfloor.alerts.staging import drain_pending
from watchfloor.audit.models import Action, AuditLog
from watchfloor.demo import simulator as demo_simulator
from watchfloor.demo.simulator import (
    NAME,
    Schedule,
    Simulator,
    issue_credentials,
    load_sites,
    urllib_http,
    wait_for_server,
)
from watchfloor.maintenance.models import MaintenanceWindow
from watchfloor.tenancy.models import Site, Tenant

# everything scheduled early, so a short sequence of steps shows every kind of traffic
QUICK = Schedule(
    open_target=4,
    first_window=6,
    window_every=10_000,
    window_minutes=(5, 5),
    first_burst=12,
    burst_every=(10_000, 10_000),
    burst_sites=(4, 6),
    storm_clears_after=(20, 20),
    first_feed=1e9,  # the field-record feeds have their own test
)


def grow(estate, n: int = 6) -> None:
    """More sites for the first client, so a storm can cover several."""
    for i in range(n):
        Site.objects.create(
            tenant=estate.tenant,
            client=estate.clients[0],
            code=f"{estate.clients[0].code}-x{i}",
            name=f"Extra {i}",
            city="Austin",
            state="TX",
        )


def step(sim: Simulator):
    """One step, then the fold a node's worker runs after it (live_server runs none: a 2xx
    means staged, drain_pending() folds it here)."""
    report = sim.step()
    drain_pending()
    return report


def simulator(estate, http, *, seed=3, schedule=QUICK) -> Simulator:
    credentials = issue_credentials(estate.tenant, estate.user("admin"))
    return Simulator(
        http=http,
        credentials=credentials,
        sites=load_sites(estate.tenant),
        seed=seed,
        schedule=schedule,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_steps_create_repeat_resolve_storm_and_suppress_through_the_http_api(
    estate, live_server, caplog
):
    grow(estate)
    sim = simulator(estate, urllib_http(live_server.url))
    assert wait_for_server(sim.http, threading.Event())

    with caplog.at_level(logging.DEBUG):
        reports = [step(sim) for _ in range(60)]

    actions = Counter(r.action for r in reports)
    assert actions["error"] == 0, [r for r in reports if r.action == "error"]
    for action in ("new", "repeat", "resolve", "burst", "storm_clear", "maintenance"):
        assert actions[action] >= 1, actions
    assert {r.source for r in reports} == {"native", "alertmanager", "pagerduty", "api"}

    alerts = Alert.objects.filter(tenant=estate.tenant)
    # every source reached the pipeline through its own endpoint
    assert set(alerts.values_list("source", flat=True)) == {"native", "alertmanager", "pagerduty"}
    assert alerts.filter(occurrence_count__gt=1).exists()  # repeats counted on one row
    assert alerts.filter(status=Status.RESOLVED).exists()
    # the storm: one type across several sites of one client, fired then resolved together
    storm = alerts.filter(type="NodeDown")
    assert storm.count() >= 4 and storm.values("client").distinct().count() == 1
    assert not storm.exclude(status=Status.RESOLVED).exists()
    # the window was made through the API by the admin's token and suppressed its site's alerts
    window = MaintenanceWindow.objects.get(tenant=estate.tenant)
    assert window.created_by == estate.user("admin") and window.site_id is not None
    suppressed = alerts.filter(
        status=Status.SUPPRESSED, suppression_reason=SuppressionReason.MAINTENANCE
    )
    assert suppressed.exists() and set(suppressed.values_list("site", flat=True)) == {
        window.site_id
    }
    assert AuditLog.objects.filter(action=Action.MAINTENANCE_CREATE).exists()
    # the simulator's own tally agrees with the pipeline's answers
    assert sim.totals["created"] > 0 and sim.totals["deduplicated"] > 0
    assert sim.totals["resolved"] > 0 and sim.totals["suppressed"] > 0
    assert sim.totals["windows"] == 1 and sim.totals["bursts"] == 1
    # nothing it logged, and no request line, carries a secret
    assert "wfi_" not in caplog.text and "wft_" not in caplog.text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_field_records_go_through_the_operations_feeds(estate, live_server, caplog):
    from watchfloor.operations.models import (
        AttendanceRecord,
        Device,
        GeofenceEvent,
        Ticket,
        WorkOrder,
    )

    sim = simulator(
        estate,
        urllib_http(live_server.url),
        seed=4,
        schedule=Schedule(first_window=1e9, first_burst=1e9, first_feed=0, feed_every=0),
    )
    with caplog.at_level(logging.DEBUG):
        reports = [sim.step() for _ in range(10)]
    assert [r.action for r in reports] == ["feed"] * 10, reports
    assert {r.source for r in reports} == {"operations"}
    for model in (Ticket, Device, AttendanceRecord, WorkOrder, GeofenceEvent):
        assert model.objects.filter(tenant=estate.tenant).exists(), model
    # the second round of tickets resolved some of the first; devices reported again
    assert Ticket.objects.filter(tenant=estate.tenant, status="RESOLVED").exists()
    assert AttendanceRecord.objects.filter(status__in=["LATE", "MISSING"]).exists()
    assert sim.totals["feed_records"] == sum(r.counts["feed_records"] for r in reports)
    assert "wfi_" not in caplog.text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_open_count_stays_level(estate, live_server):
    sim = simulator(
        estate,
        urllib_http(live_server.url),
        seed=11,
        schedule=Schedule(open_target=5, first_window=1e9, first_burst=1e9),
    )
    open_counts = []
    for _ in range(80):
        assert step(sim).action != "error"
        open_counts.append(len(sim.open))
    assert max(open_counts[40:]) <= 15  # resolves keep pace with new alerts
    assert Alert.objects.filter(tenant=estate.tenant, status=Status.RESOLVED).count() >= 10


def test_the_same_seed_gives_the_same_traffic(estate):
    sent = {1: [], 2: []}

    def recorder(run):
        def http(method, path, body, headers):
            sent[run].append((method, path))
            if path == demo_simulator.WINDOWS:
                return 201, {}
            if path == demo_simulator.ALERTMANAGER:
                return 200, {"status": "success", "created": 1}
            return 202, {"created": 1}

        return http

    credentials = demo_simulator.Credentials("a", "b", "c", "d")
    sites = load_sites(estate.tenant)
    for run in (1, 2):
        sim = Simulator(
            http=recorder(run), credentials=credentials, sites=sites, seed=5, schedule=QUICK
        )
        for _ in range(40):
            sim.step()
    assert sent[1] == sent[2] and len(sent[1]) == 40
    assert len(set(sent[1])) >= 4  # several endpoints, not one


def test_credentials_are_fresh_named_audited_and_never_shown(estate):
    admin = estate.user("admin")
    first = issue_credentials(estate.tenant, admin)
    second = issue_credentials(estate.tenant, admin)

    keys = IntegrationKey.objects.filter(tenant=estate.tenant, name=NAME)
    assert keys.count() == 8 and keys.filter(revoked_at__isnull=True).count() == 4
    assert set(keys.filter(revoked_at__isnull=True).values_list("source", flat=True)) == {
        "native",
        "alertmanager",
        "pagerduty",
        "operations",
    }
    assert authenticate_integration_key(first.native) is None  # the earlier run's are revoked
    assert authenticate_integration_key(second.native, source="native") is not None
    assert authenticate_api_token(first.api_token) is None
    assert authenticate_api_token(second.api_token) == admin
    assert ApiToken.objects.filter(user=admin, name=NAME, revoked_at__isnull=True).count() == 1
    assert "wf" not in repr(second)
    assert demo_simulator.revoke_credentials(estate.tenant, admin) == 5
    assert authenticate_api_token(second.api_token) is None
    assert AuditLog.objects.filter(action=Action.TOKEN_CREATE).count() == 2


def test_run_logs_a_line_a_minute_without_secrets_and_stops(estate, caplog):
    stop = threading.Event()
    clock = iter(range(0, 10_000, 7))  # seven seconds pass on each look at the clock
    requests = []

    def http(method, path, body, headers):
        requests.append(path)
        if len(requests) == 40:
            stop.set()
        if path == demo_simulator.WINDOWS:
            return 201, {}
        return (200 if path == demo_simulator.ALERTMANAGER else 202), {"created": 1}

    credentials = issue_credentials(estate.tenant, estate.user("admin"))
    sim = Simulator(
        http=http,
        credentials=credentials,
        sites=load_sites(estate.tenant),
        seed=1,
        schedule=Schedule(pause=(0.0, 0.0)),
        clock=lambda: next(clock),
    )
    with caplog.at_level(logging.INFO, logger="watchfloor.demo.simulator"):
        sim.run(stop)

    assert len(requests) == 40
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 3 and all(line.startswith("demo simulator: ") for line in lines)
    assert "requests" in lines[0] and "created" in lines[0] and "its open alerts" in lines[0]
    for secret in (credentials.native, credentials.alertmanager, credentials.api_token):
        assert secret not in caplog.text
    assert "wfi_" not in caplog.text and "wft_" not in caplog.text


def test_wait_for_server_gives_up_when_told_to_stop():
    stop = threading.Event()
    calls = []

    def refused(method, path, body, headers):
        calls.append(path)
        if len(calls) == 3:
            stop.set()
        raise ConnectionRefusedError

    assert wait_for_server(refused, stop, interval=0) is False
    assert calls == ["/api/health/"] * 3


def test_connection_errors_are_counted_not_raised(estate):
    def down(method, path, body, headers):
        raise ConnectionResetError

    sim = simulator(estate, down)
    report = sim.step()
    assert report.action == "error" and report.status == 0
    assert sim.totals["errors"] == 1 and not sim.open


# --- who runs it ----------------------------------------------------------------------------


@pytest.fixture
def demo_tenant(estate):
    """The demo's tenant slug on a small estate, so `demo` finds its data already loaded."""
    Tenant.objects.filter(pk=estate.tenant.pk).update(slug="demo")
    estate.tenant.refresh_from_db()
    return estate


@pytest.fixture
def starts(monkeypatch, settings):
    """Record demo_simulator.start calls (and uvicorn's, in order) instead of running them. The
    node is embedded (no Redis) whatever the suite's configuration, so `serve` picks uvicorn."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings.REDIS_URL = ""
    calls = []

    class Handle:
        def stop(self):
            calls.append(("stop",))

    def fake_start(**kwargs):
        calls.append(("start", kwargs))
        return Handle()

    monkeypatch.setattr(demo_simulator, "start", fake_start)
    monkeypatch.setattr(
        "watchfloor.platform.server.uvicorn.run", lambda app, **kw: calls.append(("uvicorn",))
    )
    return calls


def test_demo_starts_the_simulator_just_before_serving_and_stops_it_after(
    demo_tenant, home, run, starts
):
    out = run("demo", "--port", "8123")
    assert [c[0] for c in starts] == ["start", "uvicorn", "stop"]
    assert starts[0][1] == {"host": "127.0.0.1", "port": 8123, "tenant_slug": "demo"}
    assert "--no-simulate turns it off" in out


def test_demo_no_simulate_and_serve_never_run_it(demo_tenant, home, run, starts):
    out = run("demo", "--no-simulate")
    assert starts == [("uvicorn",)]
    assert "Simulating" not in out
    run("serve")
    assert starts == [("uvicorn",), ("uvicorn",)]
    run("demo", "--no-serve")
    assert starts == [("uvicorn",), ("uvicorn",)]
    assert not IntegrationKey.objects.filter(name=NAME).exists()


def test_start_issues_credentials_waits_for_the_server_and_stop_revokes(demo_tenant):
    # nothing listens on this port: the thread keeps waiting for /api/health/ until stopped
    running = demo_simulator.start(host="127.0.0.1", port=9, tenant_slug="demo")
    assert running is not None and running.thread.daemon and running.thread.is_alive()
    assert IntegrationKey.objects.usable().filter(name=NAME).count() == 4
    running.stop(timeout=15)
    assert not running.thread.is_alive()
    assert not IntegrationKey.objects.usable().filter(name=NAME).exists()
    assert not ApiToken.objects.usable().filter(name=NAME).exists()


def test_start_without_an_admin_or_sites_does_nothing(db, caplog):
    Tenant.objects.create(slug="demo", name="Empty")
    with caplog.at_level(logging.WARNING, logger="watchfloor.demo.simulator"):
        assert demo_simulator.start(host="127.0.0.1", port=9, tenant_slug="demo") is None
    assert "not started" in caplog.text
    assert not IntegrationKey.objects.exists()


def test_loopback_url():
    assert demo_simulator.loopback_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert demo_simulator.loopback_url("0.0.0.0", 80) == "http://127.0.0.1:80"  # noqa: S104
    assert demo_simulator.loopback_url("::1", 8000) == "http://[::1]:8000"
    assert demo_simulator.loopback_url("10.0.0.5", 8000) == "http://10.0.0.5:8000"
