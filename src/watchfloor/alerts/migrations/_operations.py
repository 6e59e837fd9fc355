"""Operations shared by alerts migrations (the loader skips modules starting with "_")."""

from django.db import migrations


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex, built with CREATE/DROP INDEX CONCURRENTLY on PostgreSQL (plain elsewhere):
    ingestion keeps writing while the index builds. The migration must not be atomic."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class RemoveIndexConcurrentlyOnPostgres(migrations.RemoveIndex):
    """RemoveIndex, with DROP/CREATE INDEX CONCURRENTLY on PostgreSQL (plain elsewhere)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.remove_index(model, index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            schema_editor.add_index(model, index, concurrently=True)


class ForeignKeyIndexOff(migrations.AlterField):
    """AlterField to `db_index=False` on a foreign key that keeps its constraint: drops only the
    key's own index (CONCURRENTLY on PostgreSQL), and builds it back when reversed.

    Django's AlterField drops and re-adds the foreign-key constraint to change the index, and
    adding it back validates every row under a lock that stops writes: minutes on a table of
    millions of alerts. The migration must not be atomic."""

    def _index_name(self, schema_editor, model) -> str:
        field = model._meta.get_field(self.name)
        return schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="")

    def _run(self, schema_editor, model, *, drop: bool) -> None:
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        qn = schema_editor.quote_name
        name = qn(self._index_name(schema_editor, model))
        concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
        if drop:
            schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")
        else:
            field = model._meta.get_field(self.name)
            schema_editor.execute(
                f"CREATE INDEX{concurrently} IF NOT EXISTS {name}"
                f" ON {qn(model._meta.db_table)} ({qn(field.column)})"
            )

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, from_state.apps.get_model(app_label, self.model_name), drop=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, to_state.apps.get_model(app_label, self.model_name), drop=False)
