"""The ledger's rows by a paper they carried (Delivery.paper_ids), for "Who got it",
the link an editor gets after hiding a paper that went out: a GIN index of the JSON
arrays (jsonb_path_ops, which answers `paper_ids @> '[id]'`). Without it the list of a
paper of seven weeks before read 2.3 to 2.7 s at 8.4 million rows: PostgreSQL read
every row of the ledger (its editions' are an eighth of it) for those that carry it
(docs/benchmarks.md, "Who got a paper"). 94 MB there, built in 15 s.

PostgreSQL only, and not in Delivery.Meta.indexes: SQLite (development) has no GIN,
and a later migration that rebuilds the table there would make every index the model
names. Built CONCURRENTLY (sends and the ESP's webhook write meanwhile), so the
migration is not atomic: if it stops half way, PostgreSQL keeps an INVALID index of
that name, which the next `migrate` drops and builds again."""

from django.db import migrations

NAME = "delivery_paper_ids_gin"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [NAME])
        row = cursor.fetchone()
    if row and row[0]:  # an INVALID one of an earlier, interrupted build
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
                          "ON newsletter_delivery USING gin (paper_ids jsonb_path_ops)")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [("newsletter", "0039_intervals_in_words")]
    operations = [migrations.RunPython(forward, backward)]
