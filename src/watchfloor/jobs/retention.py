"""The jobs app's own periodic job: forget old job runs, in bounded batches."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from watchfloor.jobs.models import ABANDONED, JobRun, Outcome

BATCH = 5_000
MAX_BATCHES = 200  # at most a million rows per run; the next day's run takes the rest


ABANDONED_AFTER = timedelta(days=1)


def prune_runs(*, days: int | None = None, batch: int = BATCH) -> dict:
    """Delete job runs started more than `days` (settings.JOBS_RUN_RETENTION_DAYS) ago, one
    short statement per batch so no long lock is held, and close the runs still "running" a
    day after they started (their process died mid-run); {"deleted": n, "abandoned": n}."""
    days = settings.JOBS_RUN_RETENTION_DAYS if days is None else days
    now = timezone.now()
    abandoned = JobRun.objects.filter(
        outcome=Outcome.RUNNING, started_at__lt=now - ABANDONED_AFTER
    ).update(
        outcome=Outcome.FAILED,
        finished_at=now,
        error=ABANDONED,
    )
    cutoff = now - timedelta(days=max(days, 1))
    deleted = 0
    for _ in range(MAX_BATCHES):
        ids = list(
            JobRun.objects.filter(started_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        count, _ = JobRun.objects.filter(id__in=ids).delete()
        deleted += count
        if len(ids) < batch:
            break
    return {"deleted": deleted, "abandoned": abandoned}
