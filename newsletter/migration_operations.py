"""Migration operations the apps' migrations share."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


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
