"""A7: a confirmed number is owned once, now for Kazakh carriers (IIN/BIN) and carriers from abroad
(country and tax number) apart: a carrier from abroad has no IIN/BIN ("").

Both are UniqueConstraints with a condition, which PostgreSQL keeps as partial unique indexes. A
plain AddConstraint would build them with CREATE UNIQUE INDEX, which stops writes to the carriers'
table (registrations, confirmations) for the whole build, and RemoveConstraint's DROP INDEX waits
for every open transaction on the table while holding up the ones behind it. So, like
core.migration_operations.AddIndexWithoutBlocking: CONCURRENTLY on PostgreSQL, in a migration that
is not atomic; SQLite (make run, tests) as usual. The new Kazakh index is built before the old one
goes, so the rule holds all along."""

from django.db import migrations, models
from django.db.backends.ddl_references import Statement


def _concurrently(statement: Statement) -> Statement:
    statement.template = statement.template.replace(
        "CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1
    )
    return statement


def _create(schema_editor, model, constraint) -> None:
    schema_editor.execute(_concurrently(constraint.create_sql(model, schema_editor)))


def _drop(schema_editor, name: str) -> None:
    schema_editor.execute(
        schema_editor.sql_delete_index_concurrently % {"name": schema_editor.quote_name(name)}
    )


class AddUniqueConstraintWithoutBlocking(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _create(schema_editor, model, self.constraint)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _drop(schema_editor, self.constraint.name)


class RemoveUniqueConstraintWithoutBlocking(migrations.RemoveConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            _drop(schema_editor, self.name)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            constraint = to_state.models[app_label, self.model_name_lower].get_constraint_by_name(
                self.name
            )
            _create(schema_editor, model, constraint)


class Migration(migrations.Migration):
    # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction.
    atomic = False

    dependencies = [
        ("carriers", "0004_foreign_carriers"),
    ]

    operations = [
        AddUniqueConstraintWithoutBlocking(
            model_name="carrier",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("confirmed_at__isnull", False), models.Q(("kind", "foreign"), _negated=True)
                ),
                fields=("iin_bin",),
                name="carrier_kz_number_confirmed_once",
            ),
        ),
        RemoveUniqueConstraintWithoutBlocking(
            model_name="carrier",
            name="carrier_number_confirmed_once",
        ),
        AddUniqueConstraintWithoutBlocking(
            model_name="carrier",
            constraint=models.UniqueConstraint(
                condition=models.Q(("confirmed_at__isnull", False), ("kind", "foreign")),
                fields=("country", "tax_number"),
                name="carrier_foreign_number_confirmed_once",
            ),
        ),
    ]
