"""A pytest plugin (`-p watchfloor.pytest_home` in pyproject.toml's addopts) that points
WATCHFLOOR_HOME at a fresh temporary folder before Django's settings are read.

The settings write the secret key (and `collectstatic` the static files) under WATCHFLOOR_HOME,
which defaults to `./var`: without this the test suite wrote them into the working tree. A conftest
cannot do it, because pytest-django reads the settings before conftests are imported. An explicit
WATCHFLOOR_HOME in the environment is kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_created: str | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    global _created
    if not os.environ.get("WATCHFLOOR_HOME", "").strip():
        _created = tempfile.mkdtemp(prefix="watchfloor-tests-")
        os.environ["WATCHFLOOR_HOME"] = _created


def pytest_unconfigure(config) -> None:
    if _created:
        shutil.rmtree(_created, ignore_errors=True)
