"""Fewer indexes for a new alert to write: a first pass of 10,000 new alerts spent most of its
INSERT in the table's 21 indexes (2-7 us each per row, measured one by one; docs/decisions.md).

- The tenant's and the site's own foreign-key indexes go: alert_tenant_first_seen and
  alert_site_first_seen start with the same column and serve the same lookups.
- The assignee's and the maintenance window's indexes cover only the rows that have one: most
  alerts have neither, and a partial index costs such a row nothing.

The foreign-key constraints stay (ForeignKeyIndexOff drops only the index: Django's AlterField
would drop the constraint and validate it again over every row). Built and dropped CONCURRENTLY
on PostgreSQL (not atomic); reversible.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from watchfloor.alerts.migrations._operations import (
    AddIndexConcurrentlyOnPostgres,
    ForeignKeyIndexOff,
    RemoveIndexConcurrentlyOnPostgres,
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("access", "0003_reveal_contact"),
        ("alerts", "0013_staged_events_lz4"),
        ("maintenance", "0002_matchers_recurrence"),
        ("tenancy", "0002_tenant_users_are_not_platform_staff"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("assignee__isnull", False)),
                fields=["assignee"],
                name="alert_assignee",
            ),
        ),
        ForeignKeyIndexOff(
            model_name="alert",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        ForeignKeyIndexOff(
            model_name="alert",
            name="site",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="tenancy.site",
            ),
        ),
        ForeignKeyIndexOff(
            model_name="alert",
            name="tenant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="alert", name="alert_maintenance_window"),
        AddIndexConcurrentlyOnPostgres(
            model_name="alert",
            index=models.Index(
                condition=models.Q(("maintenance_window__isnull", False)),
                fields=["maintenance_window"],
                name="alert_maintenance_window",
            ),
        ),
    ]
