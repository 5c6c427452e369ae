"""Migration operations the apps' migrations share."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations
from django.db.models import Index


class AddIndexWithoutLocking(AddIndexConcurrently):
    """AddIndex that builds the index with CREATE INDEX CONCURRENTLY on PostgreSQL:
    the table's writes (sends, the ESP's webhook, sign-ups) go on meanwhile, where
    AddIndex held them back for the whole build (seconds at millions of rows, and
    ten times that at ten times the rows). The migration must be non-atomic
    (`atomic = False`). Other databases (SQLite in development) get AddIndex."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class ForeignKeyIndexDropWithoutLocking(migrations.AlterField):
    """AlterField of a foreign key to db_index=False, for a key another index starts
    with (its rows are found there; its own index only cost every write and the disk).
    On PostgreSQL its index goes with DROP INDEX CONCURRENTLY, which waits for no
    lock that holds the table's writes back (AlterField's DROP INDEX takes the
    table's exclusive lock, queued behind a long send's transactions and holding
    every writer behind it); back, it is built again CONCURRENTLY. The migration must
    be non-atomic (`atomic = False`). Other databases (SQLite) get AlterField."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        column = model._meta.get_field(self.name).column
        # The key's own index, as AlterField finds it: on that one column, not one
        # the model names in its Meta.indexes.
        names = schema_editor._constraint_names(model, [column], index=True, type_=Index.suffix,
                                                exclude={index.name for index in model._meta.indexes})
        for name in names:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        field = model._meta.get_field(self.name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], concurrently=True))
        return None
