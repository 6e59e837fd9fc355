"""The capability `noc:reveal_contact` (#10 section 4), given to the built-in operator,
supervisor and admin roles. Reversing removes the permission (and so every grant of it)."""

from django.db import migrations

CODENAME = "noc_reveal_contact"
NAME = "Reveal a site officer's contact details (audited)"
ROLES = ("operator", "supervisor", "admin")


def add_capability(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="access", model="capabilities")
    perm, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": NAME}
    )
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.add(perm)


def remove_capability(apps, schema_editor):
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="access", codename=CODENAME
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("access", "0002_builtin_roles")]

    operations = [
        migrations.AlterModelOptions(
            name="capabilities",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("noc_view", "See the operations center"),
                    ("noc_view_all_clients", "See every client of the tenant"),
                    ("noc_view_client", "See the clients assigned to them"),
                    ("noc_view_assigned_sites", "See the sites assigned to them"),
                    ("noc_ack_alerts", "Acknowledge alerts"),
                    ("noc_escalate", "Escalate alerts"),
                    ("noc_configure", "Configure clients, sites, integrations"),
                    ("noc_export", "Export reports and data"),
                    ("noc_manage_maintenance", "Create and cancel maintenance windows"),
                    ("noc_audit_view", "Read the audit log"),
                    ("noc_assign_incidents", "Assign alerts and incidents"),
                    ("noc_view_pii", "See personal data unmasked"),
                    (CODENAME, NAME),
                ],
            },
        ),
        migrations.RunPython(add_capability, remove_capability),
    ]
