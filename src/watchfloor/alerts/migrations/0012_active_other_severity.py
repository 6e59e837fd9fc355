"""The severity order's last part (active alerts whose severity is none of Severity's, which the
order places last; none are ever stored) gets an index of its own, empty in practice: the overview
feed and the alerts list read that part per severity like the others, and without it PostgreSQL
read every active alert's heap row to find none (194 ms at 26,000 active alerts). Its predicate
names status and severity, which a plain repeat does not write: repeats stay HOT updates. Built
CONCURRENTLY on PostgreSQL (not atomic); reversible (dropped the same way).
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0011_staged_batch"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(
                    models.Q(("status", "RESOLVED"), _negated=True),
                    models.Q(
                        ("severity__in", ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]),
                        _negated=True,
                    ),
                ),
                fields=["tenant", "first_seen_at", "id"],
                name="alert_active_other_severity",
            ),
        ),
    ]
