"""/metrics: access (allow-list, bearer token), route-template request metrics, the open-alerts
collector, multiprocess sums, and `promtool check metrics` on the real output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from django.utils import timezone

from watchfloor.alerts.models import Alert, Severity, Status
from watchfloor.platform import metrics
from watchfloor.platform.metrics_middleware import REQUESTS

PROMTOOL = shutil.which("promtool")


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "OPEN_ALERTS", metrics.OpenAlertsCollector(ttl=0))


def _alert(estate, n: int, severity: str, status: str = Status.NEW) -> Alert:
    now = timezone.now()
    return Alert.objects.create(
        tenant=estate.tenant,
        source="native",
        type="DEVICE_OFFLINE",
        severity=severity,
        status=status,
        title=f"alert {n}",
        fingerprint=f"fp-{n}",
        content_hash="x",
        first_seen_at=now,
        last_seen_at=now,
        created_at=now,
        updated_at=now,
    )


# --- access ------------------------------------------------------------------------------------
def test_metrics_from_loopback_without_a_token_configured(db, client):
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    assert b"watchfloor_open_alerts_up 1.0" in answer.content


def test_an_address_outside_the_allow_list_is_403(db, client):
    answer = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert answer.status_code == 403


def test_the_allow_list_takes_cidrs_and_ipv6(db, client, settings):
    settings.METRICS_ALLOW = ["10.0.0.0/8", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not-an-ip").status_code == 403


def test_a_token_is_required_when_set(db, client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-me").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_the_token_does_not_open_the_allow_list(db, client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    answer = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-me"
    )
    assert answer.status_code == 403


def test_only_get(client):
    assert client.post("/metrics").status_code == 405


# --- request metrics ---------------------------------------------------------------------------
def _requests(route: str, method: str, status: str) -> float:
    return REQUESTS.labels(route=route, method=method, status=status)._value.get()


def test_requests_are_labelled_by_route_template_never_the_raw_path(db, client):
    before = _requests("api/health/live", "GET", "200")
    client.get("/api/health/live")
    assert _requests("api/health/live", "GET", "200") == before + 1
    unmatched = _requests("<unmatched>", "GET", "404")
    client.get("/no/such/path/raw-path-marker")
    assert _requests("<unmatched>", "GET", "404") == unmatched + 1
    text = client.get("/metrics").content.decode()
    # a marker no number can contain (a sample's timestamp once held "12345")
    assert "raw-path-marker" not in text


def test_ninja_routes_are_templates(db, api, estate):
    api(estate.user("operator")).get("/api/v1/alerts/987654")
    text = metrics.exposition().decode()
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert not any("987654" in route for route in routes)  # labels, not sample values
    assert 'route="api/v1/' in text


# --- open alerts -------------------------------------------------------------------------------
def test_open_alerts_by_severity(db, estate, other_estate):
    _alert(estate, 1, Severity.HIGH)
    _alert(estate, 2, Severity.HIGH, Status.ACKNOWLEDGED)
    _alert(other_estate, 3, Severity.CRITICAL)
    _alert(estate, 4, Severity.LOW, Status.RESOLVED)
    _alert(estate, 5, Severity.LOW, Status.SUPPRESSED)
    counts = metrics.OpenAlertsCollector(ttl=0).counts()
    assert counts[Severity.HIGH] == 2
    assert counts[Severity.CRITICAL] == 1
    assert counts[Severity.LOW] == 0
    assert set(counts) == set(Severity.values)


def test_open_alerts_are_read_once_per_ttl(db, django_assert_num_queries):
    collector = metrics.OpenAlertsCollector(ttl=3600)
    with django_assert_num_queries(1):
        collector.counts()
        collector.counts()
        list(collector.collect())


def test_a_database_outage_keeps_the_scrape_answering(db, client, monkeypatch):
    def boom():
        raise RuntimeError("database down")

    monkeypatch.setattr(Alert.objects, "filter", lambda *a, **k: boom())
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert b"watchfloor_open_alerts_up 0.0" in answer.content
    assert b"watchfloor_open_alerts{" not in answer.content


# --- several processes -------------------------------------------------------------------------
CHILD = """
import os, sys
from watchfloor.alerts.metrics import INGESTED
INGESTED.labels(source="multi-test").inc(int(sys.argv[1]))
"""


def test_multiprocess_mode_sums_every_worker(tmp_path, monkeypatch):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for n in ("2", "3"):  # two worker processes, each counting on its own
        subprocess.run([sys.executable, "-c", CHILD, n], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    text = metrics.exposition().decode()
    assert 'watchfloor_alerts_ingested_total{source="multi-test"} 5.0' in text


def test_prepare_multiprocess_dir_starts_empty(tmp_path, monkeypatch):
    from watchfloor.platform.metrics_dir import prepare_multiprocess_dir

    stale = tmp_path / "prometheus" / "counter_999.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old run")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    folder = prepare_multiprocess_dir(tmp_path)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    assert list(folder.iterdir()) == []


# --- promtool ----------------------------------------------------------------------------------
def test_promtool_accepts_the_exposition(db, client, estate):
    if PROMTOOL is None:
        if os.environ.get("WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS") == "1":
            pytest.fail("WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS=1 but promtool is not installed")
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    _alert(estate, 1, Severity.HIGH)
    client.get("/api/health/")  # at least one request series
    body = client.get("/metrics").content
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_the_ssl_redirect_spares_metrics_and_probes(db, client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/health/live").status_code == 200
    assert client.get("/api/health/ready").status_code == 200
    assert client.get("/jobs/").status_code == 301  # everything else is redirected


@pytest.mark.parametrize(("command", "prepared"), [("serve", True), ("migrate", False)])
def test_the_cli_turns_on_multiprocess_mode_for_serve_only(monkeypatch, command, prepared):
    from watchfloor import cli

    calls = []
    monkeypatch.setattr(cli, "_prepare_metrics", lambda: calls.append("prepared"))
    monkeypatch.setattr(
        "django.core.management.execute_from_command_line", lambda argv: calls.append(argv[1])
    )
    cli.main([command])
    assert calls == (["prepared", command] if prepared else [command])


def test_metrics_switched_off_is_a_404(db, client, settings):
    settings.METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


def test_watchfloor_metrics_off_removes_the_request_middleware(tmp_path):
    """The switch bench/ingest.py's `serve-metrics-off` variant uses to measure the overhead."""
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.METRICS_ENABLED, "
        "'watchfloor.platform.metrics_middleware.RequestMetricsMiddleware' in settings.MIDDLEWARE)"
    )
    for value, expected in (("off", "False False"), ("on", "True True")):
        env = {
            **os.environ,
            "WATCHFLOOR_METRICS": value,
            "WATCHFLOOR_HOME": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "watchfloor.settings",
        }
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.stdout.strip() == expected, done.stderr[-2000:]
