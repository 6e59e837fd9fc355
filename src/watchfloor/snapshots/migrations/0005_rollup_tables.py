"""The hourly rollup and the client health become plain tables the snapshot job keeps, beside
a new one, the tenant totals (snapshots/rollups.py): the materialized views they replace (0003)
recomputed 8 days of snapshots on every refresh (45 s for 1.7M rows). SQLite gets the same
tables (it had none before). Then the last 8 days of snapshots are rolled into them.
Reversible: backwards the tables are dropped and the views of 0003 made again."""

from datetime import timedelta
from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

views = import_module("watchfloor.snapshots.migrations.0003_kpi_views")


def drop_views(apps, schema_editor):
    views.drop_views(apps, schema_editor)


def make_views(apps, schema_editor):
    views.create_views(apps, schema_editor)


def backfill(apps, schema_editor):
    # the code of this commit, not a frozen copy: it reads and writes only these tables,
    # and an empty table (a new install, the test database) makes it a no-op
    from watchfloor.snapshots import rollups

    now = timezone.now()
    rollups.rebuild(now - rollups.KEEP, now + timedelta(minutes=5))


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0004_view_models"),
        ("tenancy", "0002_tenant_users_are_not_platform_staff"),
    ]

    operations = [
        migrations.RunPython(drop_views, make_views),
        migrations.DeleteModel(name="KpiHourly"),
        migrations.DeleteModel(name="ClientHealth"),
        migrations.CreateModel(
            name="ClientHealth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("window_end", models.DateTimeField()),
                ("score", models.IntegerField()),
                ("sync_health", models.IntegerField(null=True)),
                ("tickets_open_p1", models.IntegerField()),
                ("tickets_open_p2", models.IntegerField()),
                ("tickets_open_p3", models.IntegerField()),
                ("tickets_open_p4", models.IntegerField()),
                ("tickets_overdue_p1", models.IntegerField()),
                ("tickets_overdue_p2", models.IntegerField()),
                ("tickets_overdue_p3", models.IntegerField()),
                ("tickets_overdue_p4", models.IntegerField()),
                ("work_orders_open", models.IntegerField()),
                ("work_orders_overdue", models.IntegerField()),
                ("work_orders_pending", models.IntegerField()),
                ("work_orders_scheduled", models.IntegerField()),
                ("work_orders_in_progress", models.IntegerField()),
                ("work_orders_on_hold", models.IntegerField()),
                ("attendance_expected", models.IntegerField()),
                ("attendance_present", models.IntegerField()),
                ("attendance_late", models.IntegerField()),
                ("attendance_missing", models.IntegerField()),
                ("devices_total", models.IntegerField()),
                ("devices_offline", models.IntegerField()),
                ("devices_synced", models.IntegerField()),
                ("geofence_events", models.IntegerField()),
                ("geofence_breaches", models.IntegerField()),
                ("security_anomalies", models.IntegerField()),
                ("alerts_open_critical", models.IntegerField()),
                ("alerts_open_high", models.IntegerField()),
                ("alerts_open_medium", models.IntegerField()),
                ("alerts_open_low", models.IntegerField()),
                ("alerts_open_info", models.IntegerField()),
                (
                    "client",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.client",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "snapshots_client_health",
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "client"), name="client_health_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="KpiHourly",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("site_key", models.BigIntegerField()),
                ("hour", models.DateTimeField()),
                ("city", models.CharField(max_length=100)),
                ("state", models.CharField(max_length=100)),
                ("officer_in_charge_id", models.BigIntegerField(null=True)),
                ("points", models.BigIntegerField()),
                ("tickets_open_p1", models.FloatField()),
                ("tickets_open_p2", models.FloatField()),
                ("tickets_open_p3", models.FloatField()),
                ("tickets_open_p4", models.FloatField()),
                ("tickets_overdue_p1", models.FloatField()),
                ("tickets_overdue_p2", models.FloatField()),
                ("tickets_overdue_p3", models.FloatField()),
                ("tickets_overdue_p4", models.FloatField()),
                ("work_orders_open", models.FloatField()),
                ("work_orders_overdue", models.FloatField()),
                ("work_orders_pending", models.FloatField()),
                ("work_orders_scheduled", models.FloatField()),
                ("work_orders_in_progress", models.FloatField()),
                ("work_orders_on_hold", models.FloatField()),
                ("attendance_expected", models.FloatField()),
                ("attendance_present", models.FloatField()),
                ("attendance_late", models.FloatField()),
                ("attendance_missing", models.FloatField()),
                ("devices_total", models.FloatField()),
                ("devices_offline", models.FloatField()),
                ("devices_synced", models.FloatField()),
                ("geofence_events", models.FloatField()),
                ("geofence_breaches", models.FloatField()),
                ("security_anomalies", models.FloatField()),
                ("alerts_open_critical", models.FloatField()),
                ("alerts_open_high", models.FloatField()),
                ("alerts_open_medium", models.FloatField()),
                ("alerts_open_low", models.FloatField()),
                ("alerts_open_info", models.FloatField()),
                ("sync_health", models.FloatField(null=True)),
                (
                    "client",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.client",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="tenancy.site",
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "snapshots_kpi_hourly",
                "indexes": [models.Index(fields=["tenant", "hour"], name="kpi_hourly_time")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "client", "site_key", "hour"), name="kpi_hourly_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="KpiTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("window_end", models.DateTimeField()),
                ("dimension", models.CharField(blank=True, max_length=8)),
                ("key", models.TextField(blank=True)),
                ("summed_rows", models.BigIntegerField()),
                ("tickets_open_p1", models.BigIntegerField()),
                ("tickets_open_p2", models.BigIntegerField()),
                ("tickets_open_p3", models.BigIntegerField()),
                ("tickets_open_p4", models.BigIntegerField()),
                ("tickets_overdue_p1", models.BigIntegerField()),
                ("tickets_overdue_p2", models.BigIntegerField()),
                ("tickets_overdue_p3", models.BigIntegerField()),
                ("tickets_overdue_p4", models.BigIntegerField()),
                ("work_orders_open", models.BigIntegerField()),
                ("work_orders_overdue", models.BigIntegerField()),
                ("work_orders_pending", models.BigIntegerField()),
                ("work_orders_scheduled", models.BigIntegerField()),
                ("work_orders_in_progress", models.BigIntegerField()),
                ("work_orders_on_hold", models.BigIntegerField()),
                ("attendance_expected", models.BigIntegerField()),
                ("attendance_present", models.BigIntegerField()),
                ("attendance_late", models.BigIntegerField()),
                ("attendance_missing", models.BigIntegerField()),
                ("devices_total", models.BigIntegerField()),
                ("devices_offline", models.BigIntegerField()),
                ("devices_synced", models.BigIntegerField()),
                ("geofence_events", models.BigIntegerField()),
                ("geofence_breaches", models.BigIntegerField()),
                ("security_anomalies", models.BigIntegerField()),
                ("alerts_open_critical", models.BigIntegerField()),
                ("alerts_open_high", models.BigIntegerField()),
                ("alerts_open_medium", models.BigIntegerField()),
                ("alerts_open_low", models.BigIntegerField()),
                ("alerts_open_info", models.BigIntegerField()),
                (
                    "tenant",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "db_table": "snapshots_kpi_total",
                "indexes": [models.Index(fields=["window_end"], name="kpi_total_window_end")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant", "dimension", "key", "window_end"), name="kpi_total_key"
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
