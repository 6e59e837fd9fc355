"""Storm correlation reads each (client, type) pair's first active alerts in first-seen order,
then id. The index had no id: PostgreSQL then sorted every active alert of the pair in the window
to return its first 8 (a fold's cost grew with the storm). Replaces alert_active_client_type,
same entries plus the id. Built and dropped CONCURRENTLY on PostgreSQL (not atomic); reversible.
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import (
    AddIndexConcurrentlyOnPostgres,
    RemoveIndexConcurrentlyOnPostgres,
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0016_alert_unacknowledged_age"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("status", "RESOLVED"), _negated=True),
                fields=["client", "type", "first_seen_at", "id"],
                name="alert_active_pair_seen",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(
            model_name="alert",
            name="alert_active_client_type",
        ),
    ]
