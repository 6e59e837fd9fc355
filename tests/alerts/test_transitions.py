"""The pipeline's status table, and SQL that names statuses only through the model's constants."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from watchfloor.alerts.models import ACTIVE_STATUSES, OPEN_STATUSES, Status
from watchfloor.alerts.transitions import TRANSITIONS, Step, next_status, status_after

SRC = Path(__file__).resolve().parents[2] / "src" / "watchfloor"


@pytest.mark.parametrize("status", ACTIVE_STATUSES)
def test_a_source_resolves_an_alert_in_any_active_status(status):
    assert next_status(status, Step.RESOLVE) == Status.RESOLVED


def test_a_source_acknowledges_only_a_new_alert():
    assert [s for s in ACTIVE_STATUSES if next_status(s, Step.ACKNOWLEDGE)] == [Status.NEW]


@pytest.mark.parametrize("status", OPEN_STATUSES)
def test_a_repeat_leaves_an_open_alert_as_operators_left_it(status):
    assert next_status(status, Step.TRIGGER) == status
    assert next_status(status, Step.TRIGGER_HIDDEN) == status


def test_a_suppressed_alert_opens_when_nothing_hides_its_repeat():
    assert next_status(Status.SUPPRESSED, Step.TRIGGER) == Status.NEW
    assert next_status(Status.SUPPRESSED, Step.TRIGGER_HIDDEN) == Status.SUPPRESSED


def test_a_new_fingerprint_opens_or_is_stored_suppressed():
    assert next_status(None, Step.TRIGGER) == Status.NEW
    assert next_status(None, Step.TRIGGER_HIDDEN) == Status.SUPPRESSED
    assert next_status(None, Step.RESOLVE) is None  # reported "unknown"


def test_nothing_moves_a_resolved_alert():
    assert not [key for key in TRANSITIONS if key[0] == Status.RESOLVED]


def test_no_sql_names_a_status_in_a_string_literal():
    """Raw SQL builds its status lists from `Status` (alerts/writes.py); a quoted status such as
    'RESOLVED' inside Python source (ruff format double-quotes Python strings) is SQL text."""
    literal = re.compile(r"'(%s)'" % "|".join(s.value for s in Status))  # noqa: UP031
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        if "migrations" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert found == []


def test_a_step_that_does_not_apply_is_refused_where_it_must_apply():
    with pytest.raises(LookupError):
        status_after(Status.ACKNOWLEDGED, Step.ACKNOWLEDGE)
