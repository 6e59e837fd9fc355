"""platform/exports/: the Grafana dashboard names only metrics Watchfloor exposes; the alerting
rules pass `promtool check rules` and their unit tests (`promtool test rules`); the download view
needs `noc:configure`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from prometheus_client import REGISTRY

from watchfloor.dashboard.exports_views import EXPORTS, EXPORTS_DIR
from watchfloor.platform import metrics
from watchfloor.platform.breakers import CIRCUITS

PROMTOOL = shutil.which("promtool")
DASHBOARD = EXPORTS_DIR / "watchfloor-dashboard.json"
METRIC_NAME = re.compile(r"\bwatchfloor_[a-z0-9_]+")


def _promtool() -> str:
    if PROMTOOL is None:
        if os.environ.get("WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS") == "1":
            pytest.fail("WATCHFLOOR_REQUIRE_PROMETHEUS_TOOLS=1 but promtool is not installed")
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    return PROMTOOL


def _exposed_sample_names() -> set[str]:
    """Every sample name the registry and the database collector can emit."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gauge": ("",),
    }
    names = set()
    families = [
        *REGISTRY.collect(),
        *metrics.OpenAlertsCollector(ttl=3600).describe_all(),
        *metrics.STAGING.describe_all(),
        *CIRCUITS.describe(),
    ]
    for family in families:
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def _exprs(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return exprs


def test_every_dashboard_metric_exists():
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = _exposed_sample_names()
    used = {name for expr in _exprs(dashboard) for name in METRIC_NAME.findall(expr)}
    assert used, "the dashboard queries no Watchfloor metric"
    assert used - exposed == set()


def test_the_dashboard_is_importable_with_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    assert "__inputs" not in dashboard  # no import-time questions: it imports as-is


def test_every_rule_metric_exists():
    rules = (EXPORTS_DIR / "watchfloor-rules.yml").read_text()
    used = set(METRIC_NAME.findall(rules))
    assert used and used - _exposed_sample_names() == set()


def test_promtool_checks_the_rules():
    checked = subprocess.run(
        [_promtool(), "check", "rules", str(EXPORTS_DIR / "watchfloor-rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_the_rules():
    tested = subprocess.run(
        [_promtool(), "test", "rules", "watchfloor-rules.test.yml"],
        cwd=EXPORTS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- the download view -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_configurers_download_each_export(client, estate, name):
    client.force_login(estate.user("admin"))
    answer = client.get(f"/platform/exports/{name}")
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment")
    assert b"".join(answer.streaming_content) == (EXPORTS_DIR / name).read_bytes()


def test_other_roles_are_refused(client, estate):
    client.force_login(estate.user("operator"))
    assert client.get("/platform/exports/watchfloor-rules.yml").status_code == 403


def test_anonymous_is_sent_to_sign_in(client, db):
    answer = client.get("/platform/exports/watchfloor-rules.yml")
    assert answer.status_code == 302


@pytest.mark.parametrize("name", ["nope.json", "..%2Fmetrics.py", "metrics.py"])
def test_only_listed_files(client, estate, name):
    client.force_login(estate.user("admin"))
    assert client.get(f"/platform/exports/{name}").status_code == 404
