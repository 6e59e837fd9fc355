"""The feed rules' steady run judges only what can have changed since the last one (#13 §1):
every feed record gets `updated_at` (each write; existing rows take the migration's time from
the database default, a constant on PostgreSQL, so no table is rewritten), and each tenant a
`FeedRulesMark` (where the job left it). The indexes follow in 0003 (built CONCURRENTLY)."""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models


def _updated_at(model_name: str) -> migrations.AddField:
    return migrations.AddField(
        model_name=model_name,
        name="updated_at",
        field=models.DateTimeField(
            auto_now=True, db_default=django.db.models.functions.datetime.Now()
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_initial"),
        ("tenancy", "0002_tenant_users_are_not_platform_staff"),
    ]

    operations = [
        _updated_at("attendancerecord"),
        _updated_at("device"),
        _updated_at("geofenceevent"),
        _updated_at("ticket"),
        _updated_at("workorder"),
        migrations.CreateModel(
            name="FeedRulesMark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("checked_at", models.DateTimeField()),
                ("changes_from", models.DateTimeField()),
                ("policy_updated_at", models.DateTimeField(blank=True, null=True)),
                ("full_at", models.DateTimeField()),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenancy.tenant",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tenant",), name="feed_rules_mark_one_per_tenant"
                    )
                ],
            },
        ),
    ]
