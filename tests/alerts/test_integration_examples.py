"""The example configurations in docs/examples/ pass the real tools and point at our routes.

`amtool` and `promtool` come with Debian's `prometheus-alertmanager` and `prometheus` packages;
without them those two checks are skipped, unless WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS=1 (set by
.ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import resolve

from watchfloor.alerts.integrations import views

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
AMTOOL = shutil.which("amtool")
PROMTOOL = shutil.which("promtool")


def _tool(path: str | None, package: str) -> str:
    if path is None:
        message = f"not installed (Debian: apt-get install {package})"
        if os.environ.get("WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS") == "1":
            pytest.fail(f"WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS=1 but the tool is {message}")
        pytest.skip(message)
    return path


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_amtool_accepts_the_alertmanager_example():
    done = _run(
        _tool(AMTOOL, "prometheus-alertmanager"), "check-config", str(EXAMPLES / "alertmanager.yml")
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_example_and_its_rules():
    done = _run(_tool(PROMTOOL, "prometheus"), "check", "config", str(EXAMPLES / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rules found" in done.stdout + done.stderr


def test_the_alertmanager_example_posts_to_the_webhook_route():
    config = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    webhooks = [w for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert webhooks and all(w["send_resolved"] for w in webhooks)
    for webhook in webhooks:
        match = resolve(urlsplit(webhook["url"]).path)
        assert match.func is views.alertmanager_webhook
    keyed = [w for w in webhooks if "http_config" not in w]
    assert resolve(urlsplit(keyed[0]["url"]).path).kwargs["key"].startswith("wfi_")


def test_the_prometheus_example_posts_to_the_v2_alerts_route():
    config = yaml.safe_load((EXAMPLES / "prometheus.yml").read_text())
    [target] = config["alerting"]["alertmanagers"]
    assert target["api_version"] == "v2"
    assert target["authorization"]["type"] == "Bearer"
    # Prometheus posts to <path_prefix>/api/v2/alerts; the prefix is "/" by default
    prefix = target.get("path_prefix", "/").rstrip("/")
    assert resolve(f"{prefix}/api/v2/alerts").func is views.alertmanager_v2_alerts
    rules = yaml.safe_load((EXAMPLES / "watchfloor-rules.yml").read_text())
    labelled = [r for g in rules["groups"] for r in g["rules"] if "site" in r.get("labels", {})]
    assert {"client", "site", "severity"} <= set(labelled[0]["labels"])
