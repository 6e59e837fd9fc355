"""The alert-day rollup in three grains (type, severity, site). Rows rolled before it have no
grain: they are deleted with the tenants' rollup state, and the `reports.rollup` job (or
`watchfloor rollup_reports`) rolls every day again; meanwhile the reports read the alerts."""

from django.db import migrations, models


def forget_rollup(apps, schema_editor):
    apps.get_model("reports", "AlertDayRollup").objects.all().delete()
    apps.get_model("reports", "ResponseDayRollup").objects.all().delete()
    apps.get_model("reports", "RollupState").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [
        migrations.RunPython(forget_rollup, forget_rollup),
        migrations.RemoveIndex(model_name="alertdayrollup", name="rollup_alert_day"),
        migrations.AddField(
            model_name="alertdayrollup",
            name="grain",
            field=models.CharField(
                choices=[("type", "Type"), ("severity", "Severity"), ("site", "Site")],
                default="type",
                max_length=8,
            ),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="alertdayrollup",
            index=models.Index(fields=["tenant", "grain", "day"], name="rollup_alert_grain_day"),
        ),
    ]
