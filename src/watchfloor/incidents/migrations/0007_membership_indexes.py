"""Memberships lose three indexes and their foreign-key constraints (a storm's first pass writes
thousands a second, each row checked against alert, incident and tenant at commit;
docs/decisions.md): Django's own indexes on `alert` and `incident` (the indexes in Meta lead
with those columns), the index on `tenant`, and on PostgreSQL the three constraints. Django
deletes a membership with its alert or incident (`on_delete=CASCADE`), and so does retention's
set-based delete (dependents first, from the same relations).

Written by hand: Django's generated AlterField on `alert` also dropped the partial unique index
`incident_alert_one_open_incident` ("one open incident per alert") and did not put it back.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "incidents_incidentalert_alert_id_dadba14d": "alert_id",
    "incidents_incidentalert_incident_id_289d6010": "incident_id",
    "incidents_incidentalert_tenant_id_ae547269": "tenant_id",
}
FOREIGN_KEYS = {
    "incidents_incidentalert_tenant_id_ae547269_fk_tenancy_tenant_id": (
        "tenant_id",
        "tenancy_tenant",
    ),
    "incidents_incidentalert_alert_id_dadba14d_fk_alerts_alert_id": ("alert_id", "alerts_alert"),
    "incidents_incidental_incident_id_289d6010_fk_incidents": ("incident_id", "incidents_incident"),
}
TABLE = "incidents_incidentalert"


def forwards(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    if schema_editor.connection.vendor == "postgresql":
        # SQLite keeps its foreign keys in the table's definition: left as they are there
        for name in FOREIGN_KEYS:
            schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {name}")


def backwards(apps, schema_editor):
    for name, column in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} ({column})")
    if schema_editor.connection.vendor == "postgresql":
        for name, (column, target) in FOREIGN_KEYS.items():
            schema_editor.execute(
                f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} FOREIGN KEY ({column})"
                f" REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0012_active_other_severity"),
        ("incidents", "0006_origin_labels"),
        ("tenancy", "0002_tenant_users_are_not_platform_staff"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="incidentalert",
                    name="alert",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="alerts.alert",
                    ),
                ),
                migrations.AlterField(
                    model_name="incidentalert",
                    name="incident",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="incidents.incident",
                    ),
                ),
                migrations.AlterField(
                    model_name="incidentalert",
                    name="tenant",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
