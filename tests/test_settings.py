"""Production settings pass Django's deployment checks; demo and debug relax only cookies."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW_COOKIE_FLAGS = (
    "from django.conf import settings as s;"
    "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
    " s.X_FRAME_OPTIONS)"
)
SHOW_SECRET_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def fresh_env(home, **extra) -> dict[str, str]:
    """The environment without any Watchfloor or database setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATCHFLOOR_", "DATABASE"))}
    return {
        **env,
        "WATCHFLOOR_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "watchfloor.settings",
        **extra,
    }


def run_python(code: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


def run_deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "watchfloor.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_checks(tmp_path):
    key = "a-long-random-secret-key-used-only-by-this-test-0123456789abcdef"
    result = run_deploy_check(
        fresh_env(tmp_path, WATCHFLOOR_SECRET_KEY=key, WATCHFLOOR_SSL_REDIRECT="1")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_checks_fail_in_debug(tmp_path):
    result = run_deploy_check(fresh_env(tmp_path, WATCHFLOOR_DEBUG="1"))
    assert result.returncode != 0
    assert "DEBUG" in result.stdout + result.stderr


@pytest.mark.parametrize("flag", ["WATCHFLOOR_DEMO", "WATCHFLOOR_DEBUG"])
def test_demo_and_debug_only_drop_the_secure_cookie_flag(tmp_path, flag):
    production = run_python(SHOW_COOKIE_FLAGS, fresh_env(tmp_path))
    relaxed = run_python(SHOW_COOKIE_FLAGS, fresh_env(tmp_path, **{flag: "1"}))
    assert production.split() == ["True", "True", "True", "DENY"]
    assert relaxed.split() == ["False", "False", "True", "DENY"]


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = run_python(SHOW_SECRET_KEY, fresh_env(tmp_path))
    second = run_python(SHOW_SECRET_KEY, fresh_env(tmp_path))
    assert len(first) >= 50 and first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_an_empty_home_variable_means_the_default(tmp_path):
    env = fresh_env(tmp_path)
    env["WATCHFLOOR_HOME"] = ""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup();"
            "from django.conf import settings; print(settings.WATCHFLOOR_HOME)",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == str(tmp_path / "var")
