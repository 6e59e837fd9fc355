"""The suite never writes into the working tree (#10 bug 10)."""

from pathlib import Path

from django.conf import settings

REPO = Path(__file__).resolve().parents[1]


def test_the_suite_runs_with_a_home_outside_the_working_tree():
    home = Path(settings.WATCHFLOOR_HOME).resolve()
    assert not home.is_relative_to(REPO), home
    assert Path(settings.STATIC_ROOT).resolve().is_relative_to(home)
