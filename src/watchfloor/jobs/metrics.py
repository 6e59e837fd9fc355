"""Prometheus figures of the jobs runtime (the `/metrics` endpoint exposes the default registry):
runs by job and outcome, how long they take, and tasks by outcome."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOB_RUNS = Counter(
    "watchfloor_job_runs_total",
    "Runs of periodic jobs by outcome (ok, failed, skipped: another process held the job).",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "watchfloor_job_duration_seconds",
    "How long a periodic job's run took (runs that were not skipped).",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASKS = Counter(
    "watchfloor_tasks_total", "Enqueued tasks run, by task and outcome.", ["task", "outcome"]
)
