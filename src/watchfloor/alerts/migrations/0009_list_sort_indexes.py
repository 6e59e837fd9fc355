"""The alerts list's sorts by index (alerts.listing): `first_seen`/`-first_seen` over every
alert of a tenant, and `severity` (most severe first, then oldest) over the active ones, read one
severity at a time. No column a plain repeat writes is in either, so repeats stay HOT updates.
Built CONCURRENTLY on PostgreSQL (not atomic); reversible (dropped the same way).
"""

from django.db import migrations, models

from watchfloor.alerts.migrations._operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("alerts", "0008_alertcomment"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                fields=["tenant", "first_seen_at", "id"], name="alert_tenant_first_seen"
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("status", "RESOLVED"), _negated=True),
                fields=["tenant", "severity", "first_seen_at", "id"],
                name="alert_active_severity_age",
            ),
        ),
    ]
