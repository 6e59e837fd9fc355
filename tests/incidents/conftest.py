"""Fixtures shared by the incident tests (pytest finds fixtures imported into a conftest)."""

from __future__ import annotations

import pytest

from support_alerts import key_for, publisher  # noqa: F401
from support_jobs import TaskQueue


class _RulesInline(TaskQueue):
    """The incident rules' task runs when it is committed (as a worker would take it at once);
    every other task is queued for the test to run."""

    rules_inline = True

    def __call__(self, path, args, eta):
        from watchfloor.incidents.rules import RULES_TASK

        if path == RULES_TASK and self.rules_inline:
            self._run(path, args)
            return
        super().__call__(path, args, eta)


@pytest.fixture(autouse=True)
def task_queue():
    from watchfloor.jobs.runtime import set_task_sink

    queue = _RulesInline()
    set_task_sink(queue)
    yield queue
    set_task_sink(None)


@pytest.fixture
def key(estate, key_for):  # noqa: F811
    return key_for(estate)


@pytest.fixture
def policy(estate):
    """The tenant's incident policy (made with its defaults), for a test to change."""
    from watchfloor.incidents.services import policy_for

    return policy_for(estate.tenant.id)
