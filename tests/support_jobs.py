"""Fixtures for code that enqueues tasks (`watchfloor.jobs.runtime.enqueue`).

Import the fixture you use into the test module (pytest finds imported fixtures):

    from support_jobs import task_queue

`task_queue` receives every committed `enqueue(path, *ids, eta=...)` instead of Celery or the
embedded scheduler, and runs nothing by itself:

- `task_queue.calls`: [(path, ids, eta)] in the order they were committed; `.paths()`;
- `task_queue.run_due(now=None)`: runs (through `runtime.run_task`, as a worker would) the calls
  whose eta has come (eta <= now, default `timezone.now()`, so time-machine moves it), removes
  them, returns how many ran; tasks they enqueue are queued in turn;
- `task_queue.run_all()`: runs everything queued, whatever its eta;
- `task_queue.inline = True`: each call runs at once when it is committed, whatever its eta.

Enqueued calls are handed over when their transaction commits: under the `db` fixture wrap the
code in `django_capture_on_commit_callbacks(execute=True)` (or mark the test
`django_db(transaction=True, serialized_rollback=True)`).
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest


class TaskQueue:
    def __init__(self):
        self.calls: list[tuple[str, tuple[int, ...], datetime | None]] = []
        self.inline = False
        self._lock = threading.Lock()

    def __call__(self, path: str, args: tuple[int, ...], eta: datetime | None) -> None:
        if self.inline:
            self._run(path, args)
            return
        with self._lock:
            self.calls.append((path, args, eta))

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.calls]

    def run_due(self, now: datetime | None = None) -> int:
        from django.utils import timezone

        now = now or timezone.now()
        with self._lock:
            due = [c for c in self.calls if c[2] is None or c[2] <= now]
            self.calls = [c for c in self.calls if not (c[2] is None or c[2] <= now)]
        for path, args, _ in due:
            self._run(path, args)
        return len(due)

    def run_all(self) -> int:
        with self._lock:
            due, self.calls = self.calls, []
        for path, args, _ in due:
            self._run(path, args)
        return len(due)

    @staticmethod
    def _run(path: str, args: tuple[int, ...]) -> None:
        from watchfloor.jobs.runtime import run_task

        failed = run_task(path, *args)
        assert failed is None, f"task {path}{args} failed: {failed.error}"


@pytest.fixture
def task_queue():
    from watchfloor.jobs.runtime import set_task_sink

    queue = TaskQueue()
    set_task_sink(queue)
    yield queue
    set_task_sink(None)
