"""Migration operations of the project's own."""

from django.contrib.postgres.operations import AddIndexConcurrently


class AddIndexWithoutBlocking(AddIndexConcurrently):
    """AddIndex that PostgreSQL builds with CREATE INDEX CONCURRENTLY, so bookings and payments go
    on while a large table is indexed; SQLite (make run, tests) builds it as usual. The
    migration holding it must say `atomic = False`."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index)
