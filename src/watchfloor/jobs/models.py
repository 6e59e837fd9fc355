"""What the jobs runtime records: every run of a job, and the lease that keeps a periodic job
from running twice at once across processes and nodes.

Both are platform rows (no tenant): a job works over every tenant at once.
"""

from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # another process held the lease


# the error of a run its process left "running" when it died (closed by the next run of the job,
# or by the daily prune)
ABANDONED = "Abandoned: the process running it stopped before it finished"


class JobRun(models.Model):
    job = models.CharField(max_length=100)
    node = models.CharField(max_length=200, blank=True)  # host:pid that ran it
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    # counts the job returned ({"escalated": 3}); never PII
    result = models.JSONField(default=dict, blank=True)
    # the exception's type and message, cut to 2,000 characters; shown to superusers only
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["job", "-started_at"], name="jobrun_job_started"),
            # the jobs page's and API's failures, newest first, without reading every run
            models.Index(
                fields=["-id"], condition=models.Q(outcome="failed"), name="jobrun_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class JobLease(models.Model):
    """One row per periodic job: whoever moves `expires_at` forward holds it (a conditional
    UPDATE, so it works the same on SQLite and PostgreSQL, with or without Redis)."""

    job = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.job} held by {self.holder or 'nobody'} until {self.expires_at}"
