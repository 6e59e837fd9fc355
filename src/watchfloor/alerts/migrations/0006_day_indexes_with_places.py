"""Indexes for "acknowledged / resolved today" with client and site as keys.

The overview filtered by a client, city, state, officer or site asks for today's acknowledged
(resolved) alerts of a few clients or sites: with (tenant, acknowledged_at) alone PostgreSQL read
every row of the day (or combined the site_id index once per site); with client and site in the
key it skips the others inside the index. The new indexes are built before the old ones go, both
CONCURRENTLY on PostgreSQL (not atomic). No column a repeat writes.
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import (
    AddIndexConcurrentlyOnPostgres,
    RemoveIndexConcurrentlyOnPostgres,
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0005_active_site_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("acknowledged_at__isnull", False)),
                fields=["tenant", "acknowledged_at", "client", "site"],
                name="alert_acknowledged_day",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("resolved_at__isnull", False)),
                fields=["tenant", "resolved_at", "client", "site"],
                name="alert_resolved_day",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="alert", name="alert_acknowledged_at"),
        RemoveIndexConcurrentlyOnPostgres(model_name="alert", name="alert_resolved_at"),
    ]
