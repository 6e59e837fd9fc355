"""On PostgreSQL, refuse UPDATE always and DELETE unless the retention job asked for it.

The retention job sets `watchfloor.audit_purge` to 'on' for its own transaction
(`audit.services.purge_before`); anything else that deletes or changes a row is refused by the
database itself, whatever client it comes from. TRUNCATE is left to privileges (revoke it from
the application's role in production, docs/operations.md): test databases are flushed with it. On SQLite this migration does nothing; the model
and its queryset refuse changes there.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION watchfloor_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('watchfloor.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditlog_append_only
    BEFORE UPDATE OR DELETE ON audit_auditlog
    FOR EACH ROW EXECUTE FUNCTION watchfloor_audit_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS audit_auditlog_append_only ON audit_auditlog;
DROP FUNCTION IF EXISTS watchfloor_audit_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
