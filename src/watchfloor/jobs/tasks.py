"""The two Celery tasks of the jobs runtime. Everything else travels through them by name:
beat sends `run_job(name)` for each periodic job, `runtime.enqueue` sends `run_task(path, *ids)`.
Both record their failures as job runs and never raise, so Celery never retries them: the
periodic jobs are the safety net that catches up what a lost or failed task left undone."""

from __future__ import annotations

from celery import shared_task

from watchfloor.jobs import runtime


@shared_task(name=runtime.CELERY_RUN_JOB, ignore_result=True)
def run_job(name: str) -> None:
    runtime.run_job(name)


@shared_task(name=runtime.CELERY_RUN_TASK, ignore_result=True)
def run_task(path: str, *args: int) -> None:
    runtime.run_task(path, *args)
