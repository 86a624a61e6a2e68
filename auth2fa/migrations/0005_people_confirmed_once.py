"""A8: a person's e-mail (in any case), phone and IIN, and an SMS device's phone, are unique among
confirmed people (devices) only, so that a registration with a taken one is accepted like any
other and the answer tells nobody who is registered; the unconfirmed ones may repeat them and
lapse after 24 hours (an index for that job's scan).

The partial unique indexes are built before the old rules go, so uniqueness holds all along. As
in carriers' 0005: CREATE (and DROP) INDEX CONCURRENTLY on PostgreSQL, so registrations and
sign-ins go on while the people's table is indexed, in a migration that is not atomic; SQLite
(make run, tests) as usual. The fields' own UNIQUE constraints are dropped last, by ALTER TABLE,
which holds the table only for a moment."""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.backends.ddl_references import Statement

from core.migration_operations import AddIndexWithoutBlocking

CONFIRMED = models.Q(("phone__isnull", True), ("phone_verified_at__isnull", False), _connector="OR")


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
        ("auth", "0012_alter_user_first_name_max_length"),
        ("auth2fa", "0004_sms_sent_every_sms"),
    ]

    operations = [
        AddUniqueConstraintWithoutBlocking(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=CONFIRMED,
                name="user_email_ci_confirmed_once",
            ),
        ),
        AddUniqueConstraintWithoutBlocking(
            model_name="user",
            constraint=models.UniqueConstraint(
                condition=CONFIRMED, fields=("phone",), name="user_phone_confirmed_once"
            ),
        ),
        AddUniqueConstraintWithoutBlocking(
            model_name="user",
            constraint=models.UniqueConstraint(
                condition=CONFIRMED, fields=("iin",), name="user_iin_confirmed_once"
            ),
        ),
        AddUniqueConstraintWithoutBlocking(
            model_name="smsdevice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("confirmed", True)),
                fields=("phone",),
                name="smsdevice_phone_confirmed_once",
            ),
        ),
        AddIndexWithoutBlocking(
            model_name="smsdevice",
            index=models.Index(fields=["phone"], name="smsdevice_phone"),
        ),
        AddIndexWithoutBlocking(
            model_name="user",
            index=models.Index(
                condition=models.Q(("phone__isnull", False), ("phone_verified_at__isnull", True)),
                fields=["date_joined"],
                name="user_unconfirmed",
            ),
        ),
        RemoveUniqueConstraintWithoutBlocking(model_name="user", name="user_email_ci_unique"),
        migrations.AlterField(
            model_name="smsdevice",
            name="phone",
            field=models.CharField(max_length=16, verbose_name="phone"),
        ),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(max_length=254, verbose_name="e-mail"),
        ),
        migrations.AlterField(
            model_name="user",
            name="iin",
            field=models.CharField(blank=True, max_length=12, null=True, verbose_name="IIN"),
        ),
        migrations.AlterField(
            model_name="user",
            name="phone",
            field=models.CharField(blank=True, max_length=16, null=True, verbose_name="phone"),
        ),
    ]
