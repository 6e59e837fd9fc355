"""The newest assignment and escalation of a tenant, by index: the overview's shared answers are
renewed as soon as anything is created, acknowledged, assigned, escalated or resolved
(alerts.overview_queries.watermark reads the five maxima in one query of index probes).

Assigning and escalating change `status` too, so these updates were never HOT; repeats do not
touch either column. Built CONCURRENTLY on PostgreSQL (not atomic).
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0006_day_indexes_with_places"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("assigned_at__isnull", False)),
                fields=["tenant", "assigned_at"],
                name="alert_assigned_at",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("escalated_at__isnull", False)),
                fields=["tenant", "escalated_at"],
                name="alert_escalated_at",
            ),
        ),
    ]
