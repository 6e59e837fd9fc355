"""Create the capability permissions and the five built-in roles.

Permissions are normally created after all migrations run (post_migrate); roles need them now,
so this migration creates them itself. Reversing removes the built-in roles only.
"""

from django.db import migrations

CAPABILITIES = {
    "noc_view": "See the operations center",
    "noc_view_all_clients": "See every client of the tenant",
    "noc_view_client": "See the clients assigned to them",
    "noc_view_assigned_sites": "See the sites assigned to them",
    "noc_ack_alerts": "Acknowledge alerts",
    "noc_escalate": "Escalate alerts",
    "noc_configure": "Configure clients, sites, integrations",
    "noc_export": "Export reports and data",
    "noc_manage_maintenance": "Create and cancel maintenance windows",
    "noc_audit_view": "Read the audit log",
    "noc_assign_incidents": "Assign alerts and incidents",
    "noc_view_pii": "See personal data unmasked",
}

# Frozen copy of watchfloor.access.capabilities.ROLES at the time of this migration.
ROLES = {
    "viewer": ["noc_view", "noc_view_assigned_sites"],
    "operator": ["noc_view", "noc_view_client", "noc_ack_alerts", "noc_assign_incidents"],
    "supervisor": [
        "noc_view",
        "noc_view_all_clients",
        "noc_ack_alerts",
        "noc_assign_incidents",
        "noc_escalate",
        "noc_manage_maintenance",
        "noc_export",
        "noc_view_pii",
    ],
    "executive": ["noc_view", "noc_view_all_clients", "noc_export", "noc_audit_view"],
    "admin": list(CAPABILITIES),
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="access", model="capabilities")
    perms = {}
    for codename, name in CAPABILITIES.items():
        perms[codename], _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(perms[c] for c in codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
