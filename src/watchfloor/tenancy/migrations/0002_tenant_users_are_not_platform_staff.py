"""A tenant's account is never staff or superuser: the Django admin is for platform operators.

Existing tenant accounts with either flag (the demo's `admin` had both) are demoted first; they keep
their role and capabilities in the product. Reversing drops the constraint and leaves the flags off.
"""

from django.db import migrations, models


def demote_tenant_staff(apps, schema_editor):
    User = apps.get_model("tenancy", "User")
    User.objects.filter(tenant__isnull=False).filter(
        models.Q(is_superuser=True) | models.Q(is_staff=True)
    ).update(is_superuser=False, is_staff=False)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(demote_tenant_staff, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.CheckConstraint(
                condition=models.Q(tenant__isnull=True)
                | models.Q(is_superuser=False, is_staff=False),
                name="tenant_user_is_not_platform_staff",
            ),
        ),
    ]
