"""The platform's own rows: samples of its main figures for the charts of the last hour.

A platform row (no tenant): the figures are of the whole installation. One row per sample
(`platform.sample`, every 30 s), its figures a small JSON object (sampling.FIGURES), so the
charts read a few hundred short rows instead of recomputing anything from the raw tables; the
same job deletes the rows older than `sampling.KEEP`.
"""

from __future__ import annotations

from django.db import models


class PlatformSample(models.Model):
    node = models.CharField(max_length=200)  # host:pid of the process that took the sample
    at = models.DateTimeField()
    figures = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["at"], name="platform_sample_at")]

    def __str__(self) -> str:
        return f"sample {self.at:%Y-%m-%d %H:%M:%S} by {self.node}"
