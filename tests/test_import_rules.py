"""The import direction of DESIGN.md, checked on the source so a cycle cannot creep in.

Layers: api / views / admin / management commands → services / queries → models. The base
apps: `audit` imports no other Watchfloor app (its foreign keys are strings), `tenancy`'s models
and services import only `audit`, and `access`'s core imports only `tenancy` and `audit`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "watchfloor"
TOP_LAYER = {"api", "views", "admin", "urls", "routing", "apps", "consumers", "tasks", "schemas"}


def imports_of(path: Path) -> set[str]:
    """Every `watchfloor.*` module a file imports, at any depth (function-local ones too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("watchfloor."))
    return found


def module_name(path: Path) -> str:
    return ".".join(("watchfloor", *path.relative_to(SRC).with_suffix("").parts))


def app_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def sources(app: str | None = None):
    root = SRC / app if app else SRC
    return [p for p in root.rglob("*.py") if "migrations" not in p.parts]


def is_top_layer(path: Path) -> bool:
    return (
        path.stem in TOP_LAYER
        # a second router or schema module of an app (`oncall/schedule_api.py`) is top layer too
        or path.stem.rsplit("_", 1)[-1] in TOP_LAYER
        or "management" in path.parts
        or path.relative_to(SRC).parts[0] == "dashboard"
    )


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_lower_layers_never_import_the_top_layer(path):
    if is_top_layer(path) or path.parent == SRC:
        return
    bad = {
        m
        for m in imports_of(path)
        if app_of(m) not in KERNEL
        and (
            m.split(".")[-1] in TOP_LAYER or app_of(m) == "dashboard" or m == "watchfloor.api_site"
        )
    }
    assert not bad, f"{module_name(path)} imports the top layer: {sorted(bad)}"


# Leaf modules at the package root that import no Watchfloor app: any layer may use them.
LEAVES = {
    "ttl",
    "events",
    "bounds",
    "degrade",
    "ratelimit",
    "presence",
    "circuit",
    "sql_rows",
    "heap",
    "pubsub",
}

# The API kernel (`api/`: strict schema base, field types, error format, pagination) imports no
# Watchfloor app, so every app, base apps included, may use it (#10, "Structure").
KERNEL = {"api"}


def test_the_api_kernel_is_a_leaf():
    for path in sources("api"):
        others = {app_of(m) for m in imports_of(path)} - KERNEL - LEAVES
        assert not others, f"{module_name(path)} imports {sorted(others)}"


BASE_RULES = {
    "audit": {"audit"},
    "tenancy": {"tenancy", "audit"},
    "access": {"access", "tenancy", "audit"},
}


@pytest.mark.parametrize("app", sorted(BASE_RULES))
def test_base_apps_import_only_what_is_below_them(app):
    for path in sources(app):
        if is_top_layer(path) or path.stem == "queries":
            continue
        others = {app_of(m) for m in imports_of(path)} - BASE_RULES[app] - LEAVES - KERNEL
        assert not others, f"{module_name(path)} imports {sorted(others)}"


def test_the_checker_sees_function_local_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from watchfloor.dashboard.views import home\n")
    assert imports_of(sample) == {"watchfloor.dashboard.views"}


# Domain apps above the base: alerts use maintenance windows, never the other way round, and the
# real-time layer imports no domain app, only the base apps for scope and masking (consumers, in
# the top layer, may call the domain services).
DOMAIN_RULES = {
    "realtime": {"realtime", "access", "tenancy", "audit"},
    "maintenance": {"maintenance", "tenancy", "access", "audit"},
    "alerts": {"alerts", "maintenance", "tenancy", "access", "audit"},
    # incidents group alerts and page through oncall's policies; nothing below imports them.
    # `jobs` (its runtime's `enqueue`, as oncall uses it): the rules run as a queued task
    "incidents": {
        "incidents",
        "alerts",
        "maintenance",
        "oncall",
        "tenancy",
        "access",
        "audit",
        "jobs",
    },
    # the feed rules raise alerts through the pipeline; nothing below imports operations
    "operations": {"operations", "alerts", "maintenance", "tenancy", "access", "audit", "jobs"},
    # retention deletes every domain app's old rows (and, with D's KPI snapshots, reads the
    # operations feeds); nothing below imports it
    "snapshots": {
        "snapshots",
        "operations",
        "incidents",
        "alerts",
        "maintenance",
        "oncall",
        "tenancy",
        "access",
        "audit",
        "jobs",
    },
    # reports read alerts, the incident policy's SLA targets and the KPI snapshots; nothing
    # imports reports
    "reports": {
        "reports",
        "snapshots",
        "operations",
        "incidents",
        "alerts",
        "maintenance",
        "tenancy",
        "access",
        "audit",
    },
}

# No domain app imports the WebSocket layer or the dashboard outside its own top layer: domain
# services publish through the leaf `watchfloor.events` (#10, "Structure").
DOMAIN_APPS = (
    "tenancy",
    "access",
    "audit",
    "alerts",
    "maintenance",
    "oncall",
    "incidents",
    "jobs",
    "platform",
    "snapshots",
    "reports",
    "operations",
)


@pytest.mark.parametrize("app", DOMAIN_APPS)
def test_domain_apps_never_import_realtime_or_dashboard(app):
    for path in sources(app):
        if is_top_layer(path):
            continue
        bad = {m for m in imports_of(path) if app_of(m) in {"realtime", "dashboard"}}
        assert not bad, f"{module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("app", ("realtime", *DOMAIN_APPS))
def test_no_layer_of_realtime_or_a_domain_app_imports_the_dashboard(app):
    """Not even their routers and consumers: domain reads live in the domain apps (the overview's
    in alerts/overview_queries.py), so the dashboard is a client of them, never a provider."""
    for path in sources(app):
        bad = {m for m in imports_of(path) if app_of(m) == "dashboard"}
        assert not bad, f"{module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("app", sorted(DOMAIN_RULES))
def test_domain_apps_import_only_what_is_below_them(app):
    for path in sources(app):
        if is_top_layer(path):
            continue
        others = {app_of(m) for m in imports_of(path)} - DOMAIN_RULES[app] - LEAVES - KERNEL
        assert not others, f"{module_name(path)} imports {sorted(others)}"


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaf_modules_import_no_watchfloor_app(leaf):
    # another leaf is no app (ratelimit counts through degrade's guard)
    assert {app_of(m) for m in imports_of(SRC / f"{leaf}.py")} - LEAVES == set()
