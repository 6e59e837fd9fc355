"""Fixtures for the command-line tests: a home folder, a command runner, a fake uvicorn."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.fixture
def home(settings, tmp_path):
    """An empty WATCHFLOOR_HOME for the commands that create it."""
    settings.WATCHFLOOR_HOME = tmp_path / "home"
    return settings.WATCHFLOOR_HOME


@pytest.fixture
def run():
    """Run a management command; returns what it wrote to stdout."""

    def _run(*args, **options) -> str:
        out = io.StringIO()
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
        return out.getvalue()

    return _run


@pytest.fixture
def uvicorn_calls(monkeypatch, settings):
    """Replace uvicorn.run: the commands' server calls are recorded instead of serving. The node
    is embedded (no REDIS_URL) whatever the suite's configuration, so `serve` picks uvicorn
    (with Redis it runs gunicorn beside uvicorn: test_serve_topology.py)."""
    settings.REDIS_URL = ""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        "watchfloor.platform.server.uvicorn.run", lambda app, **kw: calls.append((app, kw))
    )
    return calls
