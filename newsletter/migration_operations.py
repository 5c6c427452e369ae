"""Migration operations the apps' migrations share."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations
from django.db.migrations.operations.base import Operation
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


class PostgreSQLIndex(Operation):
    """An index only PostgreSQL has (GIN: a trigram search, JSON containment), kept out
    of the models' state: SQLite (development) has no GIN, and Django's SQLite schema
    editor rebuilds a table with every index of its state whenever a later migration
    alters a column, so a GinIndex in a model's Meta would break such a migration
    there. Other databases: nothing. `definition`: what follows ON ('"newsletter_delivery"
    USING gin ("paper_ids" jsonb_path_ops)'); `before`: statements run first (CREATE
    EXTENSION). In a non-atomic migration (`atomic = False`) it is built and dropped
    CONCURRENTLY: the table's writes go on meanwhile, and an INVALID index an
    interrupted build left is dropped and built again."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, name: str, definition: str, before: tuple[str, ...] = ()):
        self.name, self.definition, self.before = name, definition, tuple(before)

    def deconstruct(self):
        return self.__class__.__qualname__, [self.name, self.definition], (
            {"before": self.before} if self.before else {})

    def state_forwards(self, app_label, state):
        pass

    def describe(self):
        return f"PostgreSQL index {self.name}"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in self.before:
            schema_editor.execute(sql)
        concurrently = "" if schema_editor.connection.in_atomic_block else " CONCURRENTLY"
        if concurrently:
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [self.name])
                invalid = cursor.fetchone()
            if invalid and invalid[0]:
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.name}")
        schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {self.name} ON {self.definition}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        concurrently = "" if schema_editor.connection.in_atomic_block else " CONCURRENTLY"
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {self.name}")
