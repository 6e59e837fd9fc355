"""Indexes for the overview (KPI tiles, map, MTTA/MTTR today) and the escalation job.

Measured with EXPLAIN ANALYZE on 1,000,000 alerts (docs/benchmarks.md, "overview indexes"):
"acknowledged / resolved today" went from a parallel sequential scan of the table (~0.5–0.8 s) to
an index range (~8 ms for ~6,000 rows); the active-alert aggregates read the small partial index
(26,000 entries, ~2 MB) instead of the whole status index. None of them covers a column a repeat
writes (occurrence_count, last_seen_at, updated_at), so repeats stay HOT updates.

On PostgreSQL the indexes are built CONCURRENTLY (ingestion keeps writing while they build), so
this migration is not atomic.
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0003_hot_updates"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("status", "RESOLVED"), _negated=True),
                fields=[
                    "tenant",
                    "status",
                    "severity",
                    "first_seen_at",
                    "client",
                    "site",
                    "suppression_reason",
                ],
                name="alert_active_overview",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("acknowledged_at__isnull", False)),
                fields=["tenant", "acknowledged_at"],
                name="alert_acknowledged_at",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("resolved_at__isnull", False)),
                fields=["tenant", "resolved_at"],
                name="alert_resolved_at",
            ),
        ),
    ]
